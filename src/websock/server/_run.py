"""Run one server in this process until SIGTERM/SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from ._server import Server, serve
from ._state import App
from ._workers import SUPERVISOR_ENV

__all__ = ["new_event_loop_factory", "run"]

logger = logging.getLogger("websock.server")


def new_event_loop_factory(use_uvloop: bool = True) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop when installed and wanted, else the stdlib's.

    WEBSOCK_NO_EXTENSIONS=1 (pure Python everywhere, for tests) also means the stdlib loop.
    """
    if use_uvloop and os.environ.get("WEBSOCK_NO_EXTENSIONS") != "1":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
            return factory
    return asyncio.new_event_loop


def run(app: App, *, use_uvloop: bool = True, banner: str | None = None, **options: Any) -> int:
    """Serve ``app`` (``serve()`` keywords in ``options``) until a signal; exit status 0.

    The first SIGTERM/SIGINT starts the graceful shutdown (close code, deadline); a second
    one drops every connection at once.
    """
    with asyncio.Runner(loop_factory=new_event_loop_factory(use_uvloop)) as runner:
        try:
            runner.run(_serve(app, banner, options))
        except OSError as exc:  # the address is taken, not ours, ...
            where = f"{options.get('host', '127.0.0.1')}:{options.get('port', 8000)}"
            logger.error("websock cannot listen on %s: %s", where, exc)
            return 1
    return 0


async def _serve(app: App, banner: str | None, options: dict[str, Any]) -> None:
    server = serve(app, **options)
    loop = asyncio.get_running_loop()
    signals = 0
    started = False

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        name = signal.Signals(signum).name
        if not started:
            return  # acted on once start() returns (close() would be a no-op before)
        if signals == 1:
            logger.info("%s received: shutting down gracefully", name)
            server.close()  # serve_forever() returns when the drain is complete
        else:
            logger.warning("%s received again: dropping every connection now", name)
            server.abort_all()

    # Installed before listening: the first client may be served (and a signal sent)
    # before start() returns to us.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    # Set by a --workers supervisor for its own children only: taken out of the
    # environment so that processes the app starts are never mistaken for workers.
    supervisor = os.environ.pop(SUPERVISOR_ENV, None)
    try:
        await server.start()
        started = True
        loop_name = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
        logger.info("event loop: %s; HTTP parser: %s", loop_name, server.http_parser)
        if signals:
            logger.info("signal received while starting: shutting down gracefully")
            server.close()
        if supervisor is not None:
            _watch_supervisor(loop, server, int(supervisor))
        if os.environ.get("WEBSOCK_GC_FREEZE", "1") != "0":
            # Everything alive now (modules, the app, the loop) lives as long as the process:
            # keep it out of the collector's full passes, whose cost would otherwise include
            # it once per pass, on top of the live connections (CPython's gc.freeze(), meant
            # for exactly this: long-lived startup state).
            gc.collect()
            gc.freeze()
        if banner:
            print(
                banner.format(url=server.url, http_url=server.http_url), file=sys.stdout, flush=True
            )
        await server.serve_forever()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _watch_supervisor(loop: asyncio.AbstractEventLoop, server: Server, pid: int) -> None:
    """A ``--workers`` worker shuts down gracefully if its supervisor dies (SIGKILL, OOM):
    it was reparented, so ``getppid()`` changed. Checked now, since the supervisor may
    have died while this worker was starting (it would never be checked otherwise), then
    once a second."""

    def check() -> None:
        if os.getppid() != pid:
            logger.warning("supervisor (pid %d) is gone: shutting down", pid)
            server.close()
        else:
            loop.call_later(1.0, check)

    check()
