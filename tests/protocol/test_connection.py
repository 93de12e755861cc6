"""The sans-I/O connection: bytes in → events, frames out → bytes (RFC 6455 §5, RFC 7692).

Inbound tests feed input whole, byte by byte, in odd-sized chunks and as bytearray /
memoryview: the parser must give the same events for every split.
"""

from __future__ import annotations

import itertools
import os
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from websock.exceptions import ConnectionClosed, HandlerError, ProtocolError
from websock.options import Options
from websock.protocol.connection import ServerConnection, State
from websock.protocol.deflate import DeflateParams, PerMessageDeflate
from websock.protocol.events import CloseReceived, Event
from websock.protocol.frames import Opcode, apply_mask, encode_frame, encode_header
from websock.results import Binary, Ping, Pong, Text

MASK = bytes.fromhex("37fa213d")  # the key of the RFC 6455 §5.7 examples
TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION
PING, PONG, CLOSE = Opcode.PING, Opcode.PONG, Opcode.CLOSE
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10


def server(**options: object) -> ServerConnection:
    return ServerConnection(Options.from_kwargs(options))


def client(**options: object) -> ServerConnection:
    return ServerConnection(Options.from_kwargs(options), client=True)


def cf(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A frame as a client sends it: masked (RFC 6455 §5.3)."""
    return encode_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=MASK)


def feed_whole(conn: ServerConnection, data: bytes) -> list[Event]:
    return conn.receive_data(data)


def feed_bytewise(conn: ServerConnection, data: bytes) -> list[Event]:
    events: list[Event] = []
    for i in range(len(data)):
        events += conn.receive_data(data[i : i + 1])
    return events


def feed_chunks(conn: ServerConnection, data: bytes) -> list[Event]:
    events: list[Event] = []
    for i in range(0, len(data), 7):
        events += conn.receive_data(data[i : i + 7])
    return events


def feed_bytearray(conn: ServerConnection, data: bytes) -> list[Event]:
    return conn.receive_data(bytearray(data))


def feed_memoryview(conn: ServerConnection, data: bytes) -> list[Event]:
    events: list[Event] = []
    half = len(data) // 2
    events += conn.receive_data(memoryview(data)[:half])
    events += conn.receive_data(memoryview(data)[half:])
    return events


Feed = Callable[[ServerConnection, bytes], list[Event]]
FEEDS = [feed_whole, feed_bytewise, feed_chunks, feed_bytearray, feed_memoryview]
feeds = pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.__name__[5:])


def error_code(events: list[Event]) -> int:
    """The close code of the ProtocolError that must end ``events``."""
    assert events, "expected a protocol error, got no events"
    last = events[-1]
    assert isinstance(last, ProtocolError), events
    assert not any(isinstance(e, ProtocolError) for e in events[:-1])
    return last.code


# --- RFC 6455 §5.7 examples ------------------------------------------------------------------


@feeds
def test_rfc_masked_text_hello(feed: Feed) -> None:
    assert feed(server(), bytes.fromhex("818537fa213d7f9f4d5158")) == [Text("Hello")]


@feeds
def test_rfc_unmasked_text_hello(feed: Feed) -> None:
    assert feed(client(), bytes.fromhex("810548656c6c6f")) == [Text("Hello")]


@feeds
def test_rfc_fragmented_unmasked_text(feed: Feed) -> None:
    assert feed(client(), bytes.fromhex("010348656c80026c6f")) == [Text("Hello")]


@feeds
def test_rfc_ping_and_masked_pong(feed: Feed) -> None:
    assert feed(client(), bytes.fromhex("890548656c6c6f")) == [Ping(b"Hello")]
    assert feed(server(), bytes.fromhex("8a8537fa213d7f9f4d5158")) == [Pong(b"Hello")]


@feeds
@pytest.mark.parametrize("size", [125, 126, 256, 65535, 65536, 70001])
def test_rfc_length_forms(feed: Feed, size: int) -> None:
    payload = os.urandom(size)
    unmasked = encode_frame(BINARY, payload)
    if size == 256:
        assert unmasked[:4] == bytes.fromhex("827e0100")
    if size == 65536:
        assert unmasked[:10] == bytes.fromhex("827f0000000000010000")
    if feed is feed_bytewise and size > 256:
        return  # byte by byte is covered by the smaller sizes; keep the suite fast
    assert feed(client(), unmasked) == [Binary(payload)]
    assert feed(server(), cf(BINARY, payload)) == [Binary(payload)]


@feeds
def test_many_frames_in_one_read(feed: Feed) -> None:
    data = b"".join(cf(TEXT, f"message {i}".encode()) for i in range(50))
    assert feed(server(), data) == [Text(f"message {i}") for i in range(50)]


def test_trailing_partial_frame_waits_for_the_rest() -> None:
    conn = server()
    second = cf(BINARY, b"\x00\x01\x02" * 100)
    for cut in range(len(second)):
        conn = server()
        assert conn.receive_data(cf(TEXT, b"first") + second[:cut]) == [Text("first")]
        assert conn.receive_data(second[cut:]) == [Binary(b"\x00\x01\x02" * 100)]


def test_large_frame_in_reads_keeps_the_payload() -> None:
    payload = os.urandom(1 << 20)
    data = cf(BINARY, payload)
    conn = server()
    events: list[Event] = []
    for i in range(0, len(data), 65536 - 3):  # reads that cut the mask key mid-way
        events += conn.receive_data(data[i : i + 65536 - 3])
    assert events == [Binary(payload)]
    assert conn.bytes_in == len(data)


# --- §5.1, §5.2: masking, reserved bits and opcodes ----------------------------------------------


@feeds
def test_server_rejects_unmasked_frames(feed: Feed) -> None:
    assert error_code(feed(server(), encode_frame(TEXT, b"hi"))) == 1002


@feeds
def test_client_rejects_masked_frames(feed: Feed) -> None:
    assert error_code(feed(client(), cf(TEXT, b"hi"))) == 1002


@feeds
@pytest.mark.parametrize("bits", [RSV1, RSV2, RSV3, RSV2 | RSV3, RSV1 | RSV2])
@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING])
def test_reserved_bits_without_extension(feed: Feed, bits: int, opcode: int) -> None:
    assert error_code(feed(server(), cf(opcode | bits, b"hi"))) == 1002


@feeds
@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes(feed: Feed, opcode: int) -> None:
    assert error_code(feed(server(), cf(opcode, b"hi"))) == 1002


@feeds
def test_64_bit_length_with_high_bit(feed: Feed) -> None:
    # Only the header: the error comes before any payload.
    header = bytes((0x82, 0xFF)) + (1 << 63 | 5).to_bytes(8, "big") + MASK
    assert error_code(feed(server(), header)) == 1002


def test_error_is_the_last_event_and_input_is_then_ignored() -> None:
    conn = server()
    events = conn.receive_data(cf(TEXT, b"ok") + encode_frame(TEXT, b"bad") + cf(TEXT, b"x"))
    assert events[0] == Text("ok")
    assert error_code(events) == 1002
    assert len(events) == 2
    assert conn.error == events[-1]
    assert conn.receive_data(cf(TEXT, b"more")) == []


# --- §5.5: control frames ----------------------------------------------------------------------


@feeds
@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_fragmented_control_frame(feed: Feed, opcode: int) -> None:
    assert error_code(feed(server(), cf(opcode, b"\x03\xe8", fin=False))) == 1002


@feeds
@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_control_payload_over_125(feed: Feed, opcode: int) -> None:
    frame = cf(opcode, b"\x03\xe8" + b"x" * 124)  # 126 bytes: the 16-bit length form
    assert error_code(feed(server(), frame[:4])) == 1002  # known from the header alone


@feeds
def test_control_payload_of_125_is_fine(feed: Feed) -> None:
    assert feed(server(), cf(PING, b"p" * 125)) == [Ping(b"p" * 125)]
    assert feed(server(), cf(PING)) == [Ping(b"")]


@feeds
def test_control_frames_inside_a_fragmented_message(feed: Feed) -> None:
    data = (
        cf(TEXT, b"Hel", fin=False)
        + cf(PING, b"1")
        + cf(CONT, b"l", fin=False)
        + cf(PONG, b"2")
        + cf(PING)
        + cf(CONT, b"o")
    )
    assert feed(server(), data) == [Ping(b"1"), Pong(b"2"), Ping(b""), Text("Hello")]


# --- §5.5.1: close -------------------------------------------------------------------------------


@feeds
def test_close_events(feed: Feed) -> None:
    conn = server()
    data = cf(TEXT, b"last") + cf(CLOSE, b"\x03\xe8bye") + cf(TEXT, b"ignored")
    assert feed(conn, data) == [Text("last"), CloseReceived(1000, "bye")]
    assert conn.close_received
    assert conn.state is State.CLOSING
    assert conn.receive_data(cf(TEXT, b"after")) == []


@feeds
@pytest.mark.parametrize(
    ("payload", "event"),
    [
        (b"", CloseReceived(None, "")),
        (b"\x03\xe8", CloseReceived(1000, "")),
        (b"\x0b\xb8", CloseReceived(3000, "")),
        (b"\x13\x87" + "κόσμε".encode(), CloseReceived(4999, "κόσμε")),
    ],
)
def test_valid_close_payloads(feed: Feed, payload: bytes, event: CloseReceived) -> None:
    assert feed(server(), cf(CLOSE, payload)) == [event]


@feeds
@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x03", 1002),
        (b"\x03\xec", 1002),  # 1004
        (b"\x03\xed", 1002),  # 1005
        (b"\x03\xee", 1002),  # 1006
        (b"\x03\xf7", 1002),  # 1015
        (b"\x07\xd0", 1002),  # 2000
        (b"\x13\x88", 1002),  # 5000
        (b"\x00\x00", 1002),
        (b"\x03\xe8\xce\xba\xed\xa0\x80", 1007),
    ],
)
def test_invalid_close_payloads(feed: Feed, payload: bytes, code: int) -> None:
    assert error_code(feed(server(), cf(CLOSE, payload))) == code


def test_close_inside_a_fragmented_message_drops_the_fragments() -> None:
    data = cf(TEXT, b"Hel", fin=False) + cf(CLOSE, b"\x03\xe9")
    assert server().receive_data(data) == [CloseReceived(1001, "")]


# --- §5.4: fragmentation -----------------------------------------------------------------------


@feeds
def test_continuation_without_a_message(feed: Feed) -> None:
    assert error_code(feed(server(), cf(CONT, b"x"))) == 1002


@feeds
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_new_message_inside_a_fragmented_one(feed: Feed, opcode: int) -> None:
    data = cf(BINARY, b"a", fin=False) + cf(opcode, b"b")
    assert error_code(feed(server(), data)) == 1002


@feeds
def test_zero_length_fragments(feed: Feed) -> None:
    data = (
        cf(TEXT, b"", fin=False)
        + cf(CONT, b"", fin=False)
        + cf(CONT, b"abc", fin=False)
        + cf(CONT, b"", fin=False)
        + cf(CONT, b"")
        + cf(BINARY, b"", fin=False)
        + cf(CONT, b"")
        + cf(TEXT)
        + cf(BINARY)
    )
    assert feed(server(), data) == [Text("abc"), Binary(b""), Text(""), Binary(b"")]


@feeds
def test_fragmented_binary(feed: Feed) -> None:
    parts = [os.urandom(n) for n in (1, 200, 0, 70000, 3)]
    data = cf(BINARY, parts[0], fin=False)
    data += b"".join(cf(CONT, p, fin=False) for p in parts[1:-1]) + cf(CONT, parts[-1])
    if feed is feed_bytewise:
        data = data[:4000]  # a prefix is enough byte by byte
        assert feed(server(), data) == []
    else:
        assert feed(server(), data) == [Binary(b"".join(parts))]


# --- limits ------------------------------------------------------------------------------------


@feeds
def test_max_frame_size_is_checked_from_the_header(feed: Feed) -> None:
    header = encode_header(BINARY, 2000, mask=MASK)
    assert error_code(feed(server(max_frame_size=1000), header)) == 1009


def test_max_frame_size_counts_the_header() -> None:
    at_limit = cf(BINARY, bytes(1000 - 8))  # 2 + 2 + 4 header bytes
    assert server(max_frame_size=1000).receive_data(at_limit) == [Binary(bytes(992))]
    assert error_code(server(max_frame_size=999).receive_data(at_limit)) == 1009


@feeds
def test_max_message_size_across_fragments(feed: Feed) -> None:
    ok = cf(TEXT, b"a" * 60, fin=False) + cf(CONT, b"b" * 40)
    assert feed(server(max_message_size=100), ok) == [Text("a" * 60 + "b" * 40)]
    conn = server(max_message_size=100)
    assert feed(conn, cf(TEXT, b"a" * 60, fin=False)) == []
    # The second fragment's header is enough to know the message is too big.
    assert error_code(feed(conn, encode_header(CONT, 41, mask=MASK))) == 1009


@feeds
def test_max_message_size_single_frame(feed: Feed) -> None:
    assert error_code(feed(server(max_message_size=100), cf(BINARY, bytes(101)))) == 1009


# --- §8.1: UTF-8 -------------------------------------------------------------------------------

KOSME = "κόσμε".encode()


@feeds
def test_invalid_utf8_in_a_single_frame(feed: Feed) -> None:
    assert error_code(feed(server(), cf(TEXT, KOSME + b"\xed\xa0\x80edited"))) == 1007


def test_utf8_fails_fast_across_fragments() -> None:
    # Autobahn 6.4.1: the invalid fragment fails the message before it is finished.
    conn = server()
    assert conn.receive_data(cf(TEXT, KOSME, fin=False)) == []
    assert error_code(conn.receive_data(cf(CONT, b"\xf4\x90\x80\x80", fin=False))) == 1007


def test_utf8_fails_fast_on_a_sequence_split_over_fragments() -> None:
    # Autobahn 6.4.2: F4 ends one fragment, 90 (impossible after F4) starts the next.
    conn = server()
    assert conn.receive_data(cf(TEXT, KOSME + b"\xf4", fin=False)) == []
    assert error_code(conn.receive_data(cf(CONT, b"\x90", fin=False))) == 1007


def test_utf8_fails_fast_inside_an_unfinished_frame() -> None:
    # Autobahn 6.4.3/6.4.4: one frame arriving in chops; fail at the bad chop.
    frame = cf(TEXT, KOSME + b"\xf4\x90\x80\x80" + b"edited")
    conn = server()
    bad = 2 + 4 + len(KOSME) + 1  # header, key, valid text, F4: then the impossible 90
    assert conn.receive_data(frame[:bad]) == []
    assert error_code(conn.receive_data(frame[bad : bad + 1])) == 1007


def test_utf8_surrogate_fails_before_its_last_byte() -> None:
    conn = server()
    assert error_code(conn.receive_data(cf(TEXT, b"a\xed\xa0", fin=False))) == 1007


@feeds
def test_utf8_character_split_over_fragments_is_fine(feed: Feed) -> None:
    data = cf(TEXT, KOSME[:3], fin=False) + cf(CONT, KOSME[3:5], fin=False) + cf(CONT, KOSME[5:])
    assert feed(server(), data) == [Text("κόσμε")]


@feeds
def test_utf8_message_ending_mid_character(feed: Feed) -> None:
    assert error_code(feed(server(), cf(TEXT, KOSME + b"\xce"))) == 1007
    data = cf(TEXT, KOSME, fin=False) + cf(CONT, b"\xce")
    assert error_code(feed(server(), data)) == 1007


@feeds
def test_without_utf8_validation_bad_bytes_become_replacement_characters(feed: Feed) -> None:
    conn = server(validate_utf8=False)
    data = cf(TEXT, b"a\xffb") + cf(TEXT, b"c\xed", fin=False) + cf(CONT, b"\xa0\x80d")
    assert feed(conn, data) == [Text("a\ufffdb"), Text("c\ufffd\ufffd\ufffdd")]


@feeds
def test_invalid_utf8_in_longer_frames_and_from_a_server(feed: Feed) -> None:
    bad = b"x" * 200 + b"\xc0\xaf"
    assert error_code(feed(server(), cf(TEXT, bad))) == 1007
    assert error_code(feed(client(), encode_frame(TEXT, b"\xc0\xaf"))) == 1007
    lenient = server(validate_utf8=False)
    assert feed(lenient, cf(TEXT, bad)) == [Text("x" * 200 + "\ufffd\ufffd")]


def test_binary_is_never_utf8_checked() -> None:
    assert server().receive_data(cf(BINARY, b"\xff\xfe")) == [Binary(b"\xff\xfe")]


# --- outbound ----------------------------------------------------------------------------------


def test_server_frames_are_unmasked() -> None:
    conn = server()
    conn.send_text("Hello")
    conn.send_ping(b"Hello")
    assert conn.data_to_send() == bytes.fromhex("810548656c6c6f890548656c6c6f")
    assert conn.data_to_send() == b""


@pytest.mark.parametrize(("size", "header"), [(256, "827e0100"), (65536, "827f0000000000010000")])
def test_server_length_forms(size: int, header: str) -> None:
    conn = server()
    conn.send_binary(bytes(size))
    data = conn.data_to_send()
    assert data == bytes.fromhex(header) + bytes(size)


def test_client_frames_are_masked_with_fresh_keys() -> None:
    conn = client()
    assert conn.client and not server().client
    conn.send_text("Hello")
    conn.send_text("Hello")
    data = conn.data_to_send()
    first, second = data[:11], data[11:]
    assert first[:2] == b"\x81\x85" and second[:2] == b"\x81\x85"
    assert apply_mask(first[6:], first[2:6]) == b"Hello"
    assert server().receive_data(data) == [Text("Hello"), Text("Hello")]


def test_send_frames_in_order() -> None:
    conn = server()
    conn.send_frames(
        [
            "hi",
            b"\x01",
            bytearray(b"ab"),
            memoryview(b"cd"),
            Ping(b"p"),
            Pong(b""),
            Text("t"),
            Binary(b"b"),
        ]
    )
    assert client().receive_data(conn.data_to_send()) == [
        Text("hi"),
        Binary(b"\x01"),
        Binary(b"ab"),
        Binary(b"cd"),
        Ping(b"p"),
        Pong(b""),
        Text("t"),
        Binary(b"b"),
    ]
    assert conn.frames_out == 8


def test_send_frames_rejects_other_objects() -> None:
    with pytest.raises(HandlerError):
        server().send_frames([42])  # type: ignore[list-item]


def test_send_binary_copies_mutable_buffers() -> None:
    conn = server()
    buffer = bytearray(b"abc")
    conn.send_binary(buffer)
    buffer[:] = b"xyz"
    assert conn.data_to_send() == b"\x82\x03abc"


def test_control_payload_limit_outbound() -> None:
    conn = server()
    with pytest.raises(HandlerError):
        conn.send_ping(bytes(126))
    with pytest.raises(HandlerError):
        conn.send_pong(bytes(126))
    assert conn.data_to_send() == b""


def test_close_handshake_states() -> None:
    conn = server()
    states = [conn.state]
    conn.send_close(1000, "done")
    assert conn.data_to_send() == b"\x88\x06\x03\xe8done"
    assert conn.close_sent
    states.append(conn.state)
    sends: list[Callable[[], None]] = [
        lambda: conn.send_text("x"),
        lambda: conn.send_binary(b"x"),
        lambda: conn.send_ping(b""),
        lambda: conn.send_close(1000, ""),
        lambda: conn.send_frames(["x"]),
    ]
    for send in sends:
        with pytest.raises(ConnectionClosed):
            send()
    assert conn.receive_data(cf(CLOSE, b"\x03\xe8")) == [CloseReceived(1000, "")]
    states.append(conn.state)
    assert states == [State.OPEN, State.CLOSING, State.CLOSED]


def test_close_without_code() -> None:
    conn = server()
    conn.send_close(None)
    assert conn.data_to_send() == b"\x88\x00"


@pytest.mark.parametrize(("code", "reason"), [(1005, ""), (1006, ""), (1000, "x" * 124)])
def test_unsendable_close_is_refused_and_nothing_is_queued(code: int, reason: str) -> None:
    conn = server()
    with pytest.raises(HandlerError):
        conn.send_close(code, reason)
    assert not conn.close_sent
    assert conn.data_to_send() == b""


def test_data_may_still_be_sent_after_the_peer_closed() -> None:
    conn = server()
    conn.receive_data(cf(CLOSE, b"\x03\xe8"))
    conn.send_text("last words")  # §5.5.1: only our own close frame ends sending
    conn.send_close(1000)
    assert client().receive_data(conn.data_to_send()) == [
        Text("last words"),
        CloseReceived(1000, ""),
    ]


def test_send_encoded() -> None:
    frame = encode_frame(TEXT, b"broadcast")
    conn = server()
    conn.send_encoded(frame)
    assert conn.data_to_send() == frame
    with pytest.raises(HandlerError):
        client().send_encoded(frame)


# --- round trips -------------------------------------------------------------------------------

messages = st.lists(
    st.one_of(
        st.text(max_size=300).map(Text),
        st.binary(max_size=300).map(Binary),
        st.binary(max_size=125).map(Ping),
        st.binary(max_size=125).map(Pong),
        st.integers(65530, 65540).map(lambda n: Binary(b"\x5a" * n)),
    ),
    max_size=8,
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=60, deadline=None)
@given(messages, st.lists(st.integers(0, 1 << 20), max_size=6), st.booleans())
def test_round_trip(frames: list[Text | Binary | Ping | Pong], cuts: list[int], up: bool) -> None:
    sender, receiver = (client(), server()) if up else (server(), client())
    sender.send_frames(frames)
    events: list[Event] = []
    for piece in split(sender.data_to_send(), cuts):
        events += receiver.receive_data(piece)
    assert events == frames


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=2000),
    st.lists(st.integers(0, 2000), max_size=6),
    st.lists(st.integers(0, 1 << 20), max_size=6),
    st.lists(st.binary(max_size=10), max_size=3),
)
def test_fragmented_round_trip(
    payload: bytes, fragment_cuts: list[int], read_cuts: list[int], pings: list[bytes]
) -> None:
    fragments = split(payload, fragment_cuts)
    data = b""
    for i, fragment in enumerate(fragments):
        opcode = BINARY if i == 0 else CONT
        data += encode_frame(opcode, fragment, fin=i == len(fragments) - 1, mask=os.urandom(4))
        if i < min(len(pings), len(fragments) - 1):  # between fragments (§5.4)
            data += encode_frame(PING, pings[i], mask=os.urandom(4))
    conn = server()
    events: list[Event] = []
    for piece in split(data, read_cuts):
        events += conn.receive_data(piece)
    expected: list[Event] = [Ping(p) for p in pings[: len(fragments) - 1]]
    assert events == [*expected, Binary(payload)]


# --- permessage-deflate (RFC 7692) ---------------------------------------------------------------


def deflate_pair(**options: object) -> tuple[ServerConnection, ServerConnection]:
    opts = Options.from_kwargs({"compress": True, **options})
    params = DeflateParams()
    return (
        ServerConnection(opts, PerMessageDeflate(params, opts)),
        ServerConnection(opts, PerMessageDeflate(params, opts, server_side=False), client=True),
    )


@feeds
@pytest.mark.parametrize(
    "frames",
    [
        ["c107f248cdc9c90700"],  # §7.2.3.1 one frame
        ["4103f248cd", "8004c9c90700"],  # §7.2.3.1 fragmented
        ["c10b000500faff48656c6c6f00"],  # §7.2.3.3 stored block
        ["c108f348cdc9c9070000"],  # §7.2.3.4 BFINAL set
        ["c10df24805000000ffffcac9c90700"],  # §7.2.3.5 two blocks
    ],
    ids=["single", "fragmented", "stored", "bfinal", "two-blocks"],
)
def test_rfc7692_hello(feed: Feed, frames: list[str]) -> None:
    conn, _ = deflate_pair()
    data = b""
    for frame in frames:
        raw = bytes.fromhex(frame)
        assert raw[1] == len(raw) - 2
        # The RFC's frames are the server's (unmasked); a client masks the same payload.
        data += bytes((raw[0], raw[1] | 0x80)) + MASK + apply_mask(raw[2:], MASK)
    assert feed(conn, data) == [Text("Hello")]


def test_rfc7692_shared_window() -> None:
    # §7.2.3.2: the second message refers back into the first one's window.
    conn, _ = deflate_pair()
    first = bytes.fromhex("f248cdc9c90700")
    second = bytes.fromhex("f200110000")
    data = cf(TEXT, first, rsv1=True) + cf(TEXT, second, rsv1=True)
    assert conn.receive_data(data) == [Text("Hello"), Text("Hello")]


def test_rfc7692_empty_message() -> None:
    conn, _ = deflate_pair()
    assert conn.receive_data(cf(BINARY, b"\x00", rsv1=True)) == [Binary(b"")]


def test_compressed_round_trip_both_ways() -> None:
    srv, cli = deflate_pair(compress_threshold=10)
    long_text = "compress me " * 50
    srv.send_text(long_text)
    srv.send_text("short")
    srv.send_binary(bytes(5000))
    data = srv.data_to_send()
    assert data[0] == 0xC1  # RSV1: compressed
    assert len(data) < len(long_text)
    assert cli.receive_data(data) == [Text(long_text), Text("short"), Binary(bytes(5000))]
    cli.send_text(long_text)
    cli.send_text(long_text)  # context takeover: the second one refers to the first
    assert srv.receive_data(cli.data_to_send()) == [Text(long_text), Text(long_text)]


def test_short_messages_are_not_compressed() -> None:
    srv, _ = deflate_pair(compress_threshold=100)
    srv.send_text("short")
    srv.send_ping(b"x" * 120)
    assert srv.data_to_send() == b"\x81\x05short\x89\x78" + b"x" * 120


def compressed(data: bytes) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


@feeds
def test_compressed_message_split_across_fragments(feed: Feed) -> None:
    conn, _ = deflate_pair()
    body = compressed(("κόσμε " * 200).encode())
    cut = len(body) // 3
    data = (
        cf(TEXT, body[:cut], fin=False, rsv1=True)
        + cf(PING, b"!")
        + cf(CONT, body[cut : 2 * cut], fin=False)
        + cf(CONT, body[2 * cut :])
    )
    assert feed(conn, data) == [Ping(b"!"), Text("κόσμε " * 200)]


@feeds
def test_rsv1_on_a_continuation_frame(feed: Feed) -> None:
    conn, _ = deflate_pair()
    body = compressed(b"Hello, Hello")
    data = cf(TEXT, body[:3], fin=False, rsv1=True) + cf(CONT, body[3:], rsv1=True)
    assert error_code(feed(conn, data)) == 1002


@feeds
def test_rsv1_on_a_control_frame(feed: Feed) -> None:
    conn, _ = deflate_pair()
    assert error_code(feed(conn, cf(PING, b"", rsv1=True))) == 1002


@feeds
def test_rsv1_without_negotiation(feed: Feed) -> None:
    assert error_code(feed(server(compress=True), cf(TEXT, compressed(b"Hi"), rsv1=True))) == 1002


@feeds
def test_inflation_over_the_message_limit(feed: Feed) -> None:
    conn, _ = deflate_pair(max_message_size=10_000)
    body = compressed(bytes(10_001))
    assert len(body) < 100
    assert error_code(feed(conn, cf(BINARY, body, rsv1=True))) == 1009


def test_inflation_at_the_message_limit_is_fine() -> None:
    conn, _ = deflate_pair(max_message_size=10_000)
    assert conn.receive_data(cf(BINARY, compressed(bytes(10_000)), rsv1=True)) == [
        Binary(bytes(10_000))
    ]


@feeds
def test_corrupt_compressed_data(feed: Feed) -> None:
    conn, _ = deflate_pair()
    assert error_code(feed(conn, cf(BINARY, b"\xff\xff\xff\xff", rsv1=True))) == 1007


def test_compressed_invalid_utf8_fails_fast() -> None:
    conn, _ = deflate_pair()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflater.compress(KOSME) + deflater.flush(zlib.Z_SYNC_FLUSH)
    second = deflater.compress(b"\xf4\x90\x80\x80") + deflater.flush(zlib.Z_SYNC_FLUSH)
    assert conn.receive_data(cf(TEXT, first, fin=False, rsv1=True)) == []
    assert error_code(conn.receive_data(cf(CONT, second, fin=False))) == 1007
