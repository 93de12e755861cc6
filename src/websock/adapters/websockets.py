"""``websockets`` host (the asyncio API of websockets >= 14): ``upgrade(connection,
handler, arg, **options)`` inside a connection handler, and ``serve(app, host, port)``
serving a whole websock app.

websockets frames the connection and answers pings itself, so the transport declares
``answers_pings = True``. It exposes no inbound ping, only the pong answering one of our
pings (as the future ``ping()`` returns): the bridge feeds that ``Pong`` to the runtime, so
keepalive works, but ``handle_control`` never sees the client's pings.

Options map onto the connection: ``max_message_size`` → the protocol's ``max_size`` (the
host closes 1009 itself), ``compress`` → whether permessage-deflate is offered to this
connection (``serve`` only; inside ``upgrade`` the handshake is already done),
``subprotocol`` → ``select_subprotocol``, ``headers`` → ``process_response``. Run the host
with ``ping_interval=None`` so keepalive is the runtime's (``serve`` does).
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from ..exceptions import ProtocolError, UpgradeError
from ..http import Headers, Request, Response
from ..options import Options
from ..protocol.events import CloseReceived
from ..results import Binary, Ping, Pong, Text
from ..runtime.transport import OutFrame
from ._bridge import Bridge, HostShutdown, Inbound, Lost, SessionRegistry, run_session

if TYPE_CHECKING:
    from websockets.asyncio.server import Server as WsServer
    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request as WsRequest
    from websockets.http11 import Response as WsResponse
    from websockets.typing import Subprotocol

__all__ = ["Server", "request_from_connection", "serve", "upgrade"]

log = logging.getLogger("websock.adapters.websockets")

WebSockApp: TypeAlias = Callable[[Request], Awaitable[Any]]


def _request(connection: ServerConnection, ws_request: WsRequest) -> Request:
    path, _, query = ws_request.path.partition("?")
    peer = connection.remote_address
    return Request(
        method="GET",  # websockets only accepts GET handshakes (RFC 6455 §4.1)
        path=path,
        query_string=query,
        headers=Headers(list(ws_request.headers.raw_items())),
        client=(str(peer[0]), int(peer[1])) if peer else None,
        http_version="1.1",
        scheme="ws",
        extra=MappingProxyType({"connection": connection}),
    )


def request_from_connection(connection: ServerConnection) -> Request:
    assert connection.request is not None, "the opening handshake has not happened"
    return _request(connection, connection.request)


class _WebsocketsIO:
    """``HostIO`` over one open ``ServerConnection``."""

    def __init__(self, connection: ServerConnection) -> None:
        self._conn = connection
        self._bridge: Bridge | None = None
        self._we_closed = False
        self._pending_close: CloseReceived | None = None

    def attach(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def event(self, message: Inbound) -> Inbound:
        return message  # receive() already translated it

    async def receive(self) -> Inbound:
        from websockets.exceptions import ConnectionClosed

        if self._pending_close is not None:
            return self._pending_close
        try:
            data = await self._conn.recv()
        except ConnectionClosed as exc:
            rcvd, sent = exc.rcvd, exc.sent
            if rcvd is None:
                if sent is not None and not self._we_closed:  # the host failed it
                    if sent.code == 1001:  # server.close(): the host is shutting down
                        return HostShutdown(1001)
                    self._pending_close = CloseReceived(None)
                    return ProtocolError(sent.code, sent.reason)
                return Lost(exc)
            close = CloseReceived(None if rcvd.code == 1005 else rcvd.code, rcvd.reason)
            if sent is not None and not exc.rcvd_then_sent and not self._we_closed:
                if sent.code == 1001:  # server.close(): the host is shutting down
                    return HostShutdown(1001)
                # websockets closed first by itself (a limit, a protocol error): report
                # the failure, then the peer's answer (RFC 6455 §7.1.7).
                self._pending_close = close
                return ProtocolError(sent.code, sent.reason)
            return close
        if isinstance(data, str):
            return Text(data)
        return Binary(data)

    def _on_pong(self, data: bytes, waiter: asyncio.Future[float]) -> None:
        if self._bridge is not None and not waiter.cancelled() and waiter.exception() is None:
            self._bridge.inject(Pong(data))

    async def send(self, frame: OutFrame) -> None:
        conn = self._conn
        if isinstance(frame, str):
            await conn.send(frame)
        elif isinstance(frame, Ping):
            data = frame.data
            future: asyncio.Future[float] = asyncio.ensure_future(await conn.ping(data))
            future.add_done_callback(functools.partial(self._on_pong, data))
        elif isinstance(frame, Pong):
            await conn.pong(frame.data)
        else:
            await conn.send(bytes(frame))

    async def send_close(self, code: int | None, reason: str) -> None:
        # Put our close frame on the wire and return: websockets finishes the handshake
        # once the handler returns (its own close_timeout), so the session need not wait
        # on it (Connection.close() may wait that long for the TCP close).
        self._we_closed = True
        from websockets.exceptions import InvalidState

        conn = self._conn
        try:
            conn.protocol.send_close(1000 if code is None else code, reason)
        except InvalidState:  # websockets is already closing (it failed the connection)
            return
        conn.send_data()

    async def abort(self) -> None:
        """Returning from the handler lets websockets close the connection itself."""


async def _run(connection: ServerConnection, value: Any, registry: SessionRegistry | None) -> None:
    options: Options = value.options
    connection.protocol.max_message_size = options.max_message_size
    io = _WebsocketsIO(connection)
    await run_session(
        io,
        value.handler,
        value.arg,
        options,
        answers_pings=True,
        supports_control_frames=True,
        registry=registry,
        on_bridge=io.attach,
    )


async def upgrade(connection: ServerConnection, handler: Any, arg: Any, **options: Any) -> None:
    """Run ``handler`` on this (already open) websockets connection until it ends.

    The handshake happened before the handler was called, so ``subprotocol``, ``headers``
    and ``compress`` are the host's (``serve(subprotocols=..., compression=...)``).
    """
    from ..upgrade import upgrade as websock_upgrade

    options.pop("subprotocol", None)
    value = websock_upgrade(request_from_connection(connection), handler, arg, **options)
    await _run(connection, value, None)


def _to_ws_response(response: Response) -> WsResponse:
    from websockets.datastructures import Headers as WsHeaders
    from websockets.http11 import Response as WsResponse

    body = response.body_bytes()
    headers = WsHeaders(response.header_pairs())
    if "Content-Length" not in headers:
        headers["Content-Length"] = str(len(body))
    try:
        phrase = http.HTTPStatus(response.status).phrase
    except ValueError:
        phrase = ""
    return WsResponse(response.status, phrase, headers, body)


def _error_response(exc: UpgradeError) -> Response:
    headers = [*exc.headers, ("content-type", "text/plain; charset=utf-8")]
    return Response(exc.status, headers, exc.message + "\n")


class Server:
    """A websockets server hosting a websock app; ``async with`` it, or ``close()`` it.

    Closing first drains our sessions (``terminate(Shutdown())``, close 1001), then lets
    websockets close what is left and stop listening.
    """

    def __init__(self, app: WebSockApp, host: str | None, port: int | None, **kwargs: Any) -> None:
        self.app = app
        self.sessions = SessionRegistry()
        self._decisions: dict[ServerConnection, Any] = {}
        self._host, self._port, self._kwargs = host, port, kwargs
        self.server: WsServer | None = None

    async def _process_request(
        self, connection: ServerConnection, ws_request: WsRequest
    ) -> WsResponse | None:
        try:
            decision = await self.app(_request(connection, ws_request))
        except UpgradeError as exc:
            decision = _error_response(exc)
        if isinstance(decision, Response):
            return _to_ws_response(decision)
        options: Options = decision.options
        if not options.compress:  # RFC 7692 §5: don't offer deflate to this connection
            connection.protocol.available_extensions = []
        self._decisions[connection] = decision
        return None

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        decision = self._decisions.get(connection)
        chosen: Subprotocol | None = None if decision is None else decision.subprotocol
        return chosen

    def _process_response(
        self, connection: ServerConnection, ws_request: WsRequest, response: WsResponse
    ) -> None:
        decision = self._decisions.get(connection)
        if decision is not None and response.status_code == 101:
            for name, value in decision.options.headers:
                response.headers[name] = value

    async def _handler(self, connection: ServerConnection) -> None:
        decision = self._decisions.pop(connection, None)
        if decision is None:
            return
        await _run(connection, decision, self.sessions)

    async def start(self) -> Server:
        from websockets.asyncio.server import serve as ws_serve

        kwargs: dict[str, Any] = {"ping_interval": None, "compression": "deflate", "max_size": None}
        kwargs.update(self._kwargs)
        self.server = await ws_serve(
            self._handler,
            self._host,
            self._port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            process_response=self._process_response,
            **kwargs,
        )
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(next(iter(self.server.sockets)).getsockname()[1])

    async def close(self, *, timeout: float = 10.0) -> None:
        await self.sessions.shutdown(1001, timeout=timeout)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def serve(
    app: WebSockApp, host: str | None = "127.0.0.1", port: int | None = 0, **kwargs: Any
) -> Server:
    """Serve ``app`` on the websockets library: ``async with serve(app, port=0) as server``.

    ``kwargs`` go to ``websockets.asyncio.server.serve`` (e.g. ``compression=None`` to never
    offer deflate). Denials go out through ``process_request`` with status, headers, body.
    """
    return Server(app, host, port, **kwargs)
