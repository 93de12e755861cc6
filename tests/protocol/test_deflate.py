"""permessage-deflate (RFC 7692): vectors, round trips, bounded inflation, negotiation."""

from __future__ import annotations

import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from websock.exceptions import ProtocolError
from websock.options import Options
from websock.protocol.deflate import (
    DeflateParams,
    PerMessageDeflate,
    negotiate,
    parse_offers,
)

OPTIONS = Options(compress=True)
DEFAULT = DeflateParams()
HELLO = b"Hello"


def pair(
    params: DeflateParams = DEFAULT, options: Options = OPTIONS
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """A (server, client) pair sharing the agreed parameters."""
    return PerMessageDeflate(params, options), PerMessageDeflate(params, options, False)


# -- RFC 7692 §7.2.3 examples -----------------------------------------------------------------


def test_hello_compresses_to_the_rfc_bytes() -> None:  # §7.2.3.1
    server, _ = pair()
    assert server.compress(HELLO) == bytes.fromhex("f248cdc9c90700")


def test_shared_window_second_message_matches_rfc() -> None:  # §7.2.3.2
    server, client = pair()
    assert server.compress(HELLO) == bytes.fromhex("f248cdc9c90700")
    assert server.compress(HELLO) == bytes.fromhex("f200110000")
    assert client.decompress(bytes.fromhex("f248cdc9c90700"), 100) == HELLO
    assert client.decompress(bytes.fromhex("f200110000"), 100) == HELLO


def test_no_context_takeover_repeats_the_first_encoding() -> None:  # §7.2.3.2 without sharing
    server, _ = pair(DeflateParams(server_no_context_takeover=True))
    assert server.compress(HELLO) == server.compress(HELLO) == bytes.fromhex("f248cdc9c90700")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("f248cdc9c90700", id="7.2.3.1-one-block"),
        pytest.param("f348cdc9c9070000", id="7.2.3.3-bfinal"),
        pytest.param("000500faff48656c6c6f00", id="7.2.3.4-stored"),
        pytest.param("f24805000000ffffcac9c90700", id="7.2.3.5-two-blocks"),
    ],
)
def test_rfc_payloads_inflate_to_hello(payload: str) -> None:
    server, _ = pair()
    assert server.decompress(bytes.fromhex(payload), 100) == HELLO


def test_bfinal_block_then_next_message_still_inflates() -> None:  # §7.2.3.3
    server, _ = pair()
    assert server.decompress(bytes.fromhex("f348cdc9c9070000"), 100) == HELLO
    assert server.decompress(bytes.fromhex("f248cdc9c90700"), 100) == HELLO


def test_data_after_bfinal_block_is_1007() -> None:
    server, _ = pair()
    with pytest.raises(ProtocolError) as info:
        server.decompress(bytes.fromhex("f348cdc9c90700f248cdc9c90700"), 100)
    assert info.value.code == 1007


def test_empty_message_is_a_single_zero_byte() -> None:  # an empty stored block header
    server, client = pair()
    assert server.compress(b"") == b"\x00"
    assert client.decompress(b"\x00", 100) == b""
    assert client.decompress(b"", 100) == b""


def test_garbage_is_1007() -> None:
    server, _ = pair()
    with pytest.raises(ProtocolError) as info:
        server.decompress(b"\xff\xff\xff\xff", 100)
    assert info.value.code == 1007
    assert "RFC 7692" in info.value.reason


# -- round trips ---------------------------------------------------------------------------

params_strategy = st.builds(
    DeflateParams,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=st.integers(8, 15),
    client_max_window_bits=st.integers(8, 15),
)
messages_strategy = st.lists(
    st.one_of(st.binary(max_size=3000), st.text(max_size=500).map(str.encode)), max_size=8
)


