"""Broadcast benchmark: one broadcast to 10,000 local subscribers, locally and through Redis.

    PYTHONPATH=src python bench/broadcast.py [--subscribers 10000] [--rounds 5] \\
        [--redis auto|redis://...] [--compress]

Each subscriber is a real ``Session`` over a transport that frames with the real codec
(``ServerConnection``, like the built-in server) and counts the bytes it would write; no
sockets, so the figures are the cost of websock itself (fan-out, handle_info, framing),
not of the kernel. For each lane and path the table shows the median time from the
broadcast call until every subscriber's bytes were flushed, the bytes *encoded* (framed,
compressed) for that broadcast and the bytes written to all subscribers.

- ``handle_info`` lane: ``PubSub.broadcast`` → each mailbox → ``handle_info`` → ``Push``;
  every connection frames the message itself (N encodings).
- fast lane: ``PubSub.broadcast_frame``; framed once per compression setting, the same
  bytes queued on every connection, no handler woken.
- "redis": a second node in this process publishes; the subscribers' node receives it
  from Redis (a real redis-server: ``--redis auto`` starts one on a free port).

The perf harness (bench/run.py) can call ``measure()`` or ``run_all()``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from websock import Ok, Push
from websock.options import Options
from websock.protocol.connection import ServerConnection
from websock.protocol.deflate import DeflateParams, PerMessageDeflate
from websock.pubsub import PubSub
from websock.results import Result
from websock.runtime.session import Session
from websock.runtime.transport import OutFrame, PreparedFrame

__all__ = ["measure", "run_all"]

TOPIC = "bench"
PAYLOAD = '{"type":"tick","price":101.25,"symbol":"WSCK"}' * 4  # ~190 bytes of JSON

Lane = Literal["info", "frame"]


class SinkTransport:
    """A transport that frames like the built-in server and counts, instead of writing."""

    answers_pings = False
    supports_control_frames = True

    def __init__(
        self, options: Options, deflate: PerMessageDeflate | None, done: Callable[[int], None]
    ) -> None:
        self._conn = ServerConnection(options, deflate)
        self._deflate = deflate
        self._done = done

    def send_frames(self, frames: Sequence[OutFrame]) -> None:
        self._conn.send_frames(frames)

    def send_prepared(self, frame: PreparedFrame) -> None:
        self._conn.send_encoded(frame.encoded(self._deflate, self._conn.options))

    def send_close(self, code: int | None, reason: str) -> None:
        self._conn.send_close(code, reason)

    def flush(self) -> None:
        data = self._conn.data_to_send()
        if data:
            self._done(len(data))

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def write_buffer_size(self) -> int:
        return 0


class Subscriber:
    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub

    def init(self, arg: Any) -> Result:
        self.pubsub.subscribe(TOPIC)
        return Ok(None)

    def handle_in(self, message: Any, state: Any) -> Result:
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Result:
        return Push(message, state)


class _Counter:
    """Counts flushed writes; resolves a future once ``target`` of them happened."""

    def __init__(self) -> None:
        self.writes = 0
        self.bytes = 0
        self.target = 0
        self.future: asyncio.Future[None] | None = None

    def __call__(self, size: int) -> None:
        self.writes += 1
        self.bytes += size
        if self.writes >= self.target and self.future is not None and not self.future.done():
            self.future.set_result(None)


async def measure(
    subscribers: int = 10_000,
    rounds: int = 5,
    *,
    lane: Lane = "frame",
    redis_url: str | None = None,
    compress: bool = False,
) -> dict[str, float]:
    """Median time of ``rounds`` broadcasts to ``subscribers`` Sessions, and byte counts.

    Returns ``broadcast_ms``, ``us_per_subscriber``, ``bytes_encoded`` (per broadcast),
    ``bytes_written`` (per broadcast, all subscribers) and ``deliveries_per_s``.
    """
    loop = asyncio.get_running_loop()
    node = PubSub(redis_url) if redis_url else PubSub()
    publisher = PubSub(redis_url) if redis_url else node
    options = Options(timeout=None, ping_interval=None, compress=compress, compress_threshold=0)
    params = DeflateParams(server_no_context_takeover=True)
    counter = _Counter()
    handler = Subscriber(node)
    sessions = []
    for _ in range(subscribers):
        deflate = PerMessageDeflate(params, options) if compress else None
        session = Session(
            handler, None, options, SinkTransport(options, deflate, counter), loop=loop
        )
        session.start()
        sessions.append(session)
    try:
        if redis_url:
            await asyncio.wait_for(node.synced(), 10)
            await asyncio.wait_for(publisher.synced(), 10)
        times: list[float] = []
        encoded: list[int] = []
        written: list[int] = []
        gc.collect()
        for _ in range(rounds):
            counter.target = counter.writes + subscribers
            counter.future = loop.create_future()
            bytes0, encoded0 = counter.bytes, node.stats.bytes_encoded
            start = time.perf_counter()
            if lane == "frame":
                publisher.broadcast_frame(TOPIC, PAYLOAD)
            else:
                publisher.broadcast(TOPIC, PAYLOAD)
            await asyncio.wait_for(counter.future, 60)
            times.append(time.perf_counter() - start)
            written.append(counter.bytes - bytes0)
            if lane == "frame":
                encoded.append(node.stats.bytes_encoded - encoded0)
            else:  # every connection framed (and compressed) the message itself
                encoded.append(counter.bytes - bytes0)
    finally:
        for session in sessions:
            session.connection_lost(None)
        if redis_url:
            await node.aclose()
            await publisher.aclose()
    median = statistics.median(times)
    return {
        "broadcast_ms": 1000 * median,
        "us_per_subscriber": 1e6 * median / subscribers,
        "deliveries_per_s": subscribers / median,
        "bytes_encoded": statistics.median(encoded),
        "bytes_written": statistics.median(written),
    }


async def run_all(
    subscribers: int = 10_000, rounds: int = 5, redis_url: str | None = None, compress: bool = False
) -> list[dict[str, Any]]:
    """Both lanes, in process and (with ``redis_url``) through Redis: one row each."""
    rows: list[dict[str, Any]] = []
    paths: list[tuple[str, str | None]] = [("local", None)]
    if redis_url:
        paths.append(("redis", redis_url))
    for path, url in paths:
        for lane in ("info", "frame"):
            result = await measure(subscribers, rounds, lane=lane, redis_url=url, compress=compress)
            rows.append({"path": path, "lane": lane, **result})
    return rows


def table(rows: list[dict[str, Any]], subscribers: int) -> str:
    names = {"info": "handle_info (`broadcast`)", "frame": "fast lane (`broadcast_frame`)"}
    lines = [
        f"| path | lane | ms per broadcast to {subscribers:,} | µs per subscriber | "
        "bytes encoded | bytes written |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['path']} | {names[row['lane']]} | {row['broadcast_ms']:.1f} | "
            f"{row['us_per_subscriber']:.2f} | {row['bytes_encoded']:,.0f} | "
            f"{row['bytes_written']:,.0f} |"
        )
    return "\n".join(lines)


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free port (no persistence)."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("--redis auto needs redis-server on PATH")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen(
            [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:  # readiness: the port accepts connections
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit("redis-server did not start") from None
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", help="a redis:// URL, or 'auto' to start redis-server")
    parser.add_argument("--compress", action="store_true", help="no-context-takeover deflate")
    args = parser.parse_args()

    def run(url: str | None) -> list[dict[str, Any]]:
        return asyncio.run(run_all(args.subscribers, args.rounds, url, args.compress))

    if args.redis == "auto":
        with redis_server() as url:
            rows = run(url)
    else:
        rows = run(args.redis)
    print(table(rows, args.subscribers))


if __name__ == "__main__":
    main()
