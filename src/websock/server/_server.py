"""``websock.serve()``: the built-in asyncio server hosting a websock app natively."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as _ssl
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..results import check_close
from ._busy_poll import BusyPollStats, check_busy_poll
from ._connection import PlainReads, PolledReads
from ._limits import HttpLimits
from ._state import App, ServerState, choose_head_parser
from ._tls import server_context

if TYPE_CHECKING:
    from ..runtime.session import Session

__all__ = ["Server", "serve"]

logger = logging.getLogger("websock.server")


def serve(
    app: App,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    ssl: _ssl.SSLContext | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    shutdown_code: int = 1001,
    shutdown_reason: str = "server shutting down",
    shutdown_timeout: float = 10.0,
    limits: HttpLimits | None = None,
    http_parser: str = "auto",
    reuse_port: bool = False,
    backlog: int = 2048,
    sock: socket.socket | None = None,
    busy_poll: float = 0.0,
) -> Server:
    """A server for ``app`` (an async callable ``app(request) -> Upgrade | Response``).

    Use it as ``async with serve(app, port=0) as server:`` (port 0 picks a free port, see
    ``server.port`` / ``server.url``), or ``server = await serve(...)`` then
    ``await server.serve_forever()``. ``shutdown()`` stops accepting, closes every WebSocket
    with ``shutdown_code`` after ``terminate(Shutdown())``, waits up to ``shutdown_timeout``
    seconds for the close handshakes and then drops what is left.
    TLS (wss): pass an ``ssl.SSLContext``, or ``certfile`` (and ``keyfile``).
    ``busy_poll`` (seconds, e.g. ``0.0001``; 0 = off): after a read, poll for up to this
    long instead of sleeping. Lower latency for chatty connections, paid in CPU: see
    ``websock.server._busy_poll`` and docs/performance.md.
    """
    return Server(
        app,
        host,
        port,
        ssl=ssl,
        certfile=certfile,
        keyfile=keyfile,
        shutdown_code=shutdown_code,
        shutdown_reason=shutdown_reason,
        shutdown_timeout=shutdown_timeout,
        limits=limits,
        http_parser=http_parser,
        reuse_port=reuse_port,
        backlog=backlog,
        sock=sock,
        busy_poll=busy_poll,
    )


class Server:
    """A running (or ready to run) built-in server; see ``serve()``."""

    def __init__(
        self,
        app: App,
        host: str | None = "127.0.0.1",
        port: int = 8000,
        *,
        ssl: _ssl.SSLContext | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        shutdown_code: int = 1001,
        shutdown_reason: str = "server shutting down",
        shutdown_timeout: float = 10.0,
        limits: HttpLimits | None = None,
        http_parser: str = "auto",
        reuse_port: bool = False,
        backlog: int = 2048,
        sock: socket.socket | None = None,
        busy_poll: float = 0.0,
    ) -> None:
        check_close(shutdown_code, shutdown_reason)
        self.busy_poll = check_busy_poll(busy_poll)
        if not shutdown_timeout > 0:
            raise ValueError("shutdown_timeout must be positive")
        if ssl is not None and certfile is not None:
            raise ValueError("pass either ssl= or certfile=/keyfile=, not both")
        self.app = app
        self._host = host
        self._port = port
        self._ssl = server_context(certfile, keyfile) if certfile is not None else ssl
        self.shutdown_code = shutdown_code
        self.shutdown_reason = shutdown_reason
        self.shutdown_timeout = shutdown_timeout
        self.limits = limits or HttpLimits()
        self._parse_head = choose_head_parser(http_parser)
        self._reuse_port = reuse_port
        self._backlog = backlog
        self._sock = sock
        self._server: asyncio.Server | None = None
        self._starting: asyncio.Future[None] | None = None
        self._bound: tuple[str, int] | None = None  # the first socket's address, once bound
        self._state: ServerState | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._stopped: asyncio.Event | None = None

    def __repr__(self) -> str:
        state = "stopped" if self._stopped is not None and self._stopped.is_set() else "serving"
        if self._server is None:
            state = "not started"
        return f"<Server {self.url} {state}, {self.connection_count} connection(s)>"

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> Server:
        """Bind and start accepting; idempotent (concurrent calls share one start)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)
        return self

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        state = ServerState(
            self.app,
            self.limits,
            self._parse_head,
            loop,
            tls=self._ssl is not None,
            busy_poll=self.busy_poll,
        )
        self._state = state
        self._stopped = asyncio.Event()
        kwargs: dict[str, Any] = {"ssl": self._ssl, "backlog": self._backlog}
        if self._ssl is not None:
            # connection_made() comes after the TLS handshake: bound that one too (slowloris).
            kwargs["ssl_handshake_timeout"] = self.limits.handshake_timeout
        if self._sock is not None:
            kwargs["sock"] = self._sock
        else:
            kwargs.update(host=self._host, port=self._port, reuse_port=self._reuse_port or None)
        # Connections start with plain reads (data_received): see HttpConnection.
        reads = PlainReads if state.poller is None else PolledReads
        self._server = await loop.create_server(lambda: reads(state), **kwargs)
        name = self._server.sockets[0].getsockname()
        self._bound = (str(name[0]), int(name[1]))
        logger.info("websock serving %s on %s", state.app_name, self.url)
        if state.poller is not None:
            logger.info("busy polling: up to %.0f µs after each read", self.busy_poll * 1e6)

    def __await__(self) -> Generator[Any, None, Server]:
        return self.start().__await__()

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def serve_forever(self) -> None:
        """Serve until ``shutdown()`` completes (cancelling this shuts down first)."""
        try:
            await self.start()
            assert self._stopped is not None
            await self._stopped.wait()
        except asyncio.CancelledError:
            await asyncio.shield(self.shutdown())
            raise

    async def shutdown(self, code: int | None = None, timeout: float | None = None) -> None:
        """Graceful shutdown (see ``close()``), returning once it is complete; concurrent
        and repeated calls wait for the same one."""
        if self._starting is None:
            return
        await asyncio.shield(self._starting)
        self.close(code, timeout)
        assert self._stopping is not None
        await asyncio.shield(self._stopping)

    def close(self, code: int | None = None, timeout: float | None = None) -> None:
        """Begin the graceful shutdown now: stop accepting, ``terminate(Shutdown())`` and a
        close frame with ``code`` for every WebSocket, idle HTTP connections closed, requests
        in flight answered then closed. Await ``shutdown()`` for the end: the close
        handshakes complete, or ``timeout`` seconds pass and the rest are dropped."""
        if self._stopping is not None or self._server is None:
            return
        assert self._state is not None
        code = self.shutdown_code if code is None else code
        state = self._state
        state.closing = True
        if state.poller is not None:
            state.poller.close()
        self._server.close()  # stop accepting (existing connections are ours to end)
        connections = list(state.connections)
        if connections:
            logger.info("shutting down: closing %d connection(s) with %d", len(connections), code)
        sessions: list[Session] = []
        for connection in connections:
            connection.shutdown(code, self.shutdown_reason)
            if connection.session is not None:
                sessions.append(connection.session)
        self._stopping = asyncio.ensure_future(
            self._drain(sessions, self.shutdown_timeout if timeout is None else timeout)
        )

    async def _drain(self, sessions: list[Session], timeout: float) -> None:
        assert self._server is not None and self._state is not None and self._stopped is not None
        state = self._state
        try:
            async with asyncio.timeout(timeout):
                await state.wait_drained()
                await asyncio.gather(*(s.wait_closed() for s in sessions))
        except TimeoutError:
            left = len(state.connections)
            logger.warning(
                "shutdown: %d connection(s) still open after %ss; dropping them", left, timeout
            )
            for connection in list(state.connections):
                connection.abort()
            # abort() reports connection_lost on the next loop iteration; terminate may be
            # async, so give the sessions a bounded moment to finish.
            try:
                async with asyncio.timeout(max(1.0, timeout)):
                    await state.wait_drained()
                    await asyncio.gather(*(s.wait_closed() for s in sessions))
            except TimeoutError:
                logger.error("shutdown: sessions did not finish after the transport was dropped")
        await self._server.wait_closed()
        logger.info("websock server stopped")
        self._stopped.set()

    def abort_all(self) -> None:
        """Drop every connection now, without close handshakes (a second SIGINT)."""
        if self._state is not None:
            for connection in list(self._state.connections):
                connection.abort()

    @property
    def http_parser(self) -> str:
        """Which request-head parser this server uses: ``"httptools"`` or ``"python"``."""
        return "httptools" if "httptools" in self._parse_head.__module__ else "python"

    def busy_poll_stats(self) -> BusyPollStats | None:
        """What busy polling has done so far (None when it is off or not started)."""
        if self._state is None or self._state.poller is None:
            return None
        return self._state.poller.stats()

    # --- addresses -----------------------------------------------------------------------------

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        if self._server is None:
            return ()
        return tuple(self._server.sockets)

    @property
    def port(self) -> int:
        """The bound port (the real one when created with port 0)."""
        return self._port if self._bound is None else self._bound[1]

    @property
    def host(self) -> str:
        if self._bound is not None:
            return self._bound[0]
        return self._host or "0.0.0.0"

    @property
    def url(self) -> str:
        """``ws://host:port`` (``wss://`` with TLS)."""
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{'wss' if self._ssl is not None else 'ws'}://{host}:{self.port}"

    @property
    def http_url(self) -> str:
        """The same address as ``http://`` / ``https://``, for pages the app serves."""
        return "http" + self.url[2:]

    @property
    def connection_count(self) -> int:
        return 0 if self._state is None else len(self._state.connections)
