"""The snippets of docs/guide.md, run as written (typed), so the guide stays true."""

from __future__ import annotations

import threading
from typing import Any

import websock
from websock import Binary, Ok, Push, Remote, Stop, Text, Timeout
from websock.testing import TestClient


class Counter(websock.Handler):
    def __init__(self) -> None:
        self.ended: list[websock.Reason] = []

    def init(self, start: int) -> Push:
        return Push(f"hello, counting from {start}", start)

    def handle_in(self, message: Text | Binary, n: int) -> Push | Stop:
        match message:
            case Text("quit"):
                return Stop(n, code=4000, message="bye", frames=[f"final: {n}"])
            case Text(data):
                return Push(f"{n}: {data}", n + 1)
            case Binary(data):
                return Push(data[::-1], n + 1)

    def handle_info(self, message: Any, n: int) -> Push:
        return Push(str(message), n)

    def terminate(self, reason: websock.Reason, n: int) -> None:
        self.ended.append(reason)


class Ticker(websock.Handler):
    def init(self, _: Any) -> Ok:
        handle = websock.connection()
        threading.Thread(target=lambda: [handle.send(i) for i in range(3)]).start()
        return Ok(None)

    def handle_in(self, message: Any, state: Any) -> Ok:
        return Ok(state)

    def handle_info(self, i: int, state: Any) -> Push:
        return Push(f"tick {i}", state)


async def test_counter_as_in_the_guide() -> None:
    handler = Counter()
    async with TestClient(handler, 5, timeout=30, ping_interval=None) as client:
        assert await client.receive() == Text("hello, counting from 5")
        await client.send("hi")
        assert await client.receive() == Text("5: hi")
        await client.send(b"abc")
        assert await client.receive() == Binary(b"cba")
        await client.send_info("ping")
        assert await client.receive() == Text("ping")
        await client.advance(31)
    assert client.close_code == 1001
    assert client.terminate_reason == Timeout()
    assert handler.ended == [Timeout()]


async def test_stop_with_final_frames_and_code() -> None:
    async with TestClient(Counter(), 0) as client:
        await client.receive()
        await client.send("quit")
        assert await client.receive() == Text("final: 0")
    assert client.close_code == 4000
    assert client.close_message == "bye"


async def test_remote_close_reaches_terminate() -> None:
    handler = Counter()
    async with TestClient(handler, 0) as client:
        await client.receive()
        await client.close(1001, "navigated away")
    assert handler.ended == [Remote(1001, "navigated away")]


async def test_ticker_from_a_thread() -> None:
    async with TestClient(Ticker(), None) as client:
        assert [await client.receive() for _ in range(3)] == [
            Text("tick 0"),
            Text("tick 1"),
            Text("tick 2"),
        ]
