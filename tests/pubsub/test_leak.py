"""Subscriptions end with their connection: 100,000 connect/disconnect cycles leave nothing.

Each cycle is a real ``Session`` (the runtime every host uses) whose ``init`` subscribes to
a shared topic and to a topic of its own, and which then loses its transport. Afterwards
the registry is empty and traced memory did not grow with the number of cycles.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Sequence
from typing import Any

import pytest

from tests.conftest import RedisServer
from websock import Ok
from websock.options import Options
from websock.pubsub import PubSub
from websock.results import Result
from websock.runtime.session import Session
from websock.runtime.transport import OutFrame

CYCLES = 100_000
WARMUP = 2_000
# Traced growth allowed over all cycles: far below one byte per connection. A leaked
# subscription costs well over 100 bytes (a dict entry, a set, a handle, a session).
MAX_GROWTH = 64 * 1024


class NullTransport:
    answers_pings = False
    supports_control_frames = True

    def send_frames(self, frames: Sequence[OutFrame]) -> None:
        pass

    def send_close(self, code: int | None, reason: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def write_buffer_size(self) -> int:
        return 0


class Subscriber:
    def __init__(self, pubsub: PubSub, own_topics: bool) -> None:
        self.pubsub = pubsub
        self.own_topics = own_topics

    def init(self, n: int) -> Result:
        self.pubsub.subscribe("shared")
        if self.own_topics:
            self.pubsub.subscribe(f"user:{n}")
        return Ok(n)

    def handle_in(self, message: Any, state: Any) -> Result:
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Result:
        return Ok(state)


OPTIONS = Options(timeout=None, ping_interval=None)


def cycles(handler: Subscriber, start: int, count: int) -> None:
    transport = NullTransport()
    for n in range(start, start + count):
        session = Session(handler, n, OPTIONS, transport)
        session.start()
        session.connection_lost(None)
        assert session.closed


def traced_growth(handler: Subscriber, count: int) -> int:
    cycles(handler, 0, WARMUP)  # caches, interned strings, free lists settle first
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cycles(handler, WARMUP, count)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before


@pytest.mark.slow
async def test_no_leak_in_process() -> None:
    pubsub = PubSub()
    growth = traced_growth(Subscriber(pubsub, own_topics=True), CYCLES)
    assert pubsub._registry.sizes() == (0, 0, 0)
    assert pubsub.stats.subscriptions == 0
    assert growth < MAX_GROWTH, f"traced memory grew by {growth} bytes over {CYCLES} cycles"


@pytest.mark.slow
async def test_no_leak_with_redis(redis_server: RedisServer) -> None:
    # One long-lived subscriber keeps "shared" subscribed in Redis, so the churn is local;
    # the own topics (fewer: each is a SUBSCRIBE and an UNSUBSCRIBE) must leave Redis too.
    pubsub = PubSub(redis_server)
    try:
        anchor = Session(Subscriber(pubsub, own_topics=False), -1, OPTIONS, NullTransport())
        anchor.start()
        cycles(Subscriber(pubsub, own_topics=True), 0, 1_000)
        await pubsub.synced()
        growth = traced_growth(Subscriber(pubsub, own_topics=False), CYCLES)
        await pubsub.synced()
        assert pubsub._registry.sizes() == (1, 1, 1)
        channels = _channels(redis_server)
        assert channels == ["websock:shared"]
        assert growth < MAX_GROWTH, f"traced memory grew by {growth} bytes over {CYCLES} cycles"
        anchor.connection_lost(None)
        await pubsub.synced()
        assert _channels(redis_server) == []
    finally:
        await pubsub.aclose()


def _channels(redis_server: RedisServer) -> list[str]:
    import redis

    client = redis.Redis.from_url(redis_server)
    try:
        names = client.pubsub_channels("websock:*")
        return sorted(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    finally:
        client.close()
