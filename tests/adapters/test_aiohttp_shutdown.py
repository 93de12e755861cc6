"""``adapters.aiohttp.upgrade`` inside a user's own aiohttp handler (no ``serve_app``):
when the aiohttp server stops, websock's connections close with 1001 and ``terminate``
sees ``Shutdown`` promptly, so the runner's cleanup does not wait out a close handshake
that aiohttp can no longer read (it discards input once its shutdown began)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from websock.adapters.aiohttp import close_on_shutdown, upgrade
from websock.results import Ok, Push, Shutdown

#: aiohttp's grace period (``shutdown_timeout``): it waits that long for handlers, twice
#: (once before it cancels the request, once after), before it cancels them.
GRACE = 3.0
#: A bound on the cleanup well below one grace period: it only fails on a wait or a hang.
BOUND = 2.0


class Handler:
    def __init__(self) -> None:
        self.reasons: asyncio.Queue[Any] = asyncio.Queue()

    def init(self, arg: Any) -> Ok:
        return Ok(None)

    def handle_in(self, message: Any, state: Any) -> Push:
        return Push(message.data, state)

    def handle_info(self, message: Any, state: Any) -> Ok:
        return Ok(state)

    def terminate(self, reason: Any, state: Any) -> None:
        self.reasons.put_nowait(reason)


async def serve(handler: Handler, *, hook: bool, grace: float = GRACE) -> tuple[web.AppRunner, str]:
    async def route(request: web.Request) -> web.StreamResponse:
        return await upgrade(request, handler, None)

    app = web.Application()
    app.router.add_get("/ws", route)
    if hook:
        close_on_shutdown(app)
    runner = web.AppRunner(app, shutdown_timeout=grace)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    await web.SockSite(runner, sock).start()
    return runner, f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"


async def closed_code(ws: Any) -> int | None:
    try:
        await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None
    raise AssertionError("the server sent a message instead of closing")


@pytest.fixture
async def handler() -> AsyncIterator[Handler]:
    yield Handler()


async def test_close_on_shutdown_closes_1001_promptly(handler: Handler) -> None:
    runner, url = await serve(handler, hook=True)
    async with asyncio.timeout(10):
        async with connect(url) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            closing = asyncio.ensure_future(closed_code(ws))
            # Not a speed assertion: a bound on a hang. Without the hook aiohttp would wait
            # its grace period twice, and a close handshake could not finish at all.
            async with asyncio.timeout(BOUND):
                await runner.cleanup()
            assert await closing == 1001
        reason = await handler.reasons.get()
    assert isinstance(reason, Shutdown)


async def test_without_the_hook_terminate_still_sees_shutdown(handler: Handler) -> None:
    """aiohttp cancels the handler and closes TCP in one step once its grace is over: no
    close frame can get out then (the client sees 1006), but terminate learns why."""
    grace = 0.25
    runner, url = await serve(handler, hook=False, grace=grace)
    async with asyncio.timeout(10):
        async with connect(url) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            closing = asyncio.ensure_future(closed_code(ws))
            async with asyncio.timeout(2 * grace + BOUND):
                await runner.cleanup()
            await closing
        reason = await handler.reasons.get()
    assert isinstance(reason, Shutdown)
