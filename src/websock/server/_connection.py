"""One client connection of the built-in server: HTTP/1.1 until upgraded, then WebSocket.

The protocol object is also the runtime's ``Transport`` (runtime/transport.py), so the hot
path is plain method calls with no task, future or queue per message:

    buffer_updated ─► ServerConnection.receive_data ─► Session.feed ─► handler
                   ◄─ transport.write (one per read batch) ◄─ flush ◄─ send_frames

Reads land in the server's one preallocated buffer (``get_buffer``): the event loop calls
``buffer_updated`` right after filling it, and the frame parser copies what it keeps, so
read memory does not grow with the number of connections.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from ..exceptions import UpgradeError
from ..http import Headers, Request, Response
from ..protocol import _accel
from ..protocol.connection import LARGE_PAYLOAD, ServerConnection
from ..protocol.deflate import PerMessageDeflate
from ..protocol.handshake import build_101, build_error, build_response
from ..results import Push
from ..runtime.adopt import resume
from ..runtime.context import current
from ..runtime.session import Session
from ..upgrade import Upgrade
from ._http11 import HttpError, ParsedHead, RequestReader
from ._timers import WheelTimer

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from ..runtime.session import TimerHandle
    from ..runtime.transport import OutFrame, PreparedFrame
    from ._state import ServerState

__all__ = ["HttpConnection"]

logger = logging.getLogger("websock.server")

# Connection phases.
_HEAD: Final = 0  # waiting for (the rest of) a request head
_BODY: Final = 1  # discarding a request body
_APP: Final = 2  # the app is deciding; reading paused
_WEBSOCKET: Final = 3  # upgraded: bytes go to the frame parser
_CLOSED: Final = 4

#: Once we are done with a connection we half-close it and keep reading (and discarding)
#: for at most this long. Closing a socket with unread input makes the kernel answer with
#: RST, which can destroy what is still in flight to the peer: our close frame, the echo
#: before it, an error response (RFC 6455 §7.1.1: the server closes the TCP connection
#: first, and cleanly; RFC 9112 §9.6 describes the same for HTTP).
_LINGER: Final = 2.0


def _plain(status: int, text: str) -> bytes:
    """A short text/plain answer after which we close the connection."""
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    return build_response(Response(status, headers, text + "\n"), keep_alive=False)


def _expects_continue(head: ParsedHead) -> bool:
    return any(
        name.lower() == "expect" and value.lower() == "100-continue" for name, value in head.headers
    )


def _asks_close(response: Response) -> bool:
    return any(
        name.lower() == "connection" and "close" in value.lower()
        for name, value in response.header_pairs()
    )


class HttpConnection(asyncio.BufferedProtocol):
    # runtime.Transport: the runtime answers pings itself and may send control frames.
    answers_pings = False
    supports_control_frames = True

    __slots__ = (
        "_body_left",
        "_client",
        "_close_after",
        "_conn",
        "_deflate",
        "_head",
        "_idle",
        "_inline",
        "_lingering",
        "_phase",
        "_reader",
        "_reading",
        "_session",
        "_state",
        "_task",
        "_timer",
        "_transport",
        "_view",
    )

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._view = state.read_view
        self._transport: asyncio.Transport | None = None
        # Dropped once upgraded (one object fewer per WebSocket connection).
        self._reader: RequestReader | None = RequestReader(state.limits, state.parse_head)
        self._phase = _HEAD
        self._head: ParsedHead | None = None
        self._body_left = 0
        self._timer: TimerHandle | None = None
        self._idle = True  # no byte of the next request yet
        self._inline = False  # the app is running inside _advance (not in a task)
        self._reading = True
        self._close_after = False  # answer the request in flight, then close
        self._lingering = False  # half-closed by us, draining input until the peer's FIN
        self._task: asyncio.Task[None] | None = None
        self._client: tuple[str, int] | None = None
        self._conn: ServerConnection | None = None
        self._deflate: PerMessageDeflate | None = None
        self._session: Session | None = None

    # --- asyncio protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        self._state.connections.add(self)
        if self._state.closing:  # accepted just before the listener closed
            transport.close()
            return
        self._arm(self._state.limits.handshake_timeout)

    # Two ways in: uvloop hands a read to data_received() as a bytes object (one Python
    # call), or to get_buffer() + buffer_updated() in our buffer (two calls, no copy).
    # Small reads, the common case, are cheaper the first way; the payload of a large
    # frame the second (no bytes object of each read). A connection reads the first way
    # (class PlainReads) and switches while a large frame arrives (_read_large).

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        # With the C accelerator this is the fallback of a C data_received that does all of
        # this in one call for an upgraded connection's common read (protocol/_serve.c).
        if conn is not None and not self._lingering:
            events = conn.receive_data(data)
            if events:
                assert self._session is not None
                self._session.feed(events)
            # conn.large_payload_pending(), inlined: this runs once per read.
            if conn._in_frame and conn._remaining >= LARGE_PAYLOAD:
                self._read_large(True)
        elif not self._lingering:
            self._receive_http(memoryview(data))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._state.read_view

    def buffer_updated(self, nbytes: int) -> None:
        conn = self._conn
        if conn is not None and not self._lingering:
            events = conn.receive_data(self._view[:nbytes])
            if events:
                assert self._session is not None
                self._session.feed(events)
            if not conn.large_payload_pending():
                self._read_large(False)
        elif not self._lingering:
            self._receive_http(self._state.read_view[:nbytes])

    def _read_large(self, large: bool) -> None:
        """Switch how the event loop hands reads over (see data_received)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._state.poller is None:
            cls: type[HttpConnection] = HttpConnection if large else PlainReads
        else:
            cls = PolledLargeReads if large else PolledReads
        if type(self) is not cls:
            self.__class__ = cls
            # uvloop looks at the protocol's class again (asyncio's loops always use
            # get_buffer here: the class is a BufferedProtocol either way).
            transport.set_protocol(self)

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = _CLOSED
        self._cancel_timer()
        self._state.forget(self)
        if self._session is not None:
            self._session.connection_lost(exc)
        elif self._task is not None and not self._task.done():
            self._task.cancel()

    def pause_writing(self) -> None:
        # asyncio's flow control: the write buffer crossed write_high_water.
        if self._session is not None:
            self._session.pause_writing()

    def resume_writing(self) -> None:
        if self._session is not None:
            self._session.resume_writing()

    # --- runtime.Transport ---------------------------------------------------------------------

    @property
    def frame_sink(self) -> ServerConnection:
        # The session sends through the frame encoder directly: one Python call fewer per
        # message than the forwarding method below (runtime/transport.py).
        assert self._conn is not None
        return self._conn

    def send_frames(self, frames: Sequence[OutFrame]) -> None:
        assert self._conn is not None
        self._conn.send_frames(frames)

    def send_close(self, code: int | None, reason: str) -> None:
        assert self._conn is not None
        self._conn.send_close(code, reason)

    def flush(self) -> None:
        conn = self._conn
        transport = self._transport
        assert conn is not None and transport is not None
        out = conn._out
        if len(out) == 1:
            # The common case, one frame (or one joined run) per read: taken from the
            # encoder's queue here rather than through pieces_to_send(), one call fewer
            # on the per-message path.
            data = out.pop()
            if not transport.is_closing():
                transport.write(data)
            return
        # Large payloads stay separate pieces: uvloop sends them with one writev, no copy.
        pieces = conn.pieces_to_send()
        if pieces and not transport.is_closing():
            if len(pieces) == 1:
                transport.write(pieces[0])
            else:
                transport.writelines(pieces)

    def send_prepared(self, frame: PreparedFrame) -> None:
        # runtime.RawTransport (PubSub's fast lane): bytes encoded once for many connections.
        assert self._conn is not None
        self._conn.send_encoded(frame.encoded(self._deflate, self._conn.options))

    def close(self) -> None:
        """Flush, send our FIN, drain the peer's input until its FIN (at most ``_LINGER``
        seconds, then drop everything)."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._lingering:
            return
        self._cancel_timer()
        self._phase = _CLOSED
        if not transport.can_write_eof():  # TLS: close() sends close_notify
            transport.close()
            return
        self._lingering = True
        transport.write_eof()  # after the buffered bytes
        self.resume_reading()
        self._timer = self._state.loop.call_later(_LINGER, transport.abort)

    def pause_reading(self) -> None:
        if self._reading and self._transport is not None and not self._transport.is_closing():
            self._reading = False
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if not self._reading and self._transport is not None and not self._transport.is_closing():
            self._reading = True
            self._transport.resume_reading()

    def write_buffer_size(self) -> int:
        return 0 if self._transport is None else self._transport.get_write_buffer_size()

    # --- server → connection -------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        return self._session

    def shutdown(self, code: int, reason: str) -> None:
        """The server is stopping: close the WebSocket handshake-first, idle HTTP at once,
        and a request in flight after its response."""
        if self._session is not None:
            self._session.shutdown(code, reason)
        elif self._phase == _HEAD and self._idle:
            self.close()
        else:
            self._close_after = True

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # --- HTTP ----------------------------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        self._cancel_timer()
        self._timer = self._state.clock.call_later(delay, self._on_timeout)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        if self._phase in (_HEAD, _BODY) and not (self._idle and self._phase == _HEAD):
            # Slowloris: the request did not complete in time, however busy the client was.
            self._log_rejected(408, "request not complete within the handshake timeout")
            self._write_and_close(_plain(408, "request timeout"))
        elif self._phase == _HEAD:
            self.close()  # an idle keep-alive connection

    def _receive_http(self, data: memoryview) -> None:
        if self._idle:
            self._idle = False
            timer = self._timer
            delay = self._state.limits.handshake_timeout
            if isinstance(timer, WheelTimer) and timer.callback is not None:
                # Same callback, later deadline: moved, not replaced (no new entry).
                timer.postpone(time.monotonic() + delay)
            else:
                self._arm(delay)
        if self._phase == _BODY and self._body_left:
            take = min(len(data), self._body_left)
            self._body_left -= take
            data = data[take:]
        reader = self._reader
        assert reader is not None
        if data:
            reader.feed(data)
        if len(reader.buffer) > self._state.limits.max_head_size + 65536:
            # Pipelined input is only buffered while a request is in flight; bound it.
            self.pause_reading()
        self._advance()

    def _advance(self) -> None:
        """Act on buffered input: parse heads, skip bodies, dispatch complete requests."""
        reader = self._reader
        assert reader is not None
        try:
            while self._phase in (_HEAD, _BODY):
                if self._phase == _HEAD:
                    head = reader.read_head()
                    if head is None:
                        return
                    self._head = head
                    self._body_left = head.content_length
                    self._phase = _BODY
                    if self._body_left and not reader.buffer and _expects_continue(head):
                        # RFC 9110 §10.1.1: the client waits for this before the body.
                        assert self._transport is not None
                        self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if self._body_left:
                    buffered = reader.buffer
                    take = min(len(buffered), self._body_left)
                    del buffered[:take]
                    self._body_left -= take
                    if self._body_left:
                        return
                self._dispatch()
        except HttpError as exc:
            self._reject(exc)

    def _reject(self, exc: HttpError) -> None:
        # The framing is unreliable after a malformed request: answer and close.
        self._log_rejected(exc.status, exc.reason)
        self._write_and_close(_plain(exc.status, exc.reason))

    def _dispatch(self) -> None:
        head = self._head
        assert head is not None
        self._phase = _APP
        self._head = None  # not kept for the connection's life (fewer objects for the GC)
        self._cancel_timer()
        request = Request(
            method=head.method,
            path=head.path,
            query_string=head.query_string,
            headers=Headers(head.headers),
            client=self._client,
            http_version=head.version,
            scheme=self._state.ws_scheme,
        )
        # The app runs inline, like the runtime's callbacks (runtime/adopt.py): most apps
        # decide without awaiting anything, and then cost no task, no loop iteration and no
        # pause/resume of reading. One that suspends is adopted by a task, reading paused.
        # Its own context, as a task would give it: context variables it sets stay its own.
        coro = self._run_app(request, head)
        context = contextvars.copy_context()
        self._inline = True
        try:
            yielded = context.run(coro.send, None)
        except StopIteration:
            return
        finally:
            self._inline = False
        self.pause_reading()
        self._task = self._state.loop.create_task(self._adopted(coro, yielded), context=context)

    async def _adopted(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        await resume(coro, yielded)

    async def _run_app(self, request: Request, head: ParsedHead) -> None:
        try:
            await self._decide(request, head)
        except Exception:
            # A bug on our side: never leave the connection (or the task's error) dangling.
            logger.exception("internal error serving %s %s", request.method, request.path)
            self.abort()

    async def _decide(self, request: Request, head: ParsedHead) -> None:
        try:
            result: Any = await self._state.app(request)
        except UpgradeError as exc:
            if self._phase == _CLOSED:
                return
            self._log_rejected(exc.status, exc.message, request)
            keep_alive = self._may_keep_alive(head)
            self._respond(build_error(exc, keep_alive=keep_alive), keep_alive)
            return
        except Exception:
            logger.exception(
                "app %s raised handling %s %s from %s; answered 500",
                self._state.app_name,
                request.method,
                request.path,
                _peer(self._client),
            )
            self._write_and_close(_plain(500, "internal server error"))
            return
        if self._phase == _CLOSED:
            return
        if isinstance(result, Upgrade):
            self._upgrade(result, request)
            return
        if isinstance(result, Response) and result.status >= 200:
            keep_alive = self._may_keep_alive(head) and not _asks_close(result)
            try:
                data = build_response(result, keep_alive=keep_alive)
            except ValueError as exc:
                logger.error(
                    "app %s returned an invalid response for %s %s: %s",
                    self._state.app_name,
                    request.method,
                    request.path,
                    exc,
                )
            else:
                if request.method == "HEAD":
                    # RFC 9110 §9.3.2: the headers GET would get (Content-Length too), no body.
                    data = data[: len(data) - len(result.body_bytes())]
                if head.wants_upgrade and result.status >= 400:
                    self._log_rejected(result.status, "denied by the app", request)
                self._respond(data, keep_alive)
                return
        else:
            logger.error(
                "app %s returned %r for %s %s; expected websock.upgrade(...) or a "
                "Response with a final status (>= 200)",
                self._state.app_name,
                result,
                request.method,
                request.path,
            )
        self._write_and_close(_plain(500, "internal server error"))

    def _may_keep_alive(self, head: ParsedHead) -> bool:
        return head.keep_alive and not self._close_after and not self._state.closing

    def _respond(self, data: bytes, keep_alive: bool) -> None:
        if not keep_alive:
            self._write_and_close(data)
            return
        assert self._transport is not None
        self._transport.write(data)
        # Keep-alive: wait for the next request, which may already be buffered.
        self._phase = _HEAD
        self._head = None
        self._task = None
        assert self._reader is not None
        self._idle = not self._reader.buffer
        self._arm(
            self._state.limits.keepalive_timeout
            if self._idle
            else self._state.limits.handshake_timeout
        )
        self.resume_reading()
        if not self._inline:  # inline, the _advance loop that called the app goes on
            self._advance()

    def _write_and_close(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
        self.close()

    def _log_rejected(self, status: int, reason: str, request: Request | None = None) -> None:
        where = f"{request.method} {request.path} " if request is not None else ""
        logger.info("rejected %sfrom %s: %d %s", where, _peer(self._client), status, reason)

    # --- upgrade -------------------------------------------------------------------------------

    def _upgrade(self, upgrade: Upgrade, request: Request) -> None:
        transport = self._transport
        assert transport is not None
        if self._state.closing or self._close_after:
            self._log_rejected(503, "server shutting down", request)
            self._write_and_close(_plain(503, "server shutting down"))
            return
        options = upgrade.options
        deflate = None if upgrade.deflate is None else PerMessageDeflate(upgrade.deflate, options)
        self._conn = conn = ServerConnection(options, deflate)
        self._deflate = deflate
        transport.write(build_101(upgrade))
        # asyncio calls pause_writing()/resume_writing() at these marks (runtime flow control).
        transport.set_write_buffer_limits(
            high=options.write_high_water, low=options.write_low_water
        )
        self._phase = _WEBSOCKET
        self._task = None
        self._session = session = Session(
            upgrade.handler,
            upgrade.arg,
            options,
            self,
            loop=self._state.loop,
            clock=self._state.clock,
        )
        self.resume_reading()
        session.start()
        # Frames a client sent right behind its handshake were buffered with it.
        assert self._reader is not None
        early = bytes(self._reader.buffer)
        self._reader = None
        if early and self._phase == _WEBSOCKET:
            events = conn.receive_data(early)
            if events:
                session.feed(events)


class PlainReads(HttpConnection, asyncio.Protocol):
    """An ``HttpConnection`` that uvloop reads with ``data_received`` (it treats an
    ``asyncio.Protocol`` as a plain protocol even if it has ``get_buffer``). Same object
    layout, so a connection switches by changing its class."""

    __slots__ = ()


class _Polled(HttpConnection):
    """Reports each read to the server's busy poller (server/_busy_poll.py) first. Only the
    connections of a server that busy-polls have these classes, so the others pay nothing."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        poller = self._state.poller
        assert poller is not None
        poller.note_read()
        HttpConnection.data_received(self, data)

    def buffer_updated(self, nbytes: int) -> None:  # asyncio's loops, and large payloads
        poller = self._state.poller
        assert poller is not None
        poller.note_read()
        HttpConnection.buffer_updated(self, nbytes)


class PolledReads(_Polled, asyncio.Protocol):
    """``PlainReads`` for a server that busy-polls."""

    __slots__ = ()


class PolledLargeReads(_Polled):
    """``HttpConnection`` (reads into our buffer) for a server that busy-polls."""

    __slots__ = ()


def _peer(client: tuple[str, int] | None) -> str:
    if client is None:
        return "unknown"
    host, port = client
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# The C read path mirrors these classes' Python code (protocol/_serve.c).
_accel.setup_serve(HttpConnection, ServerConnection, Session, Push, current, LARGE_PAYLOAD)
