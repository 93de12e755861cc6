"""PreparedFrame: framed once per compression setting (RFC 6455 §5.2, RFC 7692 §6, §7)."""

from __future__ import annotations

import threading
import zlib

import pytest

from websock import Binary, Text
from websock.options import Options
from websock.protocol.deflate import DeflateParams, PerMessageDeflate
from websock.protocol.frames import encode_frame
from websock.pubsub import PreparedFrame

OPTIONS = Options(compress=True, compress_threshold=16)
MESSAGE = "the same words, again and again; " * 20


def deflater(
    no_context_takeover: bool, bits: int = 15, options: Options = OPTIONS
) -> PerMessageDeflate:
    params = DeflateParams(
        server_no_context_takeover=no_context_takeover, server_max_window_bits=bits
    )
    return PerMessageDeflate(params, options)


def split(frame: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of one unmasked server frame."""
    length = frame[1] & 0x7F
    offset = 2
    if length == 126:
        length, offset = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(frame[2:10], "big"), 10
    assert len(frame) == offset + length
    return frame[0], frame[offset:]


def inflate(payload: bytes, bits: int = 15) -> bytes:
    # RFC 7692 §7.2.2: append 00 00 ff ff, inflate with a fresh window (no takeover).
    return zlib.decompressobj(-bits).decompress(payload + b"\x00\x00\xff\xff")


def test_plain_frame_is_built_once_and_shared() -> None:
    sizes: list[int] = []
    frame = PreparedFrame(Text(MESSAGE), sizes.append)
    first = frame.encoded(None, OPTIONS)
    assert first == encode_frame(0x1, MESSAGE.encode())
    # Context takeover: compressed bytes cannot be shared, so the plain frame goes out.
    assert frame.encoded(deflater(False), OPTIONS) is first
    assert frame.encoded(deflater(False), OPTIONS) is first
    assert sizes == [len(first)]
    assert frame.encodings == 1
    b0, _ = split(first)
    assert b0 == 0x81  # FIN, RSV1 clear, text


def test_no_context_takeover_connections_share_one_compressed_frame() -> None:
    sizes: list[int] = []
    frame = PreparedFrame(MESSAGE, sizes.append)
    one = frame.encoded(deflater(True), OPTIONS)
    two = frame.encoded(deflater(True), OPTIONS)
    assert one is two
    b0, payload = split(one)
    assert b0 == 0xC1  # FIN, RSV1 (compressed, RFC 7692 §6), text
    assert inflate(payload) == MESSAGE.encode()
    assert len(one) < len(MESSAGE)
    plain = frame.encoded(None, OPTIONS)
    assert sizes == [len(one), len(plain)]
    assert frame.encodings == 2


def test_each_window_and_zlib_setting_gets_its_own_variant() -> None:
    frame = PreparedFrame(Binary(MESSAGE.encode()))
    wide = frame.encoded(deflater(True, 15), OPTIONS)
    narrow = frame.encoded(deflater(True, 10), OPTIONS)
    fast = Options(compress=True, compress_threshold=16, compression_level=1)
    quick = frame.encoded(deflater(True, 15, fast), fast)
    assert frame.encodings == 3
    for encoded, bits in ((wide, 15), (narrow, 10), (quick, 15)):
        b0, payload = split(encoded)
        assert b0 == 0xC2
        assert inflate(payload, bits) == MESSAGE.encode()


def test_small_messages_and_8_bit_windows_go_out_plain() -> None:
    small = PreparedFrame("tiny")
    assert split(small.encoded(deflater(True), OPTIONS))[0] == 0x81
    frame = PreparedFrame(MESSAGE)
    params = DeflateParams(server_no_context_takeover=True, server_max_window_bits=8)
    eight = PerMessageDeflate(params, OPTIONS)
    assert split(frame.encoded(eight, OPTIONS))[0] == 0x81


def test_long_payload_length_forms() -> None:
    for size in (125, 126, 65535, 65536):
        frame = PreparedFrame(b"x" * size)
        assert split(frame.encoded(None, OPTIONS))[1] == b"x" * size


def test_concurrent_loops_encode_each_variant_once() -> None:
    sizes: list[int] = []
    frame = PreparedFrame(MESSAGE, sizes.append)
    barrier = threading.Barrier(8)
    results: list[bytes] = []

    def encode() -> None:
        barrier.wait(5)
        results.append(frame.encoded(deflater(True), OPTIONS))

    threads = [threading.Thread(target=encode) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(results) == 8 and len(set(map(id, results))) == 1
    assert len(sizes) == 1


def test_only_data_messages() -> None:
    with pytest.raises(Exception, match="Text or Binary"):
        PreparedFrame(3.5)  # type: ignore[arg-type]
    assert PreparedFrame(bytearray(b"ab")).message == b"ab"
    assert PreparedFrame(memoryview(b"cd")).message == b"cd"
