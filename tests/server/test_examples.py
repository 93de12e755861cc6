"""The examples, served by the built-in server and driven by a real client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

import websock
from examples.chat.app import app as chat_app
from examples.echo import app as echo_app

TIMEOUT = 10.0


async def test_echo_example() -> None:
    async with (
        websock.serve(echo_app, port=0) as server,
        asyncio.timeout(TIMEOUT),
        websockets.connect(server.url + "/ws") as ws,
    ):
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x01\x02")
        assert await ws.recv() == b"\x01\x02"
        await ws.send("bye")
        await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1000, "see you")


async def events(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(await ws.recv()) for _ in range(count)]


async def test_chat_rooms_keep_to_themselves() -> None:
    async with websock.serve(chat_app, port=0) as server, asyncio.timeout(TIMEOUT):
        base = server.url + "/ws?room="
        ann = await websockets.connect(base + "garden&name=ann")
        assert await events(ann, 1) == [
            {"type": "welcome", "room": "garden", "name": "ann", "members": ["ann"]}
        ]
        bob = await websockets.connect(base + "garden&name=bob")
        eve = await websockets.connect(base + "cellar&name=eve")
        assert (await events(bob, 1))[0]["members"] == ["ann", "bob"]
        assert (await events(eve, 1))[0]["members"] == ["eve"]
        assert await events(ann, 1) == [{"type": "joined", "name": "bob"}]

        await ann.send("hello garden")
        said = {"type": "message", "name": "ann", "text": "hello garden"}
        assert await events(ann, 1) == [said]
        assert await events(bob, 1) == [said]
        await eve.send("anyone?")  # only eve is in the cellar: she alone hears it
        assert await events(eve, 1) == [{"type": "message", "name": "eve", "text": "anyone?"}]

        await bob.close()
        assert await events(ann, 1) == [{"type": "left", "name": "bob"}]
        await ann.close()
        await eve.close()


@pytest.mark.parametrize(
    ("target", "status"),
    [("/ws?room=garden", 400), ("/ws?room=r&name=" + "x" * 33, 400), ("/nowhere", 404)],
)
async def test_chat_refuses_what_it_does_not_serve(target: str, status: int) -> None:
    async with websock.serve(chat_app, port=0) as server:
        with pytest.raises(websockets.InvalidStatus) as info:
            async with asyncio.timeout(TIMEOUT), websockets.connect(server.url + target):
                pass
    assert info.value.response.status_code == status


async def test_chat_page_is_served() -> None:
    async with websock.serve(chat_app, port=0) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        async with asyncio.timeout(TIMEOUT):
            page = await reader.read()
        writer.close()
        await writer.wait_closed()
    assert page.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: text/html; charset=utf-8" in page
    assert b"new WebSocket(" in page
