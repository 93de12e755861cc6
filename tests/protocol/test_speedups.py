"""The C accelerator and its pure-Python twins give identical results (``_accel``).

Each function is compared directly, C against Python, on generated input, and the Python
twin against an independent reference (the stdlib codec, a byte-by-byte XOR). The rest of
``tests/protocol`` runs once per implementation (``conftest.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from websock.exceptions import ProtocolError
from websock.options import Options
from websock.protocol import _accel, _pure
from websock.protocol.connection import ServerConnection
from websock.protocol.events import Event
from websock.protocol.frames import encode_frame
from websock.protocol.utf8 import Utf8Validator, utf8_check
from websock.results import Binary, Text


def _load_c() -> ModuleType | None:
    try:
        from websock.protocol import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    module: ModuleType = _speedups
    module.setup(Text, Binary)
    return module


C = _load_c()
# Run even under WEBSOCK_NO_EXTENSIONS=1 (which only stops _accel from choosing C): the
# comparison needs the built module, and skips (a failure in CI) only when it is absent.
needs_c = pytest.mark.skipif(C is None, reason="the C accelerator is not built (pip install -e .)")
IMPLS: list[Any] = [_pure] if C is None else [_pure, C]


def reference_mask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    return bytes(b ^ mask[(offset + i) % 4] for i, b in enumerate(data))


# --- masking (RFC 6455 §5.3) ----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4), st.integers(0, 11))
def test_apply_mask_matches_reference(data: bytes, mask: bytes, offset: int) -> None:
    expected = reference_mask(data, mask, offset)
    for impl in IMPLS:
        assert impl.apply_mask(data, mask, offset) == expected
        assert impl.apply_mask(memoryview(data), bytearray(mask), offset) == expected
        buffer = bytearray(data)
        impl.apply_mask_inplace(buffer, mask, offset)
        assert buffer == expected


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_apply_mask_edges(impl: Any) -> None:
    mask = b"\x01\x02\x03\x04"
    big = os.urandom(1 << 20)
    assert impl.apply_mask(impl.apply_mask(big, mask), mask) == big
    assert impl.apply_mask(b"", mask, 3) == b""
    # Masking in pieces at their payload offsets equals masking the whole.
    pieces = [impl.apply_mask(big[i : i + 1001], mask, i) for i in range(0, len(big), 1001)]
    assert b"".join(pieces) == impl.apply_mask(big, mask)
    for bad in (b"", b"abc", b"abcde"):
        with pytest.raises(ValueError, match="4 bytes"):
            impl.apply_mask(b"data", bad)
    with pytest.raises(BufferError):
        impl.apply_mask_inplace(b"read-only", mask)


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_message_buffer_round_trip(impl: Any) -> None:
    mask = b"\xa1\xb2\xc3\xd4"
    payload = os.urandom(200_003)
    masked = reference_mask(payload, mask)
    buffer = impl.message_buffer(len(payload))
    for at in range(0, len(payload), 65_537):  # pieces that start mid-key
        impl.unmask_into(buffer, at, memoryview(masked)[at : at + 65_537], mask, at)
    result = impl.message_bytes(buffer)
    assert type(result) is bytes
    assert result == payload
    plain = impl.message_buffer(3)
    impl.unmask_into(plain, 1, b"xy", None, 0)
    impl.unmask_into(plain, 0, b"w", None, 0)
    assert impl.message_bytes(plain) == b"wxy"
    with pytest.raises(ValueError, match="past the end"):
        impl.unmask_into(impl.message_buffer(2), 1, b"ab", None, 0)
    with pytest.raises(ValueError, match="negative"):
        impl.message_buffer(-1)
    # Handed over once: the buffer cannot be written or read again afterwards.
    with pytest.raises(ValueError, match="handed over"):
        impl.message_bytes(plain)
    with pytest.raises(ValueError, match="handed over"):
        impl.unmask_into(plain, 0, b"w", None, 0)
    # Only a message buffer is ever written: never an ordinary (shared) bytes object.
    for other in (b"abc", bytearray(3)):
        with pytest.raises(TypeError):
            impl.unmask_into(other, 0, b"w", None, 0)
        with pytest.raises(TypeError):
            impl.message_bytes(other)


# --- UTF-8 (RFC 3629 §4, RFC 6455 §8.1) -------------------------------------------------------


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _completable(prefix: bytes) -> bool:
    """Whether some bytes appended make ``prefix`` valid UTF-8: only the byte after a lead
    has a lead-specific range, later continuation bytes are always 80..BF."""
    return _decodes(prefix) or any(
        _decodes(prefix + bytes([c]) + b"\x80" * k) for c in range(0x80, 0xC0) for k in range(3)
    )


def reference_first_invalid(data: bytes) -> int | None:
    """Brute-force reference: the first i such that ``data[: i + 1]`` cannot be completed."""
    for i in range(len(data)):
        if not _completable(data[: i + 1]):
            return i
    return None


utf8_bytes = st.one_of(
    st.text().map(lambda s: s.encode("utf-8")),
    st.binary(max_size=40),
    st.lists(
        st.sampled_from(
            [
                b"a",
                b"\xc2\x80",
                b"\xe0\xa0\x80",
                b"\xed\x9f\xbf",
                b"\xed\xa0\x80",
                b"\xf0\x90\x80\x80",
                b"\xf4\x8f\xbf\xbf",
                b"\xf4\x90\x80\x80",
                b"\xc0\xaf",
                b"\xe0\x80\xaf",
                b"\xff",
                b"\x80",
                b"\xe2\x82",
                b"\xf0\x9f\x98",
            ]
        ),
        max_size=12,
    ).map(b"".join),
)


@settings(max_examples=400, deadline=None)
@given(utf8_bytes, st.lists(st.integers(0, 60), max_size=4))
def test_utf8_check_same_in_c_and_python_in_any_split(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    outcomes = []
    for impl in IMPLS:
        state, offset, failed_at = 0, 0, None
        for piece in pieces:
            result = impl.utf8_check(piece, state)
            if result < 0:
                failed_at = offset + (-1 - result)
                break
            state = result
            offset += len(piece)
        outcomes.append((failed_at, state if failed_at is None else None))
    assert all(outcome == outcomes[0] for outcome in outcomes)
    failed_at, end_state = outcomes[0]
    # The answer is independent of the split, and right: valid iff the codec accepts it.
    whole = _pure.utf8_check(data)
    assert failed_at == (-1 - whole if whole < 0 else None)
    try:
        data.decode("utf-8")
        complete = True
    except UnicodeDecodeError:
        complete = False
    assert complete == (failed_at is None and end_state == 0)


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__.rsplit(".", 1)[1])
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"plain ascii", 0),
        (b"\xed", (1 << 24) | 0xED),
        (b"\xed\x9f", (2 << 24) | 0xED9F),
        (b"\xed\xa0", -2),  # a UTF-16 surrogate: fails at its second byte (RFC 3629 §3)
        (b"ab\xf4\x90", -4),  # above U+10FFFF
        (b"\xf0\x80", -2),  # overlong
        (b"\xe0\x9f", -2),  # overlong
        (b"\xc0", -1),
        (b"\xc1\xbf", -1),
        (b"\xf5", -1),
        (b"\x80", -1),
        (b"a\xe2(", -3),
        (b"\xf0\x9f\x98", (3 << 24) | 0xF09F98),
        (b"\xf0\x9f\x98\x80", 0),
        (b"x" * 37 + b"\xff" + b"y" * 10, -38),  # past the 8-byte ASCII skip
    ],
)
def test_utf8_check_cases(impl: Any, data: bytes, expected: int) -> None:
    assert impl.utf8_check(data) == expected


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_utf8_check_state(impl: Any) -> None:
    state = impl.utf8_check(b"\xf0")
    state = impl.utf8_check(b"\x9f", state)
    assert impl.utf8_check(b"\x98\x80", state) == 0
    assert impl.utf8_check(b"\x98(", state) == -2
    for bad in (-1, 1, (1 << 24) | 0x80, (2 << 24) | 0xEDA0, 4 << 24, (1 << 24) | 0x1FF, 1 << 70):
        with pytest.raises(ValueError, match="state"):
            impl.utf8_check(b"", bad)


@settings(max_examples=100, deadline=None)
@given(utf8_bytes)
def test_reference_agrees_on_first_invalid_byte(data: bytes) -> None:
    result = _pure.utf8_check(data)
    assert (None if result >= 0 else -1 - result) == reference_first_invalid(data)


def test_validator_uses_utf8_check() -> None:
    validator = Utf8Validator()
    assert validator.feed(b"\xe2\x82")
    assert not validator.feed(b"", final=True)  # ends inside a sequence
    validator.reset()
    assert validator.feed("€".encode(), final=True)
    assert utf8_check(b"\xed\xa0") == -2


# --- small frames (RFC 6455 §5.2) -------------------------------------------------------------


def client_frame(b0: int, payload: bytes, mask: bytes) -> bytes:
    assert len(payload) < 126
    return bytes((b0, 0x80 | len(payload))) + mask + reference_mask(payload, mask)


frame_st = st.tuples(
    st.sampled_from([0x81, 0x82, 0x01, 0x80, 0x89, 0xC1, 0x83]),
    st.one_of(utf8_bytes.filter(lambda b: len(b) < 126), st.binary(max_size=125)),
    st.binary(min_size=4, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(frame_st, max_size=8), st.integers(0, 12), st.integers(0, 12), st.booleans())
def test_parse_small_same_in_c_and_python(
    frames: list[tuple[int, bytes, bytes]], skip: int, cut: int, validate: bool
) -> None:
    wire = os.urandom(skip) + b"".join(client_frame(*f) for f in frames)
    wire = wire[: len(wire) - cut] if cut < len(wire) else wire
    results = []
    for impl in IMPLS:
        events: list[object] = []
        pos = impl.parse_small(wire, min(skip, len(wire)), events, validate)
        results.append((pos, events))
    assert all(r == results[0] for r in results)
    for _, events in results:
        assert all(type(e) in (Text, Binary) for e in events)


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_parse_small_cases(impl: Any) -> None:
    mask = b"\x11\x22\x33\x44"
    wire = (
        client_frame(0x81, "héllo".encode(), mask)
        + client_frame(0x82, b"\x00\xff", mask)
        + client_frame(0x81, b"", mask)
        + client_frame(0x81, b"bad \xff", mask)
        + client_frame(0x81, b"after", mask)
    )
    events: list[object] = []
    bad_at = len(wire) - 12 - 6 - len(b"bad \xff") - 6 - len(b"after") + 12
    pos = impl.parse_small(wire, 0, events, True)
    assert pos == -1 - bad_at
    assert events == [Text("héllo"), Binary(b"\x00\xff"), Text("")]
    lenient: list[object] = []
    assert impl.parse_small(wire, 0, lenient, False) == len(wire)
    assert lenient[3] == Text("bad \ufffd")
    # Stops at anything that is not a whole small masked data frame.
    for stop in (b"\x01\x80", b"\x81\x05", b"\x81\xfe", b"\x88\x80", b"\x81\x85abcd"):
        events = []
        frame = client_frame(0x82, b"ok", mask)
        assert impl.parse_small(frame + stop, 0, events, True) == len(frame)
        assert events == [Binary(b"ok")]
    with pytest.raises(ValueError):
        impl.parse_small(b"", 1, [], True)
    with pytest.raises(TypeError):
        impl.parse_small(bytearray(b"\x82\x80abcd"), 0, [], True)
    with pytest.raises(TypeError):
        impl.parse_small(b"\x82\x80abcd", 0, (), True)


@needs_c
def test_c_events_are_ordinary_instances() -> None:
    assert C is not None
    events: list[Any] = []
    mask = b"\x00\x00\x00\x00"
    C.parse_small(
        client_frame(0x81, b"hi", mask) + client_frame(0x82, b"yo", mask), 0, events, True
    )
    text, binary = events
    assert type(text) is Text and text == Text("hi") and hash(text) == hash(Text("hi"))
    assert repr(binary) == "Binary(data=b'yo')"
    with pytest.raises(AttributeError):
        text.data = "changed"  # type: ignore[misc]  # still frozen


# --- choosing -------------------------------------------------------------------------------


def test_use_switches_and_reports() -> None:
    previous = _accel.use("python")
    try:
        assert _accel.IMPLEMENTATION == "python"
        assert _accel.apply_mask is _pure.apply_mask
        with pytest.raises(ValueError):
            _accel.use("fortran")  # type: ignore[arg-type]
    finally:
        _accel.use(previous)


def test_no_extensions_env_forces_python() -> None:
    code = "from websock.protocol import _accel; print(_accel.IMPLEMENTATION, _accel.available())"
    env = {**os.environ, "WEBSOCK_NO_EXTENSIONS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.split()[0] == "python"
    env.pop("WEBSOCK_NO_EXTENSIONS")
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.split()[0] == ("c" if C is not None else "python")


# --- through the connection: large messages from a reused read buffer -----------------------


def feed_reused_buffer(conn: ServerConnection, data: bytes, size: int) -> list[Event]:
    """Feed ``data`` the way the server does: views of one buffer, overwritten each read."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    events: list[Event] = []
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        view[: len(piece)] = piece
        events += conn.receive_data(view[: len(piece)])
        view[:] = b"\xee" * size  # anything the connection kept by reference is now garbage
    return events


