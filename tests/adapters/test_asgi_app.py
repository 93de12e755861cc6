"""``adapters.asgi.App`` beyond websockets: plain HTTP scopes and lifespan, on uvicorn."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from websock.adapters.asgi import App, request_from_scope
from websock.http import Request, Response
from websock.results import Ok

seen: list[Request] = []


class Echo:
    def init(self, arg: Any) -> Ok:
        return Ok(arg)

    def handle_in(self, message: Any, state: Any) -> Any:
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Any:
        return Ok(state)


async def app(request: Request) -> Any:
    from websock.upgrade import upgrade

    seen.append(request)
    if request.path == "/page":
        return Response(200, [("content-type", "text/plain"), ("x-app", "1")], "a page")
    return upgrade(request, Echo(), None)


@pytest.fixture
async def server() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    config = uvicorn.Config(App(app), lifespan="on", log_level="warning")
    srv = uvicorn.Server(config)
    task = asyncio.ensure_future(srv.serve(sockets=[sock]))
    yield sock.getsockname()[1]
    srv.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


async def http_get(port: int, path: str, extra: str = "") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n".encode())
    data = await reader.read()
    writer.close()
    return data


async def test_http_scope_gets_the_apps_response(server: int) -> None:
    data = await asyncio.wait_for(http_get(server, "/page?q=1"), 10)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"x-app: 1" in head.lower()
    assert body == b"a page"
    assert seen[-1].scheme == "http" and seen[-1].query_string == "q=1"


async def test_upgrade_on_http_scope_is_refused(server: int) -> None:
    # No Upgrade headers: websock.upgrade() refuses the request itself (RFC 6455 §4.2.1).
    data = await asyncio.wait_for(http_get(server, "/ws"), 10)
    assert data.startswith(b"HTTP/1.1 400")
    assert b"upgrade" in data.partition(b"\r\n\r\n")[2].lower()  # the body names the rule


def test_request_from_scope_maps_every_field() -> None:
    scope = {
        "type": "websocket",
        "path": "/chat",
        "query_string": b"a=1",
        "headers": [(b"host", b"example"), (b"x-multi", b"1"), (b"x-multi", b"2")],
        "client": ("10.0.0.1", 5000),
        "http_version": "1.1",
        "scheme": "wss",
        "subprotocols": ["chat", "v2"],
    }
    request = request_from_scope(scope)
    assert request.method == "GET"
    assert (request.path, request.query_string) == ("/chat", "a=1")
    assert request.headers.get_all("X-Multi") == ["1", "2"]
    assert request.client == ("10.0.0.1", 5000)
    assert request.scheme == "wss"
    # scope["subprotocols"] becomes the header websock.upgrade() reads (uvicorn's wsproto).
    assert request.headers["sec-websocket-protocol"] == "chat, v2"
