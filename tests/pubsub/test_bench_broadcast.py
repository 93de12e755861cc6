"""bench/broadcast.py runs (small sizes) and its byte counts say what the fast lane saves."""

from __future__ import annotations

import pytest

from bench.broadcast import measure, run_all, table
from tests.conftest import RedisServer


async def test_fast_lane_encodes_once() -> None:
    info = await measure(50, 2, lane="info")
    fast = await measure(50, 2, lane="frame")
    assert info["bytes_written"] == fast["bytes_written"] == 50 * fast["bytes_encoded"]
    assert info["bytes_encoded"] == info["bytes_written"]
    compressed = await measure(50, 2, lane="frame", compress=True)
    assert compressed["bytes_encoded"] < fast["bytes_encoded"]


@pytest.mark.slow
async def test_through_redis(redis_server: RedisServer) -> None:
    rows = await run_all(50, 2, redis_server.url)
    assert [(row["path"], row["lane"]) for row in rows] == [
        ("local", "info"),
        ("local", "frame"),
        ("redis", "info"),
        ("redis", "frame"),
    ]
    assert "fast lane" in table(rows, 50)
