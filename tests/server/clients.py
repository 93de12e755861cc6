"""Four real WebSocket client libraries behind one small async interface.

``websockets`` and ``aiohttp`` (asyncio), ``websocket-client`` (synchronous, driven from a
worker thread) and ``picows`` (frame-level, Cython). Each adapter answers pings like a real
peer, completes the close handshake, and bounds every wait with a timeout.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from typing import Any, Protocol

import aiohttp
import picows
import websocket
import websockets
from websockets.asyncio.client import ClientConnection

TIMEOUT = 20.0
MAX = 64 << 20


class Client(Protocol):
    name: str
    #: permessage-deflate as negotiated (the Sec-WebSocket-Extensions answer), "" if none.
    extensions: str

    async def send(self, data: str | bytes) -> None: ...

    async def send_fragments(self, parts: list[str]) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def ping(self, payload: bytes) -> None:
        """Return once the pong with this payload arrived."""

    async def close(self, code: int, reason: str) -> tuple[int | None, str]:
        """Start the close handshake; return the server's answering code and reason."""

    async def closed(self) -> tuple[int | None, str]:
        """Wait for the server to close; return its close code and reason."""

    async def aclose(self) -> None:
        """Release everything (teardown); never raises."""


# --- websockets -------------------------------------------------------------------------------


class WebsocketsClient:
    name = "websockets"

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.extensions = (
            ws.response.headers.get("Sec-WebSocket-Extensions", "") if ws.response else ""
        )

    @classmethod
    async def connect(
        cls, url: str, compress: bool, ssl_context: ssl.SSLContext | None
    ) -> WebsocketsClient:
        async with asyncio.timeout(TIMEOUT):
            ws = await websockets.connect(
                url,
                compression="deflate" if compress else None,
                max_size=None,
                ping_interval=None,
                ssl=ssl_context,
            )
        return cls(ws)

    async def send(self, data: str | bytes) -> None:
        async with asyncio.timeout(TIMEOUT):
            await self.ws.send(data)

    async def send_fragments(self, parts: list[str]) -> None:
        async with asyncio.timeout(TIMEOUT):
            await self.ws.send(parts)  # an iterable goes out as one fragmented message

    async def recv(self) -> str | bytes:
        async with asyncio.timeout(TIMEOUT):
            return await self.ws.recv()

    async def ping(self, payload: bytes) -> None:
        async with asyncio.timeout(TIMEOUT):
            await (await self.ws.ping(payload))

    async def close(self, code: int, reason: str) -> tuple[int | None, str]:
        async with asyncio.timeout(TIMEOUT):
            await self.ws.close(code, reason)
        return self.ws.close_code, self.ws.close_reason or ""

    async def closed(self) -> tuple[int | None, str]:
        async with asyncio.timeout(TIMEOUT):
            await self.ws.wait_closed()
        return self.ws.close_code, self.ws.close_reason or ""

    async def aclose(self) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                await self.ws.close()
        except Exception:
            self.ws.transport.abort()


# --- aiohttp --------------------------------------------------------------------------------


class AiohttpClient:
    name = "aiohttp"

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws
        self.extensions = ""
        if ws._response is not None:
            self.extensions = ws._response.headers.get("Sec-WebSocket-Extensions", "")
        self._pongs: list[bytes] = []
        self._close: tuple[int | None, str] | None = None

    @classmethod
    async def connect(
        cls, url: str, compress: bool, ssl_context: ssl.SSLContext | None
    ) -> AiohttpClient:
        session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(TIMEOUT):
                ws = await session.ws_connect(
                    url,
                    compress=15 if compress else 0,
                    max_msg_size=0,
                    autoping=False,  # we answer pings and see pongs ourselves
                    ssl=ssl_context if ssl_context is not None else True,
                )
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            await self.ws.send_str(data)
        else:
            await self.ws.send_bytes(data)

    async def send_fragments(self, parts: list[str]) -> None:
        raise NotImplementedError("aiohttp's client cannot send fragmented messages")

    async def _next(self) -> aiohttp.WSMessage:
        async with asyncio.timeout(TIMEOUT):
            while True:
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.PING:
                    await self.ws.pong(msg.data)
                elif msg.type == aiohttp.WSMsgType.PONG:
                    self._pongs.append(msg.data)
                    return msg
                else:
                    closing = msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                    if closing and self._close is None:
                        self._close = (self.ws.close_code, msg.extra or "")
                    return msg

    async def recv(self) -> str | bytes:
        while True:
            msg = await self._next()
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                data: str | bytes = msg.data
                return data
            if msg.type != aiohttp.WSMsgType.PONG:
                raise ConnectionError(f"connection ended: {msg}")

    async def ping(self, payload: bytes) -> None:
        await self.ws.ping(payload)
        while payload not in self._pongs:
            await self._next()

    async def close(self, code: int, reason: str) -> tuple[int | None, str]:
        async with asyncio.timeout(TIMEOUT):
            await self.ws.close(code=code, message=reason.encode())
        return self.ws.close_code, ""  # aiohttp does not keep the answer's reason

    async def closed(self) -> tuple[int | None, str]:
        while self._close is None:
            msg = await self._next()
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                continue
        async with asyncio.timeout(TIMEOUT):
            await self.ws.close()  # answers the close frame (autoclose is on)
        return self._close

    async def aclose(self) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                await self.ws.close()
        except Exception:
            pass
        await self.session.close()


