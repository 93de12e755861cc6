"""What every connection of one server shares: the app, limits, the read buffer, the
connection registry used for graceful shutdown."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._busy_poll import BusyPoll
from ._http11 import HeadParser, parse_head_python
from ._limits import HttpLimits
from ._timers import TimerWheel

if TYPE_CHECKING:
    from ..http import Request
    from ._connection import HttpConnection

__all__ = ["App", "ServerState", "choose_head_parser"]

App = Callable[["Request"], Awaitable[Any]]

#: One read buffer per server: the loop fills it and calls buffer_updated() at once, and
#: the parsers copy what they keep, so connections never need their own.
READ_BUFFER_SIZE = 256 * 1024


def choose_head_parser(name: str = "auto") -> HeadParser:
    """``"httptools"`` (llhttp), ``"python"`` (the strict fallback) or ``"auto"``: httptools
    when installed, unless WEBSOCK_NO_EXTENSIONS=1 forces pure Python."""
    if name not in ("auto", "httptools", "python"):
        raise ValueError(f"http_parser must be 'auto', 'httptools' or 'python', not {name!r}")
    if name == "python" or (name == "auto" and os.environ.get("WEBSOCK_NO_EXTENSIONS") == "1"):
        return parse_head_python
    try:
        from ._httptools_head import parse_head_httptools
    except ImportError:
        if name == "httptools":
            raise
        return parse_head_python
    return parse_head_httptools


class ServerState:
    __slots__ = (
        "_drained",
        "app",
        "app_name",
        "clock",
        "closing",
        "connections",
        "limits",
        "loop",
        "parse_head",
        "poller",
        "read_view",
        "ws_scheme",
    )

    def __init__(
        self,
        app: App,
        limits: HttpLimits,
        parse_head: HeadParser,
        loop: asyncio.AbstractEventLoop,
        *,
        tls: bool,
        busy_poll: float = 0.0,
    ) -> None:
        self.app = app
        self.app_name = _describe(app)
        self.limits = limits
        self.parse_head = parse_head
        self.loop = loop
        #: Every connection's timers (handshake, idle, keepalive, close): one coarse wheel.
        self.clock = TimerWheel(loop)
        self.read_view = memoryview(bytearray(READ_BUFFER_SIZE))
        self.connections: set[HttpConnection] = set()
        self.closing = False
        self.ws_scheme = "wss" if tls else "ws"
        self._drained: asyncio.Event | None = None
        #: The poller of a server that busy-polls (serve(busy_poll=...)), else None.
        self.poller = BusyPoll(loop, busy_poll) if busy_poll > 0 else None

    def forget(self, connection: HttpConnection) -> None:
        self.connections.discard(connection)
        if not self.connections and self._drained is not None:
            self._drained.set()

    async def wait_drained(self) -> None:
        """Return once every connection is gone (used while shutting down)."""
        if not self.connections:
            return
        if self._drained is None:
            self._drained = asyncio.Event()
        await self._drained.wait()


def _describe(app: object) -> str:
    """``module:qualname`` of the app (or of its class, for callable instances)."""
    target = app if hasattr(app, "__qualname__") else type(app)
    module = getattr(target, "__module__", None)
    name = getattr(target, "__qualname__", repr(app))
    return f"{module}:{name}" if module else str(name)
