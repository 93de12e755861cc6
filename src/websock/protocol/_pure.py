"""The pure-Python twins of ``_speedups.c``: the same functions, the same results.

``_accel`` serves these when the C accelerator is not built or WEBSOCK_NO_EXTENSIONS=1;
``tests/protocol`` runs every protocol test against both, and ``test_speedups.py``
compares them directly. Stdlib only.
"""

from __future__ import annotations

import codecs
from typing import Final

from ..results import Binary, Text

__all__ = [
    "MessageBuffer",
    "apply_mask",
    "apply_mask_inplace",
    "message_buffer",
    "message_bytes",
    "parse_small",
    "unmask_into",
    "utf8_check",
]

_from_bytes: Final = int.from_bytes
_utf8_decoder: Final = codecs.getincrementaldecoder("utf-8")
# Masking a small payload as integers (RFC 6455 §5.3): key * _REPEAT[n] copies the 4-byte
# key every 32 bits, over at least n bytes; & _LOW[n] keeps exactly n bytes.
_REPEAT: Final = tuple(sum(1 << (32 * i) for i in range((n + 3) // 4)) for n in range(126))
_LOW: Final = tuple((1 << (8 * n)) - 1 for n in range(126))


def _key(mask: bytes | bytearray | memoryview) -> bytes:
    key = bytes(mask)
    if len(key) != 4:
        raise ValueError("a masking key is 4 bytes (RFC 6455 §5.3)")
    return key


def apply_mask(
    data: bytes | bytearray | memoryview, mask: bytes | bytearray | memoryview, offset: int = 0
) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` (RFC 6455 §5.3), the key starting at payload
    byte ``offset`` (octet i uses key octet i MOD 4); masking is its own inverse.

    One big-integer XOR over the whole payload runs in C at a few hundred MB/s, far
    faster than any per-byte Python loop.
    """
    key = _key(mask)
    shift = offset & 3
    if shift:
        key = key[shift:] + key[:shift]
    n = len(data)
    if not n:
        return b""
    key = key * (n >> 2) + key[: n & 3]
    return (_from_bytes(data, "little") ^ _from_bytes(key, "little")).to_bytes(n, "little")


def apply_mask_inplace(
    buffer: bytearray | memoryview, mask: bytes | bytearray | memoryview, offset: int = 0
) -> None:
    """``apply_mask`` written back into the writable ``buffer``."""
    view = memoryview(buffer)
    if view.readonly:
        raise BufferError("Object is not writable.")  # what the C twin raises
    view.cast("B")[:] = apply_mask(view, mask, offset)


class MessageBuffer:
    """Room for one large message, filled by ``unmask_into`` and handed over once by
    ``message_bytes`` (the C twin fills the final bytes object itself, no copy at the end)."""

    __slots__ = ("data",)

    def __init__(self, size: int) -> None:
        self.data: bytearray | None = bytearray(size)


def message_buffer(n: int) -> MessageBuffer:
    """Room for a large message of ``n`` bytes."""
    if n < 0:
        raise ValueError("negative size")
    return MessageBuffer(n)


def _data(buffer: MessageBuffer) -> bytearray:
    if type(buffer) is not MessageBuffer:
        raise TypeError("needs a buffer from message_buffer()")
    if buffer.data is None:
        raise ValueError("this message buffer was already handed over")
    return buffer.data


def unmask_into(
    buffer: MessageBuffer,
    at: int,
    src: bytes | bytearray | memoryview,
    mask: bytes | bytearray | memoryview | None,
    offset: int,
) -> None:
    """``buffer[at : at + len(src)]`` = ``src`` unmasked from payload offset ``offset``
    (copied as is when ``mask`` is None)."""
    data = _data(buffer)
    n = len(src)
    if at < 0 or n > len(data) - at:
        raise ValueError("unmask_into past the end of the buffer")
    data[at : at + n] = src if mask is None else apply_mask(src, mask, offset)


def message_bytes(buffer: MessageBuffer) -> bytes:
    """The complete message; the buffer is empty afterwards."""
    data = _data(buffer)
    buffer.data = None
    return bytes(data)


# --- UTF-8 (RFC 3629 §4) -------------------------------------------------------------------
#
# The state between calls is the incomplete sequence at the end of the input so far,
# packed as (number of bytes << 24) | the bytes, big-endian: 0 at a character boundary.


def _second_byte_range(lead: int) -> tuple[int, int] | None:
    """The allowed range of the byte after ``lead``, or None if ``lead`` starts nothing
    (RFC 3629 §4: no overlongs, no surrogates, nothing above U+10FFFF)."""
    if lead < 0xC2 or lead > 0xF4:
        return None
    if lead == 0xE0:
        return 0xA0, 0xBF
    if lead == 0xED:
        return 0x80, 0x9F
    if lead == 0xF0:
        return 0x90, 0xBF
    if lead == 0xF4:
        return 0x80, 0x8F
    return 0x80, 0xBF


def _impossible_at(buf: bytes, start: int) -> int:
    """The index of the first byte from ``start`` (a sequence's first byte) that no valid
    UTF-8 can have there."""
    lead = buf[start]
    allowed = _second_byte_range(lead)
    if allowed is None:
        return start
    need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    lo, hi = allowed
    for i in range(start + 1, min(start + need, len(buf))):
        if not lo <= buf[i] <= hi:
            return i
        lo, hi = 0x80, 0xBF
    return start  # not reached: the decoder found an error in this sequence


def _state_of(tail: bytes) -> int:
    return (len(tail) << 24) | _from_bytes(tail, "big")


def _pending_of(state: int) -> bytes:
    count = state >> 24
    if state < 0 or count > 3 or (state & 0xFFFFFF) >> (8 * count):
        raise ValueError("not a utf8_check state")
    pending = (state & 0xFFFFFF).to_bytes(count, "big")
    if count and utf8_check(pending) != state:
        raise ValueError("not a utf8_check state")
    return pending


def utf8_check(data: bytes | bytearray | memoryview, state: int = 0) -> int:
    """Check the next piece of a UTF-8 stream, failing at the first impossible byte
    (RFC 6455 §8.1 asks to fail fast).

    Returns ``-1 - i`` where ``data[i]`` is the first byte no valid UTF-8 can have there,
    or else the new state: 0 when ``data`` ends at a character boundary, otherwise the
    incomplete sequence at its end (pass it back with the next piece; a message that
    ends with a state other than 0 is invalid).
    """
    pending = _pending_of(state) if state else b""
    buf = pending + bytes(data)
    decoder = _utf8_decoder()
    try:
        decoder.decode(buf, False)
    except UnicodeDecodeError as exc:
        return -1 - (_impossible_at(buf, exc.start) - len(pending))
    tail: bytes = decoder.getstate()[0]
    if tail:
        # The codec keeps a sequence pending until it is complete or proven wrong, but
        # lets "ED A0".."ED BF" (a UTF-16 surrogate, RFC 3629 §3) wait for a third byte.
        start = len(buf) - len(tail)
        bad = _impossible_at(buf, start) if len(tail) >= 2 else start
        if bad != start:
            return -1 - (bad - len(pending))
    return _state_of(tail)


# --- small frames (RFC 6455 §5.2) ------------------------------------------------------------


def parse_small(view: bytes, pos: int, events: list[object], validate: bool) -> int:
    """Whole small client data frames from ``view[pos:]`` into ``events``.

    Takes masked frames with FIN set, no RSV bit, opcode text or binary and a payload
    under 126 bytes, and stops at the first frame that is anything else or incomplete.
    Returns the offset after the last frame taken, or ``-1 - offset`` of a text frame that
    is not valid UTF-8 while ``validate`` is true (the caller fails with 1007, RFC 6455
    §8.1); with ``validate`` false such text is decoded with U+FFFD replacements.
    """
    if type(view) is not bytes or type(events) is not list:
        raise TypeError("parse_small needs bytes and a list")
    if not 0 <= pos <= len(view):
        raise ValueError("pos out of range")
    end = len(view)
    append = events.append
    while end - pos >= 6:
        b0 = view[pos]
        b1 = view[pos + 1]
        if not ((b0 == 0x81 or b0 == 0x82) and 0x80 <= b1 < 0xFE):
            break
        length = b1 - 0x80
        start = pos + 6
        stop = start + length
        if stop > end:
            break
        if length:
            key = _from_bytes(view[pos + 2 : start], "little")
            payload = (
                _from_bytes(view[start:stop], "little") ^ (key * _REPEAT[length] & _LOW[length])
            ).to_bytes(length, "little")
        else:
            payload = b""
        if b0 == 0x82:
            append(Binary(payload))
        else:
            try:
                append(Text(payload.decode("utf-8")))
            except UnicodeDecodeError:
                if validate:
                    return -1 - pos
                append(Text(payload.decode("utf-8", "replace")))
        pos = stop
    return pos
