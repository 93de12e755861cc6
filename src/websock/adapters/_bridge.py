"""The one piece every framing host shares: a ``Transport`` over a host's async send API.

Hosts that do their own framing (ASGI servers, aiohttp, websockets) expose coroutines to
send a message and receive the next one. The runtime's ``Session`` wants the opposite: a
``Transport`` whose methods never block. ``Bridge`` translates:

- outbound: ``send_frames``/``send_close`` append to a bounded deque. ``flush`` first
  steps the host's send coroutine inline, for as long as the writer task is idle and each
  send completes without suspending (aiohttp's send writes to its transport and only
  awaits when the buffer is over its limit): no task wakeup per message. The first send
  that suspends, and everything queued behind it, goes to ONE writer task per connection,
  which finishes that coroutine and awaits the host's send for each item in order. A host
  whose send awaits its socket buffer gives natural backpressure: while the queued bytes
  are above ``write_high_water`` the session is told ``pause_writing()``, and
  ``resume_writing()`` once they fall to ``write_low_water``. A host that can frame a
  run of messages into one socket write (``write_many``: aiohttp without compression)
  gets each run in one call instead of one send per message.
- inbound: one reader task awaits the host's receive, then steps further receive calls
  inline for as long as each completes without suspending (the messages the host already
  parsed from its last read; with ``ready``, only while the host says a plain message is
  next), and feeds them to the session as one batch: one feed, one flush, and the sends
  of the whole batch (in that same task, so they precede anything the host does on the
  next frame), per wakeup. It waits while the session paused reading (flow control, or an
  async callback in progress).

The adapter modules supply a ``HostIO`` (the host's receive and send, a translation of
what receive returns, a close and an abort; optionally ``ready`` and ``write_many``) and
nothing else: all behaviour lives in the runtime, so every host behaves the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias

from ..exceptions import ProtocolError
from ..options import Options
from ..protocol.events import CloseReceived, Event
from ..results import Binary, Ping, Pong, Text
from ..runtime.transport import OutFrame

if TYPE_CHECKING:
    from ..runtime.session import Session

__all__ = ["Bridge", "HostIO", "HostShutdown", "Lost", "SessionRegistry", "run_session"]

log = logging.getLogger("websock.adapters")


@dataclass(frozen=True, slots=True)
class Lost:
    """The host reports the connection gone without a close frame (TCP reset, 1006)."""

    exc: BaseException | None = None


@dataclass(frozen=True, slots=True)
class HostShutdown:
    """The host started closing by itself because it is stopping (e.g. websockets'
    ``server.close()`` sends 1001): a server shutdown for the session."""

    code: int = 1001


#: What ``HostIO.receive`` returns: an event for the session, ``Lost`` or ``HostShutdown``.
Inbound: TypeAlias = Event | Lost | HostShutdown


#: The most messages one feed takes: the sends of a batch go out before more is read.
_BATCH: Final = 256


class HostIO(Protocol):
    """The host's side of one accepted connection."""

    def receive(self) -> Awaitable[Any]:
        """The host's own receive call, returning the host's next message in its own shape.

        Return the host's awaitable itself, not a coroutine wrapping it: when it is a
        coroutine the bridge steps it inline, and one that completes without suspending
        costs no task switch (and no extra frame)."""

    def event(self, message: Any) -> Inbound:
        """What a message that ``receive`` produced means: an event for the session,
        ``Lost`` once nothing more can arrive, or ``HostShutdown``."""

    def send(self, frame: OutFrame) -> Awaitable[None]:
        """Send one message or control frame; may await the socket buffer (backpressure).
        Return the host's own awaitable (a coroutine is stepped inline when possible)."""

    # Optional, looked up with getattr:
    # - ``write_many(messages)`` writes these data messages (str: text, bytes: binary) now,
    #   in one write to the socket, and returns None, or an awaitable to await before
    #   sending more when the host's buffer is above its limit. Hosts without it (or that
    #   set it to None) get one ``send`` per frame.
    # - ``ready()``: True when the next ``receive`` returns a plain message at once, or
    #   waits for the network, and does nothing else. A host whose receive acts on its own
    #   (aiohttp sends its close frame inside the receive that meets a protocol error) has
    #   it, so the reader does not take that receive ahead of the sends of the messages
    #   before it.

    async def send_close(self, code: int | None, reason: str) -> None:
        """Start the close handshake with this code (the host completes it)."""

    async def abort(self) -> None:
        """End the connection now (after our close, or when the session dropped it)."""


