"""``TestClient``: drive a handler with no sockets (SPEC §5).

    async with TestClient(Echo(), ping_interval=None) as client:
        await client.send("hi")
        assert await client.receive() == Text("hi")
        await client.advance(60)              # virtual time: the idle timeout fires
        assert client.close_code == 1001

It runs the real ``Session`` over an in-memory transport, at message level (no bytes, no
parser): what the test sends goes to ``Session.feed``, what the session flushes lands in
the client's inbox. Like a real peer it answers pings with pongs and the server's close
frame with its own (both can be turned off). Timers run on a virtual clock that only
``advance()`` moves. Every wait is bounded by ``wait_timeout`` (real seconds), so a broken
handler fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from .exceptions import ConnectionClosed, ProtocolError
from .options import Options
from .protocol.events import CloseReceived, Event
from .results import Binary, Frame, Ping, Pong, Reason, Text
from .runtime.session import Session, SessionStats
from .runtime.transport import OutFrame

__all__ = ["TestClient", "VirtualClock"]

Sendable = Frame | str | bytes | bytearray | memoryview | CloseReceived | ProtocolError


class _Timer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that only moves when told to: ``time()`` and ``call_later()`` like a loop's."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], object], /) -> _Timer:
        timer = _Timer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    def pop_due(self, until: float) -> _Timer | None:
        """The earliest live timer due at or before ``until``; the clock moves to it."""
        heap = self._heap
        while heap:
            when, _, timer = heap[0]
            if timer.cancelled:
                heapq.heappop(heap)
                continue
            if when > until:
                return None
            heapq.heappop(heap)
            self._now = max(self._now, when)
            return timer
        return None

    def set(self, now: float) -> None:
        self._now = max(self._now, now)

    @property
    def pending(self) -> int:
        """Live timers (for tests of the tests)."""
        return sum(1 for _, _, timer in self._heap if not timer.cancelled)


def _inbound(frame: Sendable) -> Event:
    if isinstance(frame, str):
        return Text(frame)
    if isinstance(frame, bytes | bytearray | memoryview):
        return Binary(bytes(frame))
    if isinstance(frame, Text | Binary | Ping | Pong | CloseReceived | ProtocolError):
        return frame
    raise TypeError(f"cannot send {frame!r}: send str, bytes, Text, Binary, Ping or Pong")


def _outbound(frame: OutFrame) -> Frame:
    if isinstance(frame, str):
        return Text(frame)
    if isinstance(frame, bytes | bytearray | memoryview):
        return Binary(bytes(frame))
    if isinstance(frame, Ping | Pong):
        return frame
    raise TypeError(f"the session handed the transport {frame!r}")


def _size(frame: Frame) -> int:
    return len(frame.data.encode("utf-8")) if isinstance(frame, Text) else len(frame.data)


class _MemoryTransport:
    """The session's side of the in-memory connection."""

    answers_pings = False

    def __init__(self, client: TestClient, supports_control_frames: bool) -> None:
        self._client = client
        self.supports_control_frames = supports_control_frames
        self._queued: list[Frame | tuple[int | None, str]] = []
        self.flushes = 0
        self.closed = False
        self.reading = True

    def send_frames(self, frames: Sequence[OutFrame]) -> None:
        if self._client._server_close is not None:
            raise AssertionError(f"the session sent {list(frames)!r} after its close frame")
        self._queued.extend(_outbound(frame) for frame in frames)

    def send_close(self, code: int | None, reason: str) -> None:
        if self._client._server_close is not None:
            raise AssertionError("the session sent a second close frame")
        self._client._server_close = (code, reason)
        self._queued.append((code, reason))

    def flush(self) -> None:
        self.flushes += 1
        if self._queued:
            queued, self._queued = self._queued, []
            self._client._on_wire(queued)

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.closed = True
            self._client._changed()

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True
        self._client._resume_reading()

    def write_buffer_size(self) -> int:
        return self._client._unread_bytes


