"""The load generator: one process, uvloop, a hand-rolled WebSocket client built for speed.

``python -m bench.loadgen WORKLOAD --port P --server-pid PID`` runs one workload against a
server already listening and prints one JSON object (its figures) on stdout.

Why hand-rolled: the generator must not be the bottleneck. Client frames are masked once,
up front (RFC 6455 §5.3 requires a mask on every client frame, not a fresh one per frame
for a benchmark), and echoed frames are only counted: the parser reads each header for
its length and skips the payload, so a 1 MiB echo costs a few header reads, not a copy.
Each connection is first checked to echo a text and a binary message exactly, so every
server is measured on the same semantics.

Workloads:
  a  1 connection ping-pong of 32-byte text: round trips/s, p50/p99 latency
  b  64 connections x 16 messages in flight, 32-byte text: messages/s, server CPU us/message
  c  4 connections echoing 1 MiB binary, one in flight each: MB/s (10^6 payload bytes echoed)
  d  5,000 idle connections: server RSS KiB per connection, handshakes/s
  e  one broadcast to 10,000 subscribers: milliseconds until the last one has it
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import uvloop

from bench import procstat

TEXT, BINARY = 0x1, 0x2
PAYLOAD = b"websock-bench-0123456789abcdefgh"  # 32 bytes of ASCII: valid UTF-8 text
MASK = b"\x9c\x3f\x51\xe2"
KEY = base64.b64encode(b"websock-bench-k!").decode()  # 16 bytes, RFC 6455 §4.1


def mask(payload: bytes, key: bytes = MASK) -> bytes:
    """XOR with the 4-byte key (RFC 6455 §5.3); one big-int XOR, fast enough for 1 MiB once."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + MASK + mask(payload)


