"""Busy polling (opt-in): after a read, the event loop polls for a little while instead of
going to sleep, so that the next read finds the CPU awake.

Why it exists: between a reply and the next request, a ping-pong connection leaves the
server idle, and the kernel puts its CPU to sleep. Waking a sleeping CPU is slow on some
machines: on the 2-core VM of docs/performance.md (whose guest halt polling is off,
``guest_halt_poll_ns=0``) it costs ~25 µs, a third of a 75 µs round trip, for every
server alike. Polling through that gap instead tripled websock's round trips/s on one
connection (12.4k -> 40.7k, p50 78 -> 23 µs, in one run of bench/).

Why it is off by default: it turns the loop's idle time into polling. While it pays, the
server's core runs at 100 % even though the work per message drops. On a shared machine or
under a CPU quota, that time belongs to somebody else. So it is a choice for deployments
that want latency (``serve(busy_poll=...)``, ``websock serve --busy-poll SECONDS``).

How long it polls adapts, much as the Linux guest haltpoll governor does for a CPU: after a
read the loop polls for ``window`` seconds (longer while reads keep arriving). A read that
finds the loop asleep shows whether polling would have caught it: it came no later than
``limit`` after the loop stopped polling (or, if it did not poll, after the previous read)
→ the window grows (doubling, up to ``limit``); it came later → the window halves, down to
nothing. But a gap seen from a sleeping loop includes the loop's own wake-up, and a peer
that waits for our replies answers sooner once we stop sleeping, so a window of nothing is
not final: now and then (after 1, 2, 4 … up to ``PROBE_EVERY_MAX`` sleeping reads) one read
is followed by a full ``limit`` of polling, and if that catches the next read the window
opens again. Sparse traffic thus costs at most a probe every ``PROBE_EVERY_MAX`` reads; a
steady stream of reads closer together than ``limit`` is polled for continuously.

Polling is a callback that schedules itself with ``loop.call_soon``: while one is pending,
asyncio (and uvloop) poll the sockets without blocking.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MAX_BUSY_POLL", "PROBE_EVERY_MAX", "BusyPoll", "BusyPollStats", "check_busy_poll"]

#: The longest accepted window, in seconds. Polling pays for gaps of tens or hundreds of
#: microseconds; a window in seconds is almost surely a unit mistake (microseconds meant).
MAX_BUSY_POLL = 0.01

#: While polling does not pay, one sleeping read in this many (at most) still probes.
PROBE_EVERY_MAX = 1024


def check_busy_poll(seconds: float) -> float:
    """``seconds`` if it is a valid ``busy_poll`` (0 = off), else ValueError."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise TypeError(f"busy_poll must be a number of seconds, not {seconds!r}")
    if not (0 <= seconds <= MAX_BUSY_POLL) or math.isnan(seconds):
        raise ValueError(
            f"busy_poll must be between 0 (off) and {MAX_BUSY_POLL} seconds, not {seconds!r} "
            "(it is in seconds: 100 µs is 0.0001)"
        )
    return float(seconds)


@dataclass(frozen=True, slots=True)
class BusyPollStats:
    """A snapshot of what busy polling did."""

    #: Reads that found the loop asleep (a wake-up paid).
    sleeping_reads: int
    #: Reads that arrived while it polled (a wake-up saved).
    polled_reads: int
    #: Polling turns the loop made.
    polls: int


class BusyPoll:
    """One server's poller (see the module docstring). Connections call ``note_read()`` on
    every read; ``close()`` stops it for good."""

    __slots__ = (
        "_asleep_since",
        "_clock",
        "_closed",
        "_deadline",
        "_limit",
        "_loop",
        "_polling",
        "_polls",
        "_probe_every",
        "_probe_in",
        "_reads",
        "_seen",
        "_sleeping_reads",
        "_span",
        "_window",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limit: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if check_busy_poll(limit) == 0:
            raise ValueError("BusyPoll needs a positive limit (0 means no poller at all)")
        self._loop = loop
        self._limit = limit
        self._clock = clock
        self._window = 0.0  # grows once reads show that polling would pay
        self._span = 0.0  # how long this round of polling lasts after a read
        self._probe_every = 1
        self._probe_in = 1  # sleeping reads until the next probe (while the window is 0)
        self._polling = False
        self._closed = False
        self._deadline = 0.0
        self._asleep_since = -math.inf
        self._reads = 0
        self._seen = 0  # _reads when the poller last looked
        self._sleeping_reads = 0
        self._polls = 0

    @property
    def window(self) -> float:
        """How long, in seconds, the loop now polls after a read (0: it sleeps at once)."""
        return self._window

    @property
    def polling(self) -> bool:
        return self._polling

    def stats(self) -> BusyPollStats:
        polled = self._reads - self._sleeping_reads
        return BusyPollStats(self._sleeping_reads, polled, self._polls)

    def note_read(self) -> None:
        self._reads += 1
        if not self._polling:
            self._woken()

    def close(self) -> None:
        self._closed = True

    def _woken(self) -> None:
        # A read found the loop asleep. Had it polled up to `limit` longer, would it have
        # caught this one?
        self._sleeping_reads += 1
        now = self._clock()
        limit = self._limit
        if now - self._asleep_since <= limit:
            self._window = min(limit, max(2 * self._window, limit / 4))
        elif self._window > limit / 4:
            self._window /= 2
        else:
            self._window = 0.0
        self._asleep_since = now  # unless it polls now (then: when that ends)
        span = self._window
        if span == 0:
            self._probe_in -= 1
            if self._probe_in > 0:
                return
            self._probe_every = min(2 * self._probe_every, PROBE_EVERY_MAX)
            self._probe_in = self._probe_every
            span = limit
        if not self._closed:
            self._polling = True
            self._seen = self._reads
            self._span = span
            self._deadline = 0.0  # set by the first poll, once this read has been served
            self._loop.call_soon(self._poll)

    def _poll(self) -> None:
        now = self._clock()
        self._polls += 1
        if self._reads != self._seen:  # reads arrived meanwhile: keep polling after them
            self._seen = self._reads
            self._deadline = now + self._span
            if self._window < self._span:  # a probe that paid: open the window
                self._window = self._span
            # Should the window close again, probing starts over from the shortest gap.
            self._probe_every = self._probe_in = 1
        elif self._deadline == 0:
            self._deadline = now + self._span
        if now < self._deadline and not self._closed:
            self._loop.call_soon(self._poll)
        else:
            self._polling = False
            self._asleep_since = now
