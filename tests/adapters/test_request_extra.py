"""``Request.extra``: what a host knows beyond HTTP reaches the app, read-only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from aiohttp.test_utils import make_mocked_request

import websock
from websock.adapters.aiohttp import request_from_aiohttp
from websock.adapters.asgi import request_from_scope
from websock.contract.echo import EchoHandler

TIMEOUT = 10.0


def test_asgi_scope_keys_beyond_http_go_to_extra() -> None:
    route = {"args": (), "kwargs": {"room": "lobby"}}
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/ws/lobby",
        "raw_path": b"/ws/lobby",
        "query_string": b"a=1",
        "root_path": "/app",
        "headers": [(b"host", b"h")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "url_route": route,
        "path_params": {"room": "lobby"},
        "state": {"db": "pool"},
    }
    request = request_from_scope(scope)
    assert dict(request.extra) == {
        "root_path": "/app",
        "server": ("127.0.0.1", 8000),
        "url_route": route,
        "path_params": {"room": "lobby"},
        "state": {"db": "pool"},
    }
    assert request.extra["url_route"] is route  # passed on, not copied
    with pytest.raises(TypeError):
        request.extra["x"] = 1  # type: ignore[index]


def test_aiohttp_match_info_and_request_go_to_extra() -> None:
    aiohttp_request = make_mocked_request("GET", "/ws/lobby", match_info={"room": "lobby"})
    request = request_from_aiohttp(aiohttp_request)
    assert request.extra["match_info"] == {"room": "lobby"}
    assert request.extra["request"] is aiohttp_request


async def test_websockets_connection_goes_to_extra() -> None:
    from websockets.asyncio.server import ServerConnection

    from websock.adapters.websockets import serve

    seen: list[Any] = []

    async def app(request: websock.Request) -> websock.Upgrade:
        seen.append(request.extra["connection"])
        return websock.upgrade(request, EchoHandler())

    async with (
        asyncio.timeout(TIMEOUT),
        serve(app, port=0) as server,
        websockets.connect(f"ws://127.0.0.1:{server.port}/"),
    ):
        pass
    assert len(seen) == 1 and isinstance(seen[0], ServerConnection)


async def test_builtin_server_extra_is_empty() -> None:
    seen: list[Any] = []

    async def app(request: websock.Request) -> websock.Upgrade:
        seen.append(dict(request.extra))
        return websock.upgrade(request, EchoHandler())

    async with (
        asyncio.timeout(TIMEOUT),
        websock.serve(app, port=0) as server,
        websockets.connect(server.url),
    ):
        pass
    assert seen == [{}]
    assert dict(websock.Request("GET", "/").extra) == {}
