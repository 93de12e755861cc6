"""What the runtime needs from a host, and what a host may call on the runtime.

A host (the built-in server, an ASGI adapter, aiohttp, websockets, the test client) owns
the I/O. It implements ``Transport`` and drives a ``Session``:

    host → session                          session → transport
    ------------------------------------    -----------------------------------------------
    session.start()      after the 101      transport.send_frames([...])  buffer, don't block
    session.feed(events) inbound, batched   transport.send_close(code, reason)
    session.pause_writing()/resume_...      transport.flush()  end of every unit of work
    session.connection_lost(exc)            transport.close()  drop the connection
    session.shutdown(code)  server stopping transport.pause_reading()/resume_reading()

Every transport method is called on the event loop's thread and must not block.

Optional: a host that writes WebSocket bytes itself (the built-in server) also implements
``send_prepared(frame)`` (``RawTransport``), PubSub's fast lane: one frame encoded once
for many connections and queued as is. ``Session.send_prepared`` falls back to
``send_frames((frame.message,))`` on hosts that frame for themselves (the adapters).

Optional: ``frame_sink``, an object whose ``send_frames`` the session calls instead of the
transport's own (the built-in server hands over its frame encoder: one Python call fewer
per message). Its ``send_frames`` must behave exactly as the transport's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

from ..results import Ping, Pong

if TYPE_CHECKING:
    from ..options import Options
    from ..protocol.deflate import PerMessageDeflate

__all__ = [
    "FastLaneResult",
    "FrameSink",
    "OutFrame",
    "PreparedFrame",
    "RawTransport",
    "Transport",
]

#: What the runtime hands a transport: ``str`` is a text message, bytes-like a binary one.
OutFrame: TypeAlias = str | bytes | bytearray | memoryview | Ping | Pong

#: What ``Session.send_prepared`` did with a fast-lane frame: queued it, dropped it because
#: the peer is slow (the transport is above high water), or dropped it because the
#: connection is not open.
FastLaneResult: TypeAlias = Literal["sent", "slow", "closed"]


class PreparedFrame(Protocol):
    """One data message encoded once for many connections (PubSub's fast lane)."""

    @property
    def message(self) -> str | bytes:
        """The message itself, for hosts that frame for themselves (``send_frames``)."""

    def encoded(self, deflate: PerMessageDeflate | None, options: Options) -> bytes:
        """The whole frame for a connection with this deflater (None: no compression)."""


class RawTransport(Protocol):
    """The optional fast-lane method of a transport that writes WebSocket bytes itself."""

    def send_prepared(self, frame: PreparedFrame) -> None:
        """Queue ``frame.encoded(...)`` for this connection; bytes go out at flush()."""


class FrameSink(Protocol):
    """Where a session's outbound frames go (the transport, or its ``frame_sink``)."""

    def send_frames(self, frames: Sequence[OutFrame]) -> None: ...


class Transport(Protocol):
    #: True when the host answers pings by itself (websockets, aiohttp); the runtime
    #: then does not send its own pong but still calls handle_control.
    answers_pings: bool
    #: False when the host cannot send or observe control frames (ASGI): keepalive falls
    #: back to the idle timeout alone and outbound Ping/Pong frames are dropped and counted.
    supports_control_frames: bool

    def send_frames(self, frames: Sequence[OutFrame]) -> None:
        """Queue frames for sending, in order. Never blocks; bytes may be held until flush()."""

    def send_close(self, code: int | None, reason: str) -> None:
        """Queue a close frame (RFC 6455 §5.5.1). Nothing is sent after it."""

    def flush(self) -> None:
        """Write what send_* queued (one write per unit of work: coalescing happens here)."""

    def close(self) -> None:
        """End the underlying connection (after the close handshake, or to abort)."""

    def pause_reading(self) -> None:
        """Stop delivering inbound data until resume_reading() (flow control)."""

    def resume_reading(self) -> None: ...

    def write_buffer_size(self) -> int:
        """Bytes accepted by send_* but not yet handed to the OS."""
