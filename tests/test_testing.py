"""websock.testing.TestClient itself: it must fail loudly, never hang, and behave like a peer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.runtime.handlers import Scripted
from websock import ConnectionClosed, Handler, Ok, Ping, Pong, Push, Stop, Text
from websock.protocol.events import CloseReceived
from websock.testing import TestClient, VirtualClock


class Echo(Handler):
    def init(self, arg: Any) -> Any:
        return Ok(arg)

    def handle_in(self, message: Any, state: Any) -> Any:
        return Push(message, state)

    def handle_info(self, message: Any, state: Any) -> Any:
        return Push(message, state)


class Hangs(Echo):
    async def handle_in(self, message: Any, state: Any) -> Any:
        await asyncio.Event().wait()  # never set
        return Ok(state)


def test_pytest_does_not_collect_it() -> None:
    assert TestClient.__test__ is False


async def test_receive_times_out_instead_of_hanging() -> None:
    async with TestClient(Echo(), wait_timeout=0.05) as c:
        with pytest.raises(TimeoutError):
            await c.receive()


async def test_a_stuck_handler_fails_the_close_instead_of_hanging() -> None:
    client = TestClient(Hangs(), wait_timeout=0.05)
    with pytest.raises(AssertionError, match=r"timed out after 0\.05s"):
        async with client as c:
            await c.send("x")
            await c.close()
    client.drop()  # let the stuck callback go (cancelled)
    await asyncio.wait_for(client.session.wait_closed(), 5)


async def test_receive_after_close_raises_with_the_close_code() -> None:
    async with TestClient(Scripted({"handle_in": lambda m, s: Stop(s, "normal", frames="x")})) as c:
        await c.send("go")
        assert await c.receive() == Text("x")  # frames before the close are still readable
        with pytest.raises(ConnectionClosed, match="close code 1000"):
            await c.receive()


async def test_send_after_close_raises() -> None:
    async with TestClient(Echo()) as c:
        await c.close()
        assert c.closed
        with pytest.raises(ConnectionClosed):
            await c.send("late")


async def test_str_and_bytes_sugar_and_frames() -> None:
    async with TestClient(Echo()) as c:
        await c.send_batch(["a", b"b", bytearray(b"c"), memoryview(b"d"), Text("e")])
        got = [await c.receive() for _ in range(5)]
        assert [type(f).__name__ for f in got] == ["Text", "Binary", "Binary", "Binary", "Text"]
        with pytest.raises(TypeError, match="cannot send 42"):
            await c.send(42)  # type: ignore[arg-type]


async def test_it_answers_server_pings_like_a_peer() -> None:
    handler = Scripted({"handle_info": lambda m, s: Push(Ping(b"are you there"), s)})
    async with TestClient(handler) as c:
        await c.send_info("ping them")
        assert await c.receive() == Ping(b"are you there")
        await c.assert_no_push()
    assert ("handle_control", (Pong(b"are you there"), 0)) in handler.calls


async def test_answer_pings_false_stays_silent() -> None:
    handler = Scripted({"handle_info": lambda m, s: Push(Ping(b"?"), s)})
    async with TestClient(handler, answer_pings=False) as c:
        await c.send_info("ping them")
        assert await c.receive() == Ping(b"?")
        await c.assert_no_push()
    assert "handle_control" not in handler.names()


async def test_it_completes_the_close_handshake() -> None:
    async with TestClient(Scripted({"handle_in": lambda m, s: Stop(s, code=4321)})) as c:
        await c.send("x")
        await c.wait_closed()
        assert c.transport_closed and c.closed
        assert c.close_code == 4321


async def test_assert_no_push_fails_when_something_was_pushed() -> None:
    async with TestClient(Echo()) as c:
        await c.send("x")
        with pytest.raises(AssertionError, match="unexpected frames"):
            await c.assert_no_push()


async def test_send_close_event_directly() -> None:
    async with TestClient(Echo()) as c:
        await c.send(CloseReceived(1001, "going"))
        await c.wait_closed()
        assert c.terminate_reason is not None
        assert c.close_code == 1001


async def test_advance_rejects_going_back_and_runs_timers_in_order() -> None:
    async with TestClient(Echo()) as c:
        with pytest.raises(ValueError):
            await c.advance(-1)


def test_virtual_clock_order_and_cancel() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    clock.call_later(2, lambda: fired.append("b"))
    clock.call_later(1, lambda: fired.append("a"))
    clock.call_later(1.5, lambda: fired.append("x")).cancel()
    while (timer := clock.pop_due(10)) is not None:
        timer.callback()
    assert fired == ["a", "b"]
    assert clock.time() == 2
    assert clock.pending == 0


def test_outside_async_with_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        TestClient(Echo()).session  # noqa: B018


def test_options_are_checked() -> None:
    from websock import HandlerError

    with pytest.raises(HandlerError, match="unknown upgrade option"):
        TestClient(Echo(), no_such_option=1)