class TestClient:
    """An in-memory WebSocket peer for one handler (SPEC §5). Use as ``async with``.

    ``wait_timeout`` bounds every wait (real seconds; ``timeout`` is the idle-timeout
    option, like every other ``upgrade()`` keyword). ``answer_pings``/``answer_close`` make
    it behave like a real peer (on by default). ``control_frames=False`` simulates a host
    without ping/pong (ASGI). Other keywords are ``upgrade()`` options.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        handler: object,
        arg: Any = None,
        *,
        wait_timeout: float = 5.0,
        answer_pings: bool = True,
        answer_close: bool = True,
        control_frames: bool = True,
        **options: Any,
    ) -> None:
        self._handler = handler
        self._arg = arg
        self.wait_timeout = wait_timeout
        self.options = Options.from_kwargs(options)
        self.answer_pings = answer_pings
        self.answer_close = answer_close
        self._control_frames = control_frames
        self.clock = VirtualClock()
        self._inbox: deque[Frame] = deque()
        self._unread: list[Frame | tuple[int | None, str]] = []  # while "slow"
        self._unread_bytes = 0
        self._slow = False
        self._held_in: list[Event] = []  # sent while the session paused reading
        self._replies: list[Event] = []
        self._replies_scheduled = False
        self._server_close: tuple[int | None, str] | None = None  # what the session sent
        self._close_seen = False  # the server's close frame reached us
        self._client_closed = False  # we sent our close frame
        self._event: asyncio.Event | None = None
        self._session: Session | None = None
        self._transport: _MemoryTransport | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> TestClient:
        loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._transport = _MemoryTransport(self, self._control_frames)
        self._session = Session(
            self._handler,
            self._arg,
            self.options,
            self._transport,
            loop=loop,
            clock=self.clock,
        )
        self._session.start()
        await self._settle(wait_task=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.session.closed:
                if not self._client_closed and not self.transport_closed:
                    self._client_closed = True
                    self._deliver([CloseReceived(1000, "")])
                await self._wait(self.session.wait_closed(), "the connection to end")
        except (TimeoutError, AssertionError):
            if exc is None:
                raise

    # -- the peer's actions --------------------------------------------------------------

    async def send(self, frame: Sendable) -> None:
        """Send one frame (``str`` → Text, bytes-like → Binary; Ping/Pong too; a
        ``CloseReceived``/``ProtocolError`` event simulates what the parser would yield)."""
        await self.send_batch([frame])

    async def send_batch(self, frames: Iterable[Sendable]) -> None:
        """Send frames that arrive in one read: the session sees one ``feed()``."""
        events = [_inbound(frame) for frame in frames]
        if self._client_closed or self.transport_closed:
            raise ConnectionClosed("the test client already closed the connection")
        if any(type(event) is CloseReceived for event in events):
            self._client_closed = True
        self._deliver(events)
        await self._settle()

    async def send_info(self, message: Any) -> None:
        """``connection().send(message)`` from elsewhere: delivered to ``handle_info``."""
        self.session.handle.send(message)
        await self._settle()

    async def receive(self) -> Frame:
        """The next frame the server pushed (Text, Binary, Ping or Pong).

        Raises ConnectionClosed when the server closed and nothing is left to read, and
        TimeoutError when nothing comes within ``wait_timeout``.
        """
        async with asyncio.timeout(self.wait_timeout):
            while not self._inbox:
                if self._close_seen or self.transport_closed:
                    raise ConnectionClosed(
                        f"the connection closed (close code {self.close_code}, "
                        f"{self.close_message!r}) with nothing left to receive"
                    )
                await self._changes()
        return self._inbox.popleft()

    def receive_nowait(self) -> Frame | None:
        """The next pushed frame if one is already here, else None."""
        return self._inbox.popleft() if self._inbox else None

    async def assert_no_push(self) -> None:
        """Let pending work run (async callbacks in flight included), then fail if the
        server pushed anything."""
        await self._settle(wait_task=True)
        if self._inbox:
            raise AssertionError(f"unexpected frames from the server: {list(self._inbox)!r}")

    async def close(self, code: int | None = 1000, message: str = "") -> None:
        """Send our close frame (``code=None``: an empty one) and wait for the end."""
        if not self._client_closed and not self.transport_closed:
            self._client_closed = True
            self._deliver([CloseReceived(code, message)])
        await self._wait(self.session.wait_closed(), "the close handshake")

    async def advance(self, seconds: float) -> None:
        """Move virtual time forward; returns once every timer due by then has fired and
        its effects (pushes, close, terminate) have happened."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self.clock.time() + seconds
        while (timer := self.clock.pop_due(target)) is not None:
            timer.callback()
            await self._settle(wait_task=True)
        self.clock.set(target)
        await self._settle(wait_task=True)

    def pause_writing(self) -> None:
        """Become a slow reader: frames pile up unread (counted by the transport's
        ``write_buffer_size()``) and the session is told to pause (high water)."""
        if not self._slow:
            self._slow = True
            self.session.pause_writing()

    async def resume_writing(self) -> None:
        """Read again: what piled up arrives, and the session resumes."""
        if self._slow:
            self._slow = False
            unread, self._unread, self._unread_bytes = self._unread, [], 0
            self._arrive(unread)
            self.session.resume_writing()
            await self._settle()

    def drop(self, exc: BaseException | None = None) -> None:
        """The connection drops without a close frame (``connection_lost``)."""
        assert self._transport is not None
        self._transport.closed = True
        self.session.connection_lost(exc)
        self._changed()

    async def shutdown(self, code: int | None = 1001, reason: str = "") -> None:
        """The server stops: ``Session.shutdown(code, reason)``; waits for the end."""
        self.session.shutdown(code, reason)
        await self._wait(self.session.wait_closed(), "the shutdown")

    async def wait_closed(self) -> None:
        await self._wait(self.session.wait_closed(), "the connection to end")

    # -- what happened -------------------------------------------------------------------

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the TestClient inside `async with`")
        return self._session

    @property
    def closed(self) -> bool:
        """True once the connection fully ended."""
        return self.session.closed

    @property
    def transport_closed(self) -> bool:
        return self._transport is not None and self._transport.closed

    @property
    def close_code(self) -> int | None:
        """The close code the server sent (1005: an empty close frame, 1006: none)."""
        return self.session.close_code

    @property
    def close_message(self) -> str:
        return self.session.close_message

    @property
    def terminate_reason(self) -> Reason | None:
        return self.session.terminate_reason

    @property
    def server_close_frame(self) -> tuple[int | None, str] | None:
        """The server's close frame as sent: ``(code or None, reason)``."""
        return self._server_close

    @property
    def stats(self) -> SessionStats:
        return self.session.stats

    @property
    def flushes(self) -> int:
        """How many times the session flushed the transport (write coalescing)."""
        assert self._transport is not None
        return self._transport.flushes

    @property
    def reading_paused(self) -> bool:
        """Whether the session asked the transport to stop reading."""
        return self._transport is not None and not self._transport.reading

    # -- plumbing ------------------------------------------------------------------------

    def _deliver(self, events: list[Event]) -> None:
        """Client → session, respecting the session's pause_reading()."""
        assert self._transport is not None
        if self._held_in or not self._transport.reading:
            self._held_in.extend(events)
        elif events and not self.session.closed:
            self.session.feed(events)

    def _resume_reading(self) -> None:
        # Called from inside the session: feed later, never re-entrantly.
        if self._held_in:
            self._schedule_replies()

    def _on_wire(self, items: list[Frame | tuple[int | None, str]]) -> None:
        """Session → client, at flush time."""
        if self._slow:
            self._unread.extend(items)
            self._unread_bytes += sum(_size(i) for i in items if not isinstance(i, tuple))
        else:
            self._arrive(items)

    def _arrive(self, items: list[Frame | tuple[int | None, str]]) -> None:
        for item in items:
            if isinstance(item, tuple):
                self._close_seen = True
                if self.answer_close and not self._client_closed:
                    # RFC 6455 §5.5.1: a peer answers a close frame with one of its own.
                    self._client_closed = True
                    code, _ = item
                    self._replies.append(CloseReceived(code, ""))
                    self._schedule_replies()
                continue
            self._inbox.append(item)
            if type(item) is Ping and self.answer_pings and not self._client_closed:
                self._replies.append(Pong(item.data))
                self._schedule_replies()
        self._changed()

    def _schedule_replies(self) -> None:
        if not self._replies_scheduled:
            self._replies_scheduled = True
            asyncio.get_running_loop().call_soon(self._send_replies)

    def _send_replies(self) -> None:
        self._replies_scheduled = False
        assert self._transport is not None
        if self._transport.closed or self.session.closed:
            self._held_in.clear()
            self._replies.clear()
            return
        if self._held_in and self._transport.reading:
            held, self._held_in = self._held_in, []
            self.session.feed(held)
        if self._replies:
            replies, self._replies = self._replies, []
            self._deliver(replies)

    def _changed(self) -> None:
        if self._event is not None:
            self._event.set()

    async def _changes(self) -> None:
        assert self._event is not None
        self._event.clear()
        await self._event.wait()

    async def _settle(self, *, wait_task: bool = False) -> None:
        """Let everything already scheduled run: replies, mailbox drains, and (with
        ``wait_task``) an async callback in flight and an async terminate."""
        session = self.session
        async with asyncio.timeout(self.wait_timeout):
            while True:
                await asyncio.sleep(0)
                if self._replies_scheduled or session.handle._scheduled:
                    continue
                if wait_task:
                    busy = [t for t in (session._task, session._terminate_task) if t is not None]
                    if busy:
                        await asyncio.wait(busy)
                        continue
                return

    async def _wait(self, awaitable: Any, what: str) -> None:
        try:
            async with asyncio.timeout(self.wait_timeout):
                await awaitable
        except TimeoutError:
            raise AssertionError(
                f"timed out after {self.wait_timeout}s waiting for {what}; the handler may be stuck"
            ) from None
