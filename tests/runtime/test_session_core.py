"""The Session against a recording transport: what reaches the transport, in which order,
and how many flushes (write coalescing)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from tests.runtime.handlers import Scripted
from websock import HandlerError, Ok, Options, Ping, Pong, Push, Stop, Text
from websock.protocol.events import CloseReceived
from websock.runtime.session import Session
from websock.runtime.transport import OutFrame, Transport


class Recorder:
    """A Transport that records every call as a tuple."""

    def __init__(self, *, answers_pings: bool = False, control_frames: bool = True) -> None:
        self.answers_pings = answers_pings
        self.supports_control_frames = control_frames
        self.log: list[tuple[Any, ...]] = []
        self.buffered = 0
        self.closed = False
        self.frames_sent = asyncio.Event()

    def _check(self) -> None:
        assert not self.closed, f"transport used after close(): {self.log}"

    def send_frames(self, frames: Sequence[OutFrame]) -> None:
        self._check()
        self.log.append(("frames", list(frames)))
        self.frames_sent.set()

    def send_close(self, code: int | None, reason: str) -> None:
        self._check()
        self.log.append(("close_frame", code, reason))

    def flush(self) -> None:
        self._check()
        self.log.append(("flush",))

    def close(self) -> None:
        self._check()
        self.closed = True
        self.log.append(("close",))

    def pause_reading(self) -> None:
        self.log.append(("pause_reading",))

    def resume_reading(self) -> None:
        self.log.append(("resume_reading",))

    def write_buffer_size(self) -> int:
        return self.buffered

    def calls(self, kind: str) -> list[tuple[Any, ...]]:
        return [entry for entry in self.log if entry[0] == kind]

    def take(self) -> list[tuple[Any, ...]]:
        log, self.log = self.log, []
        return log


def session(handler: object, transport: Transport, **options: Any) -> Session:
    opts = Options.from_kwargs({"ping_interval": None, "timeout": None, **options})
    return Session(handler, None, opts, transport)


def echo() -> Scripted:
    return Scripted({"handle_in": lambda m, s: Push(m.data, s)})


async def test_a_batch_of_16_messages_costs_one_flush() -> None:
    transport = Recorder()
    s = session(echo(), transport)
    s.start()
    transport.take()
    s.feed([Text(str(n)) for n in range(16)])
    log = transport.take()
    assert log[-1] == ("flush",)
    assert log.count(("flush",)) == 1
    assert [entry[1] for entry in log[:-1]] == [[str(n)] for n in range(16)]
    assert s.stats.messages_in == 16 and s.stats.messages_out == 16


async def test_every_entry_point_flushes_once() -> None:
    transport = Recorder()
    handler = Scripted({"handle_info": lambda m, s: Push(m, s)})
    s = session(handler, transport)
    s.start()
    assert transport.take().count(("flush",)) == 1
    s.feed([Ping(b"x"), Text("y")])
    assert transport.take().count(("flush",)) == 1
    s.handle.send("a")
    s.handle.send("b")
    await asyncio.sleep(0)  # the one scheduled drain
    assert transport.take() == [("frames", ["a"]), ("frames", ["b"]), ("flush",)]
    s.shutdown()
    assert transport.take() == [("close_frame", 1001, ""), ("flush",)]
    s.feed([CloseReceived(1001, "")])
    # the peer's answer: what is queued is flushed, then TCP closes (RFC 6455 §7.1.1)
    assert transport.take() == [("flush",), ("close",)]
    await asyncio.wait_for(s.wait_closed(), 5)


async def test_pong_goes_out_before_handle_control_is_called() -> None:
    transport = Recorder()
    order: list[Any] = []

    def control(frame: Any, state: Any) -> Any:
        order.append(("handle_control", list(transport.log)))
        return Ok(state)

    s = session(Scripted({"handle_control": control}), transport)
    s.start()
    transport.take()
    s.feed([Ping(b"p")])
    assert order == [("handle_control", [("frames", [Pong(b"p")])])]


async def test_hosts_that_answer_pings_themselves_get_no_second_pong() -> None:
    transport = Recorder(answers_pings=True)
    handler = Scripted()
    s = session(handler, transport)
    s.start()
    transport.take()
    s.feed([Ping(b"p")])
    assert transport.take() == [("flush",)]
    assert handler.names() == ["init", "handle_control"]


async def test_nothing_after_stop_in_the_same_batch() -> None:
    transport = Recorder()
    handler = Scripted({"handle_in": lambda m, s: Stop(s) if m.data == "stop" else Push("no", s)})
    s = session(handler, transport)
    s.start()
    transport.take()
    s.feed([Text("stop"), Text("after"), Ping(b"late")])
    assert transport.take() == [("close_frame", 1000, ""), ("flush",)]
    assert handler.names() == ["init", "handle_in", "terminate"]
    s.feed([Text("still after"), CloseReceived(1000, "")])
    assert handler.names() == ["init", "handle_in", "terminate"]
    assert s.stats.ignored_after_close == 3
    await asyncio.wait_for(s.wait_closed(), 5)


async def test_terminate_exactly_once_whatever_follows() -> None:
    transport = Recorder()
    handler = Scripted({"handle_in": lambda m, s: Stop(s, "bye")})
    s = session(handler, transport)
    s.start()
    s.feed([Text("x")])
    s.shutdown()
    s.feed([CloseReceived(1000, "")])
    s.connection_lost(None)
    s.connection_lost(OSError())
    await asyncio.wait_for(s.wait_closed(), 5)
    assert handler.names().count("terminate") == 1


async def test_transport_without_control_frames_drops_pushed_pings() -> None:
    transport = Recorder(control_frames=False)
    s = session(Scripted({"handle_in": lambda m, s: Push([Ping(), "t", Pong()], s)}), transport)
    s.start()
    transport.take()
    s.feed([Text("x")])
    assert transport.take() == [("frames", ["t"]), ("flush",)]
    assert s.stats.control_frames_dropped == 2


async def test_async_callback_pauses_and_resumes_reading() -> None:
    gate = asyncio.Event()

    class Waits(Scripted):
        async def handle_in(self, message: Any, state: Any) -> Any:
            await gate.wait()
            return Push(message.data, state)

    transport = Recorder()
    s = session(Waits(), transport)
    s.start()
    transport.take()
    s.feed([Text("a"), Text("b")])
    assert transport.take() == [("pause_reading",), ("flush",)]
    task = s._task
    assert task is not None
    gate.set()
    await asyncio.wait_for(asyncio.shield(task), 5)
    log = transport.take()
    assert ("frames", ["a"]) in log and ("frames", ["b"]) in log
    assert log.index(("frames", ["a"])) < log.index(("frames", ["b"]))
    assert ("resume_reading",) in log


async def test_write_buffer_is_checked_while_the_peer_is_slow() -> None:
    transport = Recorder()
    s = session(echo(), transport, max_write_buffer=100, write_high_water=50, write_low_water=10)
    s.start()
    s.pause_writing()
    assert transport.take() == [("flush",), ("pause_reading",)]
    transport.buffered = 101
    s.feed([Text("more")])  # was already read when the pause came
    log = transport.take()
    assert ("close_frame", 1008, "too slow") in log
    assert log[-1] == ("close",)
    assert s.close_code == 1008


async def test_start_twice_is_an_error() -> None:
    s = session(echo(), Recorder())
    s.start()
    with pytest.raises(HandlerError, match="twice"):
        s.start()


async def test_connection_lost_before_start_ends_quietly() -> None:
    handler = echo()
    s = session(handler, Recorder())
    s.connection_lost(None)
    await asyncio.wait_for(s.wait_closed(), 5)
    assert s.close_code == 1006
    assert handler.calls == []


async def test_real_loop_clock_idle_timeout() -> None:
    # The default clock is the running loop: no virtual time here, just a short timeout.
    transport = Recorder()
    s = Session(echo(), None, Options(timeout=0.02, ping_interval=None), transport)
    s.start()
    await asyncio.wait_for(s.wait_closed(), 5)
    assert s.close_code == 1001
    assert ("close_frame", 1001, "idle timeout") in transport.log


async def test_real_loop_clock_keepalive_ping() -> None:
    transport = Recorder()
    s = Session(echo(), None, Options(timeout=None, ping_interval=0.01, ping_timeout=5), transport)
    s.start()
    await asyncio.wait_for(transport.frames_sent.wait(), 5)
    assert transport.calls("frames")[0] == ("frames", [Ping(b"")])
    s.feed([Pong(b"")])
    s.shutdown()
    s.feed([CloseReceived(1001, "")])
    await asyncio.wait_for(s.wait_closed(), 5)


def test_unsendable_protocol_error_code_becomes_1002() -> None:
    from websock.exceptions import ProtocolError
    from websock.runtime import close_policy

    assert close_policy.protocol_error(ProtocolError(1006, "odd")).code == 1002


async def test_transport_lost_before_the_adopted_task_first_ran() -> None:
    unwound: list[str] = []

    class Suspends(Scripted):
        async def handle_in(self, message: Any, state: Any) -> Any:
            try:
                await asyncio.sleep(0)
            finally:
                unwound.append("unwound")
            return Ok(state)

    handler = Suspends()
    transport = Recorder()
    s = session(handler, transport)
    s.start()
    s.feed([Text("x")])  # suspends: a task is created but has not run yet
    transport.closed = True
    s.connection_lost(None)  # cancels it before its first step
    await asyncio.wait_for(s.wait_closed(), 5)
    assert unwound == ["unwound"]
    assert handler.names().count("terminate") == 1


async def test_write_buffer_bound_is_checked_when_the_flush_itself_crosses_high_water() -> None:
    # Like asyncio: the transport calls pause_writing() from inside write()/flush().
    class Buffering(Recorder):
        session: Session
        pending = 0

        def send_frames(self, frames: Sequence[OutFrame]) -> None:
            super().send_frames(frames)
            self.pending += sum(len(f) for f in frames if isinstance(f, str))

        def flush(self) -> None:
            super().flush()
            self.buffered += self.pending
            self.pending = 0
            if self.buffered > 50:
                self.session.pause_writing()

    transport = Buffering()
    s = session(echo(), transport, max_write_buffer=100, write_high_water=50, write_low_water=10)
    transport.session = s
    s.start()
    s.feed([Text("x" * 200)])  # one push, far over the bound, to a peer that reads nothing
    assert s.close_code == 1008
    assert transport.log[-1] == ("close",)
