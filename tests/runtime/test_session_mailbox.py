"""The mailbox (SPEC §4): sends from tasks and threads, order, bounds, overflow policies
with their counters, the fast lane, and flow control."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import websock
from tests.runtime.handlers import Scripted
from websock import Binary, MailboxFull, Ok, Push, Text
from websock.runtime.handle import ConnectionHandle
from websock.testing import TestClient


def echo_info() -> Scripted:
    return Scripted({"handle_info": lambda m, s: Push(str(m), s)})


def keeps_its_handle(handles: list[ConnectionHandle]) -> Scripted:
    """init stores ``websock.connection()`` for use from elsewhere, as apps do."""

    def init(arg: Any) -> Any:
        handles.append(websock.connection())
        return Ok(0)

    return Scripted({"init": init, "handle_info": lambda m, s: Push(str(m), s)})


async def test_send_from_another_thread_arrives_in_order() -> None:
    handles: list[ConnectionHandle] = []
    async with TestClient(keeps_its_handle(handles), mailbox_size=1000) as c:
        (handle,) = handles
        thread = threading.Thread(target=lambda: [handle.send(n) for n in range(200)])
        thread.start()
        received = [await c.receive() for _ in range(200)]
        await asyncio.wait_for(asyncio.to_thread(thread.join, 5), 6)
        assert received == [Text(str(n)) for n in range(200)]
        assert handle.received == 200


async def test_send_from_another_task() -> None:
    handles: list[ConnectionHandle] = []
    async with TestClient(keeps_its_handle(handles)) as c:
        (handle,) = handles

        async def producer() -> None:
            for n in range(3):
                await asyncio.sleep(0)
                handle.send(n)

        await asyncio.wait_for(producer(), 5)
        assert [await c.receive() for _ in range(3)] == [Text("0"), Text("1"), Text("2")]


async def test_a_burst_costs_one_drain_and_one_flush() -> None:
    handler = echo_info()
    async with TestClient(handler) as c:
        before = c.flushes
        for n in range(50):
            c.session.handle.send(n)
        received = [await c.receive() for _ in range(50)]
        assert received[-1] == Text("49")
        assert c.flushes - before == 1


@pytest.mark.parametrize(
    ("policy", "delivered", "counter"),
    [
        ("drop_oldest", [3, 4], "dropped_oldest"),
        ("drop_newest", [0, 1], "dropped_newest"),
    ],
)
async def test_drop_policies_count_what_they_drop(
    policy: str, delivered: list[int], counter: str
) -> None:
    handler = echo_info()
    async with TestClient(handler, mailbox_size=2, mailbox_overflow=policy) as c:
        c.pause_writing()
        results = [c.session.handle.send(n) for n in range(5)]
        assert results == (
            [True] * 5 if policy == "drop_oldest" else [True, True, False, False, False]
        )
        await c.resume_writing()
        assert [await c.receive() for _ in range(2)] == [Text(str(n)) for n in delivered]
        await c.assert_no_push()
        assert getattr(c.session.handle, counter) == 3
        assert not c.closed


async def test_raise_policy_raises_in_the_sender() -> None:
    handler = echo_info()
    async with TestClient(handler, mailbox_size=2, mailbox_overflow="raise") as c:
        c.pause_writing()
        handle = c.session.handle
        handle.send(1)
        handle.send(2)
        with pytest.raises(MailboxFull, match="2 messages"):
            handle.send(3)
        assert handle.dropped_overflow == 1
        await c.resume_writing()
        assert [await c.receive() for _ in range(2)] == [Text("1"), Text("2")]
        assert not c.closed


async def test_close_policy_from_another_thread() -> None:
    handler = echo_info()
    async with TestClient(handler, mailbox_size=1, mailbox_overflow="close") as c:
        c.pause_writing()
        handle = c.session.handle
        thread = threading.Thread(target=lambda: [handle.send(n) for n in range(5)])
        thread.start()
        await asyncio.wait_for(asyncio.to_thread(thread.join, 5), 6)
        await c.advance(0)
        assert c.server_close_frame == (1008, "mailbox full")
        # The first fits, the second overflows; the rest overflow too or, if the session
        # ended first, arrive closed. Every one of the five is accounted for.
        assert handle.received == 1
        assert handle.dropped_overflow >= 1
        assert handle.dropped_overflow + handle.dropped_closed == 5
        await c.resume_writing()
        await c.wait_closed()


async def test_sends_after_the_end_are_dropped_and_counted() -> None:
    handler = echo_info()
    async with TestClient(handler) as c:
        handle = c.session.handle
    assert handle.closed
    assert handle.send("late") is False
    assert handle.push("late") is False
    assert handle.dropped_closed == 2
    assert handler.names().count("handle_info") == 0


async def test_push_skips_the_handler_and_keeps_mailbox_order() -> None:
    handler = echo_info()
    async with TestClient(handler) as c:
        handle = c.session.handle
        handle.send("one")
        handle.push(["fast", b"lane"])
        handle.send("two")
        assert [await c.receive() for _ in range(4)] == [
            Text("one"),
            Text("fast"),
            Binary(b"lane"),
            Text("two"),
        ]
    assert handler.names().count("handle_info") == 2


async def test_on_close_callbacks_run_once_when_the_connection_ends() -> None:
    seen: list[ConnectionHandle] = []
    async with TestClient(echo_info()) as c:
        handle = c.session.handle
        handle.on_close(seen.append)
        assert seen == []
    assert seen == [handle]
    handle.on_close(seen.append)  # already closed: at once
    assert seen == [handle, handle]


async def test_messages_sent_before_init_returned_are_delivered_after_it() -> None:
    def init(arg: Any) -> Any:
        from websock import connection

        connection().send("early")
        return Ok("ready")

    handler = Scripted({"init": init, "handle_info": lambda m, s: Push(f"{m} {s}", s)})
    async with TestClient(handler) as c:
        assert await c.receive() == Text("early ready")


# -- flow control -------------------------------------------------------------------------


async def test_pause_writing_stops_reading_and_mailbox_delivery() -> None:
    handler = Scripted(
        {
            "handle_in": lambda m, s: Push(m, s),
            "handle_info": lambda m, s: Push(str(m), s),
        }
    )
    async with TestClient(handler) as c:
        c.pause_writing()
        assert c.reading_paused
        await c.send("held by the transport")
        await c.send_info("queued")
        await c.assert_no_push()
        assert handler.names() == ["init"]
        assert c.session.handle.pending == 1
        await c.resume_writing()
        assert not c.reading_paused
        assert sorted([repr(await c.receive()) for _ in range(2)]) == sorted(
            [repr(Text("held by the transport")), repr(Text("queued"))]
        )


async def test_frames_pushed_while_slow_wait_in_the_write_buffer() -> None:
    release = asyncio.Event()

    async def late_push(message: Any, state: Any) -> Any:
        await release.wait()
        return Push([message, message], state)

    class Late(Scripted):
        handle_in = staticmethod(late_push)

    async with TestClient(Late(), write_low_water=0, write_high_water=1) as c:
        await c.send("abc")
        c.pause_writing()
        release.set()
        await c.advance(0)
        assert c.session._transport.write_buffer_size() == 6
        assert c.receive_nowait() is None
        assert not c.closed  # below max_write_buffer
        await c.resume_writing()
        assert [await c.receive() for _ in range(2)] == [Text("abc"), Text("abc")]


class Prepared:
    """A stand-in for pubsub's PreparedFrame (the runtime only needs the protocol)."""

    def __init__(self, message: str | bytes) -> None:
        self.message = message

    def encoded(self, deflate: object, options: object) -> bytes:
        raise AssertionError("the in-memory transport frames for itself")


