"""The one-call read path (the C ``data_received``, protocol/_serve.c) does what the Python
path does (``receive_data`` then ``Session.feed``), whatever a single read holds.

Each test sends its frames in one write, so that they arrive as one read, and checks what
comes back, how the handler saw the connection end, and the counters. The module runs on
both implementations (``implementation``) and both event loops (tests/server/conftest.py);
the C path runs on uvloop, which hands reads to ``data_received``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

import websock
from tests.implementations import implementation
from tests.server.rawhttp import Raw
from tests.server.server_apps import Probe
from websock import Binary, Error, Normal, Ok, Ping, Pong, ProtocolError, Push, Text
from websock.protocol.connection import ServerConnection
from websock.protocol.events import CloseReceived, Event
from websock.protocol.frames import encode_frame
from websock.runtime.session import SessionStats
from websock.server import Server
from websock.server._connection import HttpConnection

__all__ = ["implementation"]

RawConnect = Callable[[int], Awaitable[Raw]]
TIMEOUT = 10.0


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    return encode_frame(opcode, payload, fin=fin, mask=os.urandom(4))


def text(data: str) -> bytes:
    return masked(0x1, data.encode())


async def receive(raw: Raw, count: int) -> list[Event]:
    """The next ``count`` events from the server (fewer only if it closes first)."""
    events: list[Event] = []
    while len(events) < count:
        got = await raw.events()
        events += got
        if any(isinstance(event, CloseReceived) for event in got):
            break
    return events


async def until_closed(raw: Raw) -> list[Event]:
    """Every event up to and including the server's close frame; then, like a real client,
    answer it (RFC 6455 §5.5.1) and wait for the TCP close."""
    events: list[Event] = []
    while not any(isinstance(event, CloseReceived) for event in events):
        events += await raw.events()
    raw.send(masked(0x8, b""))
    assert await raw.closed()
    return events


def only_connection(server: Server) -> HttpConnection:
    assert server._state is not None
    (connection,) = server._state.connections
    return connection


def session_stats(server: Server) -> SessionStats:
    session = only_connection(server)._session
    assert session is not None
    return session.stats


async def opened(server: Server, raw_connect: RawConnect, path: str = "/probe") -> Raw:
    raw = await raw_connect(server.port)
    await raw.upgrade(path)
    return raw


@asynccontextmanager
async def serving(handler: websock.Handler) -> AsyncIterator[tuple[Server, Raw]]:
    """A server of its own for ``handler`` on every path, and one upgraded raw client."""

    async def app(request: websock.Request) -> websock.Upgrade:
        return websock.upgrade(request, handler, None)

    async with websock.serve(app, port=0, shutdown_timeout=5.0) as server:
        raw = await Raw.connect(server.port)
        try:
            await raw.upgrade("/")
            yield server, raw
        finally:
            await raw.aclose()


async def test_many_messages_in_one_read(server: Server, raw_connect: RawConnect) -> None:
    raw = await opened(server, raw_connect)
    messages = [f"m{i}" for i in range(50)]
    raw.send(b"".join(text(m) for m in messages) + masked(0x2, b"\x00\xff"))
    events = await receive(raw, 51)
    assert events == [Text(m) for m in messages] + [Binary(b"\x00\xff")]
    stats = session_stats(server)
    assert (stats.messages_in, stats.messages_out) == (51, 51)
    assert (stats.frames_in, stats.frames_out) == (51, 51)


async def test_control_frames_and_a_partial_frame_in_the_same_read(
    server: Server, raw_connect: RawConnect
) -> None:
    raw = await opened(server, raw_connect)
    last = text("last")
    raw.send(text("a") + masked(0x9, b"hi") + masked(0x2, b"b") + last[:3])
    assert await receive(raw, 3) == [Text("a"), Pong(b"hi"), Binary(b"b")]
    raw.send(last[3:] + text("after"))
    assert await receive(raw, 2) == [Text("last"), Text("after")]
    stats = session_stats(server)
    assert (stats.messages_in, stats.pings_in) == (4, 1)


async def test_a_fragmented_message_between_whole_ones(
    server: Server, raw_connect: RawConnect
) -> None:
    raw = await opened(server, raw_connect)
    raw.send(
        text("one")
        + masked(0x1, b"fra", fin=False)
        + masked(0x0, b"gmen", fin=False)
        + masked(0x0, b"ted")
        + text("two")
    )
    assert await receive(raw, 3) == [Text("one"), Text("fragmented"), Text("two")]


async def test_large_and_small_messages_in_one_read(
    server: Server, raw_connect: RawConnect
) -> None:
    raw = await opened(server, raw_connect)
    big = "x" * 5000
    edge = "y" * 126  # the first length that needs the 16-bit field (RFC 6455 §5.2)
    raw.send(text("s") + text(big) + text(edge) + text("t"))
    assert await receive(raw, 4) == [Text("s"), Text(big), Text(edge), Text("t")]


async def test_invalid_utf8_mid_read_answers_what_came_before_then_1007(
    server: Server, probe: Probe, raw_connect: RawConnect
) -> None:
    raw = await opened(server, raw_connect)
    raw.send(text("ok") + masked(0x1, b"\xff\xfe") + text("never"))
    events = await until_closed(raw)
    assert events[0] == Text("ok")
    assert isinstance(events[-1], CloseReceived) and events[-1].code == 1007
    assert Text("never") not in events
    (reason,) = await probe.ended()
    assert isinstance(reason, Error) and isinstance(reason.reason, ProtocolError)


async def test_a_handler_that_raises_mid_read(
    server: Server, probe: Probe, raw_connect: RawConnect, caplog: pytest.LogCaptureFixture
) -> None:
    raw = await opened(server, raw_connect)
    raw.send(text("before") + text("raise") + text("after"))
    events = await until_closed(raw)
    assert events[0] == Text("before")
    assert isinstance(events[-1], CloseReceived) and events[-1].code == 1011
    assert Text("after") not in events
    (reason,) = await probe.ended()
    assert isinstance(reason, Error) and isinstance(reason.reason, RuntimeError)
    # Logged with the handler's traceback, as the Python path's `except` logs it.
    (record,) = [r for r in caplog.records if "raised RuntimeError" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[2] is not None


async def test_stop_mid_read_ignores_what_follows(
    server: Server, probe: Probe, raw_connect: RawConnect
) -> None:
    raw = await opened(server, raw_connect)
    raw.send(text("a") + text("stop") + text("b"))
    events = await until_closed(raw)
    assert events[0] == Text("a")
    assert isinstance(events[-1], CloseReceived) and events[-1].code == 1000
    assert Text("b") not in events
    assert await probe.ended() == [Normal()]


async def test_results_other_than_one_message(server: Server, raw_connect: RawConnect) -> None:
    raw = await opened(server, raw_connect)
    raw.send(text("frames") + text("ping") + text("echo"))
    events = await receive(raw, 5)
    assert events == [Text("one"), Binary(b"two"), Text("three"), Ping(b"probe"), Text("echo")]


async def test_close_frame_mid_read(server: Server, probe: Probe, raw_connect: RawConnect) -> None:
    raw = await opened(server, raw_connect)
    raw.send(text("a") + masked(0x8, b"\x03\xe8bye") + text("after the close"))
    events = await until_closed(raw)
    assert events[0] == Text("a")
    assert isinstance(events[-1], CloseReceived) and events[-1].code == 1000
    assert len(events) == 2


async def test_an_async_handler_keeps_order_across_reads(
    server: Server, raw_connect: RawConnect
) -> None:
    raw = await opened(server, raw_connect, "/slow")
    raw.send(text("1") + text("2"))
    raw.send(text("3"))
    assert await receive(raw, 3) == [Text("1"), Text("2"), Text("3")]


async def test_handle_send_from_outside_a_read(
    server: Server, probe: Probe, raw_connect: RawConnect
) -> None:
    raw = await opened(server, raw_connect)
    raw.send(text("register") + text("x"))
    assert await receive(raw, 2) == [Text("registered"), Text("x")]
    probe.handles[0].send("from outside")
    assert await receive(raw, 1) == [Text("from outside")]
    raw.send(text("y") + text("z"))
    assert await receive(raw, 2) == [Text("y"), Text("z")]


@pytest.mark.parametrize("messages", [1, 7])
async def test_counters_match_the_bytes(
    server: Server, raw_connect: RawConnect, messages: int
) -> None:
    raw = await opened(server, raw_connect)
    payloads = [os.urandom(20) for _ in range(messages)]
    sent = b"".join(masked(0x2, p) for p in payloads)
    raw.send(sent)
    assert await receive(raw, messages) == [Binary(p) for p in payloads]
    conn = only_connection(server)._conn
    assert conn is not None
    assert conn.bytes_in == len(sent)
    assert conn.bytes_out == sum(2 + len(p) for p in payloads)
    assert conn.frames_out == messages


async def test_one_failing_connection_leaves_the_others_served(
    server: Server, raw_connect: RawConnect
) -> None:
    raws = [await opened(server, raw_connect) for _ in range(3)]
    raws[1].send(text("c1") + masked(0x1, b"\xff"))
    raws[0].send(text("c0"))
    raws[2].send(text("c2"))
    async with asyncio.timeout(TIMEOUT):
        assert await receive(raws[0], 1) == [Text("c0")]
        assert await receive(raws[2], 1) == [Text("c2")]
        events = await until_closed(raws[1])
    assert isinstance(events[-1], CloseReceived) and events[-1].code == 1007


async def test_the_c_path_takes_plain_reads_on_uvloop(
    server: Server, raw_connect: RawConnect, implementation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guards against the C path silently switching itself off (e.g. setup_serve refusing
    # a class whose slots changed): then every read would go through receive_data.
    calls: list[int] = []
    original = ServerConnection.receive_data

    def counting(self: ServerConnection, data: Any) -> list[Event]:
        if not self.client:  # the test's own peer parses with this class too
            calls.append(len(data))
        return original(self, data)

    monkeypatch.setattr(ServerConnection, "receive_data", counting)
    raw = await opened(server, raw_connect)
    raw.send(text("a") + text("b"))
    assert await receive(raw, 2) == [Text("a"), Text("b")]
    c_path = implementation == "c" and "uvloop" in type(asyncio.get_running_loop()).__module__
    assert (calls == []) == c_path


class ClosesTheServer(websock.Handler):
    """Shuts the server down from inside handle_in, then asks to echo."""

    def __init__(self) -> None:
        self.server: Server | None = None

    def init(self, arg: Any) -> Ok:
        return Ok(None)

    def handle_in(self, message: Any, state: Any) -> Push:
        assert self.server is not None
        self.server.close()  # our close frame goes out now: nothing may follow it
        return Push(message, state)

    def handle_info(self, message: Any, state: Any) -> Ok:
        return Ok(state)


async def test_push_after_the_session_closed_inside_handle_in_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = ClosesTheServer()

    async with serving(handler) as (server, raw):
        handler.server = server
        raw.send(text("x"))
        events = await until_closed(raw)
        await server.shutdown(timeout=TIMEOUT)
    assert len(events) == 1 and isinstance(events[0], CloseReceived)
    assert events[0].code == 1001
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


class AsyncSteps(websock.Handler):
    """An async handle_in: "sleep" suspends before echoing, "raise" raises, anything else
    is echoed without suspending."""

    def init(self, arg: Any) -> Ok:
        return Ok(0)

    async def handle_in(self, message: Any, count: int) -> Push:
        if message == Text("sleep"):
            await asyncio.sleep(0)
        elif message == Text("raise"):
            raise RuntimeError("async handler asked to raise")
        return Push(message, count + 1)

    def handle_info(self, message: Any, count: int) -> Ok:
        return Ok(count)


async def test_async_handle_in_suspending_raising_and_not_suspending_in_one_read() -> None:
    async with serving(AsyncSteps()) as (_, raw):
        raw.send(text("a") + text("sleep") + text("b") + text("raise") + text("c"))
        events = await until_closed(raw)
    assert events[:3] == [Text("a"), Text("sleep"), Text("b")]
    assert isinstance(events[3], CloseReceived) and events[3].code == 1011
    assert len(events) == 4


class PushesLoneSurrogates(websock.Handler):
    """ "one" pushes a str UTF-8 cannot encode, "list" a good one then such a str, "info"
    asks its own handle_info to push one; anything else is echoed."""

    def init(self, arg: Any) -> Ok:
        return Ok(None)

    def handle_in(self, message: Any, state: Any) -> Push | Ok:
        match message:
            case Text("one"):
                return Push("\ud800", state)
            case Text("list"):
                return Push(["fine", "bad \udfff"], state)
            case Text("info"):
                websock.connection().send("go")
                return Ok(state)
        return Push(message, state)

    def handle_info(self, message: Any, state: Any) -> Push:
        return Push(Text("\ud800 from handle_info"), state)


@pytest.mark.parametrize("command", ["one", "list", "info"])
async def test_a_str_with_a_lone_surrogate_is_a_handler_error(
    command: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(PushesLoneSurrogates()) as (_, raw):
        raw.send(text("echo") + text(command) + text("after"))
        events = await until_closed(raw)
    # Nothing of the bad result goes out (not even "fine"): a 1011 close, a clear log line.
    # (handle_info runs after the read, so "after" is echoed first there.)
    assert events[:-1] == ([Text("echo"), Text("after")] if command == "info" else [Text("echo")])
    assert isinstance(events[-1], CloseReceived) and events[-1].code == 1011
    assert any("lone surrogate" in r.getMessage() for r in caplog.records)
    assert not any("Fatal error" in r.getMessage() for r in caplog.records)


class PushesLists(websock.Handler):
    """Echoes each message as a one-element list or tuple, alternately, counting."""

    def init(self, arg: Any) -> Ok:
        return Ok(0)

    def handle_in(self, message: Any, count: int) -> Push:
        if count % 2:
            return Push((message,), count + 1)
        return Push([message.data if count % 4 == 0 else message], count + 1)

    def handle_info(self, message: Any, count: int) -> Ok:
        return Ok(count)


async def test_a_one_element_list_or_tuple_is_a_message() -> None:
    async with serving(PushesLists()) as (server, raw):
        raw.send(text("a") + masked(0x2, b"b") + text("c") + text("d" * 200) + text("é"))
        events = await receive(raw, 5)
        stats = session_stats(server)
    assert events == [Text("a"), Binary(b"b"), Text("c"), Text("d" * 200), Text("é")]
    assert (stats.messages_out, stats.frames_out) == (5, 5)
