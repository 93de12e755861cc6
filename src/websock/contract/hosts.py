"""Server factories: every host the contract suite runs on, serving the contract app.

A host is a ``HostSpec``: a name, a ``start()`` returning a context manager that yields a
``Running`` server (its ``url``, and ``stop()`` for a graceful shutdown), and the host's
declared ``capabilities`` (see ``capabilities.py``). Servers listen on a socket bound
here before they start (port 0, so no port races); a connection made before the server
runs simply waits in the listen backlog, so no readiness polling is needed, except for
granian, which cannot adopt a socket (it is started on a free port and its log line
"Listening at" is awaited).

In-process hosts run in a thread with their own event loop, so the test's loop is only
the client's; daphne (Twisted) and granian (Rust) run as subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .capabilities import CAPABILITIES

__all__ = ["HOSTS", "HostSpec", "ProcessHost", "Running", "ThreadHost", "bound_socket"]

#: How long a host may take to start or stop before the suite gives up on it.
START_TIMEOUT = 30.0


def bound_socket() -> socket.socket:
    """A listening loopback TCP socket on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class Running:
    """A started host: ``url`` is ``ws://127.0.0.1:PORT``; ``stop()`` shuts it down
    gracefully and returns once it has stopped."""

    url: str

    def stop(self) -> None:
        raise NotImplementedError


ServeMain = Callable[[socket.socket, asyncio.Event], Awaitable[None]]


