"""Idle timeout, keepalive pings and timer hygiene, on the TestClient's virtual clock."""

from __future__ import annotations

import pytest

from tests.runtime.handlers import Scripted
from websock import Ping, Pong, Push, Text, Timeout
from websock.testing import TestClient


async def test_keepalive_pings_after_silence_and_a_live_peer_stays() -> None:
    async with TestClient(Scripted(), timeout=None, ping_interval=10, ping_timeout=5) as c:
        await c.advance(9.9)
        assert c.receive_nowait() is None
        await c.advance(0.1)
        assert await c.receive() == Ping(b"")  # the client answered with a pong
        await c.advance(10)
        assert await c.receive() == Ping(b"")
        await c.advance(100)
        assert not c.closed
        assert c.stats.pings_out == 12
        assert c.stats.pongs_in == 12


async def test_inbound_activity_postpones_the_keepalive_ping() -> None:
    async with TestClient(Scripted(), timeout=None, ping_interval=10) as c:
        await c.advance(8)
        await c.send("hello")
        await c.advance(8)
        assert c.receive_nowait() is None  # 8 s since the last inbound frame
        await c.advance(2)
        assert await c.receive() == Ping(b"")


async def test_any_inbound_frame_answers_a_keepalive_ping() -> None:
    async with TestClient(
        Scripted(), timeout=None, ping_interval=10, ping_timeout=5, answer_pings=False
    ) as c:
        await c.advance(10)
        assert await c.receive() == Ping(b"")
        await c.advance(4)
        await c.send("not a pong, but proof of life")
        await c.advance(1)
        assert not c.closed
        await c.advance(10)  # ten more silent seconds: the next ping
        assert await c.receive() == Ping(b"")
        await c.advance(5)
        assert c.closed and c.terminate_reason == Timeout()


async def test_no_keepalive_when_disabled_or_the_host_has_no_control_frames() -> None:
    async with TestClient(Scripted(), timeout=None, ping_interval=None) as c:
        await c.advance(1000)
        assert c.receive_nowait() is None and not c.closed
        assert c.stats.keepalive is False
    async with TestClient(Scripted(), timeout=30, ping_interval=10, control_frames=False) as c:
        assert c.stats.keepalive is False
        await c.advance(29)
        assert c.receive_nowait() is None and not c.closed
        await c.advance(1)  # the idle timeout still applies
        assert c.close_code == 1001


async def test_pushes_do_not_count_as_activity() -> None:
    # bandit#577: a server that keeps pushing must still notice a silent peer.
    handler = Scripted({"handle_info": lambda m, s: Push("tick", s)})
    async with TestClient(handler, timeout=10, ping_interval=None) as c:
        for _ in range(9):
            await c.send_info("tick")
            assert await c.receive() == Text("tick")
            await c.advance(1)
        await c.advance(1)
        assert c.close_code == 1001


async def test_no_idle_timeout_when_disabled() -> None:
    async with TestClient(Scripted(), timeout=None, ping_interval=None) as c:
        await c.advance(10**6)
        assert not c.closed


@pytest.mark.parametrize("how", ["client_close", "stop", "idle"])
async def test_no_timer_is_left_behind(how: str) -> None:
    handler = Scripted({"handle_in": lambda m, s: Push("x", s)})
    async with TestClient(handler, timeout=5, ping_interval=2) as c:
        if how == "client_close":
            await c.close()
        elif how == "stop":
            c.session.shutdown()
            await c.wait_closed()
        else:
            await c.advance(3)  # a ping, answered
            assert await c.receive() == Ping(b"")
            await c.advance(20)
        assert c.closed
        assert c.clock.pending == 0


async def test_pong_to_a_keepalive_reaches_handle_control() -> None:
    handler = Scripted()
    async with TestClient(handler, timeout=None, ping_interval=1) as c:
        await c.advance(1)
        assert await c.receive() == Ping(b"")
    assert ("handle_control", (Pong(b""), 0)) in handler.calls
