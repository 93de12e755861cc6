"""A coarse timer wheel shared by every connection of one server: the runtime's ``Clock``.

Each connection needs a handshake timer, then an idle timer and a keepalive timer, which
almost never fire: they are re-checked against the last activity when they do
(``Session._on_timer``). One event-loop timer each (uvloop: a ``TimerHandle`` plus a libuv
timer, created and cancelled per connection) cost several microseconds per handshake and a
few hundred bytes per idle connection. Here a timer is one small entry appended to the
bucket of its deadline's tick; one loop timer per non-empty tick serves them all.

Semantics kept from ``loop.call_later``: a callback never runs before its delay has passed
(deadlines round *up* to the next tick), runs at most ``resolution`` seconds (plus loop
latency) late, runs on the loop, and ``cancel()`` guarantees it will not run. Timers due in
the same tick run in the order they were scheduled. A cancelled timer leaves its bucket at
once: every closed connection cancels its idle timer, due up to a minute later, and under
churn (thousands of connections a second) entries waiting for their tick added up to tens
of megabytes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Final

__all__ = ["TimerWheel", "WheelTimer"]

logger = logging.getLogger("websock.server")

#: How late a timer may run, in seconds. Every timer here is a timeout of seconds.
RESOLUTION: Final = 0.05


class WheelTimer:
    """One scheduled callback; ``cancel()`` drops it (and the reference to the callback)."""

    __slots__ = ("callback", "deadline", "tick", "wheel")

    def __init__(self, wheel: TimerWheel, deadline: float, callback: Callable[[], object]) -> None:
        self.wheel = wheel
        self.deadline = deadline
        self.tick = 0  # the bucket it is in (set by the wheel)
        self.callback: Callable[[], object] | None = callback

    def cancel(self) -> None:
        if self.callback is not None:
            self.callback = None
            self.wheel.discard(self)

    def postpone(self, deadline: float) -> None:
        """Run no earlier than ``deadline`` (not before the current one): the entry stays
        where it is and moves on when its tick comes, so this costs one store."""
        if deadline > self.deadline:
            self.deadline = deadline


class TimerWheel:
    """``time()`` and ``call_later()`` (runtime ``Clock``), bucketed by tick."""

    __slots__ = ("_buckets", "_loop", "_resolution", "time")

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float = RESOLUTION) -> None:
        self._loop = loop
        self._resolution = resolution
        # tick -> its timers, in the order they were added (a dict: cancel() is O(1)).
        self._buckets: dict[int, dict[WheelTimer, None]] = {}
        # The builtin itself, not a method: the session reads it once per inbound batch.
        self.time: Callable[[], float] = time.monotonic

    def call_later(self, delay: float, callback: Callable[[], object], /) -> WheelTimer:
        timer = WheelTimer(self, time.monotonic() + delay, callback)
        self._add(timer)
        return timer

    def pending(self) -> int:
        """How many timers wait for their tick (cancelled ones are not kept)."""
        return sum(len(bucket) for bucket in self._buckets.values())

    def discard(self, timer: WheelTimer) -> None:
        bucket = self._buckets.get(timer.tick)
        if bucket is not None:
            bucket.pop(timer, None)
            # An empty bucket stays until its loop timer fires: one per tick at most.

    def _add(self, timer: WheelTimer) -> None:
        tick = math.ceil(timer.deadline / self._resolution)
        timer.tick = tick
        bucket = self._buckets.get(tick)
        if bucket is None:
            self._buckets[tick] = {timer: None}
            # The loop's clock may differ from ours by an offset: schedule relative to now.
            delay = tick * self._resolution - time.monotonic()
            self._loop.call_later(max(delay, 0.0), self._fire, tick)
        else:
            bucket[timer] = None

    def _fire(self, tick: int) -> None:
        # Popped first: a callback that cancels a timer of this tick finds no bucket to
        # change while it is being walked (the timer's callback is None already).
        bucket = self._buckets.pop(tick, None)
        if not bucket:
            return
        now = time.monotonic()
        for timer in bucket:
            callback = timer.callback
            if callback is None:
                continue
            if timer.deadline > now:
                # The loop's timer ran a little early (its clock rounds to milliseconds).
                self._add(timer)
                continue
            timer.callback = None
            try:
                callback()
            except Exception:
                logger.exception("websock: a timer callback raised")
