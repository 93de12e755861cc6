"""Busy polling (server/_busy_poll.py): the adaptive window with a fake clock and loop, then
a real server polling between the reads of real clients, on both implementations of the read
path and both event loops."""

from __future__ import annotations

import asyncio
import math
from typing import Any, cast

import pytest
import websockets

import websock
from tests.implementations import implementation
from tests.server.server_apps import Probe, make_app
from websock.server import Server
from websock.server._busy_poll import (
    MAX_BUSY_POLL,
    PROBE_EVERY_MAX,
    BusyPoll,
    check_busy_poll,
)
from websock.server._connection import PlainReads, PolledReads

__all__ = ["implementation"]

TIMEOUT = 10.0
LIMIT = 100e-6


class FakeLoop:
    """Just ``call_soon``: the test runs the callbacks itself."""

    def __init__(self) -> None:
        self.soon: list[Any] = []

    def call_soon(self, callback: Any) -> None:
        self.soon.append(callback)

    def run_one(self) -> None:
        self.soon.pop(0)()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def poller() -> tuple[BusyPoll, FakeLoop, FakeClock]:
    loop, clock = FakeLoop(), FakeClock()
    return BusyPoll(cast(asyncio.AbstractEventLoop, loop), LIMIT, clock=clock), loop, clock


def poll_until_asleep(poll: BusyPoll, loop: FakeLoop, clock: FakeClock, step: float) -> int:
    """Run the polling callbacks, the clock moving ``step`` per turn, until the loop would
    sleep; return how many turns it polled."""
    turns = 0
    while loop.soon:
        clock.now += step
        loop.run_one()
        turns += 1
    assert not poll.polling
    return turns


# --- the window ---------------------------------------------------------------------------


def test_a_first_read_probes_and_a_read_caught_while_polling_opens_the_window() -> None:
    poll, loop, clock = poller()
    poll.note_read()  # the loop was asleep: no evidence yet, so a probe of the whole limit
    assert poll.polling and poll.window == 0 and len(loop.soon) == 1
    clock.now += 10e-6  # the read is served; the first turn starts the clock
    loop.run_one()
    clock.now += 60e-6
    poll.note_read()  # arrives while polling: nothing new is scheduled
    assert len(loop.soon) == 1
    loop.run_one()  # the poller sees it: the probe paid, the window opens
    assert poll.window == pytest.approx(LIMIT)
    clock.now += LIMIT * 0.99
    loop.run_one()
    assert poll.polling  # polling goes on for `window` after the last read
    clock.now += LIMIT * 0.02
    loop.run_one()
    assert not poll.polling and not loop.soon
    stats = poll.stats()
    assert (stats.sleeping_reads, stats.polled_reads, stats.polls) == (1, 1, 4)


def test_reads_soon_after_the_loop_slept_grow_the_window_and_late_ones_shrink_it() -> None:
    poll, loop, clock = poller()
    poll.note_read()
    poll_until_asleep(poll, loop, clock, step=LIMIT / 10)  # the probe catches nothing
    windows = []
    for _ in range(4):  # each read comes half a limit after the loop went to sleep
        clock.now += LIMIT / 2
        poll.note_read()
        windows.append(poll.window)
        poll_until_asleep(poll, loop, clock, step=LIMIT / 10)
    assert windows == pytest.approx([LIMIT / 4, LIMIT / 2, LIMIT, LIMIT])
    shrinking = []
    for _ in range(3):  # then reads a second apart: polling does not pay
        clock.now += 1.0
        poll.note_read()
        shrinking.append(poll.window)
        poll_until_asleep(poll, loop, clock, step=LIMIT / 10)
    assert shrinking == pytest.approx([LIMIT / 2, LIMIT / 4, 0.0])


def test_sparse_reads_cost_only_probes_that_back_off() -> None:
    poll, loop, clock = poller()
    probes = []
    for read in range(1, 2001):
        clock.now += 1.0  # far apart: a sleeping loop, and polling never catches one
        poll.note_read()
        if loop.soon:
            probes.append(read)
            turns = poll_until_asleep(poll, loop, clock, step=LIMIT / 4)
            assert turns == 5  # one limit of polling (the first turn starts the clock)
        assert poll.window == 0
    # The gaps double up to PROBE_EVERY_MAX reads.
    assert probes == [2**k - 1 for k in range(1, 11)]
    assert probes[-1] - probes[-2] == PROBE_EVERY_MAX // 2
    stats = poll.stats()
    assert (stats.sleeping_reads, stats.polled_reads) == (2000, 0)


