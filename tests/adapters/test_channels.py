"""websock's ASGI adapter inside Django Channels routing, on daphne and on uvicorn.

A real Channels application (``ProtocolTypeRouter`` → ``AllowedHostsOriginValidator`` →
``AuthMiddlewareStack`` → ``URLRouter`` with ``path``/``re_path``) mounts
``websock.adapters.asgi.App(app)`` and a raw ASGI callable that calls
``websock.adapters.asgi.upgrade(...)``; real servers serve it on a loopback port and the
``websockets`` client talks to it. Handlers report ``terminate`` through the contract
suite's recorder (``websock.contract.recorder``), so daphne, which runs in a subprocess
(Twisted's reactor cannot be restarted in one process), is checked like uvicorn.

Django needs no project: ``settings.configure`` below is the whole configuration. No
database either: with no session cookie ``AuthMiddlewareStack`` resolves an anonymous user
without a query, and sessions are signed cookies, so ``DATABASES`` stays empty.

daphne imports this module by name (``tests.adapters.test_channels:application``), so
everything the server needs is built at import time.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import django
import pytest
from django.conf import settings

# Channels' modules read the settings when imported: configure Django before importing them.
if not settings.configured:
    settings.configure(
        # AllowedHostsOriginValidator checks the Origin header against these.
        ALLOWED_HOSTS=["127.0.0.1"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
        ],
        SECRET_KEY="websock-tests-only",
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        USE_TZ=True,
    )
    django.setup()

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path
from websockets.exceptions import InvalidStatus

import websock
from websock.adapters.asgi import App, upgrade
from websock.contract.app import DENIAL, ContractHandler
from websock.contract.capabilities import CAPABILITIES
from websock.contract.hosts import (
    ProcessHost,
    Running,
    _uvicorn,
    bound_socket,
)
from websock.contract.recorder import Recorder
from websock.contract.suite import client, until_closed
from websock.exceptions import UpgradeError
from websock.http import Request
from websock.results import Push, Text

#: Upper bound for any single test's network activity.
TEST_TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parents[2]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


# -- the websock side ---------------------------------------------------------------------------


class ChannelsHandler(ContractHandler):
    """The contract handler (echo, ``!info_task``, terminate → recorder) plus ``!seen``:
    what the app could see of the request, as JSON."""

    def handle_in(self, message: Text | Any, state: dict[str, Any]) -> Any:
        if isinstance(message, Text) and message.data == "!seen":
            return Push(Text(json.dumps(state["seen"], sort_keys=True)), state)
        return super().handle_in(message, state)


HANDLER = ChannelsHandler()


def _arg(query_string: str, seen: dict[str, Any]) -> dict[str, Any]:
    query = {k: v[-1] for k, v in parse_qs(query_string).items()}
    return {"id": query.get("id", ""), "rec": query.get("rec"), "mode": None, "seen": seen}


async def ws_app(request: Request) -> Any:
    """The websock app mounted through ``App``: all it has is the ``websock.Request``."""
    if request.path.endswith("/deny/"):
        return DENIAL
    if request.path.endswith("/refuse/"):
        raise UpgradeError("this room is closed", status=403)
    seen = {
        "path": request.path,
        "query_string": request.query_string,
        "origin": request.headers.get("origin"),
        "client_host": request.client[0] if request.client else None,
        "scheme": request.scheme,
        # What Channels added to the scope reaches the app through Request.extra.
        "route": request.extra["url_route"]["kwargs"],
        "anonymous": bool(request.extra["user"].is_anonymous),
        "extra_keys": sorted(request.extra),
    }
    return websock.upgrade(request, HANDLER, _arg(request.query_string, seen), ping_interval=None)


async def raw_upgrade(scope: Scope, receive: Receive, send: Send) -> None:
    """A consumer-less ASGI callable in the URLRouter: it has the whole Channels scope
    (route kwargs, the user from AuthMiddlewareStack) and hands what it wants to ``arg``."""
    user = scope.get("user")
    seen = {
        "route": scope["url_route"]["kwargs"],
        "path": scope["path"],
        "anonymous": None if user is None else bool(user.is_anonymous),
    }
    query_string = bytes(scope.get("query_string", b"")).decode("latin-1")
    await upgrade(scope, receive, send, HANDLER, _arg(query_string, seen), ping_interval=None)


#: One ``App`` serves every route and also the lifespan scope, so that a server shutdown
#: reaches the connections it runs (``App`` keeps its sessions per instance).
websock_asgi = App(ws_app)

websocket_routes = URLRouter(
    [
        re_path(r"^ws/echo/(?P<room>[\w-]+)/$", websock_asgi),
        path("ws/deny/", websock_asgi),
        path("ws/refuse/", websock_asgi),
        path("ws/raw/<str:room>/<int:n>/", raw_upgrade),
        # Nested routers: the inner one routes on scope["path_remaining"].
        path("ws/nest/<str:room>/", URLRouter([path("echo/", websock_asgi)])),
    ]
)

application = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_routes)),
        # Plain HTTP gets websock's answer (400: not an upgrade); daphne's readiness probe
        # uses it.
        "http": websock_asgi,
        "lifespan": websock_asgi,
    }
)


# -- the servers --------------------------------------------------------------------------------


def _start_daphne() -> Running:
    sock = bound_socket()
    argv = [sys.executable, "-m", "daphne", "--fd", str(sock.fileno()), "-v", "1"]
    argv.append("tests.adapters.test_channels:application")
    # daphne imports this module by name: the repository root must be on its path.
    with pytest.MonkeyPatch.context() as patch:
        parts = [str(ROOT), os.environ.get("PYTHONPATH", "")]
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in parts if p))
        host = ProcessHost("channels-daphne", argv, sock=sock, ready=r"Listening on TCP address")
    return host.start()


#: server name → (start, the websock host whose declared capabilities apply).
SERVERS: dict[str, tuple[Callable[[], Running], str]] = {
    "daphne": (_start_daphne, "daphne"),
    "uvicorn": (_uvicorn("websockets-sansio", lambda: application), "uvicorn-websockets-sansio"),
}


@dataclass
class Served:
    name: str
    server: Running
    recorder: Recorder
    capabilities: dict[str, Any]

    def url(self, route: str, **query: Any) -> tuple[str, str]:
        """A URL for ``route`` with a fresh connection id; returns ``(url, id)``."""
        conn_id = uuid.uuid4().hex
        params = {"id": conn_id, "rec": self.recorder.port, **query}
        qs = "&".join(f"{k}={v}" for k, v in params.items())
        return f"{self.server.url}{route}?{qs}", conn_id

    @property
    def origin(self) -> str:
        return "http://" + self.server.url.removeprefix("ws://")


@pytest.fixture(scope="module", params=sorted(SERVERS))
def served(request: pytest.FixtureRequest, websock_recorder: Recorder) -> Iterator[Served]:
    start, host = SERVERS[request.param]
    server = start()
    try:
        yield Served(request.param, server, websock_recorder, CAPABILITIES[host])
    finally:
        server.stop()


def connect(served: Served, url: str, **kwargs: Any) -> Any:
    """The suite's client with a same-site Origin (AllowedHostsOriginValidator wants one)."""
    return client(url, origin=served.origin, **kwargs)


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/ws/echo/lobby/", "/ws/nest/lobby/echo/"])
async def test_echo_through_the_route(served: Served, route: str) -> None:
    url, conn = served.url(route)
    async with asyncio.timeout(TEST_TIMEOUT):
        async with connect(served, url) as ws:
            await ws.send("hello through channels")
            assert await ws.recv() == "hello through channels"
            await ws.send(b"\x00binary\xff")
            assert await ws.recv() == b"\x00binary\xff"
            await ws.send("!push3")
            assert [await ws.recv() for _ in range(3)] == ["one", b"two", "three"]
        reason = await served.recorder.wait(conn)
    assert reason == {"id": conn, "kind": "Remote", "code": 1000, "message": ""}