class ThreadHost(Running):
    """Runs ``main(sock, stop_event)`` in its own thread and event loop."""

    def __init__(self, name: str, main: ServeMain) -> None:
        self.name = name
        self._main = main
        self._sock = bound_socket()
        self.url = f"ws://127.0.0.1:{self._sock.getsockname()[1]}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"host-{name}", daemon=True)

    def _run(self) -> None:
        async def body() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            await self._main(self._sock, self._stop)

        try:
            asyncio.run(body())
        except BaseException as exc:  # reported by stop()
            self._error = exc
        finally:
            self._started.set()

    def cpu_time(self) -> float:
        """CPU seconds the server's thread has used so far (for overhead benchmarks: a
        figure other processes on the machine do not inflate the way wall time is)."""
        ident = self._thread.ident
        if ident is None:
            return 0.0
        return time.clock_gettime(time.pthread_getcpuclockid(ident))

    def start(self) -> ThreadHost:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT):
            raise RuntimeError(f"{self.name} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT)
        self._sock.close()
        if self._thread.is_alive():
            raise RuntimeError(f"{self.name} did not stop within {START_TIMEOUT}s")
        if self._error is not None:
            raise RuntimeError(f"{self.name} failed") from self._error


class ProcessHost(Running):
    """A server in a subprocess; ``stop()`` sends SIGTERM (a graceful shutdown)."""

    def __init__(
        self, name: str, argv: list[str], *, sock: socket.socket | None, ready: str | None
    ) -> None:
        self.name = name
        self._sock = sock
        if sock is not None:
            self.url = f"ws://127.0.0.1:{sock.getsockname()[1]}"
        self._ready = re.compile(ready) if ready else None
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            pass_fds=(sock.fileno(),) if sock is not None else (),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._seen_ready = threading.Event()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self.output.append(line)
            if self._ready is not None and self._ready.search(line):
                self._seen_ready.set()
        self._seen_ready.set()  # EOF: the process died; start() reports it

    def start(self) -> ProcessHost:
        if self._ready is not None and (
            not self._seen_ready.wait(START_TIMEOUT) or not self._answers_http()
        ):
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{''.join(self.output)}")
        return self

    def _answers_http(self) -> bool:
        """Wait until the app answers a plain HTTP request: granian logs "Started worker"
        before its worker listens, and loses a SIGTERM that arrives that early."""
        port = int(self.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self._proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 "):
                        return True
            except OSError:
                pass
            time.sleep(0.05)  # readiness polling of a foreign process, not test sync
        return False

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._reader.join(START_TIMEOUT)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()


@dataclass(frozen=True)
class HostSpec:
    """One host of the suite. ``start`` builds an unstarted server; use ``running()``."""

    name: str
    start: Callable[[], Running]
    capabilities: dict[str, Any] = field(default_factory=dict)
    #: Why the host cannot run here (a missing package), or None.
    unavailable: Callable[[], str | None] = lambda: None

    @contextlib.contextmanager
    def running(self) -> Iterator[Running]:
        server = self.start()
        try:
            yield server
        finally:
            server.stop()


def _missing(*modules: str) -> Callable[[], str | None]:
    def check() -> str | None:
        import importlib.util

        for module in modules:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
        return None

    return check


# -- the contract app, three ways -------------------------------------------------------------


def _asgi_app() -> Any:
    from .app import asgi_app

    return asgi_app


def _starlette_app() -> Any:
    """The contract app inside a Starlette websocket route (``adapters.asgi.upgrade``)."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    from ..adapters.asgi import deny, request_from_scope, upgrade
    from ..http import Response
    from .app import decide

    async def endpoint(ws: WebSocket) -> None:
        decision = decide(request_from_scope(ws.scope))
        if isinstance(decision, Response):
            await ws.receive()  # websocket.connect
            await deny(ws.scope, ws.send, decision)
            return
        handler, arg, options = decision
        await upgrade(ws.scope, ws.receive, ws.send, handler, arg, **options)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint), WebSocketRoute("/deny", endpoint)])


def _fastapi_app() -> Any:
    from fastapi import FastAPI, WebSocket

    from ..adapters.asgi import deny, request_from_scope, upgrade
    from ..http import Response
    from .app import decide

    api = FastAPI()

    async def endpoint(ws: WebSocket) -> None:
        decision = decide(request_from_scope(ws.scope))
        if isinstance(decision, Response):
            await ws.receive()
            await deny(ws.scope, ws.send, decision)
            return
        handler, arg, options = decision
        await upgrade(ws.scope, ws.receive, ws.send, handler, arg, **options)

    # FastAPI reads the parameter's annotation at runtime; with postponed annotations it
    # is a string naming a local import, so hand it the class itself.
    endpoint.__annotations__ = {"ws": WebSocket, "return": None}
    api.add_api_websocket_route("/ws", endpoint)
    api.add_api_websocket_route("/deny", endpoint)
    return api


# -- in-process hosts ---------------------------------------------------------------------------


def _import_quietly(module: str) -> None:
    """Import a host module that uses a deprecated API of its own dependencies (uvicorn's
    "websockets" implementation imports ``websockets.legacy``): the warning is the host's
    business, and the suite runs with warnings as errors."""
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importlib.import_module(module)


def _uvicorn(ws: str, make_app: Callable[[], Any] = _asgi_app) -> Callable[[], Running]:
    def start() -> Running:
        if ws == "websockets":
            _import_quietly("uvicorn.protocols.websockets.websockets_impl")
        return ThreadHost(f"uvicorn-{ws}", main).start()

    async def main(sock: socket.socket, stop: asyncio.Event) -> None:
        import uvicorn

        config = uvicorn.Config(
            make_app(), ws=ws, lifespan="on", log_level="warning", ws_max_size=16 << 20
        )
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        await stop.wait()
        server.should_exit = True
        await task

    return start


def _hypercorn() -> Running:
    async def main(sock: socket.socket, stop: asyncio.Event) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        # hypercorn wraps the fd in its own socket object and closes it when it stops:
        # hand it a duplicate, so that our close cannot hit a recycled fd number.
        config.bind = [f"fd://{os.dup(sock.fileno())}"]
        config.graceful_timeout = 2.0
        config.websocket_max_message_size = 16 << 20
        config.loglevel = "WARNING"
        await serve(_asgi_app(), config, shutdown_trigger=stop.wait)

    return ThreadHost("hypercorn", main).start()


def _aiohttp() -> Running:
    async def main(sock: socket.socket, stop: asyncio.Event) -> None:
        from aiohttp import web

        from ..adapters.aiohttp import serve_app
        from .app import app

        runner = web.AppRunner(serve_app(app), shutdown_timeout=5.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        await stop.wait()
        await runner.cleanup()

    return ThreadHost("aiohttp", main).start()


def _aiohttp_upgrade() -> Running:
    """The contract app's decision made in a plain aiohttp handler that calls
    ``adapters.aiohttp.upgrade`` (no ``serve_app``; ``close_on_shutdown`` gives the app
    the 1001 at shutdown that ``serve_app`` has)."""

    async def main(sock: socket.socket, stop: asyncio.Event) -> None:
        from aiohttp import web

        from ..adapters.aiohttp import close_on_shutdown, request_from_aiohttp, upgrade
        from ..http import Response
        from .app import decide

        async def handler(request: web.Request) -> web.StreamResponse:
            decision = decide(request_from_aiohttp(request))
            if isinstance(decision, Response):
                return web.Response(
                    status=decision.status,
                    headers=decision.header_pairs(),
                    body=decision.body_bytes(),
                )
            handler_, arg, options = decision
            return await upgrade(request, handler_, arg, **options)

        application = web.Application()
        application.router.add_get("/{tail:.*}", handler)
        close_on_shutdown(application)
        runner = web.AppRunner(application, shutdown_timeout=2.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        await stop.wait()
        await runner.cleanup()

    return ThreadHost("aiohttp-upgrade", main).start()


def _websockets_upgrade() -> Running:
    """A plain websockets server whose connection handler calls
    ``adapters.websockets.upgrade``; denials come from its own ``process_request``."""

    async def main(sock: socket.socket, stop: asyncio.Event) -> None:
        from websockets.asyncio.server import ServerConnection, serve
        from websockets.http11 import Request as WsRequest
        from websockets.http11 import Response as WsResponse
        from websockets.typing import Subprotocol

        from ..adapters.websockets import _request, _to_ws_response, upgrade
        from ..http import Response
        from .app import decide

        def process_request(conn: ServerConnection, request: WsRequest) -> WsResponse | None:
            decision = decide(_request(conn, request))
            return _to_ws_response(decision) if isinstance(decision, Response) else None

        def select(conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
            return Subprotocol("chat") if "chat" in offered else None

        async def handler(conn: ServerConnection) -> None:
            decision = decide(_request(conn, conn.request))  # type: ignore[arg-type]
            assert not isinstance(decision, Response)
            handler_, arg, options = decision
            await upgrade(conn, handler_, arg, **options)

        async with serve(
            handler,
            sock=sock,
            process_request=process_request,
            select_subprotocol=select,
            ping_interval=None,
            max_size=None,
        ) as server:
            await stop.wait()
            server.close()

    return ThreadHost("websockets-upgrade", main).start()


def _websockets() -> Running:
    async def main(sock: socket.socket, stop: asyncio.Event) -> None:
        from ..adapters.websockets import serve
        from .app import app

        async with serve(app, host=None, port=None, sock=sock):
            await stop.wait()

    return ThreadHost("websockets", main).start()


def _builtin() -> Running:
    async def main(sock: socket.socket, stop: asyncio.Event) -> None:
        from ..server import serve
        from .app import app

        async with serve(app, sock=sock):
            await stop.wait()

    return ThreadHost("builtin", main).start()


def _builtin_unavailable() -> str | None:
    from .. import server

    if not hasattr(server, "serve"):
        return "the built-in server (websock.server.serve) has not landed in this checkout"
    return None


# -- subprocess hosts ---------------------------------------------------------------------------


def _daphne() -> Running:
    sock = bound_socket()
    argv = [sys.executable, "-m", "daphne", "--fd", str(sock.fileno()), "-v", "1"]
    argv += ["--websocket-max-message-size", str(16 << 20)]
    argv += ["--websocket-max-frame-size", str(16 << 20)]
    argv.append("websock.contract.app:asgi_app")
    return ProcessHost("daphne", argv, sock=sock, ready=r"Listening on TCP address").start()


def _granian() -> Running:
    probe = bound_socket()
    port = probe.getsockname()[1]
    probe.close()  # granian binds by itself; the port is free again
    argv = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "info",
        "websock.contract.app:asgi_app",
    ]
    host = ProcessHost("granian", argv, sock=None, ready=r"Started worker")
    host.url = f"ws://127.0.0.1:{port}"
    return host.start()


def _spec(name: str, start: Callable[[], Running], *modules: str) -> HostSpec:
    return HostSpec(name, start, CAPABILITIES[name], _missing(*modules))


#: Every host of the suite, by name.
HOSTS: dict[str, HostSpec] = {
    spec.name: spec
    for spec in (
        HostSpec("builtin", _builtin, CAPABILITIES["builtin"], _builtin_unavailable),
        _spec("uvicorn-websockets-sansio", _uvicorn("websockets-sansio"), "uvicorn", "websockets"),
        _spec("uvicorn-websockets", _uvicorn("websockets"), "uvicorn", "websockets"),
        _spec("uvicorn-wsproto", _uvicorn("wsproto"), "uvicorn", "wsproto"),
        _spec("hypercorn", _hypercorn, "hypercorn"),
        _spec("daphne", _daphne, "daphne"),
        _spec("granian", _granian, "granian"),
        _spec("starlette", _uvicorn("websockets-sansio", _starlette_app), "starlette", "uvicorn"),
        _spec("fastapi", _uvicorn("websockets-sansio", _fastapi_app), "fastapi", "uvicorn"),
        _spec("aiohttp", _aiohttp, "aiohttp"),
        _spec("websockets", _websockets, "websockets"),
        _spec("aiohttp-upgrade", _aiohttp_upgrade, "aiohttp"),
        _spec("websockets-upgrade", _websockets_upgrade, "websockets"),
    )
}