@settings(max_examples=150, deadline=None)
@given(params=params_strategy, messages=messages_strategy, level=st.integers(-1, 9))
def test_round_trip_both_directions(
    params: DeflateParams, messages: list[bytes], level: int
) -> None:
    options = Options(compress=True, compression_level=level)
    server, client = pair(params, options)
    for message in messages:
        assert client.decompress(server.compress(message), 1 << 20) == message
        assert server.decompress(client.compress(message), 1 << 20) == message


@settings(max_examples=60, deadline=None)
@given(
    params=params_strategy,
    messages=st.lists(st.binary(min_size=1, max_size=2000), min_size=1, max_size=5),
    cut=st.integers(1, 50),
)
def test_fragmented_inflation_equals_whole(
    params: DeflateParams, messages: list[bytes], cut: int
) -> None:
    server, client = pair(params)
    for message in messages:
        payload = client.compress(message * 3)
        pieces = [payload[i : i + cut] for i in range(0, len(payload), cut)]
        out = b"".join(
            server.decompress_fragment(piece, i == len(pieces) - 1, 1 << 20)
            for i, piece in enumerate(pieces)
        )
        assert out == message * 3


def test_context_takeover_shrinks_repeated_messages() -> None:
    message = b"the same sentence, sent again and again " * 3
    server, _ = pair()
    first, second = server.compress(message), server.compress(message)
    assert len(second) < len(first) // 3


@pytest.mark.parametrize("bits", range(8, 16))
def test_peer_window_is_honoured(bits: int) -> None:
    # Data repeated at a distance just beyond the agreed window must not be referenced:
    # a strict peer inflater with exactly that window has to decode it.
    chunk = bytes(range(256)) * 4
    message = chunk + bytes(1 << bits) + chunk
    server, _ = pair(DeflateParams(server_max_window_bits=bits))
    strict_peer = zlib.decompressobj(-bits)
    for _ in range(3):  # context takeover: later messages may refer to earlier ones
        assert strict_peer.decompress(server.compress(message) + b"\x00\x00\xff\xff") == message


def test_window_8_is_not_compressed_but_stays_valid() -> None:
    server, client = pair(DeflateParams(server_max_window_bits=8))
    assert not server.should_compress(10_000)
    assert client.should_compress(10_000)
    message = b"abc" * 1000
    payload = server.compress(message)  # stored blocks: valid under any window
    assert len(payload) > len(message)
    assert client.decompress(payload, 1 << 20) == message


def test_should_compress_respects_threshold() -> None:
    server, _ = pair(options=Options(compress=True, compress_threshold=100))
    assert not server.should_compress(99)
    assert server.should_compress(100)


def test_client_no_context_takeover_resets_our_inflater() -> None:
    # With client_no_context_takeover agreed the server must not rely on the client's
    # history, and a client honouring it still inflates fine.
    params = DeflateParams(client_no_context_takeover=True)
    server, client = pair(params)
    for _ in range(3):
        assert server.decompress(client.compress(HELLO * 20), 1000) == HELLO * 20
    # A client breaking its promise refers to a window we no longer have.
    rogue = PerMessageDeflate(DeflateParams(), OPTIONS, False)
    rogue.compress(HELLO * 20)
    with pytest.raises(ProtocolError) as info:
        server.decompress(rogue.compress(HELLO * 20), 1000)
    assert info.value.code == 1007


# -- bounded inflation (bombs) ------------------------------------------------------------------


def bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (compressor.compress(bytes(size)) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_bomb_beyond_ratio_is_1009_without_allocating_it() -> None:
    payload = bomb(50 << 20)  # 50 MiB of zeros in ~50 KiB
    server, _ = pair(options=Options(compress=True, max_inflate_ratio=10))
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError) as info:
            server.decompress(payload, 1 << 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.code == 1009
    assert "10x" in info.value.reason
    assert peak < 4 * len(payload) * 10  # bounded by the allowance, far below 50 MiB


def test_bomb_beyond_max_size_is_1009() -> None:
    server, _ = pair(options=Options(compress=True, max_inflate_ratio=10_000))
    with pytest.raises(ProtocolError) as info:
        server.decompress(bomb(1 << 20), 100_000)
    assert info.value.code == 1009
    assert "100000 bytes" in info.value.reason


def test_exactly_max_size_is_allowed() -> None:
    server, client = pair()
    message = bytes(range(256)) * 40
    assert server.decompress(client.compress(message), len(message)) == message
    with pytest.raises(ProtocolError):
        server.decompress(client.compress(message), len(message) - 1)


def test_small_repetitive_messages_pass_the_ratio_floor() -> None:
    # 20 KiB of one byte compresses ~1000:1; tiny messages stay legal below the floor.
    server, client = pair(options=Options(compress=True, max_inflate_ratio=2))
    message = b"a" * 20_000
    assert server.decompress(client.compress(message), 1 << 20) == message


def test_ratio_counts_the_whole_fragmented_message() -> None:
    server, _ = pair(options=Options(compress=True, max_inflate_ratio=10))
    payload = bomb(4 << 20)
    with pytest.raises(ProtocolError) as info:
        for i in range(0, len(payload), 100):
            server.decompress_fragment(payload[i : i + 100], False, 1 << 30)
    assert info.value.code == 1009


def test_inflater_is_usable_after_a_refused_message() -> None:
    # The connection is failed after 1009, but the codec must not keep a half message.
    server, client = pair(DeflateParams(client_no_context_takeover=True))
    with pytest.raises(ProtocolError):
        server.decompress(bomb(1 << 20), 1000)
    assert server.decompress(client.compress(HELLO), 100) == HELLO


# -- offer parsing (RFC 6455 §9.1) --------------------------------------------------------------


def test_parse_offers_syntax() -> None:
    assert parse_offers(
        ['permessage-deflate; client_max_window_bits; server_max_window_bits="10"', "x-foo"]
    ) == [
        (
            "permessage-deflate",
            [("client_max_window_bits", None), ("server_max_window_bits", "10")],
        ),
        ("x-foo", []),
    ]
    assert parse_offers(["  Permessage-Deflate ;Client_Max_Window_Bits = 9 ,, foo ,"]) == [
        ("permessage-deflate", [("client_max_window_bits", "9")]),
        ("foo", []),
    ]
    assert parse_offers([]) == []
    assert parse_offers([""]) == []


@pytest.mark.parametrize(
    "value",
    [
        "permessage-deflate;",
        "permessage-deflate; =1",
        "permessage-deflate; a=",
        'permessage-deflate; a="1',
        'permessage-deflate; a="1 2"',
        'permessage-deflate; a=""',
        "permessage-deflate x",
        "permessage-deflate; a=b c",
        "; a",
        "perméssage",
    ],
)
def test_parse_offers_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError, match=r"RFC (6455|7230)"):
        parse_offers([value])


def test_quoted_pair_unescapes() -> None:
    assert parse_offers(['e; a="1\\0"']) == [("e", [("a", "10")])]


# -- negotiation (RFC 7692 §5, §7.1) ------------------------------------------------------------

N = Options(compress=True)


