"""aiohttp host: ``upgrade(request, handler, arg, **options)`` inside an aiohttp handler,
and ``serve_app(app)`` / ``make_handler(app)`` to serve a whole websock app.

aiohttp frames the connection; upgrade options map onto ``WebSocketResponse``:
``max_message_size`` → ``max_msg_size`` (aiohttp closes 1009 itself), ``compress`` →
``compress``, ``subprotocol`` → ``protocols``, ``close_timeout`` → ``timeout``. The runtime
owns keepalive and the idle timeout, so aiohttp's ``heartbeat`` stays off, and ``autoping``
is off so that ``handle_control`` sees every ping and pong (the runtime sends the pong,
RFC 6455 §5.5.2). ``autoclose`` is off too: the runtime answers the peer's close, so an
invalid close code gets 1002 (RFC 6455 §7.4.1) where aiohttp would echo 1000. aiohttp is
imported when these functions run, not at import time.
"""

from __future__ import annotations

import logging
import struct
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ..exceptions import ProtocolError, UpgradeError
from ..http import Headers, Request, Response
from ..options import Options
from ..protocol.events import CloseReceived
from ..protocol.frames import SMALL_BINARY_HEADERS, SMALL_TEXT_HEADERS, Opcode, encode_header
from ..results import Binary, Ping, Pong, Text
from ..runtime.transport import OutFrame
from ._bridge import Inbound, Lost, SessionRegistry, run_session

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.abc import AbstractStreamWriter

__all__ = ["close_on_shutdown", "make_handler", "request_from_aiohttp", "serve_app", "upgrade"]

log = logging.getLogger("websock.adapters.aiohttp")

WebSockApp: TypeAlias = Callable[[Request], Awaitable[Any]]


def request_from_aiohttp(request: web.BaseRequest) -> Request:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    version = request.version
    return Request(
        method=request.method,
        path=request.path,
        query_string=request.query_string,
        headers=Headers(list(request.headers.items())),
        client=(str(peer[0]), int(peer[1])) if peer else None,
        http_version=f"{version.major}.{version.minor}",
        scheme="wss" if request.secure else "ws",
        extra=MappingProxyType(
            {"match_info": dict(getattr(request, "match_info", {})), "request": request}
        ),
    )


def _to_aiohttp_response(response: Response) -> web.Response:
    from aiohttp import web
    from multidict import CIMultiDict

    return web.Response(
        status=response.status,
        headers=CIMultiDict(response.header_pairs()),
        body=response.body_bytes(),
    )


def _error_response(exc: UpgradeError) -> Response:
    headers = [*exc.headers, ("content-type", "text/plain; charset=utf-8")]
    return Response(exc.status, headers, exc.message + "\n")