# --- websocket-client (sync) ------------------------------------------------------------------


def _close_payload(data: bytes) -> tuple[int | None, str]:
    if len(data) < 2:
        return None, ""
    return struct.unpack("!H", data[:2])[0], data[2:].decode("utf-8")


class WebsocketClientSync:
    name = "websocket-client"

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        headers = ws.getheaders() or {}
        self.extensions = headers.get("sec-websocket-extensions", "")

    @classmethod
    async def connect(
        cls, url: str, compress: bool, ssl_context: ssl.SSLContext | None
    ) -> WebsocketClientSync:
        if compress:
            raise NotImplementedError("websocket-client has no permessage-deflate")
        sslopt: dict[str, Any] = {}
        if ssl_context is not None:
            sslopt = {"context": ssl_context}
        ws = await asyncio.to_thread(
            websocket.create_connection,
            url,
            timeout=TIMEOUT,
            sslopt=sslopt,
            enable_multithread=True,
        )
        return cls(ws)

    async def _run(self, fn: Any, *args: Any) -> Any:
        async with asyncio.timeout(TIMEOUT + 5):
            return await asyncio.to_thread(fn, *args)

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            await self._run(self.ws.send, data)
        else:
            await self._run(self.ws.send_bytes, data)

    async def send_fragments(self, parts: list[str]) -> None:
        def send() -> None:
            for i, part in enumerate(parts):
                opcode = websocket.ABNF.OPCODE_TEXT if i == 0 else websocket.ABNF.OPCODE_CONT
                fin = 1 if i == len(parts) - 1 else 0
                self.ws.send_frame(websocket.ABNF.create_frame(part.encode(), opcode, fin))

        await self._run(send)

    async def recv(self) -> str | bytes:
        data: str | bytes = await self._run(self.ws.recv)  # answers pings by itself
        return data

    async def ping(self, payload: bytes) -> None:
        def ping() -> None:
            self.ws.ping(payload)
            while True:
                opcode, frame = self.ws.recv_data_frame(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_PONG and frame.data == payload:
                    return

        await self._run(ping)

    async def close(self, code: int, reason: str) -> tuple[int | None, str]:
        def close() -> tuple[int | None, str]:
            self.ws.send_close(code, reason.encode())
            while True:
                opcode, frame = self.ws.recv_data_frame(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.ws.shutdown()  # type: ignore[no-untyped-call]
                    return _close_payload(frame.data)

        result: tuple[int | None, str] = await self._run(close)
        return result

    async def closed(self) -> tuple[int | None, str]:
        def wait() -> tuple[int | None, str]:
            while True:
                opcode, frame = self.ws.recv_data_frame(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    # recv_data_frame already answered with a close frame.
                    self.ws.shutdown()  # type: ignore[no-untyped-call]
                    return _close_payload(frame.data)

        result: tuple[int | None, str] = await self._run(wait)
        return result

    async def aclose(self) -> None:
        try:
            await self._run(self.ws.close)
        except Exception:
            self.ws.shutdown()  # type: ignore[no-untyped-call]


# --- picows ---------------------------------------------------------------------------------


class _Listener(picows.WSListener):
    def __init__(self) -> None:
        self.frames: asyncio.Queue[tuple[picows.WSMsgType, bytes, bool, int | None, str]] = (
            asyncio.Queue()
        )

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        # Payload buffers are reused after this callback: copy.
        code: int | None = None
        message = ""
        if frame.msg_type == picows.WSMsgType.CLOSE:
            code = frame.get_close_code().value if frame.payload_size >= 2 else None
            message = frame.get_close_message().decode("utf-8") if frame.payload_size > 2 else ""
        self.frames.put_nowait(
            (frame.msg_type, frame.get_payload_as_bytes(), frame.fin, code, message)
        )


class PicowsClient:
    name = "picows"

    def __init__(self, transport: picows.WSTransport, listener: _Listener) -> None:
        self.transport = transport
        self.listener = listener
        self.extensions = ""

    @classmethod
    async def connect(
        cls, url: str, compress: bool, ssl_context: ssl.SSLContext | None
    ) -> PicowsClient:
        if compress:
            raise NotImplementedError("picows has no permessage-deflate")
        async with asyncio.timeout(TIMEOUT):
            transport, listener = await picows.ws_connect(
                _Listener, url, max_frame_size=MAX, ssl_context=ssl_context
            )
        assert isinstance(listener, _Listener)
        return cls(transport, listener)

    async def _frame(self) -> tuple[picows.WSMsgType, bytes, bool, int | None, str]:
        async with asyncio.timeout(TIMEOUT):
            return await self.listener.frames.get()

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            self.transport.send(picows.WSMsgType.TEXT, data.encode())
        else:
            self.transport.send(picows.WSMsgType.BINARY, data)

    async def send_fragments(self, parts: list[str]) -> None:
        for i, part in enumerate(parts):
            kind = picows.WSMsgType.TEXT if i == 0 else picows.WSMsgType.CONTINUATION
            self.transport.send(kind, part.encode(), fin=i == len(parts) - 1)

    async def recv(self) -> str | bytes:
        chunks: list[bytes] = []
        kind = None
        while True:
            msg_type, payload, fin, _, _ = await self._frame()
            if msg_type in (picows.WSMsgType.PING, picows.WSMsgType.PONG):
                continue  # auto-pong answers pings
            if msg_type == picows.WSMsgType.CLOSE:
                raise ConnectionError("server closed")
            if msg_type != picows.WSMsgType.CONTINUATION:
                kind = msg_type
            chunks.append(payload)
            if fin:
                data = b"".join(chunks)
                return data.decode("utf-8") if kind == picows.WSMsgType.TEXT else data

    async def ping(self, payload: bytes) -> None:
        self.transport.send_ping(payload)
        while True:
            msg_type, data, _, _, _ = await self._frame()
            if msg_type == picows.WSMsgType.PONG and data == payload:
                return

    async def close(self, code: int, reason: str) -> tuple[int | None, str]:
        self.transport.send_close(picows.WSCloseCode(code), reason.encode())
        while True:
            msg_type, _, _, got, message = await self._frame()
            if msg_type == picows.WSMsgType.CLOSE:
                await self._disconnect()
                return got, message

    async def closed(self) -> tuple[int | None, str]:
        while True:
            msg_type, _, _, code, message = await self._frame()
            if msg_type == picows.WSMsgType.CLOSE:
                # picows leaves the close handshake to us (RFC 6455 §5.5.1: echo the code).
                if code is not None:
                    self.transport.send_close(picows.WSCloseCode(code), message.encode())
                else:
                    self.transport.send_close()
                await self._disconnect()
                return code, message

    async def _disconnect(self) -> None:
        async with asyncio.timeout(TIMEOUT):
            # The server closes TCP after the handshake (RFC 6455 §7.1.1).
            await self.transport.wait_disconnected()

    async def aclose(self) -> None:
        self.transport.disconnect()
        try:
            async with asyncio.timeout(TIMEOUT):
                await self.transport.wait_disconnected()
        except Exception:
            pass


CLIENTS: dict[str, Any] = {
    "websockets": WebsocketsClient,
    "aiohttp": AiohttpClient,
    "websocket-client": WebsocketClientSync,
    "picows": PicowsClient,
}
