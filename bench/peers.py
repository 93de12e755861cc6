"""Run one benchmarked server in this process: ``python -m bench.peers NAME --port P``.

Every server serves the same semantics: each WebSocket message is echoed unchanged on
``/``; servers with a broadcast primitive also serve ``/broadcast`` (see
``bench/apps/websock_echo.py`` for the sub/pub protocol). Each runs on uvloop, in one
process, with its library defaults unless a comment says why. The raw TCP echo is the
event loop's ceiling: bytes in, the same bytes out, no WebSocket at all.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast

import uvloop

BACKLOG = 4096  # the idle-connection workload opens thousands of connections quickly
MAX_MESSAGE = (
    16 * 1024 * 1024
)  # uvicorn's and hypercorn's default, for peers whose default is lower


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    uvloop.run(main())


async def _forever() -> None:
    await asyncio.Event().wait()


# --- raw TCP echo (the ceiling) --------------------------------------------------------------


class _TcpEcho(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def serve_rawtcp(host: str, port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(_TcpEcho, host, port, backlog=BACKLOG)
        await _forever()

    _run(main)


# --- picows ----------------------------------------------------------------------------------


def serve_picows(host: str, port: int) -> None:
    from picows import (
        WSFrame,
        WSListener,
        WSMsgType,
        WSTransport,
        WSUpgradeRequest,
        ws_create_server,
    )

    data_types = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)
    subscribers: set[WSTransport] = set()

    class Echo(WSListener):
        # picows hands over frames, not messages: echoing frame by frame keeps the message.
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind in data_types:
                transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)
            elif kind == WSMsgType.CLOSE:
                # picows leaves the close handshake to the application (RFC 6455 §5.5.1).
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    class Broadcast(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                text = frame.get_payload_as_bytes()
                if text == b"sub":
                    subscribers.add(transport)
                    transport.send(WSMsgType.TEXT, b"ok")
                elif text.startswith(b"pub:"):
                    payload = text[4:]
                    for subscriber in subscribers:
                        subscriber.send(WSMsgType.TEXT, payload)
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            subscribers.discard(transport)

    def factory(request: WSUpgradeRequest) -> WSListener:
        path: bytes | str = request.path
        if isinstance(path, bytes):
            path = path.decode()
        return Broadcast() if path == "/broadcast" else Echo()

    async def main() -> None:
        await ws_create_server(factory, host, port, backlog=BACKLOG)
        await _forever()

    _run(main)


# --- aiohttp ---------------------------------------------------------------------------------


def serve_aiohttp(host: str, port: int) -> None:
    from aiohttp import WSMsgType, web

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    web.run_app(
        app,
        host=host,
        port=port,
        backlog=BACKLOG,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


# --- websockets (new asyncio implementation) ---------------------------------------------------


def serve_websockets(host: str, port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    subscribers: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/broadcast":
            await _broadcast(ws)
            return
        async for message in ws:
            await ws.send(message)

    async def _broadcast(ws: ServerConnection) -> None:
        try:
            async for message in ws:
                if message == "sub":
                    subscribers.add(ws)
                    await ws.send("ok")
                elif isinstance(message, str) and message.startswith("pub:"):
                    broadcast(subscribers, message[4:])
        finally:
            subscribers.discard(ws)

    async def main() -> None:
        async with serve(handler, host, port, max_size=MAX_MESSAGE, backlog=BACKLOG):
            await _forever()

    _run(main)


# --- ASGI servers on the raw ASGI echo app ---------------------------------------------------


def _uvicorn(app: Any, host: str, port: int, ws: str) -> None:
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws=ws,
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=BACKLOG,
    )
    uvicorn.Server(config).run()


def serve_uvicorn_sansio(host: str, port: int) -> None:
    from bench.apps.asgi_echo import app

    _uvicorn(app, host, port, "websockets-sansio")


def serve_uvicorn_wsproto(host: str, port: int) -> None:
    from bench.apps.asgi_echo import app

    _uvicorn(app, host, port, "wsproto")


def serve_hypercorn(host: str, port: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from bench.apps.asgi_echo import app

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.backlog = BACKLOG
    config.accesslog = None
    config.loglevel = "WARNING"
    _run(lambda: serve(app, config))  # type: ignore[arg-type]


# --- websock on uvicorn (the ASGI adapter) ---------------------------------------------------


def serve_websock_uvicorn(host: str, port: int) -> None:
    from bench.apps.websock_echo import app
    from websock.adapters.asgi import App

    # websockets-sansio is uvicorn's fastest WebSocket implementation (see the uvicorn rows).
    _uvicorn(App(app), host, port, "websockets-sansio")


SERVERS: dict[str, Callable[[str, int], None]] = {
    "rawtcp": serve_rawtcp,
    "picows": serve_picows,
    "aiohttp": serve_aiohttp,
    "websockets": serve_websockets,
    "uvicorn-sansio": serve_uvicorn_sansio,
    "uvicorn-wsproto": serve_uvicorn_wsproto,
    "hypercorn": serve_hypercorn,
    "websock-uvicorn": serve_websock_uvicorn,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("server", choices=sorted(SERVERS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    SERVERS[args.server](args.host, args.port)


if __name__ == "__main__":
    main()