@pytest.mark.parametrize("route", ["/ws/echo/lobby/", "/ws/nest/lobby/echo/"])
async def test_what_the_app_sees_of_the_scope(served: Served, route: str) -> None:
    """Path (the full one, not Channels' ``path_remaining``), query string and headers
    reach the app, and what Channels put in the scope (route kwargs, the user) reaches it
    through ``Request.extra``."""
    url, conn = served.url(route, extra="1")
    async with asyncio.timeout(TEST_TIMEOUT), connect(served, url) as ws:
        await ws.send("!seen")
        seen = json.loads(await ws.recv())
    assert seen["path"] == route
    assert seen["query_string"] == f"id={conn}&rec={served.recorder.port}&extra=1"
    assert seen["origin"] == served.origin
    assert seen["client_host"] == "127.0.0.1"
    assert seen["scheme"] == "ws"
    assert seen["route"] == {"room": "lobby"}
    assert seen["anonymous"] is True
    assert {"url_route", "user", "session", "cookies"} <= set(seen["extra_keys"])
    assert not {"headers", "path", "query_string", "type"} & set(seen["extra_keys"])


async def test_raw_upgrade_in_the_router_sees_route_kwargs_and_user(served: Served) -> None:
    url, conn = served.url("/ws/raw/lobby/7/")
    async with asyncio.timeout(TEST_TIMEOUT):
        async with connect(served, url) as ws:
            await ws.send("!seen")
            seen = json.loads(await ws.recv())
            await ws.send(b"raw bytes")
            assert await ws.recv() == b"raw bytes"
            await ws.send("!info_task")
            assert await ws.recv() == "from-task"
        reason = await served.recorder.wait(conn)
    assert seen == {
        "route": {"room": "lobby", "n": 7},
        "path": "/ws/raw/lobby/7/",
        "anonymous": True,
    }
    assert reason == {"id": conn, "kind": "Remote", "code": 1000, "message": ""}


