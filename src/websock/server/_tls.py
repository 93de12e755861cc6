"""TLS for wss:// from a certificate chain and key (RFC 6455 §4.1: wss is WebSocket over TLS)."""

from __future__ import annotations

import ssl

__all__ = ["server_context"]


def server_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server-side context with the library's secure defaults and our certificate.

    ALPN offers only http/1.1: the WebSocket handshake is an HTTP/1.1 upgrade (RFC 6455
    §4.1); a client that insists on h2 would need RFC 8441, which we don't implement.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    context.set_alpn_protocols(["http/1.1"])
    return context
