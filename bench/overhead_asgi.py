"""Overhead of the adapters: websock echo vs the host's own raw echo, same server, same client.

    PYTHONPATH=src .venv/bin/python bench/overhead_asgi.py [--messages 20000] [--size 64]
        [--rounds 5] [--hosts uvicorn,aiohttp]

For uvicorn (websockets-sansio) it compares ``adapters.asgi.App`` against a raw ASGI echo;
for aiohttp, ``adapters.aiohttp.serve_app`` against a raw ``WebSocketResponse`` echo. The
client (``websockets``, in this process) keeps a window of messages in flight and counts
echoes per second; the servers run in their own thread and loop, whose CPU time per
message is measured too. Raw and websock runs alternate; prints the medians and the ratios
(issue 4 budget: websock >= 90% of raw). Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from statistics import median
from typing import Any

from websockets.asyncio.client import connect

from websock.adapters.aiohttp import serve_app
from websock.adapters.asgi import App
from websock.contract.echo import EchoHandler
from websock.contract.hosts import ThreadHost
from websock.http import Request
from websock.upgrade import upgrade

WINDOW = 64


ECHO = EchoHandler()


async def websock_app(request: Request) -> Any:
    return upgrade(request, ECHO, None, timeout=None, ping_interval=None)


async def raw_asgi(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def uvicorn_host(app: Any) -> ThreadHost:
    async def main(sock: socket.socket, stop: asyncio.Event) -> None:
        import uvicorn

        config = uvicorn.Config(app, ws="websockets-sansio", lifespan="off", log_level="error")
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        await stop.wait()
        server.should_exit = True
        await task

    return ThreadHost("uvicorn", main).start()


def aiohttp_host(raw: bool) -> ThreadHost:
    async def main(sock: socket.socket, stop: asyncio.Event) -> None:
        from aiohttp import WSMsgType, web

        if raw:

            async def handler(request: web.Request) -> web.WebSocketResponse:
                ws = web.WebSocketResponse(compress=False)
                await ws.prepare(request)
                async for msg in ws:
                    if msg.type is WSMsgType.TEXT:
                        await ws.send_str(msg.data)
                    elif msg.type is WSMsgType.BINARY:
                        await ws.send_bytes(msg.data)
                return ws

            application = web.Application()
            application.router.add_get("/{tail:.*}", handler)
        else:
            application = serve_app(websock_app)
        runner = web.AppRunner(application)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        await stop.wait()
        await runner.cleanup()

    return ThreadHost("aiohttp", main).start()


@dataclass(frozen=True)
class Sample:
    rate: float  # echoes per second seen by the client
    server_us: float  # server-thread CPU microseconds per echoed message


async def measure(url: str, messages: int, size: int, host: ThreadHost) -> Sample:
    payload = "x" * size
    async with connect(url, compression=None, ping_interval=None, max_queue=None) as ws:
        for _ in range(200):  # warm up
            await ws.send(payload)
            await ws.recv()
        cpu = host.cpu_time()
        start = time.perf_counter()
        sent = received = 0
        while received < messages:
            while sent < messages and sent - received < WINDOW:
                await ws.send(payload)
                sent += 1
            await ws.recv()
            received += 1
        elapsed = time.perf_counter() - start
        used = host.cpu_time() - cpu
        return Sample(messages / elapsed, used / messages * 1e6)


def run(host: ThreadHost, messages: int, size: int) -> Sample:
    try:
        return asyncio.run(asyncio.wait_for(measure(host.url + "/ws", messages, size, host), 300))
    finally:
        host.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="raw/websock pairs, interleaved")
    parser.add_argument("--hosts", default="uvicorn,aiohttp")
    args = parser.parse_args()
    pairs: dict[str, tuple[Callable[[], ThreadHost], Callable[[], ThreadHost]]] = {
        "uvicorn": (lambda: uvicorn_host(raw_asgi), lambda: uvicorn_host(App(websock_app))),
        "aiohttp": (lambda: aiohttp_host(True), lambda: aiohttp_host(False)),
    }
    for name in args.hosts.split(","):
        raw, ours = pairs[name]
        raws: list[Sample] = []
        mine: list[Sample] = []
        for _ in range(args.rounds):
            # Interleaved, so that load from elsewhere on the machine hits both alike.
            raws.append(run(raw(), args.messages, args.size))
            mine.append(run(ours(), args.messages, args.size))
        raw_rate = median(s.rate for s in raws)
        our_rate = median(s.rate for s in mine)
        raw_us = median(s.server_us for s in raws)
        our_us = median(s.server_us for s in mine)
        # The wall-clock ratio moves with whatever else the machine runs; the server's own
        # CPU per message does not, so its inverse ratio is the steadier overhead figure.
        print(
            f"{name:8s} medians of {args.rounds}: raw {raw_rate:8.0f} msg/s {raw_us:5.1f} us/msg"
            f" | websock {our_rate:8.0f} msg/s {our_us:5.1f} us/msg"
            f" | msg/s ratio {our_rate / raw_rate:6.1%}, server-CPU ratio {raw_us / our_us:6.1%}"
        )


if __name__ == "__main__":
    main()
