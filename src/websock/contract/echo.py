"""Echo apps for running Autobahn|Testsuite through the hosts (docs/hosts.md).

websock on a host, and the same host's RAW echo (no websock at all) with the same limits
and compression, so that each failing case can be attributed to the host or to us::

    python -m uvicorn websock.contract.echo:asgi_echo --port 9001 --ws websockets-sansio
    python -m uvicorn websock.contract.echo:raw_asgi_echo --port 9001 --ws websockets-sansio
    python -m websock.contract.echo aiohttp 9001
    python -m websock.contract.echo aiohttp-raw 9001
    python -m websock.contract.echo websockets 9001
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import websock

from ..adapters.asgi import App
from ..handler import Handler
from ..results import Ok, Push, Result

__all__ = ["EchoHandler", "asgi_echo", "echo_app", "raw_aiohttp_echo", "raw_asgi_echo"]


class EchoHandler(Handler):
    def init(self, arg: Any) -> Result:
        return Ok(None)

    def handle_in(self, message: Any, state: Any) -> Result:
        return Push(message, state)

    def handle_info(self, message: Any, state: Any) -> Result:
        return Ok(state)


ECHO = EchoHandler()
MiB = 1 << 20


async def echo_app(request: websock.Request) -> Any:
    # Autobahn's limits cases (9.*) send up to 16 MiB messages.
    return websock.upgrade(
        request, ECHO, None, max_message_size=32 * MiB, max_frame_size=32 * MiB, compress=True
    )


asgi_echo = App(echo_app)

#: The hosts' own limits for Autobahn's 16 MiB messages (9.1.6, 9.2.6), on both echoes.
HOST_MAX_SIZE = 32 * MiB


async def raw_asgi_echo(scope: Any, receive: Any, send: Any) -> None:
    """The ASGI server's own echo: every message straight back, nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        return
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return  # websocket.disconnect: the server did the close handshake
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


async def raw_aiohttp_echo(request: Any) -> Any:
    """aiohttp's own echo, with the limits and compression ``echo_app`` gives aiohttp;
    pings and the close handshake are aiohttp's (``autoping``/``autoclose``), as an aiohttp
    app without websock has them."""
    from aiohttp import WSMsgType, web

    ws = web.WebSocketResponse(compress=True, max_msg_size=HOST_MAX_SIZE + 1)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def _serve(host: str, port: int) -> None:
    if host in ("aiohttp", "aiohttp-raw"):
        from aiohttp import web

        from ..adapters.aiohttp import serve_app

        if host == "aiohttp":
            application = serve_app(echo_app)
        else:
            application = web.Application()
            application.router.add_get("/{tail:.*}", raw_aiohttp_echo)
        runner = web.AppRunner(application)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()
    elif host == "websockets":
        from ..adapters.websockets import serve

        async with serve(echo_app, "127.0.0.1", port):
            await asyncio.Event().wait()
    else:
        raise SystemExit(f"unknown host {host!r}: aiohttp, aiohttp-raw or websockets")


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], int(sys.argv[2])))