class _Stopping:
    """Set by ``serve_app``'s shutdown hook before it closes the open sessions."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False


class _AiohttpIO:
    """``HostIO`` over one prepared ``WebSocketResponse``."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.BaseRequest,
        stopping: _Stopping | None,
        writer: AbstractStreamWriter | None = None,
    ) -> None:
        from aiohttp import WSMsgType

        self._ws = ws
        self._request = request
        self._stopping = stopping
        self._dropped = False
        self._failed = False
        self._text, self._binary = WSMsgType.TEXT, WSMsgType.BINARY  # the hot path
        self._transport = request.transport
        self._drain = writer.drain if writer is not None else None
        # Uncompressed messages are a header and the payload (RFC 6455 §5.2): the bridge
        # may hand a run of them to write_many, one socket write for all. With
        # permessage-deflate (RFC 7692) aiohttp's compressor must see every message.
        self.write_many: Callable[[Sequence[Any]], Awaitable[None] | None] | None = (
            self._write_many if not ws.compress and writer is not None else None
        )
        # aiohttp's receive() acts on its own when it meets an error (it sends its close
        # frame before returning ERROR), so the bridge may only take it ahead of our sends
        # while it returns a plain message or waits for the network. aiohttp's reader queue
        # tells; an aiohttp without that queue gets no draining (one receive per turn).
        queue = getattr(ws, "_reader", None)
        buffer = getattr(queue, "_buffer", None)
        is_eof = getattr(queue, "is_eof", None)
        self._buffer: deque[Any] = buffer if isinstance(buffer, deque) else deque()
        self._is_eof: Callable[[], bool] = is_eof if callable(is_eof) else _never
        self.ready: Callable[[], bool] = (
            self._ready if isinstance(buffer, deque) and callable(is_eof) else _never
        )

    def _ready(self) -> bool:
        buffer = self._buffer
        if not buffer:
            # Nothing parsed yet: receive() just waits for the network, unless the reader
            # ended (EOF, or a protocol error it reports by closing first).
            return not self._is_eof()
        try:
            kind = buffer[0][0].type  # (message, size) pairs
        except (AttributeError, IndexError, TypeError):
            return False
        return kind is self._text or kind is self._binary

    def receive(self) -> Coroutine[Any, Any, Any]:
        if self._failed:  # aiohttp already sent its close after a protocol error
            return _after_failure()
        # aiohttp's own coroutine: the bridge steps it inline, so the messages its reader
        # already parsed cost no task switch each.
        return self._ws.receive()

    def event(self, msg: Any) -> Inbound:
        if msg is None:  # _after_failure()
            return CloseReceived(self._ws.close_code)
        kind = msg.type
        if kind is self._text:
            return Text(msg.data)
        if kind is self._binary:
            return Binary(msg.data)
        from aiohttp import WSMsgType

        if kind is WSMsgType.PING:
            return Ping(msg.data)
        if kind is WSMsgType.PONG:
            return Pong(msg.data)
        if kind is WSMsgType.CLOSE:  # autoclose=False: the runtime answers (send_close)
            # An empty close payload comes as code 0 (aiohttp rejects a real 0 as invalid):
            # no status code (RFC 6455 §7.1.5).
            code = msg.data
            return CloseReceived(None if code in (None, 0, 1005) else int(code), msg.extra or "")
        if kind is WSMsgType.CLOSING:
            # Our own close() is reading the peer's answer; it reports the outcome.
            return CloseReceived(self._ws.close_code)
        if kind is WSMsgType.ERROR:
            exc = msg.data
            code = getattr(exc, "code", None)
            if isinstance(code, int) and code != 1006:
                self._failed = True
                return ProtocolError(code, str(exc))
            return Lost(exc if isinstance(exc, BaseException) else None)
        return Lost(None)  # CLOSED: the TCP connection ended without a close frame

    def send(self, frame: OutFrame) -> Coroutine[Any, Any, None]:
        # Not a coroutine itself: it returns aiohttp's, one frame less per message (the
        # bridge steps it inline).
        ws = self._ws
        kind = type(frame)
        if kind is str:
            return ws.send_str(frame)  # type: ignore[arg-type]
        if kind is bytes:
            return ws.send_bytes(frame)  # type: ignore[arg-type]
        if isinstance(frame, Ping):
            return ws.ping(frame.data)
        if isinstance(frame, Pong):
            return ws.pong(frame.data)
        return ws.send_bytes(bytes(frame))  # type: ignore[arg-type]

    def _write_many(self, messages: Sequence[Any]) -> Awaitable[None] | None:
        transport = self._transport
        if self._ws.closed or transport is None or transport.is_closing():
            # What aiohttp's own send raises: nothing after the close frame (RFC 6455 §5.5.1).
            raise ConnectionResetError("Cannot write to closing transport")
        write = transport.write
        if len(messages) == 1:
            # One message (an echo, a reply): one write of header + payload.
            header, payload = _frame_parts(messages[0])
            if len(payload) < _JOIN_LIMIT:
                write(header + payload)
            else:
                write(header)
                write(payload)
        else:
            self._write_joined(write, messages)
        # The socket took less than all of it: aiohttp's drain waits while the transport is
        # above its high water (and returns at once below it), as aiohttp's send does.
        if transport.get_write_buffer_size() and self._drain is not None:
            return self._drain()
        return None

    @staticmethod
    def _write_joined(write: Callable[[bytes], object], messages: Iterable[Any]) -> None:
        """Several messages: their frames joined into one write (large payloads apart)."""
        parts: list[bytes] = []
        for message in messages:
            header, payload = _frame_parts(message)
            if len(payload) < _JOIN_LIMIT:
                parts.append(header)
                parts.append(payload)
            else:  # a large payload goes out as is, not copied into one buffer
                parts.append(header)
                write(b"".join(parts))
                parts.clear()
                write(payload)
        if parts:
            write(b"".join(parts))

    async def send_close(self, code: int | None, reason: str) -> None:
        code = 1000 if code is None else code
        if self._stopping is not None and self._stopping.value:
            await self._close_for_shutdown(code, reason)
            return
        await self._ws.close(code=code, message=reason.encode())

    async def _close_for_shutdown(self, code: int, reason: str) -> None:
        # Once aiohttp's shutdown began (``on_shutdown`` runs after it), its protocol
        # discards every inbound byte, so ``ws.close()`` would wait its whole timeout for
        # a close answer it can never read. Send our close frame (RFC 6455 §5.5.1) and
        # end TCP once it is written: the server may close first (§7.1.1).
        from aiohttp import WSMsgType

        await self._ws.send_frame(struct.pack("!H", code) + reason.encode(), WSMsgType.CLOSE)
        self._dropped = True
        transport = self._request.transport
        if transport is not None:
            transport.close()  # flushes what is buffered, then FIN

    async def abort(self) -> None:
        # Reached with the handshake unfinished only when the session gave up on the peer;
        # a no-op once our close went out (aiohttp marks the response closed).
        if not self._ws.closed and not self._dropped:
            await self._ws.close(code=1011)


def _frame_parts(message: Any) -> tuple[bytes, Any]:
    """A data message's frame header (RFC 6455 §5.2: a str is text, else binary) and payload."""
    if type(message) is str:
        payload: Any = message.encode()
        n = len(payload)
        return (SMALL_TEXT_HEADERS[n] if n < 126 else encode_header(Opcode.TEXT, n)), payload
    n = len(message)
    return (SMALL_BINARY_HEADERS[n] if n < 126 else encode_header(Opcode.BINARY, n)), message


