"""Three processes, one Redis: two built-in servers (``websock serve``) and uvicorn hosting
the same app through ``websock.adapters.asgi.App``, with real clients on each.

A broadcast from any process, and from a plain synchronous script, reaches every client
exactly once. Redis is killed and restarted in the middle: the WebSocket connections
survive, each client gets the resync message, and delivery resumes.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import RedisServer

TIMEOUT = 15.0
ROOT = Path(__file__).resolve().parents[2]
TOPIC = "multi"


class Process:
    """A server subprocess; ``ready`` is set once its log says it listens."""

    def __init__(self, argv: list[str], ready: str, env: dict[str, str], count: int = 1) -> None:
        self._count = count  # how many log lines must match (one per worker)
        self.name = " ".join(argv[2:4])
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._pattern = re.compile(ready)
        self.ready = threading.Event()
        self.log: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)
            if self._pattern.search(line):
                self._count -= 1
                if self._count <= 0:
                    self.ready.set()
        self.ready.set()  # EOF: it died; wait_ready() reports it

    def wait_ready(self) -> None:
        ok = self.ready.wait(TIMEOUT)
        if not ok or self.proc.poll() is not None:
            raise AssertionError("server did not start:\n" + "".join(self.log[-30:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._pump_thread.join(10)  # EOF once the process is gone
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def servers(redis_server: RedisServer, free_port_factory: Callable[[], int]) -> Iterator[list[int]]:
    """Ports of: two `websock serve` processes and one uvicorn process, all on Redis."""
    env = {**os.environ, "WEBSOCK_REDIS_URL": redis_server.url, "PYTHONPATH": _pythonpath()}
    ports = [free_port_factory() for _ in range(3)]
    app = "tests.pubsub.app"
    processes = [
        *(
            Process(
                [sys.executable, "-m", "websock", "serve", f"{app}:app", "--port", str(port)],
                r"websock serving",
                env,
            )
            for port in ports[:2]
        ),
        Process(
            [sys.executable, "-m", "uvicorn", f"{app}:asgi_app", "--port", str(ports[2])],
            r"Uvicorn running on",
            env,
        ),
    ]
    try:
        for process in processes:
            process.wait_ready()
        yield ports
    finally:
        for process in processes:
            process.stop()
        for process in processes:  # shown by pytest when the test failed
            print(f"--- {process.name}\n{''.join(process.log[-40:])}")


def _pythonpath() -> str:
    parts = [str(ROOT / "src"), str(ROOT)]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(parts)


async def recv(ws: ClientConnection) -> str:
    async with asyncio.timeout(TIMEOUT):
        message = await ws.recv()
    assert isinstance(message, str)
    return message


@pytest.fixture
async def clients(servers: list[int]) -> AsyncIterator[list[ClientConnection]]:
    """Two clients on each server; each was told ``ready`` after Redis confirmed."""
    async with AsyncExitStack() as stack:
        opened: list[ClientConnection] = []
        for port in servers:
            for _ in range(2):
                ws = await stack.enter_async_context(
                    connect(f"ws://127.0.0.1:{port}/?topic={TOPIC}", open_timeout=TIMEOUT)
                )
                assert (await recv(ws)).startswith("ready:")
                opened.append(ws)
        yield opened


async def everyone_gets(clients: list[ClientConnection], expected: set[str]) -> None:
    for index, ws in enumerate(clients):
        got: list[str] = []
        try:
            for _ in expected:
                got.append(await recv(ws))
        except TimeoutError:
            raise AssertionError(f"client {index} got {got}, expected {expected}") from None
        assert sorted(got) == sorted(expected), (index, got)


async def nothing_more(clients: list[ClientConnection], marker: str, via: ClientConnection) -> None:
    """A last broadcast arrives next everywhere: nothing was delivered twice."""
    await via.send(f"say:{marker}")
    for ws in clients:
        assert await recv(ws) == f"info:{marker}"


def script_broadcast(redis_url: str, message: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.pubsub.publish", redis_url, TOPIC, message],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": _pythonpath()},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.mark.slow
async def test_three_processes_one_redis(
    clients: list[ClientConnection], redis_server: RedisServer
) -> None:
    # One broadcast from every process (clients 0, 2, 4 are on different servers).
    senders = clients[0::2]
    for n, ws in enumerate(senders):
        await ws.send(f"say:from-{n}")
    await everyone_gets(clients, {f"info:from-{n}" for n in range(3)})
    await nothing_more(clients, "check-1", clients[1])

    # From plain synchronous code with no event loop, in another process.
    done = await asyncio.to_thread(script_broadcast, redis_server.url, "from-script")
    assert done.returncode == 0, done.stderr
    await everyone_gets(clients, {"info:from-script"})

    # The fast lane crosses processes too (no handle_info: the bare text arrives).
    await clients[4].send("frame:fast")
    await everyone_gets(clients, {"fast"})
    await nothing_more(clients, "check-2", clients[3])

    # Redis goes away: every connection stays up and answers.
    redis_server.kill()
    for ws in clients:
        await ws.send("echo:alive")
        assert await recv(ws) == "alive"
    failed = await asyncio.to_thread(script_broadcast, redis_server.url, "lost")
    assert failed.returncode != 0 and "ConnectionError" in failed.stderr

    # Redis is back: each client hears of the gap, then delivery resumes everywhere.
    await asyncio.to_thread(redis_server.start)
    await everyone_gets(clients, {f"resync:{TOPIC}"})
    for n, ws in enumerate(senders):
        await ws.send(f"say:again-{n}")
    await everyone_gets(clients, {f"info:again-{n}" for n in range(3)})
    done = await asyncio.to_thread(script_broadcast, redis_server.url, "script-again")
    assert done.returncode == 0, done.stderr
    await everyone_gets(clients, {"info:script-again"})
    await nothing_more(clients, "check-3", clients[5])


@pytest.mark.slow
async def test_spec_only_app_without_waiting(servers: list[int]) -> None:
    """The app's init subscribes and answers at once (no ``synced()``): its subscription
    takes effect on every node without the app waiting. A node applies it within
    microseconds of ``init`` normally, but not before a client that is told ``ready`` can
    react on a loaded machine (docs/pubsub.md): so probe broadcasts go out until every
    client got one, then one more broadcast must reach each client exactly once."""
    for round_ in range(3):
        topic = f"spec-{round_}"
        async with AsyncExitStack() as stack:
            opened = []
            for port in servers:
                url = f"ws://127.0.0.1:{port}/?topic={topic}&spec=1"
                ws = await stack.enter_async_context(connect(url, open_timeout=TIMEOUT))
                assert (await recv(ws)).startswith("ready:")
                opened.append(ws)
            sender = opened[round_]
            async with asyncio.timeout(TIMEOUT):
                for ws in opened:
                    probe = 0
                    while True:
                        probe += 1
                        await sender.send(f"say:probe-{probe}")
                        try:
                            async with asyncio.timeout(0.5):
                                if str(await ws.recv()).startswith("info:probe-"):
                                    break
                        except TimeoutError:
                            continue
            # Drain late probes, then the real broadcast reaches everyone exactly once.
            await sender.send("say:marker")
            for ws in opened:
                async with asyncio.timeout(TIMEOUT):
                    while (await ws.recv()) != "info:marker":
                        pass
            await sender.send(f"say:{topic}")
            await everyone_gets(opened, {f"info:{topic}"})
