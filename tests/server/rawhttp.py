"""A raw-socket HTTP/WebSocket peer for tests that must send what real clients won't."""

from __future__ import annotations

import asyncio
import base64
import os

from websock.options import Options
from websock.protocol.connection import ServerConnection
from websock.protocol.events import Event

TIMEOUT = 10.0


def handshake(path: str = "/echo", host: str = "127.0.0.1", extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


class Raw:
    """One TCP connection; every read has a timeout."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ws = ServerConnection(
            Options(max_message_size=64 << 20, max_frame_size=64 << 20), client=True
        )

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> Raw:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        """Read one HTTP response: status, headers (lower-case names), body."""
        async with asyncio.timeout(TIMEOUT):
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await self.reader.readexactly(length) if length else b""
        return status, headers, body

    async def upgrade(self, path: str = "/echo", extra: str = "") -> None:
        self.send(handshake(path, extra=extra))
        status, _, _ = await self.response()
        assert status == 101

    async def events(self) -> list[Event]:
        """The next events the server's frames produce (at least one)."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionResetError("server closed the connection")
                events = self.ws.receive_data(data)
                if events:
                    return events

    async def closed(self) -> bool:
        """True once the server closed the TCP connection (EOF); then, like a real client,
        close our side too."""
        async with asyncio.timeout(TIMEOUT):
            while await self.reader.read(65536):
                pass
        self.writer.close()
        return True

    async def aclose(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(TIMEOUT):
                await self.writer.wait_closed()
        except OSError:
            pass  # the server may have reset it: closed either way
