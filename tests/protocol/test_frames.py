"""Frame encoding, masking and close payloads (RFC 6455 §5, §7.4)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websock.exceptions import HandlerError, ProtocolError
from websock.protocol.frames import (
    CloseCode,
    Opcode,
    apply_mask,
    build_close,
    encode_frame,
    encode_header,
    is_valid_received_close_code,
    parse_close,
)

MASK = bytes.fromhex("37fa213d")  # the key of the RFC 6455 §5.7 examples


def naive_mask(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 §5.3, literally: octet i XOR mask octet (i MOD 4)."""
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


# --- RFC 6455 §5.7 examples ------------------------------------------------------------------


def test_unmasked_text_hello() -> None:
    assert encode_frame(Opcode.TEXT, b"Hello") == bytes.fromhex("810548656c6c6f")


def test_masked_text_hello() -> None:
    assert encode_frame(Opcode.TEXT, b"Hello", mask=MASK) == bytes.fromhex("818537fa213d7f9f4d5158")


def test_fragmented_unmasked_text() -> None:
    first = encode_frame(Opcode.TEXT, b"Hel", fin=False)
    last = encode_frame(Opcode.CONTINUATION, b"lo")
    assert first == bytes.fromhex("010348656c")
    assert last == bytes.fromhex("80026c6f")


def test_ping_and_masked_pong() -> None:
    assert encode_frame(Opcode.PING, b"Hello") == bytes.fromhex("890548656c6c6f")
    assert encode_frame(Opcode.PONG, b"Hello", mask=MASK) == bytes.fromhex("8a8537fa213d7f9f4d5158")


def test_256_bytes_use_the_16_bit_length() -> None:
    frame = encode_frame(Opcode.BINARY, bytes(256))
    assert frame[:4] == bytes.fromhex("827e0100")
    assert len(frame) == 4 + 256


def test_64_kib_use_the_64_bit_length() -> None:
    frame = encode_frame(Opcode.BINARY, bytes(65536))
    assert frame[:10] == bytes.fromhex("827f0000000000010000")
    assert len(frame) == 10 + 65536


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, "8200"),
        (125, "827d"),
        (126, "827e007e"),
        (65535, "827effff"),
        (65536, "827f0000000000010000"),
        (2**32, "827f0000000100000000"),
    ],
)
def test_header_uses_the_shortest_length_form(length: int, header: str) -> None:
    assert encode_header(Opcode.BINARY, length) == bytes.fromhex(header)


def test_header_flags() -> None:
    assert encode_header(Opcode.TEXT, 3, fin=False) == b"\x01\x03"
    assert encode_header(Opcode.TEXT, 3, rsv1=True) == b"\xc1\x03"
    assert encode_header(Opcode.TEXT, 3, mask=MASK) == b"\x81\x83" + MASK


# --- masking (§5.3) --------------------------------------------------------------------------


@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4))
def test_mask_matches_the_rfc_definition(data: bytes, mask: bytes) -> None:
    masked = apply_mask(data, mask)
    assert masked == naive_mask(data, mask)
    assert apply_mask(masked, mask) == data


def test_mask_accepts_any_buffer() -> None:
    data = os.urandom(1001)
    expected = naive_mask(data, MASK)
    assert apply_mask(bytearray(data), MASK) == expected
    assert apply_mask(memoryview(data), MASK) == expected
    assert apply_mask(b"", MASK) == b""


def test_mask_keeps_leading_and_trailing_zero_bytes() -> None:
    # A big-integer XOR must not drop zero bytes at either end.
    data = b"\x37\xfa\x21\x3d" * 3 + b"\x37"
    assert apply_mask(data, MASK) == bytes(13)


# --- close payloads (§5.5.1, §7.4) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        (0, False),
        (999, False),
        (1000, True),
        (1001, True),
        (1002, True),
        (1003, True),
        (1004, False),  # reserved
        (1005, False),  # never on the wire
        (1006, False),  # never on the wire
        (1007, True),
        (1008, True),
        (1009, True),
        (1010, True),
        (1011, True),
        (1012, True),
        (1013, True),
        (1014, True),
        (1015, False),  # never on the wire (TLS failure)
        (1016, False),
        (1100, False),
        (2000, False),
        (2999, False),
        (3000, True),
        (3999, True),
        (4000, True),
        (4999, True),
        (5000, False),
        (65535, False),
    ],
)
def test_received_close_code_validity(code: int, valid: bool) -> None:
    assert is_valid_received_close_code(code) is valid
    payload = code.to_bytes(2, "big") + b"bye"
    if valid:
        assert parse_close(payload) == (code, "bye")
    else:
        with pytest.raises(ProtocolError) as info:
            parse_close(payload)
        assert info.value.code == 1002


def test_empty_close_has_no_code() -> None:
    assert parse_close(b"") == (None, "")


def test_one_byte_close_payload_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_close(b"\x03")
    assert info.value.code == 1002


def test_close_reason_must_be_utf8() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_close(b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")
    assert info.value.code == 1007
    assert parse_close(b"\x03\xe8" + "κόσμε".encode()) == (1000, "κόσμε")


def test_build_close() -> None:
    assert build_close(1000) == b"\x03\xe8"
    assert build_close(4000, "bye") == b"\x0f\xa0bye"
    assert build_close(None) == b""
    assert parse_close(build_close(1001, "é" * 61)) == (1001, "é" * 61)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1005, ""), (1006, ""), (999, ""), (1000, "x" * 124), (1000, "é" * 62), (None, "why")],
)
def test_build_close_refuses_what_may_not_be_sent(code: int | None, reason: str) -> None:
    with pytest.raises(HandlerError):
        build_close(code, reason)


def test_close_code_names() -> None:
    assert int(CloseCode.MESSAGE_TOO_BIG) == 1009
    assert Opcode(0xA) is Opcode.PONG
