"""``websock.upgrade()``: the app's decision to accept a WebSocket (SPEC §2).

``upgrade(request, handler, arg, **options)`` checks everything that can be checked before
the 101 goes out — the request (RFC 6455 §4.2.1), the handler's callbacks, the options,
the subprotocol — negotiates permessage-deflate when ``compress=True``, and returns an
``Upgrade`` value that any host turns into a live connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .exceptions import HandlerError
from .http import Request
from .options import Options
from .protocol.deflate import DeflateParams, negotiate
from .protocol.handshake import (
    accept_key,
    check_header,
    offered_subprotocols,
    validate_request,
)

__all__ = ["REQUIRED_CALLBACKS", "Upgrade", "upgrade"]

#: SPEC §1: the callbacks every handler must have; the others are optional.
REQUIRED_CALLBACKS = ("init", "handle_in", "handle_info")
_OPTIONAL_CALLBACKS = ("handle_control", "terminate")

#: Headers the handshake itself sets; options.headers may not override them.
_HANDSHAKE_HEADERS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "content-length",
        "transfer-encoding",
    }
)


@dataclass(frozen=True, slots=True)
class Upgrade:
    """An accepted upgrade: what to run, how, and the headers of the 101 response.

    ``response_headers`` holds, in order: ``Upgrade``, ``Connection``,
    ``Sec-WebSocket-Accept``, ``Sec-WebSocket-Protocol`` (if chosen),
    ``Sec-WebSocket-Extensions`` (if negotiated), then ``options.headers``.
    Hosts that do their own handshake use ``subprotocol`` and ``options.headers`` instead.
    """

    request: Request
    handler: Any
    arg: Any
    options: Options
    subprotocol: str | None
    deflate: DeflateParams | None
    response_headers: tuple[tuple[str, str], ...]


#: The last handler that passed ``_check_handler``: an app that serves every connection with
#: the same handler object checks it once (a handler's callbacks are not expected to change).
_checked: list[Any] = [object()]


def _check_handler(handler: Any) -> None:
    for name in REQUIRED_CALLBACKS:
        callback = getattr(handler, name, None)
        if callback is None:
            raise HandlerError(f"handler {handler!r} has no {name}() callback (SPEC §1)")
        if not callable(callback):
            raise HandlerError(f"handler {handler!r}: {name} is not callable (SPEC §1)")
    for name in _OPTIONAL_CALLBACKS:
        callback = getattr(handler, name, None)
        if callback is not None and not callable(callback):
            raise HandlerError(f"handler {handler!r}: {name} is not callable (SPEC §1)")


def _check_extra_headers(headers: tuple[tuple[str, str], ...]) -> None:
    for name, value in headers:
        if name.lower() in _HANDSHAKE_HEADERS:
            raise HandlerError(
                f"header {name!r} is set by the handshake; use the subprotocol/compress "
                "options instead of headers="
            )
        try:
            check_header(name, value)
        except ValueError as exc:
            raise HandlerError(f"invalid response header: {exc}") from None


def upgrade(request: Request, handler: Any, arg: Any = None, /, **options: Any) -> Upgrade:
    """Accept ``request`` as a WebSocket served by ``handler``, whose ``init`` gets ``arg``.

    Raises ``UpgradeError`` for a request that is not a valid upgrade (hosts answer 400, or
    426 for the version) and ``HandlerError`` for a programming error: a handler missing
    a callback, an unknown or invalid option, a subprotocol the client did not offer.
    """
    key = validate_request(request)
    if handler is not _checked[0]:
        _check_handler(handler)
        _checked[0] = handler
    opts = Options.from_kwargs(options)
    _check_extra_headers(opts.headers)

    subprotocol = opts.subprotocol
    if subprotocol is not None:
        offered = offered_subprotocols(request)
        if subprotocol not in offered:
            listed = ", ".join(repr(p) for p in offered) if offered else "none"
            raise HandlerError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {listed}; RFC 6455 §4.2.2)"
            )

    deflate: DeflateParams | None = None
    extensions: str | None = None
    if opts.compress:
        agreed = negotiate(request.headers.get_all("sec-websocket-extensions"), opts)
        if agreed is not None:
            deflate, extensions = agreed

    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions is not None:
        headers.append(("Sec-WebSocket-Extensions", extensions))
    headers.extend(opts.headers)

    return Upgrade(
        request=request,
        handler=handler,
        arg=arg,
        options=opts,
        subprotocol=subprotocol,
        deflate=deflate,
        response_headers=tuple(headers),
    )
