"""An echo app for running Autobahn|Testsuite through the hosts (docs/hosts.md).

python -m uvicorn websock.contract.echo:asgi_echo --port 9001
python -m websock.contract.echo aiohttp 9001
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

__all__ = ["EchoHandler", "asgi_echo", "echo_app"]


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


async def _serve(host: str, port: int) -> None:
    if host == "aiohttp":
        from aiohttp import web

        from ..adapters.aiohttp import serve_app

        runner = web.AppRunner(serve_app(echo_app))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()
    elif host == "websockets":
        from ..adapters.websockets import serve

        async with serve(echo_app, "127.0.0.1", port):
            await asyncio.Event().wait()
    else:
        raise SystemExit(f"unknown host {host!r}: aiohttp or websockets")


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], int(sys.argv[2])))
