"""ASGI host: ``App(app)`` serves a websock app; ``upgrade(scope, receive, send, ...)``
runs one handler inside any ASGI websocket handler (Starlette/FastAPI routes included).

Runs on uvicorn (websockets-sansio, websockets, wsproto), hypercorn, daphne and granian.
The ASGI server does the framing, so:

- limits, compression and protocol pings are the *server's* settings (e.g. uvicorn's
  ``ws_max_size``, ``ws_per_message_deflate``, ``ws_ping_interval``); the runtime still
  enforces ``max_message_size`` on the whole messages ASGI hands over (close 1009);
- ASGI has no ping/pong events (ASGI spec, websocket section), so the transport declares
  ``supports_control_frames = False``: ``handle_control`` is never called, pushed Ping/Pong
  frames are dropped and counted, and keepalive falls back to the idle ``timeout``;
- daphne (Autobahn) cannot send close codes 1001-1014: they go out as 3001-3014;
- a denial ``Response`` goes out through the ``websocket.http.response`` extension when
  the server lists it in ``scope["extensions"]``; otherwise the documented fallback is a
  close before accept, which the ASGI spec turns into an HTTP 403 without our body.

Importing this module imports no server library: ASGI is only a calling convention.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from types import MappingProxyType
from typing import Any, TypeAlias

from ..exceptions import UpgradeError
from ..http import Headers, Request, Response
from ..options import Options
from ..protocol.events import CloseReceived
from ..results import Binary, Ping, Pong, Text
from ..runtime.transport import OutFrame
from ._bridge import Inbound, Lost, SessionRegistry, run_session

__all__ = ["App", "deny", "request_from_scope", "upgrade"]

log = logging.getLogger("websock.adapters.asgi")

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
WebSockApp: TypeAlias = Callable[[Request], Awaitable[Any]]

DENIAL_EXTENSION = "websocket.http.response"


#: Scope keys the Request's own fields carry (or that describe the ASGI connection itself);
#: the others go to ``Request.extra`` (url_route, path_params, user, session, state, ...).
_MAPPED_SCOPE_KEYS = frozenset(
    {
        "type", "asgi", "http_version", "method", "scheme", "path", "raw_path",
        "query_string", "headers", "client", "subprotocols", "extensions",
    }
)  # fmt: skip


def request_from_scope(scope: Scope) -> Request:
    """The ``websock.Request`` an app decides on, from an ASGI ``websocket``/``http`` scope."""
    headers = Headers(
        (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
        for name, value in scope.get("headers", ())
    )
    subprotocols = scope.get("subprotocols")
    if subprotocols and "sec-websocket-protocol" not in headers:
        # Some servers (uvicorn's wsproto) move the offer out of the headers into
        # scope["subprotocols"]; websock.upgrade() reads it from the header (RFC 6455 §4.2.1).
        headers = Headers([*headers.raw, ("sec-websocket-protocol", ", ".join(subprotocols))])
    client = scope.get("client")
    default_scheme = "ws" if scope["type"] == "websocket" else "http"
    return Request(
        method=scope.get("method", "GET"),  # websocket scopes carry no method: always GET
        path=scope.get("path", "/"),
        query_string=bytes(scope.get("query_string", b"")).decode("latin-1"),
        headers=headers,
        client=(str(client[0]), int(client[1])) if client else None,
        http_version=str(scope.get("http_version", "1.1")),
        scheme=str(scope.get("scheme", default_scheme)),
        extra=MappingProxyType({k: v for k, v in scope.items() if k not in _MAPPED_SCOPE_KEYS}),
    )


def _encode_headers(pairs: Any) -> list[tuple[bytes, bytes]]:
    return [(str(k).lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in pairs]


def has_denial_extension(scope: Scope) -> bool:
    return DENIAL_EXTENSION in (scope.get("extensions") or {})


async def deny(scope: Scope, send: Send, response: Response) -> None:
    """Refuse a websocket handshake with ``response``.

    With the denial extension the client gets our status, headers and body. Without it
    (daphne) the ASGI spec's close-before-accept is the only refusal, answered as 403.
    """
    if has_denial_extension(scope):
        body = response.body_bytes()
        headers = _encode_headers(response.header_pairs())
        if not any(name == b"content-length" for name, _ in headers):
            headers.append((b"content-length", str(len(body)).encode()))
        await send(
            {"type": "websocket.http.response.start", "status": response.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": 1008})


def _error_response(exc: UpgradeError) -> Response:
    headers = [*exc.headers, ("content-type", "text/plain; charset=utf-8")]
    return Response(exc.status, headers, exc.message + "\n")


def _autobahn_close_codes(send: Send) -> bool:
    """Whether ``send`` belongs to daphne, whose Autobahn protocol refuses to send close
    codes other than 1000 and 3000-4999 (and then silently sends nothing at all)."""
    owner = getattr(getattr(send, "func", None), "__self__", None)
    return type(owner).__module__.startswith("daphne.")


def daphne_close_code(code: int) -> int:
    """The documented fallback for daphne: 1001-1014 go out as 3001-3014 (the 3000-3999
    range is for libraries, RFC 6455 §7.4.2), so the client still learns the reason."""
    return code + 2000 if 1000 < code < 2000 else code


class _AsgiIO:
    """``HostIO`` over the ASGI websocket events of one accepted connection."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive = receive  # the server's own: the bridge steps it inline
        self._send = send
        self._map_close = _autobahn_close_codes(send)

    def event(self, message: Message) -> Inbound:
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            if text is not None:
                return Text(text)
            return Binary(bytes(message.get("bytes") or b""))
        if kind == "websocket.disconnect":
            code = message.get("code", 1005)
            if code == 1006:  # RFC 6455 §7.1.5: closed without a close frame
                return Lost(ConnectionResetError("connection lost (1006)"))
            return CloseReceived(None if code == 1005 else int(code), message.get("reason") or "")
        return Lost(RuntimeError(f"unexpected ASGI message {kind!r}"))

    def send(self, frame: OutFrame) -> Awaitable[None]:
        # The server's own awaitable, not a coroutine wrapping it: a frame less per message.
        kind = type(frame)
        if kind is str:
            return self._send({"type": "websocket.send", "text": frame})
        if kind is bytes:
            return self._send({"type": "websocket.send", "bytes": frame})
        if isinstance(frame, Ping | Pong):  # never reached: supports_control_frames=False
            return _nothing()
        return self._send({"type": "websocket.send", "bytes": bytes(frame)})  # type: ignore[arg-type]

    async def send_close(self, code: int | None, reason: str) -> None:
        code = 1000 if code is None else code
        if self._map_close:
            code = daphne_close_code(code)
        message: Message = {"type": "websocket.close", "code": code}
        if reason:
            message["reason"] = reason  # ASGI spec 2.3
        await self._send(message)

    async def abort(self) -> None:
        """Returning from the ASGI app ends the connection; nothing to do here."""


