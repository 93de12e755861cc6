"""Per-connection options: the keyword arguments of ``upgrade()`` (SPEC §2).

Defaults are safe: limits on, idle timeout on, keepalive on, compression off.
Durations are in seconds; ``None`` disables a timer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, TypeAlias

from .exceptions import HandlerError

__all__ = ["Options", "OverflowPolicy"]

#: What happens when a connection's mailbox is full:
#: ``"close"`` ends the connection with 1008 (the default: a client that cannot keep up is
#: told so rather than silently missing messages), ``"drop_oldest"`` / ``"drop_newest"``
#: discard a message and count it, ``"raise"`` raises ``MailboxFull`` in the sender.
OverflowPolicy: TypeAlias = Literal["close", "drop_oldest", "drop_newest", "raise"]

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class Options:
    # -- time ---------------------------------------------------------------------------
    #: Idle timeout: end with Timeout (close 1001) when nothing arrives for this long.
    #: Only inbound activity counts (bandit#577: pushes must not keep half-open peers alive).
    timeout: float | None = 60.0
    #: Send a ping after this long without inbound activity; None disables keepalive.
    ping_interval: float | None = 20.0
    #: End with Timeout (close 1011) when a keepalive ping gets no answer within this.
    ping_timeout: float | None = 20.0
    #: How long to wait for the peer's close frame after ours before dropping the transport.
    close_timeout: float = 10.0
    # -- inbound limits -------------------------------------------------------------------
    #: Largest frame accepted, header included; checked from the header, before the payload.
    max_frame_size: int = 8 * MiB
    #: Largest message accepted (after reassembly and inflation) → close 1009.
    max_message_size: int = 8 * MiB
    #: Check that text messages are UTF-8 (RFC 6455 §8.1) → close 1007.
    validate_utf8: bool = True
    # -- permessage-deflate (RFC 7692) ------------------------------------------------------
    compress: bool = False
    #: Outbound messages smaller than this go out uncompressed (RFC 7692 §6: per message).
    compress_threshold: int = 128
    compression_level: int = 6
    compression_mem_level: int = 8
    #: Largest LZ77 window we use for our deflater (8..15); 8 is raised to 9 (zlib limit).
    server_max_window_bits: int = 15
    #: Largest window we accept from the client (8..15).
    client_max_window_bits: int = 15
    #: An inbound message may inflate to at most this many times its compressed size → 1009.
    max_inflate_ratio: float = 100.0
    # -- outbound, mailbox, flow control ----------------------------------------------------
    #: Mailbox bound for handle_info messages (connection().send / PubSub).
    mailbox_size: int = 1024
    mailbox_overflow: OverflowPolicy = "close"
    #: Above this many buffered outbound bytes the transport counts as slow: the runtime
    #: stops reading from the client and stops draining its mailbox until it drops below
    #: ``write_low_water``.
    write_high_water: int = 64 * 1024
    write_low_water: int = 16 * 1024
    #: Hard bound on buffered outbound bytes; beyond it the connection ends with 1008.
    max_write_buffer: int = 16 * MiB
    # -- handshake ------------------------------------------------------------------------
    #: The subprotocol to answer with (must be one the client offered).
    subprotocol: str | None = None
    #: Extra response headers for the 101.
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("timeout", "ping_interval", "ping_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise HandlerError(f"{name} must be positive or None, got {value!r}")
        if not self.close_timeout > 0:
            raise HandlerError(f"close_timeout must be positive, got {self.close_timeout!r}")
        for name in ("max_frame_size", "max_message_size", "mailbox_size", "max_write_buffer"):
            if getattr(self, name) < 1:
                raise HandlerError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("server_max_window_bits", "client_max_window_bits"):
            if not 8 <= getattr(self, name) <= 15:
                raise HandlerError(f"{name} must be within 8..15 (RFC 7692 §7.1.2)")
        if not -1 <= self.compression_level <= 9:
            raise HandlerError("compression_level must be within -1..9 (zlib)")
        if not 1 <= self.compression_mem_level <= 9:
            raise HandlerError("compression_mem_level must be within 1..9 (zlib)")
        if not self.max_inflate_ratio >= 1:
            raise HandlerError("max_inflate_ratio must be at least 1")
        if self.mailbox_overflow not in ("close", "drop_oldest", "drop_newest", "raise"):
            raise HandlerError(f"unknown mailbox_overflow policy {self.mailbox_overflow!r}")
        if not 0 <= self.write_low_water <= self.write_high_water <= self.max_write_buffer:
            raise HandlerError("need 0 <= write_low_water <= write_high_water <= max_write_buffer")

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any]) -> Options:
        """Build options from ``upgrade()`` keywords; an unknown name is a clear error."""
        if not options and cls is Options:
            # Every upgrade() without options: one shared (immutable) default, since
            # building and validating it was ~15 % of a handshake's CPU (docs/profiling.md).
            return _default_options()
        known = _option_names() if cls is Options else {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise HandlerError(f"unknown upgrade option(s): {', '.join(unknown)}")
        values = dict(options)
        if "headers" in values:
            values["headers"] = _header_pairs(values["headers"])
        return cls(**values)

    def merged(self, **changes: Any) -> Options:
        return replace(self, **changes)


@functools.cache
def _option_names() -> frozenset[str]:
    return frozenset(f.name for f in fields(Options))


@functools.cache
def _default_options() -> Options:
    return Options()


def _header_pairs(headers: Any) -> tuple[tuple[str, str], ...]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), str(v)) for k, v in items)
