"""``PreparedFrame``: one data message framed once for every subscriber (the fast lane).

A broadcast to N connections should not encode, compress and frame the same message N
times. The frame is built once per *kind of connection*:

- no compression, or compression negotiated with server context takeover: the plain frame,
  RSV1 clear. With context takeover each connection's compressor holds its own LZ77 window
  (RFC 7692 §7.1.1), so no compressed bytes can be shared; RFC 7692 §6 lets the sender
  leave any message uncompressed, and an uncompressed message leaves the window untouched.
- ``server_no_context_takeover`` agreed: every message starts from an empty window, so the
  compressed payload depends only on the window size and the zlib settings. Connections
  that agree on those share one compressed frame (RSV1 set, RFC 7692 §7.2.1).

Server frames are never masked (RFC 6455 §5.1), which is what makes the bytes shareable.
Thread safety: ``encoded`` may be called from several event loops at once; a cache miss is
built under a lock so each variant is encoded exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..exceptions import HandlerError
from ..protocol.frames import encode_frame
from ..results import Binary, Text

if TYPE_CHECKING:
    from ..options import Options
    from ..protocol.deflate import PerMessageDeflate

__all__ = ["FrameInput", "PreparedFrame"]

_TEXT: Final = 0x1  # RFC 6455 §5.2 opcodes
_BINARY: Final = 0x2

#: What the fast lane accepts: a Text/Binary message, or str (text) / bytes-like (binary).
FrameInput = Text | Binary | str | bytes | bytearray | memoryview

# Cache key of a compressed variant: window bits, zlib level, zlib memory level.
_Key = tuple[int, int, int]


class PreparedFrame:
    """A Text or Binary message, encoded lazily once per compression setting."""

    __slots__ = ("_compressed", "_lock", "_on_encode", "_opcode", "_payload", "_plain", "message")

    def __init__(self, frame: FrameInput, on_encode: Callable[[int], object] | None = None) -> None:
        message: str | bytes
        if isinstance(frame, Text):
            message = frame.data
        elif isinstance(frame, Binary):
            message = bytes(frame.data)
        elif isinstance(frame, str):
            message = frame
        elif isinstance(frame, bytes | bytearray | memoryview):
            message = bytes(frame)
        else:
            raise HandlerError(
                f"the fast lane sends Text or Binary messages (or str/bytes), not {frame!r}"
            )
        #: The message as the runtime's ``send_frames`` takes it (hosts that frame themselves).
        self.message: str | bytes = message
        if isinstance(message, str):
            self._opcode = _TEXT
            self._payload = message.encode("utf-8")
        else:
            self._opcode = _BINARY
            self._payload = message
        self._plain: bytes | None = None
        self._compressed: dict[_Key, bytes] = {}
        self._lock = threading.Lock()
        # Told the size of each encoding made (PubSub's bytes_encoded counter).
        self._on_encode = on_encode

    @property
    def payload_size(self) -> int:
        return len(self._payload)

    @property
    def encodings(self) -> int:
        """How many distinct frames were built so far (plain + compressed variants)."""
        return (self._plain is not None) + len(self._compressed)

    def encoded(self, deflate: PerMessageDeflate | None, options: Options) -> bytes:
        """The frame for a connection with this deflater (None: no compression agreed)."""
        if (
            deflate is None
            or not deflate.params.server_no_context_takeover
            or not deflate.should_compress(len(self._payload))
        ):
            plain = self._plain
            if plain is None:
                plain = self._build_plain()
            return plain
        key = (
            deflate.params.server_max_window_bits,
            options.compression_level,
            options.compression_mem_level,
        )
        frame = self._compressed.get(key)
        if frame is None:
            frame = self._build_compressed(key, deflate)
        return frame

    def _build_plain(self) -> bytes:
        with self._lock:
            if self._plain is None:
                self._plain = encode_frame(self._opcode, self._payload)
                self._encoded(len(self._plain))
            return self._plain

    def _build_compressed(self, key: _Key, deflate: PerMessageDeflate) -> bytes:
        with self._lock:
            frame = self._compressed.get(key)
            if frame is None:
                # Without server context takeover compress() starts from a fresh window and
                # keeps no state, so this connection's deflater yields what any other with
                # the same key would (RFC 7692 §7.1.1.1).
                frame = encode_frame(self._opcode, deflate.compress(self._payload), rsv1=True)
                self._compressed[key] = frame
                self._encoded(len(frame))
            return frame

    def _encoded(self, size: int) -> None:
        if self._on_encode is not None:
            self._on_encode(size)