async def _nothing() -> None:
    return None


async def _accept(send: Send, subprotocol: str | None, headers: Any) -> None:
    message: Message = {"type": "websocket.accept", "headers": _encode_headers(headers)}
    if subprotocol is not None:
        message["subprotocol"] = subprotocol
    await send(message)


async def _run_accepted(
    receive: Receive,
    send: Send,
    upgrade_value: Any,
    registry: SessionRegistry | None,
) -> None:
    options: Options = upgrade_value.options
    await _accept(send, upgrade_value.subprotocol, options.headers)
    await run_session(
        _AsgiIO(receive, send),
        upgrade_value.handler,
        upgrade_value.arg,
        options,
        answers_pings=True,
        supports_control_frames=False,
        check_message_size=True,
        registry=registry,
    )


async def _await_connect(receive: Receive) -> bool:
    """Consume ``websocket.connect``; False when the client left before it."""
    message = await receive()
    return bool(message["type"] == "websocket.connect")


async def upgrade(
    scope: Scope, receive: Receive, send: Send, handler: Any, arg: Any, **options: Any
) -> None:
    """Run ``handler`` on this ASGI websocket connection until it ends.

    Call it from an ASGI websocket handler that has not accepted yet, e.g. a Starlette
    route: ``await upgrade(ws.scope, ws.receive, ws.send, Handler(), arg)``. An invalid
    handshake (``UpgradeError``) is denied with 400/426 like on every other host.
    """
    from ..upgrade import upgrade as websock_upgrade

    if not await _await_connect(receive):
        return
    try:
        value = websock_upgrade(request_from_scope(scope), handler, arg, **options)
    except UpgradeError as exc:
        await deny(scope, send, _error_response(exc))
        return
    await _run_accepted(receive, send, value, None)


class App:
    """An ASGI application serving the websock ``app`` (``async app(request)``).

    ``websocket`` scopes: the app's ``Upgrade`` is accepted and run; a ``Response`` is a
    denial (see ``deny``). ``http`` scopes: the app is called too; a ``Response`` is sent
    as plain HTTP, an ``Upgrade`` gets 426 (the server did not treat this request as a
    WebSocket). ``lifespan``: on shutdown every open connection gets ``terminate(Shutdown())``
    and close 1001 (servers that close websockets before lifespan shutdown, like uvicorn,
    have already sent their own 1012 by then).
    """

    def __init__(self, app: WebSockApp) -> None:
        self.app = app
        self.sessions = SessionRegistry()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    async def _decide(self, request: Request) -> Any:
        try:
            return await self.app(request)
        except UpgradeError as exc:
            return _error_response(exc)
        except Exception:
            log.exception("websock app failed on %s %s", request.method, request.path)
            return Response(500, [("content-type", "text/plain")], "Internal Server Error\n")

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await _await_connect(receive):
            return
        decision = await self._decide(request_from_scope(scope))
        if isinstance(decision, Response):
            await deny(scope, send, decision)
            return
        await _run_accepted(receive, send, decision, self.sessions)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:  # drain the request body: the app sees no body (SPEC §2)
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            more = bool(message.get("more_body", False))
        decision = await self._decide(request_from_scope(scope))
        if not isinstance(decision, Response):
            decision = Response(
                426,
                [("content-type", "text/plain; charset=utf-8"), ("upgrade", "websocket")],
                "this endpoint only speaks WebSocket; the server handled the request as HTTP\n",
            )
        body = decision.body_bytes()
        headers = _encode_headers(decision.header_pairs())
        if not any(name == b"content-length" for name, _ in headers):
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": decision.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.sessions.shutdown(1001)
                await send({"type": "lifespan.shutdown.complete"})
                return