@pytest.mark.parametrize(
    ("offers", "params", "response"),
    [
        (["permessage-deflate"], DeflateParams(), "permessage-deflate"),
        (["permessage-deflate; client_max_window_bits"], DeflateParams(), "permessage-deflate"),
        (
            ["permessage-deflate; client_max_window_bits=10"],
            DeflateParams(client_max_window_bits=10),
            "permessage-deflate; client_max_window_bits=10",
        ),
        (
            ["permessage-deflate; server_max_window_bits=12"],
            DeflateParams(server_max_window_bits=12),
            "permessage-deflate; server_max_window_bits=12",
        ),
        (
            ['permessage-deflate; server_max_window_bits="12"'],
            DeflateParams(server_max_window_bits=12),
            "permessage-deflate; server_max_window_bits=12",
        ),
        (
            ["permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
            DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
        # Autobahn 13.5: an 8-bit server window is accepted (and honoured by not compressing).
        (
            [
                "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
                "server_no_context_takeover; server_max_window_bits=8"
            ],
            DeflateParams(True, True, 8, 15),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=8",
        ),
        # Unknown extensions are skipped; declined offers fall back to the next one.
        (["x-webkit-deflate-frame, permessage-deflate"], DeflateParams(), "permessage-deflate"),
        (
            ["permessage-deflate; foo, permessage-deflate; server_no_context_takeover"],
            DeflateParams(server_no_context_takeover=True),
            "permessage-deflate; server_no_context_takeover",
        ),
        (
            ["permessage-deflate; server_max_window_bits=16", "permessage-deflate"],
            DeflateParams(),
            "permessage-deflate",
        ),
    ],
)
def test_negotiate_accepts(offers: list[str], params: DeflateParams, response: str) -> None:
    assert negotiate(offers, N) == (params, response)


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=yes",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=abc",
        "x-other-extension",
        "permessage-deflate; a=b c",  # malformed header: ignored as a whole
    ],
)
def test_negotiate_declines(offer: str) -> None:
    assert negotiate([offer], N) is None


def test_malformed_header_disables_compression_even_with_a_valid_offer() -> None:
    assert negotiate(["permessage-deflate", "permessage-deflate; x=("], N) is None


def test_options_limit_our_window_silently_for_a_bare_offer() -> None:
    params, response = negotiate(["permessage-deflate"], N.merged(server_max_window_bits=10)) or (
        None,
        "",
    )
    assert params == DeflateParams(server_max_window_bits=10)
    assert response == "permessage-deflate"


def test_option_window_8_is_raised_to_9_for_our_deflater() -> None:
    options = N.merged(server_max_window_bits=8)
    assert negotiate(["permessage-deflate"], options) == (
        DeflateParams(server_max_window_bits=9),
        "permessage-deflate",
    )
    assert negotiate(["permessage-deflate; server_max_window_bits=12"], options) == (
        DeflateParams(server_max_window_bits=9),
        "permessage-deflate; server_max_window_bits=9",
    )


def test_client_window_limit_needs_the_clients_consent() -> None:
    options = N.merged(client_max_window_bits=10)
    # Valueless client_max_window_bits: the client supports a limit, we set one.
    assert negotiate(["permessage-deflate; client_max_window_bits"], options) == (
        DeflateParams(client_max_window_bits=10),
        "permessage-deflate; client_max_window_bits=10",
    )
    # The client's own smaller limit stands.
    assert negotiate(["permessage-deflate; client_max_window_bits=9"], options) == (
        DeflateParams(client_max_window_bits=9),
        "permessage-deflate; client_max_window_bits=9",
    )
    # Without it the client may use 15 bits: decline, try the next offer.
    assert negotiate(["permessage-deflate"], options) is None
    assert negotiate(
        ["permessage-deflate, permessage-deflate; client_max_window_bits"], options
    ) == (DeflateParams(client_max_window_bits=10), "permessage-deflate; client_max_window_bits=10")


def test_autobahn_13_7_first_offer_wins() -> None:
    offers = [
        "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
        "server_no_context_takeover; server_max_window_bits=8, "
        "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
        "server_no_context_takeover, "
        "permessage-deflate; client_no_context_takeover; client_max_window_bits"
    ]
    result = negotiate(offers, N)
    assert result is not None
    assert result[0] == DeflateParams(True, True, 8, 15)


def test_negotiated_params_drive_a_working_codec() -> None:
    result = negotiate(
        ["permessage-deflate; client_max_window_bits"],
        N.merged(client_max_window_bits=9, server_max_window_bits=11),
    )
    assert result is not None
    server, client = pair(result[0])
    message = bytes(range(256)) * 64
    assert client.decompress(server.compress(message), 1 << 20) == message
    assert server.decompress(client.compress(message), 1 << 20) == message
