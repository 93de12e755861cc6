"""Every error websock raises, in one tree.

    WebSockError
    ├── UpgradeError          the request cannot be upgraded (RFC 6455 §4.2.1): 400/426
    ├── ProtocolError         the peer broke RFC 6455 / RFC 7692; carries our close code
    ├── HandlerError          a handler broke the contract (bad result, invalid close code, ...)
    ├── ConnectionClosed      a handle was used after its connection ended
    └── MailboxFull           ``connection().send()`` hit a full mailbox under the "raise" policy

Every module imported by this one is stdlib-only: the sans-I/O core depends on it.
"""

from __future__ import annotations

__all__ = [
    "ConnectionClosed",
    "HandlerError",
    "MailboxFull",
    "ProtocolError",
    "UpgradeError",
    "WebSockError",
]


class WebSockError(Exception):
    """Root of every exception websock raises."""


class UpgradeError(WebSockError):
    """The request is not a valid WebSocket upgrade; ``str(exc)`` names the failed rule.

    ``status`` is the HTTP status a host should answer with: 400, or 426 for an unsupported
    ``Sec-WebSocket-Version`` (RFC 6455 §4.4), in which case ``headers`` carries
    ``Sec-WebSocket-Version: 13``.
    """

    def __init__(
        self, message: str, *, status: int = 400, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers


class ProtocolError(WebSockError):
    """The peer violated the protocol; ``code`` is our answer's close code (RFC 6455 §7.4.1)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{reason} (close {code})")
        self.code = code
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProtocolError) and (self.code, self.reason) == (
            other.code,
            other.reason,
        )

    def __hash__(self) -> int:
        return hash((ProtocolError, self.code, self.reason))


class HandlerError(WebSockError):
    """A handler broke the contract: a bad result, an invalid close code, an over-long reason."""


class ConnectionClosed(WebSockError):
    """The connection behind a handle has ended."""


class MailboxFull(WebSockError):
    """A connection's mailbox is full and its overflow policy is ``"raise"``."""
