"""The benchmarked servers: how to start each one, and whether it can run here.

Each server runs in its own process, started by ``bench/run.py`` with the same echo
semantics (see ``bench/peers.py`` and ``bench/apps``). A server whose package or feature
is missing is listed as unavailable with the reason, never silently skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

PY = sys.executable


def _peer(name: str) -> Callable[[str, int], list[str]]:
    return lambda host, port: [PY, "-m", "bench.peers", name, "--host", host, "--port", str(port)]


def _websock_builtin(host: str, port: int) -> list[str]:
    app = "bench.apps.websock_echo:app"
    return [PY, "-m", "websock", "serve", app, "--host", host, "--port", str(port)]


def _websock_stdloop(host: str, port: int) -> list[str]:
    return [*_websock_builtin(host, port), "--no-uvloop"]


def _websock_busypoll(host: str, port: int) -> list[str]:
    return [*_websock_builtin(host, port), "--busy-poll", "0.0001"]


def _granian(host: str, port: int) -> list[str]:
    return [
        *(PY, "-m", "granian", "--interface", "asgi", "--host", host, "--port", str(port)),
        *("--workers", "1", "--runtime-threads", "1", "--loop", "uvloop"),
        *("--no-access-log", "--log-level", "warning", "--backlog", "4096"),
        # granian admits at most backlog/workers concurrent requests by default; a WebSocket
        # is a request for its whole life, so the idle workload needs more.
        *("--backpressure", "20000"),
        "bench.apps.asgi_echo:app",
    ]


def _needs_modules(*modules: str) -> Callable[[], str | None]:
    def check() -> str | None:
        for module in modules:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
        return None

    return check


def _websock_has(module: str, attribute: str, what: str) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            found = getattr(importlib.import_module(module), attribute, None)
        except Exception as exc:  # a half-written module is "not there yet", not a crash
            return f"{what} not importable yet ({type(exc).__name__}: {exc})"
        return None if found is not None else f"{what} has not landed yet"

    return check


def _websock_serve() -> str | None:
    reason = _websock_has("websock", "serve", "websock.serve")()
    if reason is None and importlib.util.find_spec("websock.__main__") is None:
        return "the `websock serve` CLI (websock/__main__.py) has not landed yet"
    return reason


def _websock_pubsub() -> bool:
    return _websock_has("websock", "PubSub", "websock.PubSub")() is None


@dataclass(frozen=True)
class Server:
    name: str
    description: str
    command: Callable[[str, int], list[str]]
    unavailable: Callable[[], str | None] = lambda: None
    broadcast: Callable[[], bool] = lambda: False
    raw: bool = False  # speaks bytes, not WebSocket: the load generator skips the handshake
    workloads: frozenset[str] = field(default=frozenset("abcde"))
    default: bool = True  # part of a run that names no --servers


SERVERS: list[Server] = [
    Server(
        "websock",
        "websock built-in server (`websock serve`), echo handler",
        _websock_builtin,
        _websock_serve,
        _websock_pubsub,
    ),
    Server(
        "websock-stdloop",
        "websock built-in server on the stdlib asyncio loop (--no-uvloop), echo handler",
        _websock_stdloop,
        _websock_serve,
        _websock_pubsub,
        default=False,
    ),
    Server(
        "websock-busypoll",
        "websock built-in server with --busy-poll 0.0001 (opt-in: polls up to 100 µs after a "
        "read instead of sleeping), echo handler",
        _websock_busypoll,
        _websock_serve,
        _websock_pubsub,
    ),
    Server(
        "websock-uvicorn",
        "websock echo handler on uvicorn (websockets-sansio) via websock.adapters.asgi.App",
        _peer("websock-uvicorn"),
        _websock_has("websock.adapters.asgi", "App", "websock.adapters.asgi.App"),
        _websock_pubsub,
    ),
    Server(
        "picows",
        "picows server, frame echo",
        _peer("picows"),
        _needs_modules("picows"),
        lambda: True,
    ),
    Server("aiohttp", "aiohttp WebSocketResponse", _peer("aiohttp"), _needs_modules("aiohttp")),
    Server(
        "websockets",
        "websockets (new asyncio server)",
        _peer("websockets"),
        _needs_modules("websockets"),
        lambda: True,
    ),
    Server(
        "uvicorn-sansio",
        "uvicorn ws=websockets-sansio, raw ASGI echo",
        _peer("uvicorn-sansio"),
        _needs_modules("uvicorn", "websockets"),
    ),
    Server(
        "uvicorn-wsproto",
        "uvicorn ws=wsproto, raw ASGI echo",
        _peer("uvicorn-wsproto"),
        _needs_modules("uvicorn", "wsproto"),
    ),
    Server(
        "hypercorn", "hypercorn, raw ASGI echo", _peer("hypercorn"), _needs_modules("hypercorn")
    ),
    Server(
        "granian",
        "granian (ASGI, 1 worker, 1 runtime thread), raw ASGI echo",
        _granian,
        _needs_modules("granian"),
    ),
    Server(
        "rawtcp",
        "raw uvloop TCP echo (asyncio Protocol), the event loop's ceiling",
        _peer("rawtcp"),
        raw=True,
        workloads=frozenset("abcd"),
    ),
]

BY_NAME = {server.name: server for server in SERVERS}
