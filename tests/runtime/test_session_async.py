"""Async callbacks: inline stepping, adoption into one task, order, no concurrency,
``connection()`` everywhere, and endings while a callback is in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import websock
from tests.runtime.handlers import AsyncScripted
from websock import ConnectionClosed, Error, Handler, HandlerError, Ok, Push, Shutdown, Stop, Text
from websock.runtime.handle import ConnectionHandle
from websock.testing import TestClient


class Gate(Handler):
    """handle_in awaits ``gate`` for messages starting with "wait"; records overlap."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.active = 0
        self.max_active = 0
        self.log: list[str] = []
        self.cancelled = False
        self.terminated: list[tuple[Any, Any]] = []

    def _enter(self) -> None:
        self.active += 1
        self.max_active = max(self.max_active, self.active)

    def init(self, arg: Any) -> Any:
        return Ok([])

    async def handle_in(self, message: Any, state: Any) -> Any:
        self._enter()
        try:
            if message.data.startswith("wait"):
                await self.gate.wait()
            self.log.append(f"in {message.data}")
            return Push(message.data, [*state, message.data])
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.active -= 1

    async def handle_info(self, message: Any, state: Any) -> Any:
        self._enter()
        self.log.append(f"info {message}")
        self.active -= 1
        return Push(f"info {message}", [*state, message])

    def terminate(self, reason: Any, state: Any) -> None:
        assert self.active == 0, "terminate ran while a callback was in flight"
        self.terminated.append((reason, state))


async def test_suspended_callback_defers_the_rest_of_the_batch_in_order() -> None:
    handler = Gate()
    async with TestClient(handler, ping_interval=None) as c:
        await c.send_batch(["wait-1", "b", "c"])
        await c.send_info("x")
        await c.send("d")  # reading is paused: held by the transport
        assert c.reading_paused
        assert handler.log == []
        handler.gate.set()
        assert [await c.receive() for _ in range(5)] == [
            Text("wait-1"),
            Text("b"),
            Text("c"),
            Text("info x"),
            Text("d"),
        ]
        assert not c.reading_paused
        assert handler.max_active == 1
        assert c.session.state == ["wait-1", "b", "c", "x", "d"]
        assert c.stats.adopted_callbacks == 1


@pytest.mark.parametrize(("suspend", "adopted"), [(False, 0), (True, 3)])
async def test_only_really_suspending_coroutines_get_a_task(suspend: bool, adopted: int) -> None:
    handler = AsyncScripted({"handle_in": lambda m, s: Push(m, s)}, suspend=suspend)
    async with TestClient(handler, ping_interval=None) as c:
        await c.send("a")
        await c.send("b")
        assert [await c.receive() for _ in range(2)] == [Text("a"), Text("b")]
        # init, then one per message when they suspend; none when they finish inline
        assert c.stats.adopted_callbacks == adopted


async def test_exception_after_suspension_is_a_handler_error() -> None:
    class Crash(Gate):
        async def handle_in(self, message: Any, state: Any) -> Any:
            await asyncio.sleep(0)
            raise LookupError("after await")

    handler = Crash()
    async with TestClient(handler) as c:
        await c.send("x")
        await c.wait_closed()
        assert c.close_code == 1011
        reason = c.terminate_reason
        assert isinstance(reason, Error) and isinstance(reason.reason, LookupError)


async def test_transport_lost_cancels_the_callback_then_terminates_once() -> None:
    handler = Gate()
    async with TestClient(handler) as c:
        await c.send("wait")
        assert c.session.stats.adopted_callbacks == 1  # the callback is in flight
        c.drop(ConnectionResetError("gone"))
        await c.wait_closed()
        assert handler.cancelled
        assert c.close_code == 1006
        assert len(handler.terminated) == 1
        reason, state = handler.terminated[0]
        assert isinstance(reason, Error) and isinstance(reason.reason, ConnectionClosed)
        assert state == []  # the cancelled callback returned no state


