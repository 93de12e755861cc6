"""``Session``: runs one handler over one connection, on any transport (SPEC §3).

The host feeds inbound events and transport signals in; the session calls the callbacks,
applies their results, answers pings, runs the timers (idle timeout, keepalive, close
handshake), delivers the mailbox, follows the peer's speed, and ends the connection the
way ``close_policy`` says. Every entry point (``start``, ``feed``, a mailbox drain, a timer,
``shutdown``, the end of an adopted callback) ends with exactly one ``transport.flush()``,
so a batch of inbound messages costs one write.

Phases: NEW → OPEN (``start``) → CLOSING (our close frame is out, waiting for the peer's)
→ CLOSED. Only OPEN calls ``handle_in``/``handle_info`` or pushes anything (RFC 6455
§5.5.1: nothing after a close frame).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..exceptions import HandlerError, MailboxFull, ProtocolError
from ..protocol.events import CloseReceived, Event
from ..results import (
    Binary,
    Ok,
    Ping,
    Pong,
    Push,
    Reason,
    Stop,
    Text,
    check_close,
)
from . import close_policy
from .adopt import resume
from .callbacks import inspect_handler
from .context import current
from .handle import ConnectionHandle, Direct

if TYPE_CHECKING:
    from ..options import Options
    from .close_policy import Closing
    from .transport import FastLaneResult, FrameSink, OutFrame, PreparedFrame, Transport

__all__ = ["Clock", "Session", "SessionStats", "TimerHandle"]

logger: Final = logging.getLogger("websock")


def _not_utf8_message(text: object) -> str:
    return (
        f"cannot push {text!r:.60}: a text frame must be valid UTF-8 (RFC 6455 §5.6), "
        "and this str has a lone surrogate"
    )


def _check_utf8(text: str) -> None:
    """HandlerError for a str with lone surrogates, which no UTF-8 can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise HandlerError(_not_utf8_message(text)) from None


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Where the session's timers run: the event loop itself, or the test client's
    virtual clock."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], object], /) -> TimerHandle: ...


class _Phase(IntEnum):
    NEW = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


#: Timer slack, in seconds, for float rounding between a deadline and the clock's reading.
_EPSILON: Final = 1e-9

# Why reading is paused (a bit mask: reading resumes when no reason is left).
_SLOW_PEER: Final = 1
_BUSY: Final = 2


@dataclass(frozen=True, slots=True)
class SessionStats:
    """Counters of one connection (a snapshot)."""

    messages_in: int
    messages_out: int
    frames_in: int
    frames_out: int
    pings_in: int
    pongs_in: int
    pings_out: int
    control_frames_dropped: int
    infos_in: int
    mailbox_received: int
    mailbox_dropped_oldest: int
    mailbox_dropped_newest: int
    mailbox_dropped_overflow: int
    mailbox_dropped_closed: int
    ignored_after_close: int
    adopted_callbacks: int
    #: False when the transport cannot send pings (ASGI): no keepalive, idle timeout only.
    keepalive: bool


