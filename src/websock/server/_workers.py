"""``--workers N``: N server processes sharing one port through SO_REUSEPORT, supervised.

The kernel spreads new connections over the workers' listening sockets (SO_REUSEPORT,
Linux 3.9+), so the parent never touches client traffic. It reserves the port (which also
resolves ``--port 0``), starts the workers, restarts one that dies, and on SIGTERM/SIGINT
forwards SIGTERM so every worker drains its own connections, then exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import time

__all__ = ["SUPERVISOR_ENV", "supervise"]

#: Tells a worker its supervisor's pid, so that it stops if the supervisor dies.
SUPERVISOR_ENV = "WEBSOCK_SUPERVISOR_PID"

logger = logging.getLogger("websock.server")

#: A worker that dies sooner than this after starting counts as crash-looping.
_FAST_EXIT = 2.0
_MAX_BACKOFF = 10.0


def supervise(argv: list[str], args: argparse.Namespace) -> int:
    if not hasattr(socket, "SO_REUSEPORT"):
        raise SystemExit("websock: --workers needs SO_REUSEPORT, which this platform lacks")
    # Bound but not listening: the kernel only hands connections to listening sockets, and
    # holding the port keeps it ours while a worker restarts.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    reserve = socket.socket(family, socket.SOCK_STREAM)
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserve.bind((args.host, args.port))
    port = reserve.getsockname()[1]
    command = [sys.executable, "-m", "websock", *_worker_argv(argv, port)]
    try:
        return asyncio.run(_Supervisor(command, args.workers, args.shutdown_timeout).run(port))
    finally:
        reserve.close()


def _worker_argv(argv: list[str], port: int) -> list[str]:
    out: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
            continue
        if item in ("--workers", "--port"):
            skip = True
            continue
        if item.startswith(("--workers=", "--port=")):
            continue
        out.append(item)
    return [*out, "--workers", "1", "--port", str(port), "--reuse-port"]


class _Supervisor:
    def __init__(self, command: list[str], count: int, shutdown_timeout: float) -> None:
        self.command = command
        self.count = count
        self.shutdown_timeout = shutdown_timeout
        self.stopping = asyncio.Event()
        self.procs: dict[int, asyncio.subprocess.Process] = {}

    async def run(self, port: int) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        logger.info("websock supervisor: %d workers on port %d", self.count, port)
        slots = [asyncio.create_task(self._slot(i)) for i in range(self.count)]
        await self.stopping.wait()
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self.shutdown_timeout + 5.0):
                await asyncio.gather(*slots)
        except TimeoutError:
            logger.error("websock supervisor: workers did not stop in time; killing them")
            for proc in self.procs.values():
                if proc.returncode is None:
                    proc.kill()
            await asyncio.gather(*slots)
        logger.info("websock supervisor: all workers stopped")
        return 0

    def _on_signal(self, signum: int) -> None:
        if not self.stopping.is_set():
            logger.info(
                "websock supervisor: %s received; stopping workers", signal.Signals(signum).name
            )
            self.stopping.set()

    async def _slot(self, index: int) -> None:
        """Keep one worker alive until the supervisor stops."""
        failures = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            # Own session: a terminal's Ctrl-C reaches only us, and we forward one SIGTERM
            # (a worker that got both would take the second as "drop everything now").
            proc = await asyncio.create_subprocess_exec(
                *self.command,
                start_new_session=True,
                env={**os.environ, SUPERVISOR_ENV: str(os.getpid())},
            )
            self.procs[index] = proc
            if self.stopping.is_set():  # a signal arrived while it was starting
                proc.send_signal(signal.SIGTERM)
            status = await proc.wait()
            if self.stopping.is_set():
                return
            failures = failures + 1 if time.monotonic() - started < _FAST_EXIT else 0
            delay = min(_MAX_BACKOFF, 0.1 * 2**failures) if failures else 0.0
            logger.warning(
                "websock supervisor: worker %d (pid %d) exited with status %s; restarting",
                index,
                proc.pid,
                status,
            )
            if delay:
                try:
                    async with asyncio.timeout(delay):
                        await self.stopping.wait()
                except TimeoutError:
                    pass