async def test_send_prepared_fast_lane_results() -> None:
    handler = echo_info()
    async with TestClient(handler) as c:
        before = c.flushes
        assert c.session.send_prepared(Prepared("fan-out")) == "sent"
        assert c.flushes == before + 1
        assert await c.receive() == Text("fan-out")
        c.pause_writing()
        assert c.session.send_prepared(Prepared(b"dropped")) == "slow"
        await c.resume_writing()
        await c.assert_no_push()
    assert c.session.send_prepared(Prepared("late")) == "closed"
    assert handler.names().count("handle_info") == 0


async def test_many_threads_keep_per_sender_order_and_lose_nothing() -> None:
    handles: list[ConnectionHandle] = []
    async with TestClient(keeps_its_handle(handles), mailbox_size=10_000) as c:
        (handle,) = handles

        def sender(name: str) -> None:
            for n in range(300):
                handle.send(f"{name}:{n}")

        threads = [threading.Thread(target=sender, args=(f"t{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        received = [await c.receive() for _ in range(1200)]
        for thread in threads:
            await asyncio.wait_for(asyncio.to_thread(thread.join, 5), 6)
        by_sender: dict[str, list[int]] = {}
        for frame in received:
            assert isinstance(frame, Text)
            name, n = frame.data.split(":")
            by_sender.setdefault(name, []).append(int(n))
        assert by_sender == {f"t{i}": list(range(300)) for i in range(4)}
        await c.assert_no_push()
