"""The chat example over Redis: users connected to different server processes chat together,
also under ``websock serve --workers 2`` (the kernel picks each connection's worker)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import RedisServer
from tests.pubsub.test_multiprocess import Process, _pythonpath

TIMEOUT = 15.0
APP = "examples.chat.app:app"
CHANNEL = "websock:chat:garden"


@pytest.fixture
def start(redis_server: RedisServer) -> Iterator[Callable[..., int]]:
    """``start(port, workers=1)``: the chat under `websock serve` on Redis; returns the port."""
    started: list[Process] = []

    def run(port: int, workers: int = 1) -> int:
        env = {**os.environ, "WEBSOCK_REDIS_URL": redis_server.url, "PYTHONPATH": _pythonpath()}
        argv = [sys.executable, "-m", "websock", "serve", APP, "--port", str(port)]
        argv += ["--workers", str(workers)]
        process = Process(argv, r"websock serving", env, count=workers)
        started.append(process)
        process.wait_ready()
        return port

    yield run
    for process in started:
        process.stop()


async def event(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        message = await ws.recv()
    assert isinstance(message, str)
    decoded: dict[str, Any] = json.loads(message)
    return decoded


async def subscribed_nodes(redis_server: RedisServer, count: int) -> None:
    """Wait until ``count`` nodes subscribe to the room's channel (an outside condition:
    a node subscribes once its first lazy connection to Redis is up)."""
    client = redis.Redis.from_url(redis_server)
    try:
        async with asyncio.timeout(TIMEOUT):
            while dict(client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) < count:
                await asyncio.sleep(0.01)
    finally:
        client.close()


async def join(stack: AsyncExitStack, port: int, name: str) -> ClientConnection:
    url = f"ws://127.0.0.1:{port}/ws?room=garden&name={name}"
    ws = await stack.enter_async_context(connect(url, open_timeout=TIMEOUT))
    welcome = await event(ws)
    assert welcome["type"] == "welcome" and welcome["name"] == name
    return ws


@pytest.mark.slow
async def test_users_on_different_processes_chat_together(
    start: Callable[..., int], free_port_factory: Callable[[], int], redis_server: RedisServer
) -> None:
    one, two = start(free_port_factory()), start(free_port_factory())
    async with AsyncExitStack() as stack:
        ann = await join(stack, one, "ann")
        await subscribed_nodes(redis_server, 1)
        bob = await join(stack, two, "bob")
        await subscribed_nodes(redis_server, 2)
        assert await event(ann) == {"type": "joined", "name": "bob"}
        await bob.send("hello from process two")
        for ws in (ann, bob):
            assert await event(ws) == {
                "type": "message",
                "name": "bob",
                "text": "hello from process two",
            }
        await ann.send("hi bob")
        for ws in (ann, bob):
            assert (await event(ws))["text"] == "hi bob"
        await bob.close()
        assert await event(ann) == {"type": "left", "name": "bob"}


@pytest.mark.slow
async def test_workers_share_rooms(
    start: Callable[..., int], free_port_factory: Callable[[], int], redis_server: RedisServer
) -> None:
    port = start(free_port_factory(), workers=2)
    async with AsyncExitStack() as stack:
        # The kernel spreads connections over the workers (SO_REUSEPORT): join until both
        # workers serve someone, i.e. both subscribe to the room.
        users = [await join(stack, port, "user0")]
        await subscribed_nodes(redis_server, 1)
        client = redis.Redis.from_url(redis_server)
        try:
            while dict(client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) < 2:
                assert len(users) < 100, "every connection landed on the same worker"
                users.append(await join(stack, port, f"user{len(users)}"))
        finally:
            client.close()
        await subscribed_nodes(redis_server, 2)
        await users[-1].send("to all workers")
        for ws in users:
            # Join announcements come first (those made before a worker subscribed are
            # missed: at-most-once), then the message, exactly once.
            while (got := await event(ws))["type"] == "joined":
                pass
            sender = f"user{len(users) - 1}"
            assert got == {"type": "message", "name": sender, "text": "to all workers"}