def handshake_request(host: str, port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class Client(asyncio.Protocol):
    """A WebSocket client connection that either collects frames or only counts them."""

    def __init__(self, request: bytes | None) -> None:
        loop = asyncio.get_running_loop()
        self.request = request  # None: raw TCP, no handshake (the ceiling server)
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.handshaking = request is not None
        self.counting = False  # False: collect (opcode, payload) pairs; True: count only
        self.buf = b""
        self.skip = 0  # payload bytes of a counted frame still to arrive
        self.messages: list[tuple[int, bytes]] = []
        self.waiter: asyncio.Future[None] | None = None
        self.on_frames: Callable[[int], None] = _ignore

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        if self.request is None:
            self.opened.set_result(None)
        else:
            self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake()

    def data_received(self, data: bytes) -> None:
        if self.counting:
            self._count(data)
        elif self.handshaking:
            self._handshake(data)
        else:
            self._collect(data)

    # -- parsing

    def _handshake(self, data: bytes) -> None:
        buf = self.buf + data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self.buf = buf
            return
        self.buf = b""
        self.handshaking = False
        if not buf.startswith(b"HTTP/1.1 101"):
            status = buf[: buf.find(b"\r\n")].decode("latin-1")
            self.opened.set_exception(ConnectionError(f"handshake refused: {status}"))
            assert self.transport is not None
            self.transport.close()
            return
        self.opened.set_result(None)
        if len(buf) > end + 4:
            self.data_received(buf[end + 4 :])

    def _count(self, data: bytes) -> None:
        # The hot path: find frame boundaries, skip payloads, count complete frames.
        done = 0
        skip = self.skip
        if skip:
            if len(data) < skip:
                self.skip = skip - len(data)
                return
            self.skip = 0
            done = 1
            data = data[skip:]
        buf = self.buf + data if self.buf else data
        n = len(buf)
        i = 0
        while n - i >= 2:
            b1 = buf[i + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - i < 4:
                    break
                length = (buf[i + 2] << 8) | buf[i + 3]
                head = 4
            elif length == 127:
                if n - i < 10:
                    break
                length = int.from_bytes(buf[i + 2 : i + 10], "big")
                head = 10
            if b1 & 0x80:  # masked: only the raw TCP echo sends our own frames back
                head += 4
            if i + head > n:
                break
            end = i + head + length
            if end > n:
                self.skip = end - n
                i = n
                break
            i = end
            done += 1
        self.buf = buf[i:] if i < n else b""
        if done:
            self.on_frames(done)

    def _collect(self, data: bytes) -> None:
        buf = self.buf + data
        n = len(buf)
        i = 0
        while n - i >= 2:
            b0, b1 = buf[i], buf[i + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if n - i < 4:
                    break
                length, head = int.from_bytes(buf[i + 2 : i + 4], "big"), 4
            elif length == 127:
                if n - i < 10:
                    break
                length, head = int.from_bytes(buf[i + 2 : i + 10], "big"), 10
            key = b""
            if b1 & 0x80:
                key = buf[i + head : i + head + 4]
                head += 4
            if i + head + length > n:
                break
            payload = buf[i + head : i + head + length]
            self.messages.append((b0 & 0x0F, mask(payload, key) if key else payload))
            i += head + length
        self.buf = buf[i:]
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # -- use

    def send(self, frame: bytes) -> None:
        assert self.transport is not None
        self.transport.write(frame)

    async def receive(self, timeout: float = 10.0) -> tuple[int, bytes]:
        async with asyncio.timeout(timeout):
            while not self.messages:
                if self.closed.done():
                    raise ConnectionError("connection closed")
                self.waiter = asyncio.get_running_loop().create_future()
                await self.waiter
        return self.messages.pop(0)

    def start_counting(self, on_frames: Callable[[int], None]) -> None:
        assert not self.buf and not self.messages, "frames left over before counting"
        self.on_frames = on_frames
        self.counting = True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _ignore(count: int) -> None:
    pass


class Target:
    def __init__(self, args: argparse.Namespace) -> None:
        self.host: str = args.host
        self.port: int = args.port
        self.pids = procstat.descendants(args.server_pid) if args.server_pid else []
        self.raw: bool = args.raw
        self.core: int | None = args.server_core

    async def connect(self, path: str = "/", timeout: float = 10.0) -> Client:
        loop = asyncio.get_running_loop()
        request = None if self.raw else handshake_request(self.host, self.port, path)
        async with asyncio.timeout(timeout):
            _, client = await loop.create_connection(lambda: Client(request), self.host, self.port)
            await client.opened
        return client

    def server_cpu(self) -> float:
        return procstat.cpu_seconds(self.pids)

    def server_rss(self) -> int:
        return procstat.rss_kib(self.pids)


async def verify_echo(client: Client) -> None:
    """The server must echo a text and a binary message exactly, opcode included."""
    for opcode, payload in ((TEXT, PAYLOAD), (BINARY, bytes(range(256)) * 4)):
        client.send(client_frame(opcode, payload))
        got = await client.receive()
        if got != (opcode, payload):
            raise AssertionError(f"echo mismatch: sent opcode {opcode}, got {got[0]}")


class Window:
    """Counters and CPU readings at the start and end of the measured window."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def start(self, count: float) -> None:
        self.t0, self.c0 = time.perf_counter(), count
        self.s0, self.l0 = self.target.server_cpu(), time.process_time()
        self.core0 = procstat.core_times(self.target.core) if self.target.core is not None else []

    def stop(self, count: float) -> dict[str, float]:
        elapsed = time.perf_counter() - self.t0
        server_cpu = self.target.server_cpu() - self.s0
        loadgen_cpu = time.process_time() - self.l0
        counted = count - self.c0
        core: dict[str, float] = {}
        if self.target.core is not None:
            core = procstat.core_shares(self.core0, procstat.core_times(self.target.core))
        return {
            **core,
            "seconds": elapsed,
            "count": counted,
            "rate": counted / elapsed,
            "server_cpu_pct": 100 * server_cpu / elapsed,
            "loadgen_cpu_pct": 100 * loadgen_cpu / elapsed,
            "server_cpu_us_per_item": 1e6 * server_cpu / counted if counted else float("nan"),
        }


async def echo_load(
    target: Target, args: argparse.Namespace, connections: int, inflight: int, frame: bytes
) -> tuple[dict[str, float], list[int]]:
    """Keep ``inflight`` frames outstanding on each connection; return the window's figures.

    Also returns round-trip latencies in ns when there is one frame in flight.
    """
    clients = [await target.connect() for _ in range(connections)]
    for client in clients:
        await verify_echo(client)
    total = [0]
    latencies: list[int] = []
    recording = [False]
    running = [True]

    def make_handler(client: Client) -> Callable[[], None]:
        transport = client.transport
        assert transport is not None
        write = transport.write
        sent = [0]

        if inflight == 1:

            def on_one(count: int) -> None:
                now = time.perf_counter_ns()
                total[0] += count
                if recording[0]:
                    latencies.append(now - sent[0])
                if running[0]:
                    sent[0] = time.perf_counter_ns()
                    write(frame)

            def start_one() -> None:
                sent[0] = time.perf_counter_ns()
                write(frame)

            client.start_counting(on_one)
            return start_one

        def on_many(count: int) -> None:
            total[0] += count
            if running[0]:
                write(frame if count == 1 else frame * count)

        client.start_counting(on_many)

        def start_many() -> None:
            write(frame * inflight)

        return start_many

    starters = [make_handler(client) for client in clients]
    for start in starters:
        start()
    window = Window(target)
    await asyncio.sleep(args.warmup)
    window.start(total[0])
    recording[0] = True
    await asyncio.sleep(args.duration)
    recording[0] = False
    figures = window.stop(total[0])
    running[0] = False
    for client in clients:
        client.close()
    return figures, latencies


def _percentile(ordered: list[int], fraction: float) -> float | None:
    """The value below which ``fraction`` of the sorted nanosecond latencies lie, in µs."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] / 1000


def _core(figures: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in figures.items() if key.startswith("core_")}


async def workload_a(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    figures, latencies = await echo_load(target, args, 1, 1, client_frame(TEXT, PAYLOAD))
    latencies.sort()
    return {
        "round_trips_per_s": figures["rate"],
        **_core(figures),
        "mean_us": sum(latencies) / len(latencies) / 1000 if latencies else None,
        "p10_us": _percentile(latencies, 0.10),
        "p50_us": _percentile(latencies, 0.50),
        "p90_us": _percentile(latencies, 0.90),
        "p99_us": _percentile(latencies, 0.99),
        "p999_us": _percentile(latencies, 0.999),
        "server_cpu_pct": figures["server_cpu_pct"],
        "loadgen_cpu_pct": figures["loadgen_cpu_pct"],
    }


async def workload_b(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    frame = client_frame(TEXT, PAYLOAD)
    figures, _ = await echo_load(target, args, args.connections, args.inflight, frame)
    return {
        "messages_per_s": figures["rate"],
        **_core(figures),
        "server_cpu_us_per_msg": figures["server_cpu_us_per_item"],
        "server_cpu_pct": figures["server_cpu_pct"],
        "loadgen_cpu_pct": figures["loadgen_cpu_pct"],
    }


async def workload_c(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    size = args.size
    frame = client_frame(BINARY, os.urandom(size))
    figures, _ = await echo_load(target, args, args.bulk_connections, 1, frame)
    return {
        "mb_per_s": figures["rate"] * size / 1e6,
        **_core(figures),
        "server_cpu_pct": figures["server_cpu_pct"],
        "loadgen_cpu_pct": figures["loadgen_cpu_pct"],
    }


async def _open_many(target: Target, count: int, concurrency: int, path: str = "/") -> list[Client]:
    clients: list[Client] = []

    async def worker(share: int) -> None:
        for _ in range(share):
            clients.append(await target.connect(path))

    shares = [
        count // concurrency + (1 if k < count % concurrency else 0) for k in range(concurrency)
    ]
    await asyncio.gather(*(worker(share) for share in shares if share))
    return clients


async def workload_d(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    probe = await target.connect()
    await verify_echo(probe)  # also makes the server load whatever it loads lazily
    probe.close()
    await asyncio.wait_for(probe.closed, 10)
    rss0 = target.server_rss()
    cpu0, own0, t0 = target.server_cpu(), time.process_time(), time.perf_counter()
    clients = await _open_many(target, args.idle_connections, args.concurrency)
    elapsed = time.perf_counter() - t0
    server_cpu, own_cpu = target.server_cpu() - cpu0, time.process_time() - own0
    # Measurement, not synchronisation: let per-connection work scheduled after the 101
    # (e.g. a handler's init) run before RSS is read.
    await asyncio.sleep(args.settle)
    rss1 = target.server_rss()
    # Every connection must still be open and answering: idle means alive, not dropped.
    alive = sum(1 for client in clients if not client.closed.done())
    for client in clients:
        client.close()
    if alive < len(clients):
        raise ConnectionError(f"the server closed {len(clients) - alive} idle connections")
    return {
        "kib_per_conn": (rss1 - rss0) / len(clients),
        "handshakes_per_s": len(clients) / elapsed,
        "alive": alive,
        "server_cpu_us_per_handshake": 1e6 * server_cpu / len(clients),
        "server_cpu_pct": 100 * server_cpu / elapsed,
        "loadgen_cpu_pct": 100 * own_cpu / elapsed,
    }


async def workload_e(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    subscribe = client_frame(TEXT, b"sub")
    clients = await _open_many(target, args.subscribers, args.concurrency, args.path)

    async def join(client: Client) -> None:
        client.send(subscribe)
        got = await client.receive()
        if got != (TEXT, b"ok"):
            raise AssertionError(f"no broadcast support: 'sub' answered with {got[1][:20]!r}")

    await asyncio.gather(*(join(client) for client in clients))
    received = [0]
    target_count = [0]
    loop = asyncio.get_running_loop()
    done: list[asyncio.Future[None]] = [loop.create_future()]

    def on_frames(count: int) -> None:
        received[0] += count
        if received[0] >= target_count[0] and not done[0].done():
            done[0].set_result(None)

    for client in clients:
        client.start_counting(on_frames)
    publisher = await target.connect(args.path)
    publish = client_frame(TEXT, b"pub:" + PAYLOAD)
    times: list[float] = []
    cpu0, own0, t_all = target.server_cpu(), time.process_time(), time.perf_counter()
    for round_ in range(args.rounds):
        target_count[0] = len(clients) * (round_ + 1)
        done[0] = loop.create_future()
        t0 = time.perf_counter()
        publisher.send(publish)
        await asyncio.wait_for(done[0], 30)
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_all
    server_cpu, own_cpu = target.server_cpu() - cpu0, time.process_time() - own0
    publisher.close()
    for client in clients:
        client.close()
    median = statistics.median(times)
    return {
        "broadcast_ms": 1000 * median,
        "deliveries_per_s": len(clients) / median,
        "server_cpu_pct": 100 * server_cpu / wall,
        "loadgen_cpu_pct": 100 * own_cpu / wall,
    }


WORKLOADS = {
    "a": workload_a,
    "b": workload_b,
    "c": workload_c,
    "d": workload_d,
    "e": workload_e,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--raw", action="store_true", help="no handshake: a raw TCP echo")
    parser.add_argument("--server-pid", type=int, default=0, help="for server CPU and RSS")
    parser.add_argument("--server-core", type=int, help="the CPU the server is pinned to")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--inflight", type=int, default=16)
    parser.add_argument("--bulk-connections", type=int, default=4)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    parser.add_argument("--idle-connections", type=int, default=5000)
    parser.add_argument("--subscribers", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--path", default="/broadcast", help="workload e's endpoint")
    parser.add_argument("--concurrency", type=int, default=64, help="handshakes in flight")
    parser.add_argument("--settle", type=float, default=0.5)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    target = Target(args)
    try:
        result = uvloop.run(WORKLOADS[args.workload](target, args))
    except Exception as exc:  # reported as a failed run, the others go on
        result = {"error": f"{type(exc).__name__}: {exc}"}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
