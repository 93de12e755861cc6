"""RFC 6455 §5 framing: opcodes, masking, frame headers, close payloads.

Everything here is pure and stateless; ``connection.py`` keeps the state (fragmentation,
limits, close handshake) and uses these helpers. Stdlib only, no I/O.

    0                   1                   2                   3
    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
   +-+-+-+-+-------+-+-------------+-------------------------------+
   |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
   |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
   |N|V|V|V|       |S|             |   (if payload len==126/127)   |
   | |1|2|3|       |K|             |                               |
   +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Final

from ..exceptions import HandlerError, ProtocolError
from ..results import check_close, is_sendable_close_code
from . import _accel

__all__ = [
    "FIN",
    "MASK_BIT",
    "MAX_CONTROL_PAYLOAD",
    "RSV1",
    "RSV2",
    "RSV3",
    "SMALL_BINARY_HEADERS",
    "SMALL_TEXT_HEADERS",
    "CloseCode",
    "Opcode",
    "apply_mask",
    "build_close",
    "encode_frame",
    "encode_header",
    "is_valid_received_close_code",
    "parse_close",
]


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 §5.2, §11.8); 0x3-0x7 and 0xB-0xF are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(IntEnum):
    """Close codes this library sends or reports (RFC 6455 §7.4.1, IANA registry)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # never on the wire: "the peer sent no code"
    ABNORMAL = 1006  # never on the wire: "the connection dropped"
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


# First header byte.
FIN: Final = 0x80
RSV1: Final = 0x40  # "compressed" under permessage-deflate (RFC 7692 §6)
RSV2: Final = 0x20
RSV3: Final = 0x10
# Second header byte.
MASK_BIT: Final = 0x80

MAX_CONTROL_PAYLOAD: Final = 125  # RFC 6455 §5.5

_pack_16: Final = struct.Struct("!BBH").pack
_pack_64: Final = struct.Struct("!BBQ").pack


def apply_mask(
    data: bytes | bytearray | memoryview, mask: bytes | bytearray | memoryview, offset: int = 0
) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` (RFC 6455 §5.3); masking is its own inverse.

    ``offset`` is the position of ``data`` in the payload (octet i uses key octet
    i MOD 4), for a payload masked piece by piece. Runs the C accelerator when built,
    else one big-integer XOR (``_accel``); ValueError for a key that is not 4 bytes.
    """
    return _accel.apply_mask(data, mask, offset)


def encode_header(
    opcode: int, length: int, *, fin: bool = True, rsv1: bool = False, mask: bytes | None = None
) -> bytes:
    """The frame header for a payload of ``length`` bytes, masking key included.

    The length uses the shortest of the three forms (RFC 6455 §5.2: "the minimal number
    of bytes MUST be used").
    """
    b0 = opcode | (FIN if fin else 0) | (RSV1 if rsv1 else 0)
    m = MASK_BIT if mask is not None else 0
    if length < 126:
        header = bytes((b0, m | length))
    elif length < 0x10000:
        header = _pack_16(b0, m | 126, length)
    else:
        header = _pack_64(b0, m | 127, length)
    return header if mask is None else header + mask


# RFC 6455 §5.2: a final, unmasked, uncompressed data frame (what a server sends without
# an extension) whose payload is under 126 bytes has a fixed 2-byte header: FIN | opcode,
# then the length itself. Looked up by payload length, these spare each small message a
# call to encode_header.
#: ``SMALL_TEXT_HEADERS[n]``: the header of a final server text frame of ``n`` < 126 bytes.
SMALL_TEXT_HEADERS: Final[tuple[bytes, ...]] = tuple(
    encode_header(Opcode.TEXT, n) for n in range(126)
)
#: ``SMALL_BINARY_HEADERS[n]``: the same for a binary frame.
SMALL_BINARY_HEADERS: Final[tuple[bytes, ...]] = tuple(
    encode_header(Opcode.BINARY, n) for n in range(126)
)


def encode_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bytes | None = None,
) -> bytes:
    """One complete frame; ``mask`` (4 bytes) is required from clients (RFC 6455 §5.3)."""
    header = encode_header(opcode, len(payload), fin=fin, rsv1=rsv1, mask=mask)
    if mask is not None:
        return header + apply_mask(payload, mask)
    return header + payload


# --- close frames (RFC 6455 §5.5.1, §7.4) ----------------------------------------------------


def is_valid_received_close_code(code: int) -> bool:
    """Whether a close code may appear on the wire (RFC 6455 §7.4.1, §7.4.2).

    1004 is reserved, 1005/1006/1015 must never be sent, 1016-2999 are for future RFCs,
    0-999 and 5000+ are not used: receiving any of them is a protocol error.
    """
    return is_sendable_close_code(code)


def parse_close(payload: bytes | bytearray) -> tuple[int | None, str]:
    """The code and reason of a received close frame, or ProtocolError (1002 / 1007)."""
    n = len(payload)
    if n == 0:
        # §5.5.1: the body is optional; §7.1.5: no code means "1005", reported as None.
        return None, ""
    if n == 1:
        raise ProtocolError(1002, "close frame payload of 1 byte; a code takes 2 (RFC 6455 §5.5.1)")
    code = (payload[0] << 8) | payload[1]
    if not is_valid_received_close_code(code):
        raise ProtocolError(1002, f"invalid close code {code} (RFC 6455 §7.4)")
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(1007, "close reason is not valid UTF-8 (RFC 6455 §5.5.1)") from None
    return code, reason


def build_close(code: int | None, reason: str = "") -> bytes:
    """The payload of a close frame we send; raises HandlerError for an unsendable code."""
    if code is None:
        if reason:
            raise HandlerError("a close reason needs a close code (RFC 6455 §5.5.1)")
        return b""
    check_close(code, reason)
    return code.to_bytes(2, "big") + reason.encode("utf-8")
