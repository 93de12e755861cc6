"""The fast lane on the built-in server: the same bytes on every socket, per compression
setting; real peers decode them; a slow subscriber misses frames without delaying others."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import zlib
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

import websock
from tests.pubsub.app import PUBSUB, app
from websock.server import Server

TIMEOUT = 10.0
MESSAGE = "a broadcast worth compressing; " * 40


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with websock.serve(app, port=0, shutdown_timeout=5.0) as running:
        yield running


class RawPeer:
    """A socket that reads whole frames as bytes, compressed or not (no decoding)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, topic: str, extensions: str = "") -> RawPeer:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            key = base64.b64encode(os.urandom(16)).decode()
            offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
            writer.write(
                f"GET /?topic={topic}&compress=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{offer}\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        peer = cls(reader, writer)
        await peer.frame()  # "ready:<pid>"
        return peer

    async def frame(self) -> bytes:
        async with asyncio.timeout(TIMEOUT):
            head = await self.reader.readexactly(2)
            length = head[1] & 0x7F
            extended = b""
            if length == 126:
                extended = await self.reader.readexactly(2)
                length = int.from_bytes(extended, "big")
            elif length == 127:
                extended = await self.reader.readexactly(8)
                length = int.from_bytes(extended, "big")
            return head + extended + await self.reader.readexactly(length)

    async def aclose(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def payload(frame: bytes) -> bytes:
    length = frame[1] & 0x7F
    return frame[2 + {126: 2, 127: 8}.get(length, 0) :]


async def test_same_bytes_per_compression_setting(server: Server) -> None:
    topic = "fast-bytes"
    plain = await RawPeer.open(server.port, topic)
    takeover = await RawPeer.open(server.port, topic, "permessage-deflate")
    nct = "permessage-deflate; server_no_context_takeover"
    shared = [await RawPeer.open(server.port, topic, nct) for _ in range(2)]
    try:
        before = PUBSUB.stats
        PUBSUB.broadcast_frame(topic, MESSAGE)
        frames = [await peer.frame() for peer in (plain, takeover, *shared)]
        # No compression and context takeover: one plain frame, RSV1 clear (RFC 7692 §6).
        assert frames[0] == frames[1]
        assert frames[0][0] == 0x81 and payload(frames[0]) == MESSAGE.encode()
        # server_no_context_takeover: one compressed frame for both (RFC 7692 §7.1.1.1).
        assert frames[2] == frames[3]
        assert frames[2][0] == 0xC1
        inflated = zlib.decompressobj(-15).decompress(payload(frames[2]) + b"\x00\x00\xff\xff")
        assert inflated == MESSAGE.encode()
        after = PUBSUB.stats
        assert after.encodings - before.encodings == 2
        assert after.bytes_encoded - before.bytes_encoded == len(frames[0]) + len(frames[2])
        assert after.frames_sent - before.frames_sent == 4
    finally:
        for peer in (plain, takeover, *shared):
            await peer.aclose()


async def ready(ws: ClientConnection) -> None:
    async with asyncio.timeout(TIMEOUT):
        first = await ws.recv()
    assert isinstance(first, str) and first.startswith("ready:")


async def test_real_peers_decode_fast_lane_frames_between_compressed_pushes(
    server: Server,
) -> None:
    topic = "fast-peers"
    url = f"ws://127.0.0.1:{server.port}/?topic={topic}&compress=1"
    nct = ClientPerMessageDeflateFactory(server_no_context_takeover=True)
    async with (
        connect(url) as takeover,
        connect(url, compression=None, extensions=[nct]) as no_takeover,
        connect(url, compression=None) as uncompressed,
    ):
        peers = (takeover, no_takeover, uncompressed)
        for ws in peers:
            await ready(ws)
        for round_ in range(3):
            # A compressed push (the connection's own context), then the shared frame.
            for ws in peers:
                await ws.send(f"echo:{MESSAGE}{round_}")
            PUBSUB.broadcast_frame(topic, f"{MESSAGE}fast{round_}")
            for ws in peers:
                async with asyncio.timeout(TIMEOUT):
                    got = {await ws.recv(), await ws.recv()}
                assert got == {f"{MESSAGE}{round_}", f"{MESSAGE}fast{round_}"}


async def test_slow_subscriber_misses_frames_and_never_delays_others(server: Server) -> None:
    topic = "fast-slow"
    big = "x" * 65536
    # A peer that never reads, with a tiny receive buffer: the server's transport fills up.
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.setblocking(False)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.sock_connect(slow, ("127.0.0.1", server.port)), TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        slow,
        f"GET /?topic={topic} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
        f"Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(),
    )
    url = f"ws://127.0.0.1:{server.port}/?topic={topic}"
    try:
        async with connect(url, max_size=None) as fast:
            await ready(fast)
            while PUBSUB.subscribers(topic) < 2:  # the slow peer's init runs server-side
                await asyncio.wait_for(fast.send("echo:sync"), TIMEOUT)
                async with asyncio.timeout(TIMEOUT):
                    assert await fast.recv() == "sync"
            before = PUBSUB.stats
            sent = 0
            while PUBSUB.stats.dropped_slow == before.dropped_slow:
                assert sent < 500, "the slow peer never became slow"
                PUBSUB.broadcast_frame(topic, big)
                sent += 1
                async with asyncio.timeout(TIMEOUT):
                    assert await fast.recv() == big
            # Once slow, it keeps missing frames while the fast peer gets every one.
            for _ in range(5):
                PUBSUB.broadcast_frame(topic, big)
                async with asyncio.timeout(TIMEOUT):
                    assert await fast.recv() == big
            after = PUBSUB.stats
            assert after.dropped_slow - before.dropped_slow >= 6
            assert after.frames_sent - before.frames_sent == 2 * (sent + 5) - (
                after.dropped_slow - before.dropped_slow
            )
    finally:
        slow.close()
