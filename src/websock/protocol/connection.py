"""The sans-I/O WebSocket state machine: bytes in, events out; frames in, bytes out.

``receive_data()`` parses every complete frame in what has arrived so far, enforces
RFC 6455 §5 (masking, reserved bits and opcodes, control frame rules, fragmentation),
the size limits and UTF-8 validity, and returns ``Text``/``Binary``/``Ping``/``Pong``/
``CloseReceived`` events. A violation becomes a ``ProtocolError`` value (the close code to
answer with): always the last event, after which input is ignored; so is input after the
peer's close frame. The runtime decides what to answer (pong, close): nothing here sends
by itself.

Data frame payloads are consumed as they arrive rather than when the frame is complete,
so a huge frame is never buffered twice and invalid UTF-8 is rejected at the first bad
byte even inside one frame (Autobahn 6.4.3/6.4.4). A whole small frame takes one fast path.

Stdlib only, no I/O and no asyncio: every host (built-in server, test client) shares it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..exceptions import ConnectionClosed, HandlerError, ProtocolError
from ..results import Binary, Ping, Pong, Text
from . import _accel
from .events import CloseReceived, Event
from .frames import (
    MAX_CONTROL_PAYLOAD,
    SMALL_BINARY_HEADERS,
    SMALL_TEXT_HEADERS,
    build_close,
    encode_header,
    parse_close,
)
from .utf8 import Utf8Decoder, check_pending, new_decoder

if TYPE_CHECKING:
    from ..options import Options
    from ..runtime.transport import OutFrame

__all__ = ["Deflater", "ServerConnection", "State"]

_TEXT: Final = 0x1
_BINARY: Final = 0x2
_CLOSE: Final = 0x8
_PING: Final = 0x9
_PONG: Final = 0xA
_BAD_UTF8: Final = "text message is not valid UTF-8 (RFC 6455 §8.1)"
#: A binary frame at least this big that is a whole message gets its final buffer up front.
_BIG: Final = 64 * 1024
#: A frame payload at least this long still to come is read into the host's buffer rather
#: than handed over as bytes objects (see ``large_payload_pending``; server/_connection.py).
LARGE_PAYLOAD: Final = 64 * 1024


class State(IntEnum):
    """OPEN until a close frame went either way, CLOSING until it went both ways."""

    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class Deflater(Protocol):
    """What the connection needs from ``deflate.PerMessageDeflate`` (RFC 7692)."""

    def should_compress(self, size: int) -> bool:
        """Whether an outbound message of ``size`` bytes goes out compressed."""

    def compress(self, data: bytes) -> bytes:
        """One message's compressed payload, without the trailing 00 00 ff ff."""

    def decompress_fragment(self, data: bytes, final: bool, max_size: int) -> bytes:
        """Inflate the next piece of a message; ProtocolError 1009 past ``max_size``
        (whole message), 1007 for corrupt data."""