@pytest.mark.parametrize("read_size", [1000, 65_536, 300_001])
def test_large_messages_from_a_reused_buffer(read_size: int) -> None:
    """Large binary frames are unmasked straight into their final buffer (message_buffer),
    text and fragmented ones take the chunked path; all must survive buffer reuse."""
    mask = b"\x9a\x01\xfe\x42"
    big = os.urandom(300_000)
    text = ("ünïcode " * 20_000).encode()
    wire = (
        encode_frame(0x2, big, mask=mask)
        + encode_frame(0x1, b"small", mask=mask)
        + encode_frame(0x1, text, mask=mask)
        + encode_frame(0x2, big[:70_000], fin=False, mask=mask)
        + encode_frame(0x0, big[70_000:], mask=mask)
        + encode_frame(0x2, big[:65_536], mask=mask)
    )
    conn = ServerConnection(Options())
    events = feed_reused_buffer(conn, wire, read_size)
    assert events == [
        Binary(big),
        Text("small"),
        Text(text.decode()),
        Binary(big),
        Binary(big[:65_536]),
    ]
    assert all(type(e.data) in (bytes, str) for e in events if isinstance(e, Text | Binary))


def test_large_message_interrupted_by_invalid_utf8_after_it() -> None:
    mask = b"\x01\x02\x03\x04"
    big = os.urandom(100_000)
    wire = encode_frame(0x2, big, mask=mask) + encode_frame(0x1, b"\xff", mask=mask)
    events = feed_reused_buffer(ServerConnection(Options()), wire, 4096)
    assert events[0] == Binary(big)
    assert isinstance(events[1], ProtocolError) and events[1].code == 1007
    assert len(events) == 2


def test_announcing_a_big_frame_costs_no_memory_until_half_of_it_arrives() -> None:
    """RFC 6455 §10.4: the final buffer of a large message is allocated only once half of
    its payload is here, so a peer cannot make us reserve 8 MiB with a 14-byte header."""
    mask = b"\x05\x06\x07\x08"
    payload = os.urandom(1 << 20)
    wire = encode_frame(0x2, payload, mask=mask)
    conn = ServerConnection(Options())
    assert conn.receive_data(wire[:100_000]) == []
    assert conn._msg_buffer is None
    assert conn.receive_data(wire[100_000 : len(wire) // 2 + 100]) == []
    assert conn._msg_buffer is not None
    assert conn.receive_data(wire[len(wire) // 2 + 100 :]) == [Binary(payload)]
    assert conn._msg_buffer is None
