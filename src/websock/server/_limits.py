"""Limits of the built-in server's HTTP/1.1 side, before a connection is upgraded.

Per-connection WebSocket limits live in ``websock.Options`` (chosen by the app at upgrade);
these guard the server itself against oversized or slow requests (slowloris) before any
app code runs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HttpLimits"]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    #: Longest request line (method, target, version); longer → 414 (RFC 9110 §15.5.15).
    max_request_line: int = 8 * 1024
    #: Longest single header line; longer → 431 (RFC 6585 §5).
    max_header_line: int = 8 * 1024
    #: Most header fields in one request; more → 431.
    max_headers: int = 100
    #: Largest whole request head; larger → 431.
    max_head_size: int = 64 * 1024
    #: Largest request body we read (and discard) for plain requests; larger → 413.
    max_body_size: int = 1024 * 1024
    #: Seconds a client has to deliver a complete request (head and body); then 408 and
    #: close. This is what stops slowloris: dribbling bytes does not extend it.
    handshake_timeout: float = 10.0
    #: Seconds an idle keep-alive connection waits for its next request.
    keepalive_timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_request_line", "max_header_line", "max_headers", "max_head_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_body_size < 0:
            raise ValueError("max_body_size must be at least 0")
        if not (self.handshake_timeout > 0 and self.keepalive_timeout > 0):
            raise ValueError("handshake_timeout and keepalive_timeout must be positive")
