"""The server's HTTP/1.1 request parsing: limits, strictness, smuggling defences, fuzzing.

Every case runs against both head backends (httptools/llhttp and the pure-Python parser),
and both with whole heads offered to the C head parser first and without it (the C one is
held to the Python path in test_head_parser.py; here both must pass the same cases).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from websock.server._http11 import (
    HeadImplementation,
    HeadParser,
    HttpError,
    ParsedHead,
    RequestReader,
    head_implementations,
    use_head_implementation,
)
from websock.server._limits import HttpLimits
from websock.server._state import choose_head_parser

BACKENDS = ["python", "httptools"]
IMPLEMENTATIONS = ["python"] if os.environ.get("WEBSOCK_NO_EXTENSIONS") == "1" else ["c", "python"]


# Module scope: hypothesis refuses function-scoped fixtures, and switching once is enough.
@pytest.fixture(autouse=True, scope="module", params=IMPLEMENTATIONS)
def head_implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    name: HeadImplementation = request.param
    if name not in head_implementations():
        pytest.skip("the C accelerator is not built (`pip install -e .` builds it with gcc)")
    previous = use_head_implementation(name)
    try:
        yield name
    finally:
        use_head_implementation(previous)


@pytest.fixture(params=BACKENDS)
def parser(request: pytest.FixtureRequest) -> HeadParser:
    return choose_head_parser(request.param)


def read(
    parser: HeadParser, data: bytes, limits: HttpLimits | None = None, *, chunk: int = 0
) -> ParsedHead | None:
    reader = RequestReader(limits or HttpLimits(), parser)
    if chunk:
        head = None
        for i in range(0, len(data), chunk):
            reader.feed(data[i : i + chunk])
            head = head or reader.read_head()
        return head
    reader.feed(data)
    return reader.read_head()


def status_of(parser: HeadParser, data: bytes, limits: HttpLimits | None = None) -> int:
    with pytest.raises(HttpError) as info:
        read(parser, data, limits)
    return info.value.status


UPGRADE = (
    b"GET /chat/room%201?name=ann&x=1 HTTP/1.1\r\n"
    b"Host: example.com:8000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"X-Empty:\r\n"
    b"X-Spaces:   a  b   \r\n"
    b"\r\n"
)


@pytest.mark.parametrize("chunk", [0, 1, 7])
def test_parses_an_upgrade_request_whole_and_in_pieces(parser: HeadParser, chunk: int) -> None:
    head = read(parser, UPGRADE + b"\x81\x80trailing", chunk=chunk)
    assert head is not None
    assert (head.method, head.path, head.query_string, head.version) == (
        "GET",
        "/chat/room 1",
        "name=ann&x=1",
        "1.1",
    )
    assert head.headers[0] == ("Host", "example.com:8000")
    assert ("X-Empty", "") in head.headers
    assert ("X-Spaces", "a  b") in head.headers
    assert head.wants_upgrade and head.keep_alive and head.content_length == 0


def test_bytes_after_the_head_stay_buffered(parser: HeadParser) -> None:
    reader = RequestReader(HttpLimits(), parser)
    reader.feed(UPGRADE + b"\x81\x85rest")
    assert reader.read_head() is not None
    assert bytes(reader.buffer) == b"\x81\x85rest"


def test_pipelined_requests_come_one_at_a_time(parser: HeadParser) -> None:
    reader = RequestReader(HttpLimits(), parser)
    one = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    two = b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    reader.feed(one + two)
    first, second = reader.read_head(), reader.read_head()
    assert first is not None and second is not None
    assert (first.path, first.keep_alive, second.path, second.keep_alive) == (
        "/a",
        True,
        "/b",
        False,
    )
    assert reader.read_head() is None


def test_leading_empty_lines_are_skipped(parser: HeadParser) -> None:
    head = read(parser, b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert head is not None and head.path == "/"
    assert status_of(parser, b"\r\n" * 10 + b"GET / HTTP/1.1\r\nHost: h\r\n\r\n") == 400


def test_incomplete_head_waits(parser: HeadParser) -> None:
    assert read(parser, b"GET / HTTP/1.1\r\nHost: h\r\n") is None


def test_content_length_body_is_reported(parser: HeadParser) -> None:
    head = read(parser, b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n")
    assert head is not None and head.content_length == 12


def test_http_10_defaults_to_close(parser: HeadParser) -> None:
    head = read(parser, b"GET / HTTP/1.0\r\n\r\n")
    assert head is not None and head.version == "1.0" and not head.keep_alive


def test_absolute_form_target(parser: HeadParser) -> None:
    head = read(parser, b"GET http://h:1/p/q?a=b HTTP/1.1\r\nHost: h:1\r\n\r\n")
    assert head is not None and (head.path, head.query_string) == ("/p/q", "a=b")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        # Smuggling-style ambiguity (RFC 9112 §6, §11.2).
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
        # Line endings and folding (RFC 9112 §2.2, §5.2).
        (b"GET / HTTP/1.1\nHost: h\n\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  continued\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tcontinued\r\n\r\n", 400),
        # Field syntax (RFC 9110 §5.1, §5.5; RFC 9112 §5.1).
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHo(st: h\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", 400),
        # Host (RFC 9112 §3.2).
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        # Request line (RFC 9112 §3).
        (b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET relative HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505),
        (b"GET / FTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS to a plain port
    ],
)
def test_rejects(parser: HeadParser, data: bytes, status: int) -> None:
    assert status_of(parser, data) == status


def test_limits(parser: HeadParser) -> None:
    limits = HttpLimits(
        max_request_line=64, max_header_line=32, max_headers=3, max_head_size=100, max_body_size=10
    )
    # The request line is checked before its end arrives.
    assert status_of(parser, b"GET /" + b"a" * 100, limits) == 414
    assert status_of(parser, b"GET / HTTP/1.1\r\nX: " + b"b" * 40, limits) == 431
    many = b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: y\r\n" % i for i in range(5)) + b"\r\n"
    assert status_of(parser, many, limits) == 431
    big = b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 25 + b"\r\n"
    assert status_of(parser, big * 4 + b"\r\n", limits) == 431
    body = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
    assert status_of(parser, body, limits) == 413


# --- fuzzing ------------------------------------------------------------------------------------

_LINES = st.sampled_from(
    [
        b"GET / HTTP/1.1",
        b"GET /x?y HTTP/1.0",
        b"Host: h",
        b"Host: h2",
        b"Content-Length: 5",
        b"Content-Length: 05",
        b"Transfer-Encoding: chunked",
        b"Upgrade: websocket",
        b"Connection: close",
        b" folded",
        b"X : y",
        b"",
    ]
)


def _check(parser: HeadParser, data: bytes) -> None:
    limits = HttpLimits(max_request_line=200, max_header_line=200, max_headers=20)
    reader = RequestReader(limits, parser)
    reader.feed(data)
    try:
        while (head := reader.read_head()) is not None:
            # Whatever is accepted is unambiguous.
            assert head.method and head.version in ("1.0", "1.1")
            names = [name.lower() for name, _ in head.headers]
            assert "transfer-encoding" not in names
            assert names.count("content-length") <= 1
            assert head.version == "1.0" or names.count("host") == 1
            assert 0 <= head.content_length <= limits.max_body_size
            if head.content_length:
                return  # a body would follow; framing is the connection's job
    except HttpError as exc:
        assert exc.status in (400, 413, 414, 431, 505)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_fuzz_arbitrary_bytes(backend: str, data: bytes) -> None:
    _check(choose_head_parser(backend), data)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=300)
@given(
    lines=st.lists(_LINES, max_size=8),
    sep=st.sampled_from([b"\r\n", b"\n", b"\r"]),
    noise=st.binary(max_size=4),
)
def test_fuzz_near_valid_heads(backend: str, lines: list[bytes], sep: bytes, noise: bytes) -> None:
    _check(choose_head_parser(backend), sep.join(lines) + noise + b"\r\n\r\n")


@settings(max_examples=300)
@given(lines=st.lists(_LINES, max_size=8))
def test_backends_agree_on_structured_heads(lines: list[bytes]) -> None:
    data = b"\r\n".join(lines) + b"\r\n\r\n"
    results: list[tuple[str, object]] = []
    for backend in BACKENDS:
        try:
            head = read(choose_head_parser(backend), data)
            results.append(("ok", head and (head.method, head.path, head.headers)))
        except HttpError as exc:
            results.append(("error", exc.status))
    assert results[0] == results[1]