@dataclass(slots=True)
class _Close:
    code: int | None
    reason: str


class _Drain:
    """Queue head while the writer awaits a ``write_many`` drain (no bytes of its own)."""

    __slots__ = ()

    def __len__(self) -> int:
        return 0


_DRAIN: Final = _Drain()

#: What ``HostIO.write_many`` returns: None, or an awaitable for the host's buffer to drain.
WriteMany: TypeAlias = Callable[[Sequence[Any]], Awaitable[None] | None]


def _size(frame: OutFrame | _Drain) -> int:
    if isinstance(frame, Ping | Pong):
        return len(frame.data)
    # len(str) counts code points, not UTF-8 bytes: cheap, and exact for ASCII. The water
    # marks are soft bounds, so an underestimate for non-ASCII text is acceptable.
    return len(frame)


class Bridge:
    """A ``Transport`` (runtime/transport.py) over a ``HostIO``; see the module docstring."""

    def __init__(
        self,
        io: HostIO,
        options: Options,
        *,
        answers_pings: bool,
        supports_control_frames: bool,
        check_message_size: bool = False,
        answers_close: bool = True,
    ) -> None:
        self.answers_pings = answers_pings
        # Most hosts answer the peer's close frame themselves; aiohttp (autoclose=False)
        # leaves the answer to the runtime, which checks the code (RFC 6455 §7.4.1).
        self._answers_close = answers_close
        self.supports_control_frames = supports_control_frames
        self._io = io
        self._options = options
        # Hosts that cannot be told a per-connection limit (ASGI) hand us whole messages;
        # the bridge enforces max_message_size on them (RFC 6455 §7.4.1: 1009).
        self._check_size = check_message_size
        self._session: Session | None = None
        self._queue: deque[OutFrame | _Close | _Drain] = deque()
        # The host's one-write path for a run of data messages, if it has one.
        self._write_many: WriteMany | None = getattr(io, "write_many", None)
        self._buffered = 0
        self._writing_paused = False
        self._close_queued = False
        # _close_queued or _peer_gone: nothing more is queued (one test per message).
        self._shut = False
        # Every queued item is a str/bytes message (then the reader hands the whole queue
        # to write_many). Cleared by anything else queued; set again only on an empty queue.
        self._plain = True
        self._high_water = options.write_high_water
        self._wake = asyncio.Event()
        # True while the writer task waits for work with nothing in flight: only then may
        # flush() send inline without reordering frames.
        self._writer_idle = False
        # A send that flush() started inline and that suspended: the writer finishes it.
        self._pending: tuple[Coroutine[Any, Any, None], Any] | None = None
        # The reader task's own sends: a flush during its feed only marks the queue due,
        # and the reader awaits the sends right after (no StopIteration per message).
        self._in_feed = False
        self._flush_due = False
        self._reader_sending = False
        self._reading = asyncio.Event()
        self._reading.set()
        self._read_paused = False  # mirrors _reading: an attribute test per message, not a call
        self._closed = asyncio.Event()
        self._peer_gone = False
        self._injected: list[Event] = []
        self._reader_task: asyncio.Task[None] | None = None
        # The events the pump took from the host since the reader last fed the session.
        self._batch: list[Any] = []
        self.dropped_control_frames = 0

    # -- Transport (called by the session, on the loop thread, never blocking) ---------------

    def send_frames(self, frames: Sequence[OutFrame]) -> None:
        if self._shut:
            return
        for frame in frames:
            kind = type(frame)
            if kind is str or kind is bytes:  # the hot path: a message
                if kind is str and not frame.isascii():  # type: ignore[union-attr]
                    # Raises UnicodeEncodeError now for a lone surrogate, as the built-in
                    # server's encoder does, so the session ends the connection with 1011;
                    # the host would encode it later, where it can only drop the connection.
                    frame.encode("utf-8")  # type: ignore[union-attr]
                self._buffered += len(frame)  # type: ignore[arg-type]
                self._queue.append(frame)
            else:
                self._queue_other(frame)
        if self._buffered > self._high_water and not self._writing_paused:
            self._writing_paused = True
            if self._session is not None:
                self._session.pause_writing()

    def _queue_other(self, frame: OutFrame) -> None:
        if isinstance(frame, Ping | Pong) and not self.supports_control_frames:
            self.dropped_control_frames += 1
            return
        self._plain = False
        self._buffered += _size(frame)
        self._queue.append(frame)

    def send_close(self, code: int | None, reason: str) -> None:
        if self._shut:
            return
        self._close_queued = True
        self._shut = True
        self._plain = False
        self._queue.append(_Close(code, reason))

    def flush(self) -> None:
        if not self._queue:
            return
        if self._in_feed or self._reader_sending:
            self._flush_due = True  # the reader task sends it, right after its feed
            return
        if self._writer_idle:
            self._send_inline()
            if not self._queue:
                return
        self._kick()

    def _kick(self) -> None:
        self._writer_idle = False
        self._wake.set()

    def _send_inline(self) -> None:
        """Step the host's send for the queued data frames without a task switch; stop at
        the first that suspends (the writer task resumes it) or at a close (the writer's)."""
        queue = self._queue
        send = self._io.send
        write_many = self._write_many
        while queue:
            item = queue[0]
            kind = type(item)
            if kind is _Close:
                break
            if write_many is not None and (kind is str or kind is bytes):
                try:
                    drain = self._write_run(write_many, queue)
                except Exception as exc:  # the host's socket went away under us
                    self._peer_gone = True
                    self._shut = True
                    self._writer_idle = False
                    asyncio.get_running_loop().call_soon(self._host_lost, exc)
                    return
                if drain is None:
                    continue
                coro = _awaiting(drain)
                try:
                    yielded = coro.send(None)
                except StopIteration:
                    continue
                except Exception as exc:
                    self._peer_gone = True
                    self._shut = True
                    self._writer_idle = False
                    asyncio.get_running_loop().call_soon(self._host_lost, exc)
                    return
                # The writer finishes the drain, then pops this marker and goes on.
                queue.appendleft(_DRAIN)
                self._plain = False
                self._pending = (coro, yielded)
                break
            sending = send(item)  # type: ignore[arg-type]
            coro = sending if type(sending) is CoroutineType else _awaiting(sending)
            try:
                yielded = coro.send(None)
            except StopIteration:
                pass
            except Exception as exc:  # the host's socket went away under us
                # Not from inside the session's own call (flush): report it next turn.
                self._peer_gone = True
                self._shut = True
                self._writer_idle = False  # no more inline attempts
                asyncio.get_running_loop().call_soon(self._host_lost, exc)
                return
            else:
                self._pending = (coro, yielded)
                break
            queue.popleft()
            kind = type(item)
            self._buffered -= len(item) if kind is str or kind is bytes else _size(item)  # type: ignore[arg-type]
        self._check_low_water()

    def _write_run(
        self, write_many: WriteMany, queue: deque[OutFrame | _Close | _Drain]
    ) -> Awaitable[None] | None:
        """Hand the run of str/bytes messages at the head of the queue to the host's
        ``write_many`` (one socket write) and drop them from the queue."""
        run: list[Any] = []
        size = 0
        for item in queue:
            kind = type(item)
            if kind is not str and kind is not bytes:
                break
            run.append(item)
            size += len(item)  # type: ignore[arg-type]
        drain = write_many(run)
        if len(run) == len(queue):
            queue.clear()
            self._plain = True
        else:
            for _ in run:
                queue.popleft()
        self._buffered -= size
        return drain

    def _sent(self, item: OutFrame | _Drain) -> None:
        self._buffered -= _size(item)
        self._check_low_water()

    def _check_low_water(self) -> None:
        if self._writing_paused and self._buffered <= self._options.write_low_water:
            self._writing_paused = False
            if self._session is not None:
                self._session.resume_writing()

    def close(self) -> None:
        self._closed.set()
        self._kick()

    def pause_reading(self) -> None:
        self._read_paused = True
        self._reading.clear()

    def resume_reading(self) -> None:
        self._read_paused = False
        self._reading.set()
        if self._injected and self._session is not None:
            events, self._injected = self._injected, []
            self._session.feed(events)

    def inject(self, event: Event) -> None:
        """Feed an event the host reports outside its receive call (a pong answering one
        of our pings, on hosts that only expose it as a future); deferred while paused."""
        if self._session is None or self._peer_gone:
            return
        if self._reading.is_set():
            self._session.feed([event])
        else:
            self._injected.append(event)

    def write_buffer_size(self) -> int:
        return self._buffered

    # -- the two tasks -------------------------------------------------------------------------

    async def _writer(self) -> None:
        queue = self._queue
        write_many = self._write_many
        while True:
            if self._reader_sending:
                # The reader task is sending: wait for it, or frames would go twice.
                self._wake.clear()
                await self._wake.wait()
                continue
            if not queue:
                if self._closed.is_set():
                    return
                self._wake.clear()
                self._writer_idle = True
                self._plain = not self._close_queued
                await self._wake.wait()
                continue
            item = queue[0]
            kind = type(item)
            try:
                if self._pending is not None:
                    coro, yielded = self._pending
                    self._pending = None
                    await _finish(coro, yielded)
                elif write_many is not None and (kind is str or kind is bytes):
                    drain = self._write_run(write_many, queue)  # pops the run itself
                    if drain is not None:
                        await drain
                    self._check_low_water()
                    continue
                elif isinstance(item, _Close):
                    # After our close only the peer's answer could arrive, and the host
                    # handles it; a pending receive even blocks granian's close send.
                    await self._stop_reader()
                    await self._io.send_close(item.code, item.reason)
                else:
                    await self._io.send(item)  # type: ignore[arg-type]
            except Exception as exc:  # the host's socket went away under us
                self._host_lost(exc)
                return
            queue.popleft()
            if isinstance(item, _Close):
                queue.clear()
                self._buffered = 0
                # The host's close returned: it owns the rest of the handshake (ASGI
                # servers echo and drop TCP once the app returns; aiohttp and websockets
                # return after the peer's answer). Nothing more can reach the session.
                if self._session is not None:
                    self._session.connection_lost(None)
            else:
                self._sent(item)

    async def _pump(self) -> None:
        """The host's receive loop: each inbound event goes into ``self._batch``. It runs
        inside the reader task, driven by ``_Pump``: a receive that completes at once (a
        message the host already parsed) costs a plain ``await``; one that suspends with
        messages in the batch hands the batch over first (the pump waits on in the next
        turn). It hands over by itself after a
        non-message event, at the batch limit, and when the host's ``ready`` says the next
        receive is not a plain message (so that receive comes after the batch's sends)."""
        io = self._io
        receive = io.receive
        to_event = io.event
        ready: Callable[[], bool] | None = getattr(io, "ready", None)
        while True:
            try:
                pending = receive()
                # Another awaitable than a coroutine (granian's) must not be left pending
                # while the reader waits (paused reading): one event per turn there.
                alone = type(pending) is not CoroutineType
                event = to_event(await pending)
            except Exception as exc:
                event = Lost(exc)
                alone = True
            batch = self._batch
            batch.append(event)
            kind = type(event)
            if kind is not Text and kind is not Binary:
                await _handover()  # a close, a loss, a control frame: no more in this batch
            elif alone or len(batch) >= _BATCH or (ready is not None and not ready()):
                await _handover()

    async def _reader(self) -> None:
        session = self._session
        assert session is not None
        limit = self._options.max_message_size
        check_size = self._check_size
        reading = self._reading
        write_many = self._write_many
        queue = self._queue
        feed = session.feed
        failed = False
        pump = _Pump(self._pump(), self)
        try:
            while True:
                if self._read_paused:
                    await reading.wait()
                await pump  # returns with the events the host had, in order
                events = self._batch
                self._batch = []
                kind = type(events[-1])
                # A non-message event is only ever last: the pump hands over right after it.
                after = None if kind is Text or kind is Binary else events.pop()
                if events and not failed:
                    # The hot path: messages for the handler, fed together: one feed, one
                    # flush, one round of sends.
                    if check_size:
                        for index, message in enumerate(events):
                            if len(message.data) > limit:
                                # RFC 6455 §7.4.1: 1009; §7.1.7: nothing after it counts.
                                events[index:] = [
                                    ProtocolError(
                                        1009, f"message exceeds max_message_size ({limit} bytes)"
                                    )
                                ]
                                failed = True
                                break
                    self._in_feed = True
                    try:
                        feed(events)
                    finally:
                        self._in_feed = False
                    if self._flush_due:
                        # Send what this feed queued, right here in the reader (no call per
                        # message): one write_many when the host has it, else the host's
                        # send awaited per frame (it suspends only under backpressure, when
                        # reading should wait anyway). The writer waits meanwhile.
                        self._flush_due = False
                        if not self._writer_idle or self._pending is not None:
                            self._kick()  # the writer has frames in flight: it keeps order
                        else:
                            drain = None
                            if write_many is not None and self._plain:
                                # Every queued frame is a message: all in one write.
                                try:
                                    drain = write_many(queue)
                                except Exception as exc:  # the socket went away
                                    self._host_lost(exc)
                                else:
                                    queue.clear()
                                    self._buffered = 0
                                    if self._writing_paused:
                                        self._check_low_water()
                            if drain is not None or queue:
                                await self._send_queued(drain)
                if after is None:
                    continue
                event = after
                if isinstance(event, Lost):
                    self._host_lost(event.exc)
                    return
                if isinstance(event, HostShutdown):
                    session.shutdown(event.code)
                    return
                if failed and not isinstance(event, CloseReceived):
                    continue  # RFC 6455 §7.1.7: after failing, only the close handshake counts
                if isinstance(event, CloseReceived):
                    # The host answers the peer's close itself (or reports our own close
                    # done): nothing more may be sent. Otherwise the session's answer goes
                    # out through send_close, and the host ends TCP after it (§7.1.1).
                    if self._answers_close:
                        self._peer_gone = True
                        self._shut = True
                    session.feed([event])
                    return
                failed = isinstance(event, ProtocolError)
                session.feed([event])
        finally:
            pump.discard()

    async def _send_queued(self, drain: Awaitable[None] | None) -> None:
        """The reader's own sends that may suspend, in order, up to a close (the writer's):
        first the host's drain after a ``write_many``, then the rest of the queue."""
        queue = self._queue
        send = self._io.send
        write_many = self._write_many
        self._reader_sending = True
        try:
            if drain is not None:
                try:
                    await drain
                except Exception as exc:  # the host's socket went away under us
                    self._host_lost(exc)
                    return
            try:
                while queue:
                    item = queue[0]
                    out = type(item)
                    if out is str or out is bytes:
                        if write_many is not None:  # a run of messages in one write
                            drain = self._write_run(write_many, queue)
                            if drain is not None:
                                await drain
                            continue
                        queue.popleft()
                        self._buffered -= len(item)  # type: ignore[arg-type]
                    elif out is _Close:
                        self._kick()
                        break
                    else:
                        queue.popleft()
                        self._buffered -= _size(item)  # type: ignore[arg-type]
                    await send(item)  # type: ignore[arg-type]
            except Exception as exc:  # the host's socket went away under us
                self._host_lost(exc)
        finally:
            self._reader_sending = False
            self._flush_due = False
            if not queue and not self._close_queued:
                self._plain = True
            if not self._writer_idle:
                self._wake.set()  # the writer waited for these sends to finish
        if self._writing_paused:
            self._check_low_water()

    async def _stop_reader(self) -> None:
        reader = self._reader_task
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def _host_lost(self, exc: BaseException | None) -> None:
        self._peer_gone = True
        self._shut = True
        self._queue.clear()
        self._plain = True
        self._buffered = 0
        if self._pending is not None:
            self._pending[0].close()
            self._pending = None
        if self._session is not None and not self._closed.is_set():
            self._session.connection_lost(exc)
        self._closed.set()
        self._kick()

    async def run(self, session: Session) -> None:
        """Drive ``session`` (already constructed over this bridge) to its end."""
        self._session = session
        writer = asyncio.create_task(self._writer(), name="websock-writer")
        reader: asyncio.Task[None] | None = None
        try:
            session.start()
            self.flush()
            reader = asyncio.create_task(self._reader(), name="websock-reader")
            self._reader_task = reader
            closed = asyncio.ensure_future(self._closed.wait())
            ended = asyncio.ensure_future(session.wait_closed())
            try:
                await asyncio.wait([closed, ended], return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # The host cancels its handlers when it stops (daphne, hypercorn at
                # graceful_timeout): that is a server shutdown, so terminate(Shutdown())
                # and a 1001 close frame, sent if the host still lets us.
                session.shutdown(1001)
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(writer), 1.0)
                raise
            finally:
                closed.cancel()
                ended.cancel()
            # Let the writer put out what the session queued last (final frames, close),
            # then stop: the session has ended either way.
            self._closed.set()
            self._kick()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), self._options.close_timeout)
        finally:
            for task in (reader, writer):
                if task is not None and not task.done():
                    task.cancel()
            for task in (reader, writer):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            with contextlib.suppress(Exception):
                await self._io.abort()
            session.connection_lost(None)  # a no-op once the session has ended