#: Payloads from this size on are written separately instead of joined with the others.
_JOIN_LIMIT: Final = 16 * 1024


def _never() -> bool:
    return False


async def _after_failure() -> None:
    """What ``receive`` returns once aiohttp failed the connection (``event`` reads it)."""
    return None


def _make_ws(options: Options, subprotocol: str | None) -> web.WebSocketResponse:
    from aiohttp import web

    ws = web.WebSocketResponse(
        timeout=options.close_timeout,
        autoclose=False,
        autoping=False,
        heartbeat=None,
        protocols=(subprotocol,) if subprotocol else (),
        compress=options.compress,
        # aiohttp refuses a message of exactly max_msg_size bytes; ours is an inclusive limit.
        max_msg_size=options.max_message_size + 1,
        writer_limit=options.write_high_water,
    )
    for name, value in options.headers:
        ws.headers.add(name, value)
    return ws


async def _run(
    http_request: web.Request,
    value: Any,
    registry: SessionRegistry | None,
    stopping: _Stopping | None = None,
) -> web.WebSocketResponse:
    options: Options = value.options
    ws = _make_ws(options, value.subprotocol)
    writer = await ws.prepare(http_request)
    await run_session(
        _AiohttpIO(ws, http_request, stopping, writer),
        value.handler,
        value.arg,
        options,
        answers_pings=False,
        supports_control_frames=True,
        answers_close=False,
        registry=registry,
    )
    return ws


async def upgrade(
    request: web.Request, handler: Any, arg: Any, **options: Any
) -> web.StreamResponse:
    """Run ``handler`` on this request's WebSocket until it ends; return the response.

    Use it as the last line of an aiohttp handler: ``return await upgrade(request, H(), arg)``.
    An invalid handshake returns a 400/426 response instead (``UpgradeError``).
    """
    from ..upgrade import upgrade as websock_upgrade

    try:
        value = websock_upgrade(request_from_aiohttp(request), handler, arg, **options)
    except UpgradeError as exc:
        return _to_aiohttp_response(_error_response(exc))
    tracked = _tracking(request)
    if tracked is None:
        return await _run(request, value, None)
    registry, stopping = tracked
    return await _run(request, value, registry, stopping)


def close_on_shutdown(app: web.Application) -> web.Application:
    """Make ``upgrade`` inside ``app``'s own handlers stop with the server: aiohttp's
    ``on_shutdown`` gives every open websock connection ``terminate(Shutdown())`` and a
    1001 close frame (RFC 6455 §7.4.1, going away), then the handlers return.

    Call it before the app starts (aiohttp freezes its signals then); returns ``app``.
    Without it aiohttp discards input once its shutdown began, waits its
    ``shutdown_timeout`` for the handlers, cancels them and closes TCP: the session still
    gets ``terminate(Shutdown())``, but no close frame can reach the client (1006).
    ``serve_app`` does this by itself.
    """
    registry = SessionRegistry()
    stopping = _Stopping()

    async def on_shutdown(_: web.Application) -> None:
        stopping.value = True
        await registry.shutdown(1001)

    app.on_shutdown.append(on_shutdown)
    _TRACKED[app] = (registry, stopping)
    return app


def _tracking(request: web.Request) -> tuple[SessionRegistry, _Stopping] | None:
    """What ``close_on_shutdown`` left for the application serving ``request`` (or one
    it is mounted in)."""
    for app in reversed(request.match_info.apps):
        tracked = _TRACKED.get(app)
        if tracked is not None:
            return tracked
    return None


#: Applications given ``close_on_shutdown``: their registry and shutdown flag. Weak keys,
#: so an application that is dropped is not kept alive.
_TRACKED: weakref.WeakKeyDictionary[Any, tuple[SessionRegistry, _Stopping]] = (
    weakref.WeakKeyDictionary()
)


def make_handler(
    app: WebSockApp, registry: SessionRegistry | None = None, *, _stopping: _Stopping | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler serving the websock ``app`` (denials become plain responses)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            decision = await app(request_from_aiohttp(request))
        except UpgradeError as exc:
            decision = _error_response(exc)
        if isinstance(decision, Response):
            return _to_aiohttp_response(decision)
        return await _run(request, decision, registry, _stopping)

    return handle


def serve_app(app: WebSockApp) -> web.Application:
    """An aiohttp ``Application`` routing every GET to ``app``; its shutdown drains the
    open connections (``terminate(Shutdown())``, close 1001) before aiohttp cancels them."""
    from aiohttp import web

    registry = SessionRegistry()
    stopping = _Stopping()
    application = web.Application()
    application.router.add_get("/{tail:.*}", make_handler(app, registry, _stopping=stopping))

    async def on_shutdown(_: web.Application) -> None:
        stopping.value = True
        await registry.shutdown(1001)

    application.on_shutdown.append(on_shutdown)
    return application
