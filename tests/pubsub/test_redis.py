"""The Redis backend on a real redis-server: nodes in this process, each its own PubSub."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import redis

from tests.conftest import RedisServer
from websock import Binary, Ok, Push, Text
from websock.pubsub import PubSub, Resync
from websock.results import Result
from websock.testing import TestClient

TIMEOUT = 10.0


class Member:
    """Subscribes to ``arg`` topics; pushes ``repr`` of what handle_info gets."""

    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self.infos: list[Any] = []

    def init(self, topics: list[str]) -> Result:
        for topic in topics:
            self.pubsub.subscribe(topic)
        return Ok(topics)

    def handle_in(self, message: Any, state: Any) -> Result:
        if message == Text("leave"):
            for topic in state:
                self.pubsub.unsubscribe(topic)
        elif isinstance(message, Text):
            return Push(message, state)  # echo: the connection is alive
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Result:
        self.infos.append(message)
        return Push(Text(repr(message)), state)


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[Callable[..., PubSub]]:
    """``nodes(**options)``: a new node on the test's Redis, closed at the end."""
    made: list[PubSub] = []

    def make(**options: Any) -> PubSub:
        options.setdefault("reconnect_min", 0.05)
        options.setdefault("reconnect_max", 0.5)
        node = PubSub(redis_server, **options)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.aclose()


async def joined(
    stack: AsyncExitStack, node: PubSub, topics: list[str], **options: Any
) -> TestClient:
    client = await stack.enter_async_context(TestClient(Member(node), topics, **options))
    await asyncio.wait_for(node.synced(), TIMEOUT)
    return client


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait for a condition that the node's own thread makes true (counters, link state)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.005)


def channels(redis_server: RedisServer) -> list[str]:
    client = redis.Redis.from_url(redis_server)
    try:
        names = client.pubsub_channels("websock:*")
        return sorted(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    finally:
        client.close()


async def test_broadcast_reaches_every_node_exactly_once(
    nodes: Callable[..., PubSub],
) -> None:
    a, b = nodes(), nodes()
    async with AsyncExitStack() as stack:
        on_a = await joined(stack, a, ["room"])
        on_b = [await joined(stack, b, ["room"]) for _ in range(2)]
        a.broadcast("room", "hello")
        b.broadcast("room", Text("from b"))
        for client in (on_a, *on_b):
            got = {await client.receive(), await client.receive()}
            assert got == {Text("'hello'"), Text("Text(data='from b')")}
        # A message arriving later proves nothing else (no duplicate) was on its way.
        a.broadcast("room", "end")
        for client in (on_a, *on_b):
            assert await client.receive() == Text("'end'")
            await client.assert_no_push()
        await eventually(lambda: (a.stats.published, a.stats.received) == (2, 1))
        await eventually(lambda: (b.stats.published, b.stats.received) == (1, 2))


async def test_a_node_subscribes_only_to_its_topics(
    nodes: Callable[..., PubSub], redis_server: RedisServer
) -> None:
    a, b = nodes(), nodes()
    async with AsyncExitStack() as stack:
        await joined(stack, a, ["a-only", "both"])
        on_b = await joined(stack, b, ["both"])
        assert channels(redis_server) == ["websock:a-only", "websock:both"]
        received = b.stats.received
        a.broadcast("a-only", "not for b")
        a.broadcast("both", "for b")
        # Redis keeps one publisher's order: b would have seen "a-only" first.
        assert await on_b.receive() == Text("'for b'")
        assert b.stats.received == received + 1
        # The last local subscriber leaves: the node UNSUBSCRIBEs.
        await on_b.send("leave")
        await asyncio.wait_for(b.synced(), TIMEOUT)
        client = redis.Redis.from_url(redis_server)
        try:
            counts = dict(client.pubsub_numsub("websock:both", "websock:a-only"))
        finally:
            client.close()
        assert counts == {b"websock:both": 1, b"websock:a-only": 1}


async def test_messages_travel_as_documented(nodes: Callable[..., PubSub]) -> None:
    a, b = nodes(), nodes()
    async with AsyncExitStack() as stack:
        member_a, member_b = Member(a), Member(b)
        on_a = await stack.enter_async_context(TestClient(member_a, ["t"]))
        on_b = await stack.enter_async_context(TestClient(member_b, ["t"]))
        await asyncio.wait_for(a.synced(), TIMEOUT)
        await asyncio.wait_for(b.synced(), TIMEOUT)
        sent: list[Any] = [
            "text",
            b"\x00bytes",
            Text("t"),
            Binary(b"b"),
            ("say", "ann", 1),
            {"k": [1, 2.5, None]},
        ]
        for message in sent:
            a.broadcast("t", message)
        for client in (on_a, on_b):
            for _ in sent:
                await client.receive()
        # JSON (the default) turns a tuple into a list, on every node alike.
        expected = ["text", b"\x00bytes", Text("t"), Binary(b"b"), ["say", "ann", 1]]
        expected.append({"k": [1, 2.5, None]})
        assert member_a.infos == expected
        assert member_b.infos == expected
        with pytest.raises(TypeError):
            a.broadcast("t", object())


async def test_pickle_and_custom_serializers(nodes: Callable[..., PubSub]) -> None:
    class Upper:
        def dumps(self, message: Any) -> bytes:
            return str(message).upper().encode()

        def loads(self, data: bytes) -> Any:
            return ("custom", data.decode())

    for serializer, sent, got in (
        ("pickle", ("say", 1), ("say", 1)),
        (Upper(), ["x"], ("custom", "['X']")),
    ):
        a = nodes(serializer=serializer)
        b = nodes(serializer=serializer)
        async with AsyncExitStack() as stack:
            on_b = await joined(stack, b, ["t"])
            await asyncio.wait_for(a.synced(), TIMEOUT)
            a.broadcast("t", sent)
            assert await on_b.receive() == Text(repr(got))


async def test_fast_lane_through_redis(nodes: Callable[..., PubSub]) -> None:
    a, b = nodes(), nodes()
    async with AsyncExitStack() as stack:
        on_b = await joined(stack, b, ["t"])
        await asyncio.wait_for(a.synced(), TIMEOUT)
        a.broadcast_frame("t", Text("fast"))
        a.broadcast_frame("t", b"\x01")
        assert await on_b.receive() == Text("fast")
        assert await on_b.receive() == Binary(b"\x01")
        assert on_b.stats.infos_in == 0
        assert b.stats.frames_sent == 2


async def test_broadcast_from_a_thread_without_a_loop(
    nodes: Callable[..., PubSub], redis_server: RedisServer
) -> None:
    a = nodes()
    async with AsyncExitStack() as stack:
        on_a = await joined(stack, a, ["t"])
        errors: list[BaseException] = []

        def script() -> None:
            try:
                with PubSub(redis_server) as pubsub:
                    pubsub.broadcast("t", "from a script")
                    assert pubsub.stats.published == 1
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=script)
        thread.start()
        await asyncio.wait_for(asyncio.to_thread(thread.join), TIMEOUT)
        assert errors == []
        assert await on_a.receive() == Text("'from a script'")
        # The home loop's node, called from another thread, queues onto its loop.
        thread = threading.Thread(target=a.broadcast, args=("t", "via the home loop"))
        thread.start()
        await asyncio.wait_for(asyncio.to_thread(thread.join), TIMEOUT)
        assert await on_a.receive() == Text("'via the home loop'")