async def _awaiting(awaitable: Awaitable[None]) -> None:
    await awaitable


async def _finish(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    """Drive a host send that ``_send_inline`` started and that suspended on ``yielded``
    (a future, or None for a bare yield) to its end, as a task would have."""
    while True:
        try:
            if yielded is None:
                await asyncio.sleep(0)
            else:
                # Wait without taking the future's outcome: the coroutine takes it when
                # resumed (Future.__await__ returns or raises its result).
                await asyncio.wait((yielded,))
        except asyncio.CancelledError:
            coro.close()
            raise
        try:
            yielded = coro.send(None)
        except StopIteration:
            return
        except asyncio.CancelledError as exc:  # the host cancelled its own future
            raise ConnectionError("the host cancelled a send") from exc


#: What the pump yields to hand its batch over (never reaches the event loop).
_MARK: Final = object()


@types.coroutine
def _handover() -> Generator[Any, Any, None]:
    yield _MARK


class _Pump:
    """Drives ``Bridge._pump`` from the reader task: ``await pump`` lets the pump wait for
    the host as if the reader awaited it, and returns as soon as the pump has a batch:
    when it hands over, or when a receive suspends with events already in the batch (the
    host has nothing more buffered). The pump stays suspended in between."""

    __slots__ = ("_bridge", "_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], bridge: Bridge) -> None:
        self._coro = coro
        self._bridge = bridge
        self._yielded: Any = _MARK  # not started: resume at once

    def __await__(self) -> Generator[Any, Any, None]:
        coro = self._coro
        bridge = self._bridge
        yielded = self._yielded
        while True:
            if yielded is _MARK:
                yielded = coro.send(None)
            else:
                try:
                    value = yield yielded  # the host's future: the task waits on it
                except BaseException as exc:  # cancellation: the host's receive cleans up
                    yielded = coro.throw(exc)
                else:
                    yielded = coro.send(value)
            if yielded is _MARK or bridge._batch:
                self._yielded = yielded
                return

    def discard(self) -> None:
        """The reader ended: cancel a receive the pump waits in, the way a task would (the
        host drops its waiter), and close the pump."""
        coro = self._coro
        if self._yielded is not _MARK:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                coro.throw(asyncio.CancelledError())
        with contextlib.suppress(Exception):
            coro.close()


class SessionRegistry:
    """The open sessions of one served app, so a host's shutdown hook can drain them."""

    def __init__(self) -> None:
        self._sessions: set[Session] = set()

    def add(self, session: Session) -> None:
        self._sessions.add(session)

    def discard(self, session: Session) -> None:
        self._sessions.discard(session)

    def __len__(self) -> int:
        return len(self._sessions)

    async def shutdown(self, code: int = 1001, *, timeout: float = 10.0) -> None:
        """``terminate(Shutdown())`` and a close frame for every open session, then wait."""
        sessions = list(self._sessions)
        for session in sessions:
            session.shutdown(code)
        if sessions:
            waits = [asyncio.ensure_future(s.wait_closed()) for s in sessions]
            _, pending = await asyncio.wait(waits, timeout=timeout)
            for task in pending:
                task.cancel()


async def run_session(
    io: HostIO,
    handler: Any,
    arg: Any,
    options: Options,
    *,
    answers_pings: bool,
    supports_control_frames: bool,
    check_message_size: bool = False,
    answers_close: bool = True,
    registry: SessionRegistry | None = None,
    on_bridge: Callable[[Bridge], None] | None = None,
) -> Session:
    """Build a bridge and a session over ``io`` and run the connection to its end."""
    from ..runtime.session import Session

    bridge = Bridge(
        io,
        options,
        answers_pings=answers_pings,
        supports_control_frames=supports_control_frames,
        check_message_size=check_message_size,
        answers_close=answers_close,
    )
    if on_bridge is not None:
        on_bridge(bridge)
    session = Session(handler, arg, options, bridge)
    if registry is not None:
        registry.add(session)
    try:
        await bridge.run(session)
    finally:
        if registry is not None:
            registry.discard(session)
    return session
