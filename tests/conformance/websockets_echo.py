"""An echo server made with the ``websockets`` library: a known reference for the runner.

The runner's own tests point Autobahn at it, so they check the runner (install, spec, run,
judging) independently of websock. ``--max-size`` shrinks the message limit to make a
server that fails some cases on purpose.

    python tests/conformance/websockets_echo.py --port N [--max-size BYTES]
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


async def echo(connection: ServerConnection) -> None:
    try:
        async for message in connection:
            await connection.send(message)
    except ConnectionClosed:
        pass


async def main(port: int, max_size: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    # No keepalive pings: Autobahn records every frame, an unrequested ping would show up.
    async with serve(echo, "127.0.0.1", port, max_size=max_size, ping_interval=None):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-size", type=int, default=16 * 1024 * 1024)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.max_size))