class ServerConnection:
    """One WebSocket connection after the handshake, server side unless ``client=True``.

    ``client=True`` flips the masking rules (RFC 6455 §5.1): outbound frames are masked
    with a fresh key each and inbound frames must be unmasked. Tests and the in-memory
    test peer use it.
    """

    __slots__ = (
        "_buf",
        "_client",
        "_decoder",
        "_deflate",
        "_expect_mask",
        "_frame_fin",
        "_frame_mask",
        "_frame_offset",
        "_in_frame",
        "_max_frame",
        "_max_message",
        "_msg_buffer",
        "_msg_chunks",
        "_msg_compressed",
        "_msg_decoder",
        "_msg_direct",
        "_msg_op",
        "_msg_size",
        "_msg_text",
        "_out",
        "_remaining",
        "_small_ok",
        "_validate",
        "bytes_in",
        "bytes_out",
        "close_received",
        "close_sent",
        "error",
        "frames_out",
        "options",
    )

    def __init__(
        self, options: Options, deflate: Deflater | None = None, *, client: bool = False
    ) -> None:
        self.options = options
        self._deflate = deflate
        self._client = client
        # §5.1: a server MUST fail a connection on an unmasked frame, a client on a masked one.
        self._expect_mask = 0 if client else 0x80
        self._max_frame = options.max_frame_size
        self._max_message = options.max_message_size
        self._validate = options.validate_utf8
        # Whole small frames (payload < 126) may skip the size checks when the limits
        # allow them; only a server (masked input) takes that path.
        self._small_ok = not client and self._max_frame >= 131 and self._max_message >= 125
        # Unparsed input; only a partial header or partial control frame stays here,
        # since data frame payloads are consumed as they arrive.
        self._buf = bytearray()
        self._out: list[bytes] = []
        # The data message being reassembled (opcode 0 = none).
        self._msg_op = 0
        self._msg_compressed = False
        # Pieces of a message that arrives in several reads or frames; made when needed
        # (most messages arrive whole), so an idle connection holds no lists.
        self._msg_chunks: list[bytes] | None = None
        self._msg_text: list[str] | None = None  # decoded pieces while validating
        self._msg_size = 0
        self._msg_decoder: Utf8Decoder | None = None  # set while validating a text message
        # A large binary message in one frame is unmasked straight into its final buffer
        # (_accel.message_buffer) once half of it has arrived.
        self._msg_direct = False
        self._msg_buffer: Any = None
        self._decoder: Utf8Decoder | None = None  # reused across messages
        # The data frame whose payload is being consumed.
        self._in_frame = False
        self._remaining = 0
        self._frame_mask: bytes | None = None
        self._frame_offset = 0
        self._frame_fin = False
        #: The peer's close frame arrived / ours went out (RFC 6455 §5.5.1).
        self.close_received = False
        self.close_sent = False
        #: The protocol violation that stopped parsing, if any.
        self.error: ProtocolError | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.frames_out = 0

    @property
    def state(self) -> State:
        if self.close_sent and self.close_received:
            return State.CLOSED
        if self.close_sent or self.close_received:
            return State.CLOSING
        return State.OPEN

    @property
    def client(self) -> bool:
        return self._client

    # --- inbound ------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Events for every complete message and control frame in ``data`` and what
        came before it. A ``ProtocolError`` event is always last; input after it, or
        after the peer's close frame, is ignored."""
        if self.close_received or self.error is not None:
            return []
        self.bytes_in += len(data)
        buf = self._buf
        events: list[Event] = []
        if self._in_frame and not buf:
            # The payload of a large frame continues: take it straight from the host's
            # buffer, with no copy but the unmasked one.
            try:
                pos = self._consume_payload(data, 0, len(data))
                if self._remaining:
                    return events
                self._in_frame = False
                if self._frame_fin:
                    events.append(self._finish_message())
            except ProtocolError as exc:
                self._fail(exc)
                events.append(exc)
                return events
            if pos == len(data):
                return events
            data = data[pos:]
        # Parse an immutable bytes object: slicing and int.from_bytes are fastest on it,
        # and a memoryview over the host's reusable read buffer must not be kept.
        if buf:
            buf += data
            view = bytes(buf)
            buf.clear()
        else:
            view = data if type(data) is bytes else bytes(data)
        pos = 0
        if self._small_ok and not self._in_frame and not self._msg_op:
            # The common read: whole small messages only, parsed in one call.
            pos = _accel.parse_small(view, 0, events, self._validate)
            if pos == len(view):
                return events
        return self.receive_rest(view, events, pos)

    def receive_rest(self, view: bytes, events: list[Event], pos: int) -> list[Event]:
        """The rest of ``receive_data``: ``view[pos:]`` through the general parser, after
        ``parse_small`` stopped at ``pos`` (``-1 - offset``: invalid UTF-8 there). Also
        the entry of the C read path (protocol/_serve.c) when a read is not all small
        frames; ``view`` was counted in ``bytes_in`` already, and the buffer is empty."""
        try:
            if pos < 0:
                raise ProtocolError(1007, _BAD_UTF8)
            pos = self._parse(view, events, pos)
        except ProtocolError as exc:
            self._fail(exc)
            events.append(exc)
            return events
        if pos < len(view) and not self.close_received:
            # At most a partial header or control frame: data payloads are consumed as
            # they arrive, so this copy stays small.
            self._buf += view[pos:]
        return events

    def large_payload_pending(self) -> bool:
        """A frame's payload is arriving with at least ``LARGE_PAYLOAD`` bytes to go."""
        return self._in_frame and self._remaining >= LARGE_PAYLOAD

    def _fail(self, exc: ProtocolError) -> None:
        self.error = exc
        self._buf.clear()
        self._msg_chunks = None
        self._msg_text = None
        self._msg_op = 0
        self._msg_buffer = None
        self._msg_direct = False
        self._in_frame = False

    def _parse(self, view: bytes, events: list[Event], pos: int) -> int:
        """Consume frames from ``view[pos:]``; return the offset after what was used."""
        end = len(view)
        expect_mask = self._expect_mask
        small_ok = self._small_ok
        while True:
            if small_ok and not self._in_frame and not self._msg_op:
                # Fast path: whole small masked text/binary messages from a client, back
                # to back, in one call (C when built); anything else falls through to the
                # general parser.
                pos = _accel.parse_small(view, pos, events, self._validate)
                if pos < 0:
                    raise ProtocolError(1007, _BAD_UTF8)
            if self._in_frame:
                pos = self._consume_payload(view, pos, end)
                if self._remaining:
                    return pos  # the rest of this frame has not arrived yet
                self._in_frame = False
                if self._frame_fin:
                    events.append(self._finish_message())
                continue

            # --- frame header (RFC 6455 §5.2) ---
            avail = end - pos
            if avail < 2:
                return pos
            b0 = view[pos]
            b1 = view[pos + 1]
            length = b1 & 0x7F
            if length < 126:
                hlen = 2
            elif length == 126:
                if avail < 4:
                    return pos
                length = (view[pos + 2] << 8) | view[pos + 3]
                hlen = 4
            else:
                if avail < 10:
                    return pos
                length = int.from_bytes(view[pos + 2 : pos + 10], "big")
                if length >> 63:
                    raise ProtocolError(
                        1002, "64-bit payload length with the high bit set (RFC 6455 §5.2)"
                    )
                hlen = 10
            if b1 & 0x80 != expect_mask:
                raise ProtocolError(
                    1002,
                    "masked frame from the server (RFC 6455 §5.1)"
                    if expect_mask == 0
                    else "unmasked frame from the client (RFC 6455 §5.1)",
                )
            if expect_mask:
                hlen += 4
            opcode = b0 & 0x0F
            if b0 & 0x70:
                self._check_rsv(b0, opcode)
            if hlen + length > self._max_frame:
                raise ProtocolError(
                    1009,
                    f"frame of {hlen + length} bytes exceeds max_frame_size {self._max_frame}",
                )

            if opcode & 0x8:
                # --- control frame (RFC 6455 §5.5) ---
                if opcode > _PONG:
                    raise ProtocolError(1002, f"reserved opcode {opcode:#x} (RFC 6455 §5.2)")
                if not b0 & 0x80:
                    raise ProtocolError(1002, "fragmented control frame (RFC 6455 §5.5)")
                if length > MAX_CONTROL_PAYLOAD:
                    raise ProtocolError(
                        1002, "control frame payload over 125 bytes (RFC 6455 §5.5)"
                    )
                if avail < hlen + length:
                    return pos  # wait for the whole (small) control frame
                start = pos + hlen
                pos = start + length
                if not length:
                    payload = b""
                elif expect_mask:
                    payload = _accel.apply_mask(view[start:pos], view[start - 4 : start])
                else:
                    payload = view[start:pos]
                if opcode == _PING:
                    events.append(Ping(payload))
                elif opcode == _PONG:
                    events.append(Pong(payload))
                else:  # _CLOSE
                    code, reason = parse_close(payload)
                    self.close_received = True
                    events.append(CloseReceived(code, reason))
                    return pos  # §5.5.1: nothing follows a close frame
                continue

            # --- data frame (RFC 6455 §5.4, §5.6) ---
            if opcode == 0:
                if not self._msg_op:
                    raise ProtocolError(
                        1002, "continuation frame without a message to continue (RFC 6455 §5.4)"
                    )
            elif opcode <= _BINARY:
                if self._msg_op:
                    raise ProtocolError(
                        1002, "new data frame inside a fragmented message (RFC 6455 §5.4)"
                    )
            else:
                raise ProtocolError(1002, f"reserved opcode {opcode:#x} (RFC 6455 §5.2)")
            if self._msg_size + length > self._max_message:
                raise ProtocolError(
                    1009,
                    f"message of over {self._msg_size + length} bytes exceeds "
                    f"max_message_size {self._max_message}",
                )
            if avail < hlen:
                return pos
            fin = b0 & 0x80
            start = pos + hlen
            if opcode and fin and not b0 & 0x40 and avail - hlen >= length:
                # Fast path: a whole, unfragmented, uncompressed message is here.
                pos = start + length
                if not length:
                    payload = b""
                elif expect_mask:
                    payload = _accel.apply_mask(view[start:pos], view[start - 4 : start])
                else:
                    payload = view[start:pos]
                if opcode == _TEXT:
                    try:
                        events.append(Text(payload.decode("utf-8")))
                    except UnicodeDecodeError:
                        if self._validate:
                            raise ProtocolError(1007, _BAD_UTF8) from None
                        events.append(Text(payload.decode("utf-8", "replace")))
                else:
                    events.append(Binary(payload))
                continue

            # General path: start (or continue) the message, then stream the payload.
            if opcode:
                self._start_message(opcode, bool(b0 & 0x40))
                self._msg_direct = (
                    opcode == _BINARY and bool(fin) and length >= _BIG and not b0 & 0x40
                )
            self._msg_size += length
            self._in_frame = True
            self._remaining = length
            self._frame_fin = bool(fin)
            self._frame_offset = 0
            self._frame_mask = view[start - 4 : start] if expect_mask else None
            pos = start

    def _check_rsv(self, b0: int, opcode: int) -> None:
        if b0 & 0x30:
            raise ProtocolError(1002, "RSV2/RSV3 set without an extension (RFC 6455 §5.2)")
        if self._deflate is None:
            raise ProtocolError(1002, "RSV1 set without permessage-deflate (RFC 6455 §5.2)")
        if opcode not in (_TEXT, _BINARY):
            # RFC 7692 §6.1: RSV1 marks the first frame of a compressed message only.
            raise ProtocolError(1002, "RSV1 on a control or continuation frame (RFC 7692 §6.1)")

    def _start_message(self, opcode: int, compressed: bool) -> None:
        self._msg_op = opcode
        self._msg_buffer = None
        self._msg_direct = False
        self._msg_compressed = compressed
        self._msg_size = 0
        if opcode == _TEXT and self._validate:
            # Validate as fragments arrive, to fail fast (RFC 6455 §8.1, Autobahn 6.4.*);
            # compressed messages are inflated as they arrive, so the same holds for them.
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = new_decoder()
            else:
                decoder.reset()
            self._msg_decoder = decoder
        else:
            self._msg_decoder = None

    def _consume_payload(self, view: bytes | bytearray | memoryview, pos: int, end: int) -> int:
        """Take what has arrived of the current data frame's payload."""
        take = min(self._remaining, end - pos)
        if not take:
            return pos
        mask = self._frame_mask
        piece = memoryview(view)[pos : pos + take]
        if self._msg_direct and self._msg_buffer is None:
            length = self._frame_offset + self._remaining
            if 2 * (self._frame_offset + take) >= length:
                # Half the payload is here: from now on unmask straight into the message's
                # final buffer. Not earlier, so a peer that only announces a big frame
                # gets no memory for it (RFC 6455 §10.4).
                buffer = self._msg_buffer = _accel.message_buffer(length)
                at = 0
                for done in self._msg_chunks or ():
                    _accel.unmask_into(buffer, at, done, None, 0)
                    at += len(done)
                self._msg_chunks = None
        if self._msg_buffer is not None:
            _accel.unmask_into(
                self._msg_buffer, self._frame_offset, piece, mask, self._frame_offset
            )
            self._frame_offset += take
            self._remaining -= take
            return pos + take
        chunk: bytes
        if mask is not None:
            # The payload may continue mid-key (RFC 6455 §5.3: j = i MOD 4); unmasking
            # reads a view of the input, so the only copy is the unmasked one.
            chunk = _accel.apply_mask(piece, mask, self._frame_offset)
        else:
            chunk = bytes(piece)
        self._frame_offset += take
        self._remaining -= take
        if self._msg_compressed:
            assert self._deflate is not None  # RSV1 is refused without it
            chunk = self._deflate.decompress_fragment(chunk, False, self._max_message)
            if chunk:
                self._absorb(chunk)
        else:
            self._absorb(chunk)
        return pos + take

    def _absorb(self, chunk: bytes) -> None:
        """Add a (non-empty, unmasked, inflated) piece to the message being reassembled."""
        decoder = self._msg_decoder
        if decoder is not None:
            try:
                text = decoder.decode(chunk, False)
            except UnicodeDecodeError:
                raise ProtocolError(1007, _BAD_UTF8) from None
            if chunk[-1] >= 0x80 and not check_pending(decoder):
                raise ProtocolError(1007, _BAD_UTF8)
            if text:
                if self._msg_text is None:
                    self._msg_text = [text]
                else:
                    self._msg_text.append(text)
        elif self._msg_chunks is None:
            self._msg_chunks = [chunk]
        else:
            self._msg_chunks.append(chunk)

    def _finish_message(self) -> Text | Binary:
        if self._msg_compressed:
            assert self._deflate is not None
            # RFC 7692 §7.2.2: the final frame ends the message; deflate appends 00 00 ff ff.
            inflated = self._deflate.decompress_fragment(b"", True, self._max_message)
            if inflated:
                self._absorb(inflated)
        opcode = self._msg_op
        chunks = self._msg_chunks or ()
        decoder = self._msg_decoder
        if self._msg_buffer is not None:
            data = _accel.message_bytes(self._msg_buffer)
            self._msg_buffer = None
            self._msg_direct = False
            self._msg_op = 0
            self._msg_size = 0
            return Binary(data)
        self._msg_op = 0
        self._msg_chunks = None
        self._msg_size = 0
        self._msg_decoder = None
        if decoder is not None:
            pieces = self._msg_text or ("",)
            self._msg_text = None
            try:
                # Nothing is left to decode but a pending partial sequence, an error.
                decoder.decode(b"", True)
            except UnicodeDecodeError:
                raise ProtocolError(
                    1007, "text message ends inside a UTF-8 sequence (RFC 6455 §8.1)"
                ) from None
            return Text(pieces[0] if len(pieces) == 1 else "".join(pieces))
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if opcode == _BINARY:
            return Binary(data)
        # validate_utf8=False: a str is still needed; undecodable bytes become U+FFFD.
        return Text(data.decode("utf-8", "replace"))

    # --- outbound -----------------------------------------------------------------------

    def _frame(self, b0: int, payload: bytes) -> None:
        """Append one frame; server frames are never masked (RFC 6455 §5.1)."""
        n = len(payload)
        out = self._out
        if self._client:
            mask = os.urandom(4)  # §5.3: a fresh, unpredictable key per frame
            header = encode_header(
                b0 & 0x0F, n, fin=bool(b0 & 0x80), rsv1=bool(b0 & 0x40), mask=mask
            )
            payload = _accel.apply_mask(payload, mask)
        elif n < 126:
            header = bytes((b0, n))
        else:
            header = encode_header(b0 & 0x0F, n, fin=bool(b0 & 0x80), rsv1=bool(b0 & 0x40))
        out.append(header)
        if n:
            out.append(payload)
        self.frames_out += 1
        self.bytes_out += len(header) + n

    def _check_open(self) -> None:
        if self.close_sent:
            raise ConnectionClosed("nothing may be sent after the close frame (RFC 6455 §5.5.1)")

    def _data(self, opcode: int, payload: bytes) -> None:
        if self.close_sent:
            self._check_open()
        deflate = self._deflate
        if deflate is not None and deflate.should_compress(len(payload)):
            # RFC 7692 §6: compression is per message, flagged by RSV1 on its first frame.
            self._frame(0xC0 | opcode, deflate.compress(payload))
        else:
            self._frame(0x80 | opcode, payload)

    def send_text(self, text: str) -> None:
        self._data(_TEXT, text.encode("utf-8"))

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        # Copy mutable buffers now: the caller may reuse them before data_to_send().
        self._data(_BINARY, data if type(data) is bytes else bytes(data))

    def _control(self, opcode: int, data: bytes | bytearray | memoryview) -> None:
        self._check_open()
        if len(data) > MAX_CONTROL_PAYLOAD:
            raise HandlerError(
                f"control frame payload is {len(data)} bytes; at most 125 (RFC 6455 §5.5)"
            )
        self._frame(0x80 | opcode, data if type(data) is bytes else bytes(data))

    def send_ping(self, data: bytes | bytearray | memoryview = b"") -> None:
        self._control(_PING, data)

    def send_pong(self, data: bytes | bytearray | memoryview = b"") -> None:
        self._control(_PONG, data)

    def send_close(self, code: int | None = 1000, reason: str = "") -> None:
        """Queue our close frame (RFC 6455 §5.5.1); raises HandlerError for a code or
        reason that may not be sent, ConnectionClosed if one was already sent."""
        self._check_open()
        self._frame(0x80 | _CLOSE, build_close(code, reason))
        self.close_sent = True

    def send_frames(self, frames: Sequence[OutFrame | Text | Binary]) -> None:
        """Queue frames in order: ``str`` is a text message, bytes-like a binary one."""
        if self._deflate is not None or self._client or self.close_sent:
            self._send_frames(frames)
            return
        # Fast path: a server without compression sends a small str/bytes as one object,
        # header and payload together (fewer pieces for data_to_send() to join).
        out = self._out
        for frame in frames:
            kind = type(frame)
            payload: bytes
            if kind is str:
                payload = frame.encode("utf-8")  # type: ignore[union-attr]
                headers = SMALL_TEXT_HEADERS
            elif kind is bytes:
                payload = frame  # type: ignore[assignment]
                headers = SMALL_BINARY_HEADERS
            else:
                self._send_frames((frame,))
                continue
            n = len(payload)
            if n < 126:
                out.append(headers[n] + payload)
                self.frames_out += 1
                self.bytes_out += n + 2
            else:
                self._frame(headers[0][0], payload)

    def _send_frames(self, frames: Sequence[OutFrame | Text | Binary]) -> None:
        for frame in frames:
            if isinstance(frame, str):
                self._data(_TEXT, frame.encode("utf-8"))
            elif isinstance(frame, bytes):
                self._data(_BINARY, frame)
            elif isinstance(frame, Ping):
                self._control(_PING, frame.data)
            elif isinstance(frame, Pong):
                self._control(_PONG, frame.data)
            elif isinstance(frame, Text):
                self._data(_TEXT, frame.data.encode("utf-8"))
            elif isinstance(frame, Binary):
                self.send_binary(frame.data)
            elif isinstance(frame, bytearray | memoryview):
                self.send_binary(frame)
            else:
                raise HandlerError(f"cannot send {type(frame).__name__!r} as a WebSocket frame")

    def send_encoded(self, frame: bytes) -> None:
        """Queue a frame already encoded by ``frames.encode_frame`` (unmasked,
        uncompressed), e.g. one broadcast encoded once for many connections."""
        if self._client:
            raise HandlerError("pre-encoded frames are unmasked: server side only (RFC 6455 §5.1)")
        self._check_open()
        self._out.append(frame)
        self.frames_out += 1
        self.bytes_out += len(frame)

    def pieces_to_send(self) -> list[bytes]:
        """Everything queued since the last call, for one ``writelines``: small frames
        joined into one piece, while a large payload stays its own piece so that it is
        never copied (uvloop writes the pieces with one writev)."""
        out = self._out
        if len(out) > 1 and sum(map(len, out)) < _BIG:
            data = b"".join(out)
            out.clear()
            return [data]
        self._out = []
        return out

    def data_to_send(self) -> bytes:
        """Everything queued since the last call, as one buffer for one write."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data
