"""The header tables for small server data frames (``protocol.frames``)."""

from __future__ import annotations

import pytest

from websock.protocol.frames import (
    SMALL_BINARY_HEADERS,
    SMALL_TEXT_HEADERS,
    Opcode,
    encode_frame,
    encode_header,
)


@pytest.mark.parametrize(
    ("table", "first_byte", "opcode"),
    [(SMALL_TEXT_HEADERS, 0x81, Opcode.TEXT), (SMALL_BINARY_HEADERS, 0x82, Opcode.BINARY)],
)
def test_one_two_byte_header_per_length_below_126(
    table: tuple[bytes, ...], first_byte: int, opcode: Opcode
) -> None:
    # RFC 6455 §5.2: FIN set, RSV clear, the opcode; MASK clear (a server), the length
    # itself in the 7-bit field.
    assert len(table) == 126
    for n, header in enumerate(table):
        assert header == bytes((first_byte, n))
        assert header == encode_header(opcode, n)
        payload = b"a" * n
        assert header + payload == encode_frame(opcode, payload)
    # From 126 on the length needs the 16-bit extension: no table entry can be right.
    assert len(encode_header(opcode, 126)) == 4