async def test_denial_through_the_route(served: Served) -> None:
    url, _ = served.url("/ws/deny/")
    async with asyncio.timeout(TEST_TIMEOUT):
        with pytest.raises(InvalidStatus) as info:
            async with connect(served, url):
                pass
    response = info.value.response
    if served.capabilities["denial"] == "full":  # the websocket.http.response extension
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="contract"'
        assert response.body == b"token required"
    else:  # daphne: close before accept, which the ASGI spec answers with 403
        assert served.capabilities["denial"] == "403"
        assert response.status_code == 403
        assert b"token required" not in response.body


async def test_upgrade_error_from_the_app_is_a_denial(served: Served) -> None:
    url, _ = served.url("/ws/refuse/")
    async with asyncio.timeout(TEST_TIMEOUT):
        with pytest.raises(InvalidStatus) as info:
            async with connect(served, url):
                pass
    response = info.value.response
    assert response.status_code == 403  # the error's status; also daphne's fallback
    if served.capabilities["denial"] == "full":
        assert response.body == b"this room is closed\n"


@pytest.mark.parametrize("route", ["/ws/nowhere/", "/ws/nest/lobby/other/"])
async def test_unrouted_path_is_refused_by_channels(served: Served, route: str) -> None:
    """No route: Channels' URLRouter raises before any app runs, and the server refuses
    the handshake (uvicorn: 500; daphne: its answer to an app error before accept)."""
    url, _ = served.url(route)
    async with asyncio.timeout(TEST_TIMEOUT):
        with pytest.raises(InvalidStatus) as info:
            async with connect(served, url):
                pass
    assert info.value.response.status_code == 500


async def test_foreign_origin_is_refused_by_channels(served: Served) -> None:
    url, conn = served.url("/ws/echo/lobby/")
    async with asyncio.timeout(TEST_TIMEOUT):
        with pytest.raises(InvalidStatus) as info:
            async with client(url, origin="http://evil.example"):
                pass
    assert info.value.response.status_code == 403
    assert served.recorder.records(conn) == []  # init never ran, so neither did terminate


async def test_client_close_reaches_terminate(served: Served) -> None:
    url, conn = served.url("/ws/echo/lobby/")
    async with asyncio.timeout(TEST_TIMEOUT):
        async with connect(served, url) as ws:
            await ws.send("before close")
            assert await ws.recv() == "before close"
            await ws.close(4002, "client bye")
        reason = await served.recorder.wait(conn)
    assert reason["kind"] == "Remote" and reason["code"] == 4002
    # daphne hands the app the code only ("remote_close": "code" in its capabilities).
    expected = "client bye" if served.capabilities["remote_close"] == "code+reason" else ""
    assert reason["message"] == expected


async def test_handle_info_from_task_and_thread(served: Served) -> None:
    url, _ = served.url("/ws/echo/lobby/")
    async with asyncio.timeout(TEST_TIMEOUT), connect(served, url) as ws:
        await ws.send("!info_task")
        assert await ws.recv() == "from-task"
        for _ in range(3):
            await ws.send("!info_thread")
            assert await ws.recv() == "from-thread"


async def test_server_side_stop_through_the_route(served: Served) -> None:
    url, conn = served.url("/ws/echo/lobby/")
    async with asyncio.timeout(TEST_TIMEOUT):
        async with connect(served, url) as ws:
            await ws.send("!stop_custom")
            messages, code, text = await until_closed(ws)
        reason = await served.recorder.wait(conn)
    assert (messages, code) == ([], 4001)
    # daphne cannot send a close reason ("close_reason": False in its capabilities).
    assert text == ("custom bye" if served.capabilities["close_reason"] else "")
    assert reason["kind"] == "Normal"
