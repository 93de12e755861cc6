"""Peers that break RFC 6455, over a raw socket: the server answers with the right close
code, tells the handler why, and keeps serving everyone else."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest

from tests.implementations import implementation  # noqa: F401 (autouse: C and Python)
from tests.server.rawhttp import Raw
from tests.server.server_apps import Probe
from websock import Binary, Error, ProtocolError, Text, Timeout
from websock.protocol.events import CloseReceived
from websock.protocol.frames import encode_frame
from websock.server import Server

RawConnect = Callable[[int], Awaitable[Raw]]


def masked(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    return encode_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=os.urandom(4))


async def close_code_after(raw: Raw, data: bytes) -> int | None:
    raw.send(data)
    while True:
        for event in await raw.events():
            if isinstance(event, CloseReceived):
                assert await raw.closed()
                return event.code


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x81\x05hello", 1002),  # unmasked client frame (RFC 6455 §5.1)
        (masked(0x3, b"x"), 1002),  # reserved opcode (§5.2)
        (masked(0x1, b"x", rsv1=True), 1002),  # RSV1 without a negotiated extension (§5.2)
        (masked(0x9, b"p", fin=False), 1002),  # fragmented control frame (§5.5)
        (masked(0x0, b"orphan"), 1002),  # continuation with nothing to continue (§5.4)
        (masked(0x9, b"x" * 126), 1002),  # control payload over 125 bytes (§5.5)
        (masked(0x1, b"\xff\xfe"), 1007),  # invalid UTF-8 in a text message (§8.1)
        (masked(0x8, b"\x03\xe8\xff"), 1007),  # invalid UTF-8 in a close reason (§5.5.1)
        (masked(0x8, b"\x03"), 1002),  # one-byte close payload (§5.5.1)
        (masked(0x8, b"\x03\xed"), 1002),  # close code 1005 may not be sent (§7.4.1)
        (masked(0x2, b"x" * 2000), 1009),  # over max_message_size=1000
    ],
)
async def test_violation_gets_its_close_code(
    server: Server, probe: Probe, raw_connect: RawConnect, frame: bytes, code: int
) -> None:
    raw = await raw_connect(server.port)
    await raw.upgrade("/probe?max_message_size=1000")
    assert await close_code_after(raw, frame) == code
    (reason,) = await probe.ended()
    assert isinstance(reason, Error) and isinstance(reason.reason, ProtocolError)
    assert reason.reason.code == code
    # The server is unharmed.
    other = await raw_connect(server.port)
    await other.upgrade("/echo")
    other.ws.send_text("next")
    other.send(other.ws.data_to_send())
    assert await other.events() == [Text("next")]


async def test_garbage_after_the_handshake_is_a_protocol_error(
    server: Server, probe: Probe, raw_connect: RawConnect
) -> None:
    raw = await raw_connect(server.port)
    await raw.upgrade("/probe")
    assert await close_code_after(raw, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 1002


async def test_peer_that_never_answers_pings_times_out(
    server: Server, probe: Probe, raw_connect: RawConnect
) -> None:
    raw = await raw_connect(server.port)
    await raw.upgrade("/probe?timeout=none&ping_interval=0.1&ping_timeout=0.2")
    # Read without answering: pings arrive, then the close.
    pings = 0
    code = None
    async with asyncio.timeout(10):
        while code is None:
            data = await raw.reader.read(65536)
            assert data, "closed without a close frame"
            for event in raw.ws.receive_data(data):
                if isinstance(event, CloseReceived):
                    code = event.code
                else:
                    pings += 1
    assert pings >= 1 and code == 1011
    assert await probe.ended() == [Timeout()]


async def test_peer_vanishing_mid_message_is_transport_lost(
    server: Server, probe: Probe, raw_connect: RawConnect
) -> None:
    raw = await raw_connect(server.port)
    await raw.upgrade("/probe")
    raw.send(masked(0x1, b"half of a ", fin=False))
    raw.writer.transport.abort()
    (reason,) = await probe.ended()
    assert isinstance(reason, Error)


async def test_client_that_stops_reading_is_closed_with_1008(
    server: Server, probe: Probe, raw_connect: RawConnect
) -> None:
    # The handler pushes 48 MiB at once to a client that reads nothing: the socket's buffers
    # fill, asyncio pauses writing, and more than max_write_buffer (16 MiB) stays queued.
    raw = await raw_connect(server.port)
    await raw.upgrade("/probe?ping_interval=none")
    raw.ws.send_text("flood 48")
    raw.send(raw.ws.data_to_send())
    (reason,) = await probe.ended(timeout=5)
    assert isinstance(reason, Error) and "max_write_buffer" in str(reason.reason)
    # What was queued before the close frame still arrives, then the close itself.
    received = 0
    code = None
    async with asyncio.timeout(30):
        while code is None:
            data = await raw.reader.read(1 << 20)
            assert data, "closed without a close frame"
            for event in raw.ws.receive_data(data):
                if isinstance(event, CloseReceived):
                    code = event.code
                else:
                    assert event == Binary(bytes(1 << 20))
                    received += 1
    assert code == 1008 and 0 < received <= 48


async def test_close_frame_survives_a_peer_that_keeps_sending(
    server: Server, raw_connect: RawConnect
) -> None:
    # The server fails the connection while input is still arriving. Closing the socket
    # with unread input would make the kernel send RST and could destroy the echo and
    # the close frame in flight; the server half-closes and drains instead (Autobahn 4.1.5).
    raw = await raw_connect(server.port)
    await raw.upgrade("/echo")
    raw.send(masked(0x1, b"Hello, world!"))
    raw.send(masked(0x7, b"x" * 100))
    for _ in range(64):
        raw.send(os.urandom(4096))
        await raw.writer.drain()
    events = []
    async with asyncio.timeout(10):
        while data := await raw.reader.read(65536):
            events += raw.ws.receive_data(data)
    assert events[0] == Text("Hello, world!")
    assert isinstance(events[-1], CloseReceived) and events[-1].code == 1002
