"""Each host's declared capabilities: what the contract suite expects where hosts differ.

A feature a host cannot offer is declared here, and the suite asserts that the host
behaves exactly as declared (a gap is a tested outcome, never a skip). ``docs/hosts.md``
is generated from what the suite observed (``--websock-capability-table``).

Features:

``denial``           "full": a denial Response reaches the client with its status, headers
                     and body; "403": the host only has the ASGI close-before-accept
                     fallback (no websocket.http.response extension).
``not_found``        "app": a request to a path the app refuses gets the app's 404; a
                     status code: the host (a framework router) answered it before the app.
``client_ping``      the client's pings reach ``handle_control``.
``server_ping``      a pushed ``Ping`` reaches the client and its pong reaches
                     ``handle_control`` (so the runtime's keepalive works).
``compression``      "per-connection": ``compress=True`` negotiates permessage-deflate and
                     ``compress=False`` does not; "server-wide": the host negotiates it on
                     its own settings whatever the option; "none": never.
``accept_headers``   ``upgrade(headers=...)`` reach the client in the 101 response.
``empty_messages``   an empty text message makes the round trip (handler and push).
``close_codes``      "exact": the client gets the runtime's close code; "1xxx→3xxx": the
                     host cannot send 1001-1014, the adapter sends 3001-3014 instead.
``close_reason``     the text of ``Stop(message=...)`` reaches the client's close frame.
``remote_close``     what ``terminate`` learns when the client closes with a code and a
                     text: "code+reason" (``Remote(code, message)``), "code" (the host
                     drops the text), "lost" (the host reports 1006, so ``Error``).
``shutdown``         on a graceful server stop: the close code the client sees and the
                     terminate reason's kind.

A tuple of values declares a racy host: any one of them is the declared behaviour.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CAPABILITIES", "FEATURES"]

FEATURES = (
    "denial",
    "not_found",
    "client_ping",
    "server_ping",
    "compression",
    "accept_headers",
    "empty_messages",
    "close_codes",
    "close_reason",
    "remote_close",
    "shutdown",
)

_FULL: dict[str, Any] = {
    "denial": "full",
    "not_found": "app",
    "client_ping": True,
    "server_ping": True,
    "compression": "per-connection",
    "accept_headers": True,
    "empty_messages": True,
    "close_codes": "exact",
    "close_reason": True,
    "remote_close": "code+reason",
    "shutdown": "1001 Shutdown",
}

# ASGI has no ping/pong events, and the server owns compression and shutdown.
_ASGI: dict[str, Any] = {
    **_FULL,
    "client_ping": False,
    "server_ping": False,
    "compression": "server-wide",
}

_UVICORN: dict[str, Any] = {**_ASGI, "shutdown": "1012 Remote"}

CAPABILITIES: dict[str, dict[str, Any]] = {
    "builtin": dict(_FULL),
    "uvicorn-websockets-sansio": dict(_UVICORN),
    "uvicorn-websockets": dict(_UVICORN),
    "uvicorn-wsproto": dict(_UVICORN),
    # hypercorn reports a client close as 1006.
    "hypercorn": {**_ASGI, "remote_close": "lost"},
    # daphne: no denial extension (django/daphne#486), drops empty messages, close texts
    # and accept headers.
    "daphne": {
        **_ASGI,
        "denial": "403",
        "not_found": "403",
        "compression": "none",
        "accept_headers": False,
        "empty_messages": False,
        "close_codes": "1xxx→3xxx",
        "close_reason": False,
        "remote_close": "code",
        # SIGTERM: daphne drops the connections and the app without a close frame.
        "shutdown": "1006 none",
    },
    # granian drops the accept message's headers and the client's close text.
    "granian": {
        **_ASGI,
        "compression": "none",
        "accept_headers": False,
        "remote_close": "code",
        # granian tears connections down while it runs lifespan shutdown: whichever comes
        # first decides between our Shutdown and its disconnect (Remote). No close frame.
        "shutdown": ("1006 Shutdown", "1006 Remote"),
    },
    # The routers answer unknown paths themselves (403: close before accept).
    "starlette": {**_UVICORN, "not_found": "403"},
    "fastapi": {**_UVICORN, "not_found": "403"},
    "aiohttp": dict(_FULL),
    "websockets": {**_FULL, "client_ping": False},
    # upgrade() inside the host's own handler: the host already shut down / handshook.
    # aiohttp cancels handlers at shutdown: terminate(Shutdown()), but the close frame
    # does not get out any more.
    "aiohttp-upgrade": {**_FULL},
    "websockets-upgrade": {
        **_FULL,
        "client_ping": False,
        "compression": "server-wide",
        "accept_headers": False,
        "shutdown": "1001 Shutdown",
    },
}
