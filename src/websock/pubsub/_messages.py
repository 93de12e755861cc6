"""Messages PubSub itself sends to subscribers' ``handle_info``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Resync"]


@dataclass(frozen=True, slots=True)
class Resync:
    """Sent to every subscriber of ``topic`` after the Redis connection came back.

    Messages broadcast while Redis was unreachable are lost (at-most-once delivery): a
    subscriber that keeps state derived from the topic should refetch it when this arrives.
    The node re-subscribed before sending it, so nothing published afterwards is missed.
    """

    topic: str
