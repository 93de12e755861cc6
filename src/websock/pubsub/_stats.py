"""PubSub counters: one lock-protected set of integers, read as a ``PubSubStats`` snapshot.

Senders on many threads update them, so every update takes the lock; a broadcast to N
subscribers updates them once, not N times.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

__all__ = ["Counters", "PubSubStats"]


@dataclass(frozen=True, slots=True)
class PubSubStats:
    """A snapshot of one ``PubSub``'s counters (docs/pubsub.md explains each)."""

    #: ``broadcast()`` calls made on this node.
    broadcasts: int = 0
    #: ``broadcast_frame()`` calls made on this node.
    frame_broadcasts: int = 0
    #: Messages accepted into a local subscriber's mailbox (→ ``handle_info``).
    delivered: int = 0
    #: Fast-lane frames queued on a local subscriber's transport.
    frames_sent: int = 0
    #: Not delivered: the subscriber's connection had ended (a broadcast racing a close).
    dropped_closed: int = 0
    #: Not delivered: the subscriber's mailbox was full (its ``mailbox_overflow`` policy).
    dropped_mailbox: int = 0
    #: Fast-lane frames not sent: the subscriber's transport was above high water.
    dropped_slow: int = 0
    #: Redis: messages handed to Redis (PUBLISH returned).
    published: int = 0
    #: Redis: messages not published because Redis was unreachable or the PUBLISH failed.
    dropped_unavailable: int = 0
    #: Redis: messages not published because the publish queue was full.
    dropped_backlog: int = 0
    #: Redis: messages received from other nodes.
    received: int = 0
    #: Redis: payloads on our channels that were not websock envelopes (ignored).
    dropped_invalid: int = 0
    #: Fast lane: frames built (one per distinct compression setting per broadcast).
    encodings: int = 0
    #: Fast lane: bytes of those frames (headers included).
    bytes_encoded: int = 0
    #: Redis: connections re-established after a loss or a failed attempt.
    reconnects: int = 0
    #: Redis: ``Resync`` messages sent to subscribers after a reconnection.
    resyncs: int = 0
    #: Local topics with at least one subscriber, and (topic, connection) pairs.
    topics: int = 0
    subscriptions: int = 0
    #: Redis: the subscription connection is up and confirmed (None: in-process backend).
    connected: bool | None = None


_COUNTERS = tuple(
    f.name for f in fields(PubSubStats) if f.name not in ("topics", "subscriptions", "connected")
)


class Counters:
    """The mutable counters behind ``PubSubStats``; ``add`` is safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(_COUNTERS, 0)

    def add(self, **amounts: int) -> None:
        values = self._values
        with self._lock:
            for name, amount in amounts.items():
                values[name] += amount

    def get(self, name: str) -> int:
        return self._values[name]

    def on_encode(self, size: int) -> None:
        self.add(encodings=1, bytes_encoded=size)

    def snapshot(self, *, topics: int, subscriptions: int, connected: bool | None) -> PubSubStats:
        with self._lock:
            values = dict(self._values)
        return PubSubStats(
            **values, topics=topics, subscriptions=subscriptions, connected=connected
        )