class Session:
    """One connection's runtime. Build it on the event loop, then ``start()``."""

    # Slots: no per-connection __dict__, one GC-tracked object fewer per connection (the
    # collector's full passes walk every live connection's objects; docs/profiling.md).
    __slots__ = (
        "_adopted",
        "_answer_pings",
        "_arg",
        "_backlog",
        "_cancelling",
        "_cb",
        "_clock",
        "_close_timer",
        "_controls_dropped",
        "_controls_ok",
        "_done",
        "_finished",
        "_frames_in",
        "_frames_out",
        "_handle_in",
        "_has_state",
        "_idle_due",
        "_ignored",
        "_in_async",
        "_infos_in",
        "_keepalive_due",
        "_last_in",
        "_loop",
        "_messages_in",
        "_messages_out",
        "_open",
        "_options",
        "_phase",
        "_ping_sent_at",
        "_pings_in",
        "_pings_out",
        "_pongs_in",
        "_raw",
        "_read_paused",
        "_sink",
        "_state",
        "_suspended",
        "_task",
        "_terminate_due",
        "_terminate_task",
        "_terminated",
        "_time",
        "_timer",
        "_transport",
        "_transport_closed",
        "_write_paused",
        "close_code",
        "close_message",
        "handle",
        "terminate_reason",
    )

    def __init__(
        self,
        handler: object,
        arg: Any,
        options: Options,
        transport: Transport,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        clock = clock if clock is not None else self._loop
        self._clock: Clock = clock
        # asyncio's loop.time() is time.monotonic() behind a Python method; call it directly.
        # Only differences of our own readings matter, so any monotonic source is fine.
        self._time = time.monotonic if clock is self._loop else clock.time
        self._cb = cb = inspect_handler(handler)
        self._arg = arg
        self._options = options
        self._transport = transport
        # The handler's bound method is shared by its connections (inspect_handler caches
        # it). The transport's are not stored: a bound method is one more object per
        # connection for the garbage collector to walk, for a few ns saved per call.
        self._handle_in = cb.handle_in
        self._in_async = cb.in_async
        # Where frames are encoded: the transport, or the encoder it names (one Python call
        # fewer per message on the built-in server).
        self._sink: FrameSink = getattr(transport, "frame_sink", transport)
        self._answer_pings = not transport.answers_pings
        self._controls_ok = transport.supports_control_frames
        self.handle = ConnectionHandle(
            self._loop, self, options.mailbox_size, options.mailbox_overflow
        )
        # PubSub's fast lane: hosts that write bytes take a frame encoded once for many.
        self._raw = hasattr(transport, "send_prepared")
        self._state: Any = None
        self._has_state = False  # a callback result was applied: terminate may be called
        self._phase = _Phase.NEW
        self._open = False
        # -- async callbacks -------------------------------------------------------------
        self._task: asyncio.Task[None] | None = None
        self._suspended: tuple[Any, Any, str] | None = None
        self._backlog: deque[Event] | None = None  # made when an async callback defers events
        self._cancelling = False
        self._transport_closed = False
        # -- ending ----------------------------------------------------------------------
        self._terminate_due = False
        self._terminated = False
        self._terminate_task: asyncio.Task[None] | None = None
        # The end, for wait_closed(): a flag, and a future only once someone waits.
        self._finished = False
        self._done: asyncio.Future[None] | None = None
        #: The close code sent (1005: we echoed an empty close; 1006: none could be sent).
        self.close_code: int | None = None
        self.close_message = ""
        self.terminate_reason: Reason | None = None
        # -- flow control and timers ---------------------------------------------------------
        self._read_paused = 0
        self._write_paused = False
        self._last_in = 0.0
        self._ping_sent_at: float | None = None
        self._timer: TimerHandle | None = None  # idle timeout and keepalive (_schedule)
        self._idle_due: float | None = None
        self._keepalive_due: float | None = None
        self._close_timer: TimerHandle | None = None
        # -- counters ------------------------------------------------------------------------
        self._messages_in = 0
        self._frames_in = 0
        self._frames_out = 0
        self._messages_out = 0
        self._pings_in = 0
        self._pongs_in = 0
        self._pings_out = 0
        self._controls_dropped = 0
        self._infos_in = 0
        self._ignored = 0
        self._adopted = 0

    # ==== host → session ===============================================================

    def start(self) -> None:
        """Call ``init(arg)``: the handshake is complete."""
        if self._phase is not _Phase.NEW:
            raise HandlerError("Session.start() called twice")
        self._phase = _Phase.OPEN
        self._open = True
        self._last_in = self._time()
        token = current.set(self.handle)
        try:
            if not self._call("init", self._cb.init, self._cb.init_async, self._arg):
                self._start_task()
        finally:
            current.reset(token)
        if self._open:
            self._arm_timers()
        self._update_mailbox()
        self._finish_entry()

    def feed(self, events: Sequence[Event]) -> None:
        """Inbound events, in order, as parsed from one read."""
        self._last_in = self._time()  # the idle timer only looks at inbound activity
        self._frames_in += len(events)
        if self._task is not None:
            # An async callback is in flight: keep order, it takes these when done.
            self._defer(events)
            return
        token = current.set(self.handle)
        try:
            handle_in = self._handle_in
            fast = not self._in_async
            index = 0
            for event in events:
                index += 1
                kind = type(event)
                if fast and (kind is Text or kind is Binary) and self._open:
                    # The hot path: a sync handle_in, a Push of one str/bytes.
                    self._messages_in += 1
                    try:
                        result = handle_in(event, self._state)
                    except Exception as exc:
                        self._fail("handle_in", exc)
                        continue
                    if type(result) is Push:
                        frames: Any = result.frames
                        frames_kind = type(frames)
                        if (frames_kind is list or frames_kind is tuple) and len(frames) == 1:
                            frames = frames[0]  # Push([message]) means Push(message)
                            frames_kind = type(frames)
                        if frames_kind is Text or frames_kind is Binary:
                            # Push(message), e.g. an echo: its data goes out as is.
                            frames = frames.data
                            frames_kind = type(frames)
                        # Still open: handle_in may have ended the session (e.g. a server
                        # shutdown), and nothing may follow our close frame (RFC 6455
                        # §5.5.1); _apply then keeps the state and sends nothing.
                        if (frames_kind is str or frames_kind is bytes) and self._open:
                            self._state = result.state
                            try:
                                self._sink.send_frames((frames,))
                            except UnicodeEncodeError:
                                self._not_utf8("handle_in", frames)
                                continue
                            self._frames_out += 1
                            self._messages_out += 1
                            continue
                    self._apply(result, "handle_in")
                elif not self._event(event):
                    self._defer(events[index:])
                    self._start_task()
                    break
        finally:
            current.reset(token)
        # _finish_entry(), inlined: this is the per-read path.
        if not self._transport_closed:
            self._transport.flush()
            if self._write_paused and self._open:
                self._check_write_bound()

    def _defer(self, events: Sequence[Event]) -> None:
        if self._backlog is None:
            self._backlog = deque(events)
        else:
            self._backlog.extend(events)

    def pause_writing(self) -> None:
        """The transport's buffer went above high water: stop reading and delivering."""
        if self._write_paused:
            return
        self._write_paused = True
        self._pause_reading(_SLOW_PEER)
        self.handle._hold()

    def resume_writing(self) -> None:
        """The transport's buffer drained below low water."""
        if not self._write_paused:
            return
        self._write_paused = False
        self._resume_reading(_SLOW_PEER)
        self._update_mailbox()

    def connection_lost(self, exc: BaseException | None = None) -> None:
        """The transport is gone (no flush: nothing can be written any more)."""
        phase = self._phase
        if phase is _Phase.CLOSED:
            return
        self._transport_closed = True
        if phase is _Phase.CLOSING:
            self._abandon_task()
            self._set_closed()
            return
        self._end(close_policy.transport_lost(exc))

    def shutdown(self, code: int | None = 1001, reason: str = "") -> None:
        """The server is stopping: close with ``code`` (1001 Going Away by default) and
        ``terminate(Shutdown())``. Await ``wait_closed()`` for the handshake to finish."""
        if code is not None:
            check_close(code, reason)
        if self._phase is not _Phase.OPEN:
            if self._phase is _Phase.NEW:  # never started: no handler to tell
                self._end(close_policy.shutdown(code, reason))
            return
        token = current.set(self.handle)
        try:
            self._end(close_policy.shutdown(code, reason))
        finally:
            current.reset(token)
        self._finish_entry()

    def send_prepared(self, frame: PreparedFrame) -> FastLaneResult:
        """PubSub's fast lane: queue and flush ``frame`` without waking the handler.

        On the loop only. A slow peer (the transport above high water) gets nothing:
        ``"slow"`` is returned and the frame is dropped, so one slow subscriber never
        holds back a broadcast; ``"closed"`` once the connection is not open (RFC 6455
        §5.5.1: nothing after our close frame). The outbound bound (``max_write_buffer``)
        is applied at the next unit of work, never inside another connection's callback.
        """
        if not self._open:
            return "closed"
        if self._write_paused:
            return "slow"
        if self._raw:
            self._transport.send_prepared(frame)  # type: ignore[attr-defined]
        else:
            self._sink.send_frames((frame.message,))
        self._frames_out += 1
        self._messages_out += 1
        self._transport.flush()
        return "sent"

    async def wait_closed(self) -> None:
        """Return once the connection fully ended: close handshake done (or given up),
        transport closed, ``terminate`` returned."""
        if self._finished:
            return
        if self._done is None:
            self._done = self._loop.create_future()
        await asyncio.shield(self._done)

    @property
    def closed(self) -> bool:
        return self._finished

    @property
    def state(self) -> Any:
        """The handler's current state (for tests and debugging)."""
        return self._state

    @property
    def stats(self) -> SessionStats:
        handle = self.handle
        return SessionStats(
            messages_in=self._messages_in,
            messages_out=self._messages_out,
            frames_in=self._frames_in,
            frames_out=self._frames_out,
            pings_in=self._pings_in,
            pongs_in=self._pongs_in,
            pings_out=self._pings_out,
            control_frames_dropped=self._controls_dropped,
            infos_in=self._infos_in,
            mailbox_received=handle.received,
            mailbox_dropped_oldest=handle.dropped_oldest,
            mailbox_dropped_newest=handle.dropped_newest,
            mailbox_dropped_overflow=handle.dropped_overflow,
            mailbox_dropped_closed=handle.dropped_closed,
            ignored_after_close=self._ignored,
            adopted_callbacks=self._adopted,
            keepalive=self._controls_ok and self._options.ping_interval is not None,
        )

    # ==== events ========================================================================

    def _event(self, event: Event) -> bool:
        """Handle one inbound event; False if a callback suspended (``_suspended`` set)."""
        kind = type(event)
        if self._phase is not _Phase.OPEN:
            self._event_after_close(event)
            return True
        if kind is Text or kind is Binary:
            self._messages_in += 1
            return self._call("handle_in", self._handle_in, self._in_async, event, self._state)
        if kind is Ping:
            self._pings_in += 1
            if self._answer_pings:
                # RFC 6455 §5.5.2: answer before the handler hears of it (SPEC §1).
                assert isinstance(event, Ping)
                self._sink.send_frames((Pong(event.data),))
                self._frames_out += 1
            return self._control(event)
        if kind is Pong:
            self._pongs_in += 1
            return self._control(event)
        if kind is CloseReceived:
            assert isinstance(event, CloseReceived)
            self._end(close_policy.peer_close(event.code, event.reason))
            return True
        if isinstance(event, ProtocolError):
            self._end(close_policy.protocol_error(event))
            return True
        raise TypeError(f"not an inbound event: {event!r}")

    def _control(self, frame: Event) -> bool:
        control = self._cb.handle_control
        if control is None:
            return True
        return self._call("handle_control", control, self._cb.control_async, frame, self._state)

    def _event_after_close(self, event: Event) -> None:
        # RFC 6455 §5.5.1: after our close frame only the peer's close matters; data
        # and pings are read and discarded, and nothing is sent any more.
        if self._phase is _Phase.CLOSING and (
            type(event) is CloseReceived or isinstance(event, ProtocolError)
        ):
            # RFC 6455 §7.1.1: the handshake is complete; the server closes TCP first.
            self._close_transport()
            self._set_closed()
        else:
            self._ignored += 1

    # ==== calling the handler ===========================================================

    def _call(self, name: str, fn: Callable[..., Any], is_async: bool, *args: Any) -> bool:
        """Call one callback and apply its result; False if it suspended."""
        try:
            result = fn(*args)
            if is_async:
                try:
                    yielded = result.send(None)
                except StopIteration as done:
                    result = done.value
                else:
                    self._suspended = (result, yielded, name)
                    return False
        except Exception as exc:
            self._fail(name, exc)
            return True
        self._apply(result, name)
        return True

    def _apply(self, result: Any, name: str) -> None:
        kind = type(result)
        if kind is Push:
            self._state = result.state
            self._has_state = True
            if self._open:
                try:
                    self._push(result.frames)
                except HandlerError as error:
                    self._bad(name, error)
        elif kind is Ok:
            self._state = result.state
            self._has_state = True
        elif kind is Stop:
            self._state = result.state
            self._has_state = True
            if self._open:
                try:
                    if result.frames != ():
                        self._push(result.frames)
                except HandlerError as error:
                    self._bad(name, error)
                    return
                self._end(close_policy.stop(result))
        elif isinstance(result, Push | Ok | Stop):  # a subclass: same meaning, slower path
            self._apply_subclass(result, name)
        else:
            self._bad(name, self._describe_bad(name, result))

    def _apply_subclass(self, result: Push | Ok | Stop, name: str) -> None:
        if isinstance(result, Push):
            self._apply(Push(result.frames, result.state), name)
        elif isinstance(result, Ok):
            self._apply(Ok(result.state), name)
        else:
            self._apply(
                Stop(result.state, result.reason, result.code, result.message, result.frames),
                name,
            )

    def _describe_bad(self, name: str, result: Any) -> HandlerError:
        hint = ""
        if asyncio.iscoroutine(result):
            result.close()  # never awaited: say why instead of a RuntimeWarning
            hint = f" (a coroutine: declare {name} with `async def` so websock awaits it)"
        elif isinstance(result, tuple):
            hint = " (Elixir-style tuples are not results: return Push(...), Ok(...) or Stop(...))"
        return HandlerError(
            f"{self._cb.name}.{name} returned {result!r}{hint}; "
            "a callback must return Push, Ok or Stop"
        )

    def _push(self, frames: Any) -> None:
        kind = type(frames)
        if kind is str or kind is bytes:
            out: Sequence[OutFrame] = (frames,)
        elif kind is Text or kind is Binary:
            out = (frames.data,)
        else:
            out = self._frames(frames)
            if not out:
                return
        try:
            self._sink.send_frames(out)
        except UnicodeEncodeError as error:
            raise HandlerError(_not_utf8_message(error.object)) from None
        self._frames_out += len(out)
        self._messages_out += len(out)

    def _frames(self, frames: Any) -> list[OutFrame]:
        """Normalise what a result carries into transport frames (all checked first, so a
        bad one sends none)."""
        if isinstance(frames, str | bytes | bytearray | memoryview | Text | Binary | Ping | Pong):
            frames = (frames,)
        elif not isinstance(frames, Sequence):
            raise HandlerError(
                f"cannot push {frames!r}: push a frame or a sequence of frames "
                "(Text, Binary, Ping, Pong, str or bytes-like)"
            )
        out: list[OutFrame] = []
        for frame in frames:
            kind = type(frame)
            if kind is str or kind is bytes:
                if kind is str and not frame.isascii():
                    _check_utf8(frame)  # before any frame goes out (isascii() is O(1))
                out.append(frame)
            elif kind is Text or kind is Binary:
                out.append(frame.data)
            elif kind is Ping or kind is Pong:
                if self._controls_ok:
                    out.append(frame)
                else:
                    self._controls_dropped += 1
            elif isinstance(frame, str):
                _check_utf8(frame)
                out.append(str(frame))
            elif isinstance(frame, bytes | bytearray | memoryview):
                out.append(frame)
            elif isinstance(frame, Text | Binary):
                out.append(frame.data)
            else:
                raise HandlerError(
                    f"cannot push {frame!r}: frames are Text, Binary, Ping, Pong, str or bytes-like"
                )
        return out

    def _not_utf8(self, name: str, text: str) -> None:
        """``name`` pushed a str that UTF-8 cannot encode: a handler error (1011), not a
        crash of the read (called by feed's fast path and the C read path)."""
        self._bad(name, HandlerError(_not_utf8_message(text)))

    def _fail(self, name: str, exc: Exception) -> None:
        logger.error(
            "websock handler %s.%s raised %s; closing the connection with 1011",
            self._cb.name,
            name,
            type(exc).__name__,
            exc_info=exc,
        )
        self._end(close_policy.handler_raised(exc))

    def _bad(self, name: str, error: HandlerError) -> None:
        logger.error("websock handler error: %s; closing the connection with 1011", error)
        self._end(close_policy.bad_result(error))

    # ==== async callbacks ===============================================================

    def _start_task(self) -> None:
        """A callback suspended: finish it (and the rest of the work) in one task."""
        self._adopted += 1
        self._pause_reading(_BUSY)
        self.handle._hold()
        context = contextvars.copy_context()  # carries current → connection() works
        self._task = task = self._loop.create_task(self._run_task(), context=context)
        task.add_done_callback(self._task_done)

    async def _run_task(self) -> None:
        try:
            while True:
                assert self._suspended is not None
                coro, yielded, name = self._suspended
                self._suspended = None
                try:
                    result = await resume(coro, yielded)
                except asyncio.CancelledError as exc:
                    if self._cancelling:  # the transport is gone: stop quietly
                        return
                    self._fail(name, HandlerError(f"{name} was cancelled: {exc!r}"))
                except Exception as exc:
                    self._fail(name, exc)
                else:
                    self._apply(result, name)
                self._transport.flush()
                if self._continue():
                    return
        finally:
            self._after_task()

    def _after_task(self) -> None:
        self._task = None
        # We stopped reading meanwhile: silence while busy is not the peer's.
        self._last_in = max(self._last_in, self._time())
        self._resume_reading(_BUSY)
        if self._terminate_due:
            self._run_terminate()
        self._update_mailbox()
        self._finish_entry()
        self._maybe_done()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step never ran _run_task's finally.
        if self._task is task:
            if self._suspended is not None:
                self._suspended[0].close()  # the adopted coroutine: unwind it
                self._suspended = None
            self._after_task()

    def _continue(self) -> bool:
        """Inside the task: the deferred events, then the mailbox. False on suspension."""
        backlog = self._backlog
        while backlog:
            if not self._event(backlog.popleft()):
                return False
        return self._deliver(self.handle.pending)

    # ==== mailbox =======================================================================

    def _drain(self) -> None:
        """Scheduled by the handle: deliver waiting messages to handle_info."""
        handle = self.handle
        overflow = handle._take_wakeup()
        if not self._open:
            return
        token = current.set(handle)
        try:
            if overflow:
                self._end(close_policy.mailbox_full(MailboxFull("mailbox full")))
            elif (
                self._task is None and not self._write_paused and not self._deliver(handle.pending)
            ):
                self._start_task()
        finally:
            current.reset(token)
        self._update_mailbox()
        self._finish_entry()

    def _deliver(self, limit: int) -> bool:
        """Deliver at most ``limit`` messages (fairness: later ones get a new drain)."""
        queue = self.handle._queue
        if queue is None:
            return True
        info = self._cb.handle_info
        is_async = self._cb.info_async
        while limit and queue and self._open and not self._write_paused:
            limit -= 1
            message = queue.popleft()
            if type(message) is Direct:
                try:
                    self._push(message.frames)
                except HandlerError as error:
                    self._bad("push", error)
                continue
            self._infos_in += 1
            if not self._call("handle_info", info, is_async, message, self._state):
                return False
        return True

    def _update_mailbox(self) -> None:
        if self._open and self._task is None and not self._write_paused:
            self.handle._release()
        else:
            self.handle._hold()

    # ==== flow control ==================================================================

    def _pause_reading(self, why: int) -> None:
        if self._phase is _Phase.CLOSED:
            return  # the transport is closed or closing: leave it alone
        if not self._read_paused:
            self._transport.pause_reading()
        self._read_paused |= why

    def _resume_reading(self, why: int) -> None:
        if self._phase is _Phase.CLOSED:
            return
        if self._read_paused & why:
            self._read_paused &= ~why
            if not self._read_paused:
                self._transport.resume_reading()

    def _finish_entry(self) -> None:
        """End of a unit of work: one flush, then the outbound bound. The flush itself may
        have crossed high water (the transport calls pause_writing() synchronously), so the
        bound is checked after it."""
        if self._transport_closed:
            return
        self._transport.flush()
        if self._write_paused and self._open:
            self._check_write_bound()

    def _check_write_bound(self) -> None:
        size = self._transport.write_buffer_size()
        limit = self._options.max_write_buffer
        if size > limit:
            self._end(close_policy.write_buffer_full(size, limit))  # flushes, closes

    # ==== timers ========================================================================

    def _arm_timers(self) -> None:
        options = self._options
        now = self._last_in
        if options.timeout is not None:
            self._idle_due = now + options.timeout
        if options.ping_interval is not None and self._controls_ok:
            self._keepalive_due = now + options.ping_interval
        self._schedule()

    def _schedule(self) -> None:
        """One clock timer for both the idle timeout and keepalive, at the earlier deadline
        (one timer per connection, not two: fewer objects and cheaper handshakes)."""
        idle, keepalive = self._idle_due, self._keepalive_due
        if idle is None:
            due = keepalive
        elif keepalive is None or idle <= keepalive:
            due = idle
        else:
            due = keepalive
        if due is not None:
            self._timer = self._clock.call_later(max(due - self._time(), 0.0), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._open:
            return
        now = self._time()
        if self._task is not None:
            self._last_in = now  # reading is paused while busy: not the peer's silence
        # A clock may run a timer a hair before the deadline it was computed from (float
        # rounding of due - now): within _EPSILON counts as due.
        idle_due = self._idle_due
        if idle_due is not None and now + _EPSILON >= idle_due:
            timeout = self._options.timeout
            assert timeout is not None
            # Not re-armed per message: the deadline moves here, from the last activity.
            if now - self._last_in + _EPSILON >= timeout:
                self._end_from_timer(close_policy.idle_timeout())
                return
            self._idle_due = self._last_in + timeout
        keepalive_due = self._keepalive_due
        if (
            keepalive_due is not None
            and now + _EPSILON >= keepalive_due
            and not self._keepalive(now)
        ):
            return  # the connection ended
        self._schedule()

    def _keepalive(self, now: float) -> bool:
        """Keepalive is due: check the ping in flight, or send one; False if it ended."""
        interval = self._options.ping_interval
        assert interval is not None
        sent = self._ping_sent_at
        if sent is not None:
            # Any inbound frame since the ping proves the peer alive, not just its pong.
            # (When the ping went out, _last_in <= sent - interval < sent.)
            if self._last_in < sent:
                self._end_from_timer(close_policy.ping_timeout())
                return False
            self._ping_sent_at = None
        if now - self._last_in + _EPSILON < interval:
            self._keepalive_due = self._last_in + interval
            return True
        self._sink.send_frames((Ping(b""),))
        self._pings_out += 1
        self._frames_out += 1
        ping_timeout = self._options.ping_timeout
        if ping_timeout is not None:
            self._ping_sent_at = now
            self._keepalive_due = now + ping_timeout
        else:
            self._keepalive_due = now + interval
        self._finish_entry()
        return True

    def _on_close_timeout(self) -> None:
        self._close_timer = None
        if self._phase is _Phase.CLOSING:
            # The peer never answered our close frame: give up on it (RFC 6455 §7.1.1
            # leaves the wait to us).
            self._close_transport()
            self._abandon_task()
            self._set_closed()

    def _end_from_timer(self, closing: Closing) -> None:
        token = current.set(self.handle)
        try:
            self._end(closing)
        finally:
            current.reset(token)
        self._finish_entry()

    def _cancel_timers(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._idle_due = self._keepalive_due = None

    # ==== ending ========================================================================

    def _end(self, closing: Closing) -> None:
        """Apply ``close_policy``'s decision; only the first ending counts."""
        if self._phase > _Phase.OPEN:
            return
        self._open = False
        self._cancel_timers()
        on_close = self.handle._close()  # later sends are dropped and counted
        self.close_code = closing.recorded_code
        self.close_message = closing.message
        self.terminate_reason = closing.reason
        if closing.send_frame:
            self._transport.send_close(closing.code, closing.message)
            if closing.wait_for_peer:
                self._phase = _Phase.CLOSING
                self._close_timer = self._clock.call_later(
                    self._options.close_timeout, self._on_close_timeout
                )
            else:
                self._close_transport()
                self._phase = _Phase.CLOSED
        else:
            self._transport_closed = True
            self._phase = _Phase.CLOSED
        self._terminate_due = True
        task = self._task
        if task is None or asyncio.current_task(self._loop) is task:
            self._run_terminate()
        elif closing.ending is close_policy.Ending.TRANSPORT_LOST:
            self._abandon_task()
        # Otherwise terminate runs when the in-flight callback returns (never concurrently).
        for callback in on_close:
            try:
                callback(self.handle)
            except Exception:
                logger.exception("websock: an on_close callback raised")
        self._maybe_done()

    def _abandon_task(self) -> None:
        """The transport is gone: nothing the callback in flight does can reach the peer,
        so cancel it (terminate follows when it has unwound)."""
        task = self._task
        if task is not None and asyncio.current_task(self._loop) is not task:
            self._cancelling = True
            task.cancel()

    def _close_transport(self) -> None:
        if not self._transport_closed:
            self._transport_closed = True
            self._transport.flush()  # what is queued (our close frame) goes out before the end
            self._transport.close()

    def _set_closed(self) -> None:
        self._phase = _Phase.CLOSED
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._maybe_done()

    def _run_terminate(self) -> None:
        self._terminate_due = False
        if self._terminated:
            return
        self._terminated = True
        terminate = self._cb.terminate
        if terminate is None or not self._has_state:
            # No terminate, or init never returned a result: there is no state to end.
            return
        token = current.set(self.handle)
        try:
            result = terminate(self.terminate_reason, self._state)
            if self._cb.terminate_async:
                try:
                    yielded = result.send(None)
                except StopIteration:
                    pass
                else:
                    self._terminate_task = self._loop.create_task(
                        self._finish_terminate(result, yielded),
                        context=contextvars.copy_context(),
                    )
        except Exception as exc:
            self._log_terminate(exc)
        finally:
            current.reset(token)

    async def _finish_terminate(self, coro: Any, yielded: Any) -> None:
        try:
            await resume(coro, yielded)
        except Exception as exc:
            self._log_terminate(exc)
        finally:
            self._terminate_task = None
            self._maybe_done()

    def _log_terminate(self, exc: Exception) -> None:
        logger.error(
            "websock handler %s.terminate raised %s (ignored: the connection is ending)",
            self._cb.name,
            type(exc).__name__,
            exc_info=exc,
        )

    def _maybe_done(self) -> None:
        if (
            self._phase is _Phase.CLOSED
            and self._task is None
            and self._terminate_task is None
            and not self._terminate_due
            and not self._finished
        ):
            self._finished = True
            if self._done is not None and not self._done.done():
                self._done.set_result(None)
