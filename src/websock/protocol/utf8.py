"""Incremental UTF-8 validation that fails on the first invalid byte (RFC 6455 §8.1).

A text message split over several frames (or several reads of one frame) must be rejected
as soon as its bytes can no longer be the start of valid UTF-8, not when it ends
(Autobahn|Testsuite 6.4.*). CPython's incremental UTF-8 decoder already rejects invalid
start bytes, overlong forms and code points above U+10FFFF at the first impossible byte,
but keeps ``ED A0``-``ED BF`` (the start of a UTF-16 surrogate, never valid in UTF-8,
RFC 3629 §3) pending until the third byte arrives; ``check_pending`` closes that gap.
"""

from __future__ import annotations

import codecs
from typing import Final

from . import _accel

__all__ = ["Utf8Decoder", "Utf8Validator", "check_pending", "new_decoder", "utf8_check"]

Utf8Decoder = codecs.IncrementalDecoder
_factory: Final = codecs.getincrementaldecoder("utf-8")


def new_decoder() -> Utf8Decoder:
    """A strict incremental UTF-8 decoder; ``decode(data, final)`` raises UnicodeDecodeError."""
    return _factory()


def check_pending(decoder: Utf8Decoder) -> bool:
    """False when the bytes the decoder holds back can no longer become valid UTF-8.

    Only a pending ``ED`` followed by ``A0``-``BF`` (a surrogate, RFC 3629 §3) needs this;
    every other impossible prefix is rejected by the decoder itself.
    """
    pending = decoder.getstate()[0]
    return not (len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0)


def utf8_check(data: bytes | bytearray | memoryview, state: int = 0) -> int:
    """Check the next piece of a UTF-8 stream, failing at the first impossible byte.

    Returns ``-1 - i`` where ``data[i]`` is the first byte that no valid UTF-8 can have
    there, or else the new state: 0 when ``data`` ends at a character boundary, otherwise
    the incomplete sequence at its end, to pass back with the next piece (a message that
    ends in a state other than 0 is invalid). C when built, else the codec (``_accel``).
    """
    return _accel.utf8_check(data, state)


class Utf8Validator:
    """Validate a byte stream piece by piece; once invalid it stays invalid.

    ``feed(data, final)`` returns whether everything fed so far can still be (or, with
    ``final=True``, is) valid UTF-8.
    """

    __slots__ = ("_state", "_valid")

    def __init__(self) -> None:
        self._state = 0
        self._valid = True

    def feed(self, data: bytes | bytearray | memoryview, final: bool = False) -> bool:
        if not self._valid:
            return False
        state = _accel.utf8_check(data, self._state)
        self._state = state
        # A message must not end inside a sequence (RFC 3629 §4).
        self._valid = state >= 0 and not (final and state)
        return self._valid

    def reset(self) -> None:
        self._state = 0
        self._valid = True
