"""Random interleavings of everything a host and the world can do to a session; the
contract's invariants must hold in every one (hypothesis)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.runtime.handlers import Scripted
from websock import Ok, Options, Ping, Pong, Push, Stop, Text
from websock.exceptions import ProtocolError
from websock.protocol.events import CloseReceived
from websock.runtime.session import Session
from websock.runtime.transport import OutFrame
from websock.testing import VirtualClock


class StrictTransport:
    """Fails the example on any transport misuse."""

    answers_pings = False
    supports_control_frames = True

    def __init__(self) -> None:
        self.closed = False
        self.close_frames = 0
        self.reading = True
        self.buffered = 0

    def send_frames(self, frames: Sequence[OutFrame]) -> None:
        assert not self.closed, "frames after close()"
        assert self.close_frames == 0, "frames after the close frame (RFC 6455 §5.5.1)"

    def send_close(self, code: int | None, reason: str) -> None:
        assert not self.closed
        self.close_frames += 1
        assert self.close_frames == 1, "two close frames"

    def flush(self) -> None:
        assert not self.closed, "flush after close()"

    def close(self) -> None:
        assert not self.closed, "close() twice"
        self.closed = True

    def pause_reading(self) -> None:
        assert self.reading, "pause_reading twice"
        self.reading = False

    def resume_reading(self) -> None:
        assert not self.reading, "resume_reading while reading"
        self.reading = True

    def write_buffer_size(self) -> int:
        return self.buffered


def result_for(text: str, state: Any) -> Any:
    """The handler's answer is encoded in the message, so examples shrink well."""
    if text == "stop":
        return Stop(state, frames="bye")
    if text == "error":
        return Stop(state, "error")
    if text == "raise":
        raise RuntimeError("boom")
    if text == "bad":
        return "not a result"
    if text == "ping":
        return Push(Ping(b"p"), state)
    return Push(text, state) if text else Ok(state)


WORDS = st.sampled_from(["", "hi", "stop", "error", "raise", "bad", "ping"])
OPS = st.one_of(
    st.tuples(st.just("feed"), st.lists(WORDS, min_size=1, max_size=4)),
    st.tuples(st.just("control"), st.sampled_from(["ping", "pong"])),
    st.tuples(st.just("info"), WORDS),
    st.tuples(st.just("peer_close"), st.sampled_from([None, 1000, 4000])),
    st.tuples(st.just("protocol_error"), st.sampled_from([1002, 1007, 1009])),
    st.tuples(st.just("advance"), st.sampled_from([0.5, 5.0, 30.0])),
    *(
        st.tuples(st.just(name), st.none())
        for name in ("pause", "resume", "shutdown", "lost", "slow_buffer")
    ),
)


class Checked(Scripted):
    def __init__(self) -> None:
        super().__init__(
            {
                "handle_in": lambda m, s: result_for(m.data, s + 1),
                "handle_info": lambda m, s: result_for(m, s + 1),
            }
        )
        self.stopped = False

    def _run(self, name: str, *args: Any) -> Any:
        assert not self.terminated, f"{name} after terminate"
        if name in ("handle_in", "handle_info"):
            assert not self.stopped, f"{name} after the connection ended"
        result = super()._run(name, *args)
        if isinstance(result, Stop) or (name != "init" and not isinstance(result, Push | Ok)):
            self.stopped = True
        return result


class AsyncChecked(Checked):
    """handle_in/handle_info as coroutines; "hi" really suspends (adopted into a task)."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0

    async def _maybe_suspend(self, name: str, *args: Any) -> Any:
        assert self.active == 0, "two callbacks of one connection ran concurrently"
        self.active += 1
        try:
            if args[0] in ("hi", Text("hi")):
                await asyncio.sleep(0)
            return self._run(name, *args)
        finally:
            self.active -= 1

    async def handle_in(self, message: Any, state: Any) -> Any:
        return await self._maybe_suspend("handle_in", message, state)

    async def handle_info(self, message: Any, state: Any) -> Any:
        return await self._maybe_suspend("handle_info", message, state)


async def run(ops: list[tuple[str, Any]], handler: Checked) -> None:
    clock = VirtualClock()
    transport = StrictTransport()
    options = Options(
        timeout=20,
        ping_interval=8,
        ping_timeout=4,
        close_timeout=3,
        mailbox_size=4,
        write_low_water=10,
        write_high_water=100,
        max_write_buffer=1000,
    )
    session = Session(handler, None, options, transport, clock=clock)
    session.start()
    for op, value in ops:
        if op == "feed":
            session.feed([Text(word) for word in value])
        elif op == "control":
            session.feed([Ping(b"c") if value == "ping" else Pong(b"c")])
        elif op == "info":
            session.handle.send(value)
        elif op == "peer_close":
            session.feed([CloseReceived(value, "")])
        elif op == "protocol_error":
            session.feed([ProtocolError(value, "bad")])
        elif op == "advance":
            target = clock.time() + value
            while (timer := clock.pop_due(target)) is not None:
                timer.callback()
            clock.set(target)
        elif op == "pause":
            session.pause_writing()
        elif op == "resume":
            session.resume_writing()
        elif op == "shutdown":
            session.shutdown()
        elif op == "lost":
            if not transport.closed:
                transport.closed = True
                session.connection_lost(None)
        elif op == "slow_buffer":
            transport.buffered = 2000
        await asyncio.sleep(0)  # scheduled mailbox drains run
    # Whatever happened, the connection can be ended and then is fully over.
    if not transport.closed:
        transport.closed = True
        session.connection_lost(None)
    await asyncio.wait_for(session.wait_closed(), 5)
    assert len(handler.terminated) == 1
    assert session.close_code is not None
    assert session.terminate_reason == handler.terminated[0][0]
    assert session.handle.closed


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=12))
def test_invariants_hold_for_any_interleaving(ops: list[tuple[str, Any]]) -> None:
    asyncio.run(run(ops, Checked()))


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=12))
def test_invariants_hold_with_suspending_callbacks(ops: list[tuple[str, Any]]) -> None:
    asyncio.run(run(ops, AsyncChecked()))
