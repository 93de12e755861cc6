"""``ConnectionHandle``: a connection's mailbox, reachable from anywhere (SPEC §4).

``send(message)`` may be called from any task and any thread. Messages are appended to a
bounded deque under a lock and delivered, in order, to ``handle_info`` by the session on
its event loop. At most one drain is scheduled at a time (``call_soon`` on the loop's own
thread, ``call_soon_threadsafe`` elsewhere), so a burst of sends costs one wake-up.

While the session cannot deliver (``init`` not done, an async callback in flight, the
peer too slow), the handle is *held*: sends only queue, and the session schedules a drain
when it can deliver again.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..exceptions import MailboxFull
from ..results import FrameLike

if TYPE_CHECKING:
    import asyncio

    from ..options import OverflowPolicy
    from .transport import FastLaneResult, PreparedFrame

__all__ = ["ConnectionHandle", "Direct", "MailboxOwner"]

#: One lock for every mailbox. A lock per connection would be one more object for the
#: garbage collector to walk per connection (docs/profiling.md); the sections it guards
#: are a few bytecodes long, and under the GIL two threads never run them at once anyway.
_LOCK = threading.Lock()


class MailboxOwner(Protocol):
    """What a handle calls back on its loop: the session."""

    def _drain(self) -> None: ...

    def send_prepared(self, frame: PreparedFrame) -> FastLaneResult: ...


class Direct:
    """A mailbox entry that is pushed as is, without waking ``handle_info`` (``push()``)."""

    __slots__ = ("frames",)

    def __init__(self, frames: FrameLike | Sequence[FrameLike]) -> None:
        self.frames = frames


class ConnectionHandle:
    """The way to reach one connection from elsewhere: ``websock.connection()`` returns it."""

    __slots__ = (
        "__weakref__",
        "_closed",
        "_held",
        "_loop",
        "_on_close",
        "_overflow_close",
        "_owner",
        "_policy",
        "_queue",
        "_scheduled",
        "_size",
        "_thread",
        "dropped_closed",
        "dropped_newest",
        "dropped_oldest",
        "dropped_overflow",
        "received",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        owner: MailboxOwner,
        size: int,
        policy: OverflowPolicy,
    ) -> None:
        # Made by the first message: most connections never get one.
        self._queue: deque[Any] | None = None
        self._size = size
        self._policy = policy
        # The session: its _drain delivers the mailbox; its send_prepared is PubSub's fast
        # lane (on the loop only). The object, not bound methods: fewer objects per
        # connection.
        self._owner = owner
        self._loop = loop
        # The session is built on its loop's thread; sends from it need no wake-up.
        self._thread = threading.get_ident()
        self._scheduled = False
        self._held = True  # until init has returned
        self._closed = False
        self._overflow_close = False
        # Created by the first on_close(): most connections never register one.
        self._on_close: list[Callable[[ConnectionHandle], object]] | None = None
        #: Messages accepted into the mailbox.
        self.received = 0
        #: Dropped by the "drop_oldest" / "drop_newest" policies.
        self.dropped_oldest = 0
        self.dropped_newest = 0
        #: Dropped because the mailbox overflowed under "close" or "raise".
        self.dropped_overflow = 0
        #: Sent after the connection ended, or still queued when it ended.
        self.dropped_closed = 0

    # -- any thread ----------------------------------------------------------------------

    def send(self, message: Any) -> bool:
        """Deliver ``message`` to this connection's ``handle_info``, in order.

        Safe from any task and any thread; never blocks. Returns True if the message was
        queued. After the connection ended the message is dropped and counted
        (``dropped_closed``) and False is returned: a broadcast racing a disconnect is not
        an error. A full mailbox applies ``mailbox_overflow``: ``"close"`` drops the message
        and ends the connection with 1008, ``"drop_oldest"``/``"drop_newest"`` drop one
        message, ``"raise"`` raises ``MailboxFull``.
        """
        return self._put(message)

    def push(self, frames: FrameLike | Sequence[FrameLike]) -> bool:
        """Send ``frames`` to the peer without waking the handler, in mailbox order.

        The fast lane for fan-out (PubSub): same thread safety, bound and policy as
        ``send()``. Frames are dropped if the connection closed meanwhile.
        """
        return self._put(Direct(frames))

    def on_close(self, callback: Callable[[ConnectionHandle], object]) -> None:
        """Call ``callback(handle)`` on the loop once the connection ended (at once if it has).

        Must be called on the connection's event loop (e.g. from a callback).
        """
        if self._closed:
            callback(self)
        elif self._on_close is None:
            self._on_close = [callback]
        else:
            self._on_close.append(callback)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this connection runs on."""
        return self._loop

    @property
    def closed(self) -> bool:
        """True once the connection ended: sends are then dropped."""
        return self._closed

    @property
    def pending(self) -> int:
        """Messages waiting in the mailbox."""
        queue = self._queue
        return 0 if queue is None else len(queue)

    def _put(self, message: Any) -> bool:
        with _LOCK:
            if self._closed:
                self.dropped_closed += 1
                return False
            queue = self._queue
            if queue is None:
                queue = self._queue = deque()
            if len(queue) >= self._size:
                policy = self._policy
                if policy == "drop_oldest":
                    queue.popleft()
                    self.dropped_oldest += 1
                elif policy == "drop_newest":
                    self.dropped_newest += 1
                    return False
                elif policy == "raise":
                    self.dropped_overflow += 1
                    raise MailboxFull(
                        f"mailbox full ({self._size} messages): the connection is not keeping up"
                    )
                else:  # "close": the session ends the connection with 1008 on its loop
                    self.dropped_overflow += 1
                    if self._overflow_close:
                        return False
                    self._overflow_close = True
                    wake = not self._scheduled
                    self._scheduled = True
                    if wake:
                        self._wake()
                    return False
            queue.append(message)
            self.received += 1
            if self._held or self._scheduled:
                return True
            self._scheduled = True
        self._wake()
        return True

    def _wake(self) -> None:
        if threading.get_ident() == self._thread:
            self._loop.call_soon(self._owner._drain)
        else:
            self._loop.call_soon_threadsafe(self._owner._drain)

    # -- the session, on the loop ---------------------------------------------------------

    def _hold(self) -> None:
        self._held = True

    def _release(self) -> None:
        """The session can deliver again: schedule a drain if messages wait."""
        with _LOCK:
            self._held = False
            if not self._queue or self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon(self._owner._drain)

    def _take_wakeup(self) -> bool:
        """Start of a drain: clear the scheduled flag; True if the mailbox overflowed."""
        with _LOCK:
            self._scheduled = False
            return self._overflow_close

    def _close(self) -> list[Callable[[ConnectionHandle], object]]:
        """The connection ended: drop what is queued, refuse what comes."""
        with _LOCK:
            self._closed = True
            self._held = True
            queue = self._queue
            if queue is not None:
                self.dropped_closed += len(queue)
                queue.clear()
            callbacks, self._on_close = self._on_close, None
        return callbacks if callbacks is not None else []