async def test_redis_restart_keeps_connections_and_resyncs(
    nodes: Callable[..., PubSub], redis_server: RedisServer
) -> None:
    a, b = nodes(), nodes()
    async with AsyncExitStack() as stack:
        on_a = await joined(stack, a, ["room", "other"])
        on_b = await joined(stack, b, ["room"])
        a.broadcast("room", "before")  # the publisher's pooled connection is now in use
        assert await on_a.receive() == Text("'before'")
        assert await on_b.receive() == Text("'before'")
        redis_server.kill()
        await eventually(lambda: not (a.stats.connected or b.stats.connected))
        # Connections stay up; local delivery goes on; Redis publishes are dropped.
        await on_a.send("alive?")
        assert await on_a.receive() == Text("alive?")
        a.broadcast("room", "while down")
        assert await on_a.receive() == Text("'while down'")
        await eventually(lambda: a.stats.dropped_unavailable == 1)  # counted by the node thread

        def script() -> None:  # no event loop in this thread: the blocking path
            with PubSub(redis_server) as pubsub:
                pubsub.broadcast("room", "script")

        with pytest.raises(redis.ConnectionError):
            await asyncio.wait_for(asyncio.to_thread(script), TIMEOUT)
        redis_server.start()
        # Every subscriber hears of the gap, once per topic, after re-subscribing.
        assert {await on_a.receive(), await on_a.receive()} == {
            Text("Resync(topic='room')"),
            Text("Resync(topic='other')"),
        }
        assert await on_b.receive() == Text("Resync(topic='room')")
        await asyncio.wait_for(a.synced(), TIMEOUT)
        a.broadcast("room", "after")
        assert await on_a.receive() == Text("'after'")
        assert await on_b.receive() == Text("'after'")
        await eventually(lambda: (a.stats.reconnects, a.stats.resyncs) == (1, 2))
        await eventually(lambda: (b.stats.reconnects, b.stats.resyncs) == (1, 1))
        assert a.stats.connected and b.stats.connected
        await on_b.assert_no_push()


async def test_invalid_payloads_are_ignored_and_counted(
    nodes: Callable[..., PubSub], redis_server: RedisServer
) -> None:
    a, b = nodes(), nodes()
    async with AsyncExitStack() as stack:
        on_b = await joined(stack, b, ["t"])
        client = redis.Redis.from_url(redis_server)
        try:
            client.publish("websock:t", b"not an envelope")
        finally:
            client.close()
        a.broadcast("t", "valid")
        assert await on_b.receive() == Text("'valid'")
        assert b.stats.dropped_invalid == 1  # counted before the next message was read
        await on_b.assert_no_push()


async def test_a_full_publish_queue_drops_and_counts(nodes: Callable[..., PubSub]) -> None:
    a, b = nodes(publish_queue=1), nodes()
    count = 1000
    async with AsyncExitStack() as stack:
        on_b = await joined(stack, b, ["t"])
        await asyncio.wait_for(a.synced(), TIMEOUT)
        for i in range(count):  # faster than one PUBLISH round trip each
            a.broadcast("t", i)
        await eventually(lambda: a.stats.published + a.stats.dropped_backlog == count)
        assert a.stats.dropped_backlog > 0
        got = [await on_b.receive() for _ in range(a.stats.published)]
        assert got[0] == Text("0")
        assert [int(frame.data) for frame in got if isinstance(frame, Text)] == sorted(
            int(frame.data) for frame in got if isinstance(frame, Text)
        )
        await on_b.assert_no_push()


def test_options_are_checked() -> None:
    with pytest.raises(Exception, match="reconnect_min"):
        PubSub("redis://localhost", reconnect_min=0)
    with pytest.raises(ValueError, match="unknown serializer"):
        PubSub("redis://localhost", serializer="yaml")  # type: ignore[arg-type]
    with PubSub("redis://user:secret@localhost:1") as pubsub:
        assert "localhost" in repr(pubsub)
        assert "secret" not in repr(pubsub)
    assert isinstance(Resync("t"), Resync)
