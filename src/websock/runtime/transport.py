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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias

from ..results import Ping, Pong

__all__ = ["OutFrame", "Transport"]

#: What the runtime hands a transport: ``str`` is a text message, bytes-like a binary one.
OutFrame: TypeAlias = str | bytes | bytearray | memoryview | Ping | Pong


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