async def test_shutdown_waits_for_the_callback_in_flight_before_terminate() -> None:
    handler = Gate()
    async with TestClient(handler) as c:
        await c.send("wait")
        c.session.shutdown()
        assert c.server_close_frame == (1001, "")
        assert handler.terminated == []  # never concurrently with handle_in
        handler.gate.set()
        await c.wait_closed()
        # Its result's state reaches terminate; its frames are not sent after the close.
        assert handler.terminated == [(Shutdown(), ["wait"])]
        with pytest.raises(ConnectionClosed):
            await c.receive()


async def test_stop_after_suspension_discards_the_backlog() -> None:
    class Stopper(Gate):
        async def handle_in(self, message: Any, state: Any) -> Any:
            self.log.append(message.data)
            await asyncio.sleep(0)
            return Stop(state)

    handler = Stopper()
    async with TestClient(handler) as c:
        await c.send_batch(["first", "second", "third"])
        await c.wait_closed()
    assert handler.log == ["first"]
    assert c.stats.ignored_after_close == 2


async def test_async_terminate_that_suspends_is_awaited() -> None:
    done = []

    class Slow(Gate):
        async def terminate(self, reason: Any, state: Any) -> None:  # type: ignore[override]
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            done.append(reason)

    async with TestClient(Slow()) as c:
        await c.close(1000)
        assert done == [websock.Remote(1000, "")]


async def test_sync_callback_returning_a_coroutine_is_reported() -> None:
    async def later(message: Any, state: Any) -> Any:
        return Ok(state)

    class Confused(Gate):
        def handle_in(self, message: Any, state: Any) -> Any:
            return later(message, state)  # a coroutine from a plain function

    async with TestClient(Confused()) as c:
        await c.send("x")
        await c.wait_closed()
        reason = c.terminate_reason
        assert isinstance(reason, Error)
        assert "declare handle_in with `async def`" in str(reason.reason)


# -- connection() -------------------------------------------------------------------------


class WhoAmI(Handler):
    def __init__(self) -> None:
        self.handles: list[ConnectionHandle] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def init(self, arg: Any) -> Any:
        self.handles.append(websock.connection())
        return Ok(None)

    async def handle_in(self, message: Any, state: Any) -> Any:
        await asyncio.sleep(0)  # adopted into a task: the handle comes along
        self.handles.append(websock.connection())
        if message.data == "spawn":
            task = asyncio.get_running_loop().create_task(self._later())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return Ok(state)

    async def _later(self) -> None:
        await asyncio.sleep(0)
        websock.connection().send("from a task")

    def handle_info(self, message: Any, state: Any) -> Any:
        self.handles.append(websock.connection())
        return Push(message, state)

    def terminate(self, reason: Any, state: Any) -> None:
        self.handles.append(websock.connection())


async def test_connection_is_the_current_handle_in_every_callback_and_spawned_tasks() -> None:
    handler = WhoAmI()
    async with TestClient(handler) as c:
        await c.send("spawn")
        assert await c.receive() == Text("from a task")
        handle = c.session.handle
    assert handler.handles == [handle] * 4
    with pytest.raises(HandlerError, match="outside a handler callback"):
        websock.connection()


async def test_connection_handles_differ_per_connection() -> None:
    handler = WhoAmI()
    async with TestClient(handler) as a, TestClient(handler) as b:
        assert a.session.handle is not b.session.handle
        await a.send_info("to a")
        await b.send_info("to b")
        assert await a.receive() == Text("to a")
        assert await b.receive() == Text("to b")


async def test_close_timeout_cancels_a_callback_still_in_flight() -> None:
    handler = Gate()
    async with TestClient(handler, answer_close=False, close_timeout=10) as c:
        await c.send("wait")
        c.session.shutdown()
        assert handler.terminated == []
        await c.advance(10)  # the peer never answered: give up, cancel, then terminate
        assert c.closed and c.transport_closed
        assert handler.cancelled
        assert handler.terminated == [(Shutdown(), [])]