def test_after_a_probe_pays_and_the_window_closes_again_probing_starts_over() -> None:
    poll, loop, clock = poller()
    for _ in range(100):  # sparse: probes at reads 1, 3, 7, 15, 31, 63; the next at 127
        clock.now += 1.0
        poll.note_read()
        poll_until_asleep(poll, loop, clock, step=LIMIT / 4)
    clock.now += 1.0
    for _ in range(26):  # up to the probe of read 127
        poll.note_read()
        assert not loop.soon
        clock.now += 1.0
    poll.note_read()
    assert loop.soon  # probing
    clock.now += 1e-6
    loop.run_one()
    clock.now += LIMIT / 2
    poll.note_read()  # caught: the probe paid
    poll_until_asleep(poll, loop, clock, step=LIMIT / 4)
    assert poll.window == pytest.approx(LIMIT)
    for expected in (LIMIT / 2, LIMIT / 4):  # sparse again: the window closes
        clock.now += 1.0
        poll.note_read()
        assert poll.window == pytest.approx(expected) and poll.polling
        poll_until_asleep(poll, loop, clock, step=LIMIT / 4)
    probes = []
    for read in range(1, 8):
        clock.now += 1.0
        poll.note_read()
        assert poll.window == 0
        if poll.polling:
            probes.append(read)
            poll_until_asleep(poll, loop, clock, step=LIMIT / 4)
    assert probes == [1, 3, 7]  # from the shortest gap again, not 128 reads later


def test_a_closed_poller_stops_polling_and_starts_no_more() -> None:
    poll, loop, clock = poller()
    poll.note_read()
    poll.close()
    clock.now += 1e-6
    loop.run_one()  # the turn already queued ends it
    assert not poll.polling and not loop.soon
    clock.now += LIMIT / 2
    poll.note_read()
    assert not poll.polling and not loop.soon


@pytest.mark.parametrize("seconds", [0, 0.0, 1e-6, 0.0001, MAX_BUSY_POLL])
def test_valid_busy_poll_values(seconds: float) -> None:
    assert check_busy_poll(seconds) == seconds


@pytest.mark.parametrize("seconds", [-1e-6, MAX_BUSY_POLL * 1.01, 100, math.nan, math.inf])
def test_out_of_range_busy_poll_values_name_the_unit(seconds: float) -> None:
    with pytest.raises(ValueError, match=r"in seconds: 100 µs is 0\.0001"):
        check_busy_poll(seconds)
    with pytest.raises(ValueError, match="busy_poll must be between"):
        websock.serve(make_app(Probe()), port=0, busy_poll=seconds)


@pytest.mark.parametrize("value", ["0.001", True, None])
def test_busy_poll_must_be_a_number(value: Any) -> None:
    with pytest.raises(TypeError, match="busy_poll must be a number of seconds"):
        check_busy_poll(value)


# --- a real server --------------------------------------------------------------------------


def the_connection(server: Server) -> object:
    assert server._state is not None
    (connection,) = server._state.connections
    return connection


async def test_a_busy_polling_server_serves_and_polls_between_reads() -> None:
    # 5 ms: far longer than a round trip between two tasks of one loop, even a slow one.
    async with websock.serve(make_app(Probe()), port=0, busy_poll=0.005) as server:
        assert server.busy_poll == 0.005
        async with asyncio.timeout(TIMEOUT), websockets.connect(server.url + "/echo") as ws:
            for index in range(40):
                await ws.send(f"message {index}")
                assert await ws.recv() == f"message {index}"
            assert type(the_connection(server)) is PolledReads
            stats = server.busy_poll_stats()
            assert stats is not None
            # Every read is counted (the handshake, 40 messages); most of the messages come
            # while the loop polls after the previous echo.
            assert stats.sleeping_reads + stats.polled_reads >= 41
            assert stats.polled_reads >= 20
            assert stats.polls >= stats.polled_reads
            big = bytes(range(256)) * 4096  # 1 MiB: read into our buffer, then plain again
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send("after")
            assert await ws.recv() == "after"
            assert type(the_connection(server)) is PolledReads
        after = server.busy_poll_stats()
        assert after is not None and after.polled_reads > stats.polled_reads
        assert server._state is not None
        poll = server._state.poller
        assert poll is not None
    # Shut down: the turn that was queued (if any) ran before this callback, and ended it.
    loop = asyncio.get_running_loop()
    ran: asyncio.Future[None] = loop.create_future()
    loop.call_soon(ran.set_result, None)
    await asyncio.wait_for(ran, TIMEOUT)
    assert not poll.polling
    poll.note_read()
    assert not poll.polling


async def test_without_busy_poll_connections_have_no_poller() -> None:
    async with websock.serve(make_app(Probe()), port=0) as server:
        assert server.busy_poll == 0.0 and server.busy_poll_stats() is None
        async with asyncio.timeout(TIMEOUT), websockets.connect(server.url + "/echo") as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            assert type(the_connection(server)) is PlainReads
