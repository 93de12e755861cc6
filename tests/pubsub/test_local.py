"""The in-process backend through the test client: subscriptions, both lanes, any thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import websock
from websock import Binary, HandlerError, Ok, Push, Text
from websock.pubsub import PubSub
from websock.results import Result
from websock.testing import TestClient

TIMEOUT = 5.0


class Member(websock.Handler):
    """Subscribes to the topics given as ``arg``; pushes what handle_info gets."""

    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self.infos: list[Any] = []

    def init(self, topics: list[str]) -> Result:
        for topic in topics:
            self.pubsub.subscribe(topic)
        return Ok(topics)

    def handle_in(self, message: Any, state: Any) -> Result:
        match message:
            case Text("leave"):
                self.pubsub.unsubscribe("news")
            case Text(data) if data.startswith("say:"):
                self.pubsub.broadcast("news", data[4:])
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Result:
        self.infos.append(message)
        return Push(Text(f"info:{message}"), state)


@pytest.fixture
def pubsub() -> PubSub:
    return PubSub()


async def test_broadcast_reaches_each_subscriber_once(pubsub: PubSub) -> None:
    member = Member(pubsub)
    async with (
        TestClient(member, ["news"]) as a,
        TestClient(member, ["news", "sport"]) as b,
        TestClient(member, ["sport"]) as c,
    ):
        assert pubsub.subscribers("news") == 2
        assert sorted(pubsub.topics()) == ["news", "sport"]
        assert pubsub.topics(b.session.handle) == ["news", "sport"]
        pubsub.broadcast("news", "hello")
        assert await a.receive() == Text("info:hello")
        assert await b.receive() == Text("info:hello")
        await c.assert_no_push()
        await a.assert_no_push()
        stats = pubsub.stats
        counts = (stats.broadcasts, stats.delivered, stats.topics, stats.subscriptions)
        assert counts == (1, 2, 2, 4)


async def test_broadcast_from_a_callback_includes_the_sender(pubsub: PubSub) -> None:
    async with TestClient(Member(pubsub), ["news"]) as a, TestClient(Member(pubsub), ["news"]) as b:
        await a.send("say:hi")
        assert await a.receive() == Text("info:hi")
        assert await b.receive() == Text("info:hi")


async def test_unsubscribe_and_subscriptions_end_with_the_connection(pubsub: PubSub) -> None:
    member = Member(pubsub)
    async with TestClient(member, ["news"]) as a:
        async with TestClient(member, ["news", "sport"]):
            assert pubsub.subscribers("news") == 2
        # The second connection ended: every subscription of it is gone.
        assert pubsub.subscribers("news") == 1
        assert pubsub.topics() == ["news"]
        await a.send("leave")
        assert pubsub.topics() == []
        pubsub.broadcast("news", "nobody")
        await a.assert_no_push()
        await a.send("leave")  # not subscribed any more: no error
    assert pubsub.stats.subscriptions == 0


async def test_broadcast_from_other_threads_and_without_a_loop(pubsub: PubSub) -> None:
    async with TestClient(Member(pubsub), ["news"]) as a:
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                for i in range(50):
                    pubsub.broadcast("news", f"{n}-{i}")
            except BaseException as exc:  # reported to the test below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()

        def join_all() -> None:
            for thread in threads:
                thread.join()

        await asyncio.wait_for(asyncio.to_thread(join_all), TIMEOUT)
        assert errors == []
        got = [await a.receive() for _ in range(200)]
        by_thread: dict[str, list[int]] = {}
        for frame in got:
            assert isinstance(frame, Text)
            n, i = frame.data.removeprefix("info:").split("-")
            by_thread.setdefault(n, []).append(int(i))
        # Every message once, each thread's messages in the order it sent them.
        assert by_thread == {str(n): list(range(50)) for n in range(4)}


async def test_fast_lane_skips_the_handler(pubsub: PubSub) -> None:
    member = Member(pubsub)
    async with TestClient(member, ["news"]) as a, TestClient(member, ["news"]) as b:
        pubsub.broadcast_frame("news", Text("tick"))
        pubsub.broadcast_frame("news", b"\x00\x01")
        pubsub.broadcast_frame("news", Binary(b"\x02"))
        for client in (a, b):
            assert await client.receive() == Text("tick")
            assert await client.receive() == Binary(b"\x00\x01")
            assert await client.receive() == Binary(b"\x02")
            assert client.stats.infos_in == 0
        assert member.infos == []
        assert pubsub.stats.frames_sent == 6
        assert pubsub.stats.frame_broadcasts == 3


async def test_fast_lane_from_another_thread(pubsub: PubSub) -> None:
    async with TestClient(Member(pubsub), ["news"]) as a:
        thread = threading.Thread(target=pubsub.broadcast_frame, args=("news", "from a thread"))
        thread.start()
        await asyncio.wait_for(asyncio.to_thread(thread.join), TIMEOUT)
        assert await a.receive() == Text("from a thread")


async def test_a_full_mailbox_drops_and_counts(pubsub: PubSub) -> None:
    async with TestClient(
        Member(pubsub), ["news"], mailbox_size=2, mailbox_overflow="drop_newest"
    ) as a:
        a.pause_writing()  # a slow peer: the mailbox is not drained
        for i in range(5):
            pubsub.broadcast("news", i)
        await a.resume_writing()
        assert [await a.receive() for _ in range(2)] == [Text("info:0"), Text("info:1")]
        stats = pubsub.stats
        assert (stats.delivered, stats.dropped_mailbox) == (2, 3)


async def test_fast_lane_drops_for_a_slow_subscriber_only(pubsub: PubSub) -> None:
    async with (
        TestClient(Member(pubsub), ["news"]) as slow,
        TestClient(Member(pubsub), ["news"]) as fast,
    ):
        slow.pause_writing()
        pubsub.broadcast_frame("news", "one")
        assert await fast.receive() == Text("one")
        await slow.resume_writing()
        pubsub.broadcast_frame("news", "two")
        assert await slow.receive() == Text("two")
        assert await fast.receive() == Text("two")
        stats = pubsub.stats
        assert (stats.frames_sent, stats.dropped_slow) == (3, 1)


async def test_broadcast_to_a_closed_subscriber_is_counted(pubsub: PubSub) -> None:
    member = Member(pubsub)
    async with TestClient(member, ["news"]) as a:
        handle = a.session.handle
        await a.close()
    # The subscription ended with the connection; a stale handle is refused quietly.
    assert pubsub.subscribers("news") == 0
    pubsub.subscribe("news", handle)
    assert pubsub.subscribers("news") == 0
    assert handle.send("late") is False


def test_topic_and_context_errors(pubsub: PubSub) -> None:
    with pytest.raises(HandlerError, match="outside a handler callback"):
        pubsub.subscribe("news")
    with pytest.raises(HandlerError, match="non-empty str"):
        pubsub.broadcast("", "x")
    with pytest.raises(HandlerError, match="Text or Binary"):
        pubsub.broadcast_frame("news", 42)  # type: ignore[arg-type]
    with pytest.raises(HandlerError, match="redis://"):
        PubSub("http://example.com")
    # No subscriber, no loop: nothing happens, and nothing fails.
    pubsub.broadcast("news", "nobody listens")
    assert pubsub.stats.broadcasts == 1
    assert "in-process" in repr(pubsub)


def test_exported_from_websock() -> None:
    assert websock.PubSub is PubSub
