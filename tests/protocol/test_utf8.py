"""Incremental UTF-8 validation fails on the first impossible byte (RFC 6455 §8.1)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websock.protocol.utf8 import Utf8Validator


def is_valid_prefix(data: bytes) -> bool:
    """Reference: ``data`` is valid UTF-8 or can still be completed into it."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data" and exc.end == len(data)
    return True


def first_failure(data: bytes) -> int | None:
    """Index of the byte at which the validator, fed byte by byte, first says invalid."""
    validator = Utf8Validator()
    for i in range(len(data)):
        if not validator.feed(data[i : i + 1]):
            return i
    return None


@pytest.mark.parametrize(
    "text",
    ["", "Hello-µ@ßöäüàá-UTF-8!!", "κόσμε", "\U0010ffff", "\ud7ff\ue000\ufffd", "\x00\x7f"],
)
def test_valid_text_in_any_split(text: str) -> None:
    data = text.encode("utf-8")
    for cut in range(len(data) + 1):
        validator = Utf8Validator()
        assert validator.feed(data[:cut])
        assert validator.feed(data[cut:], final=True)


@pytest.mark.parametrize(
    ("data", "fails_at"),
    [
        (b"\x80", 0),  # lone continuation byte
        (b"\xc0\x80", 0),  # overlong 2-byte form, C0/C1 never valid
        (b"\xc1\xbf", 0),
        (b"\xe0\x80\x80", 1),  # overlong 3-byte form
        (b"\xf0\x80\x80\x80", 1),  # overlong 4-byte form
        (b"\xf4\x90\x80\x80", 1),  # above U+10FFFF (Autobahn 6.4.1/6.4.2)
        (b"\xf5", 0),
        (b"\xff", 0),
        (b"\xed\xa0\x80", 1),  # UTF-16 surrogate U+D800: rejected at its second byte
        (b"\xed\xbf\xbf", 1),  # U+DFFF
        (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80", 12),
        (b"ab\xe1\x80a", 4),  # truncated sequence followed by ASCII
    ],
)
def test_fails_at_the_first_impossible_byte(data: bytes, fails_at: int) -> None:
    assert first_failure(data) == fails_at


def test_surrogate_prefix_fails_without_its_last_byte() -> None:
    validator = Utf8Validator()
    assert validator.feed(b"a\xed")
    assert not validator.feed(b"\xa0")


def test_incomplete_at_the_end_is_invalid() -> None:
    validator = Utf8Validator()
    assert validator.feed(b"\xce")
    assert not validator.feed(b"", final=True)


def test_invalid_stays_invalid_and_reset_starts_over() -> None:
    validator = Utf8Validator()
    assert not validator.feed(b"\xff")
    assert not validator.feed(b"abc", final=True)
    validator.reset()
    assert validator.feed(b"abc", final=True)


@given(st.binary(max_size=40))
def test_byte_by_byte_fails_exactly_when_no_completion_exists(data: bytes) -> None:
    expected = next((i for i in range(len(data)) if not is_valid_prefix(data[: i + 1])), None)
    assert first_failure(data) == expected


@given(st.binary(max_size=60), st.lists(st.integers(0, 60), max_size=5))
def test_any_split_gives_the_strict_decoder_verdict(data: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    validator = Utf8Validator()
    ok = all(validator.feed(data[a:b]) for a, b in itertools.pairwise(bounds))
    ok = validator.feed(b"", final=True) and ok
    assert ok == (data.decode("utf-8", "replace").encode() == data)


@given(st.text(max_size=30))
def test_encoded_text_is_always_valid(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    assume_valid = all(not 0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert (first_failure(data) is None) == assume_valid
