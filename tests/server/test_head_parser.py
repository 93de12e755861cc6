"""The C head parser (``_speedups.parse_request_head``) against the Python path it speeds up.

``RequestReader.read_head`` offers a whole head to C first; C either accepts it, returning
the fields, or declines (None) and the Python path decides and names any error. So:

- whenever C accepts, the Python path (strict parser, line scan, ``check_head``) returns
  the identical ``ParsedHead`` and leaves the identical bytes buffered;
- whenever the Python path raises (or waits for more bytes), C declines;
- C declines a head Python accepts only for its two documented reasons (leading empty
  lines; non-ASCII in a Connection value), so the fast path is really taken;
- the index C builds for ``Headers`` is the one ``Headers`` would build itself.

Heads come from hypothesis (valid ones, then bytes replaced, inserted, deleted, truncated,
with limits at the head's own sizes ±1), from every position of a real upgrade request,
and from targeted cases.
"""

from __future__ import annotations

import gc
import importlib
import os
import tracemalloc
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.server.test_http11 import UPGRADE
from websock.http import Headers, _IndexedPairs
from websock.server import _http11
from websock.server._http11 import (
    HttpError,
    ParsedHead,
    RequestReader,
    _split_target,
    head_implementations,
    parse_head_python,
    use_head_implementation,
)
from websock.server._limits import HttpLimits


def _load_c() -> Any:
    try:
        return importlib.import_module("websock.protocol._speedups").parse_request_head
    except (ImportError, AttributeError):
        return None


# Run even under WEBSOCK_NO_EXTENSIONS=1 (which only stops _http11 from offering heads to
# C): comparing needs the built module, and skips (a failure in CI) only when it is absent.
parse_request_head: Any = _load_c()
if parse_request_head is None:
    pytest.skip(
        "the C accelerator is not built (`pip install -e .` builds it with gcc)",
        allow_module_level=True,
    )
#: Whether RequestReader offers heads to C here (not under WEBSOCK_NO_EXTENSIONS=1).
READER_USES_C = "c" in head_implementations()

Outcome = tuple[str, Any, bytes] | tuple[str, int, str]


def python_outcome(data: bytes, limits: HttpLimits) -> Outcome:
    previous = use_head_implementation("python")
    try:
        return _read(data, limits)
    finally:
        use_head_implementation(previous)


def c_outcome(data: bytes, limits: HttpLimits) -> Outcome:
    """What read_head makes of C's acceptance (None if C declines)."""
    accepted = parse_request_head(bytearray(data), limits, _IndexedPairs)
    if accepted is None:
        return ("declined", None, b"")
    end, method, target, path, query, version, pairs, length, alive, upgrade = accepted
    if path is None:
        path, query = _split_target(method, target)
    head = ParsedHead(method, path, query, version, pairs, length, alive, upgrade)
    return ("head", head, data[end:])


def reader_c_outcome(data: bytes, limits: HttpLimits) -> Outcome:
    previous = use_head_implementation("c")
    try:
        return _read(data, limits)
    finally:
        use_head_implementation(previous)


def _read(data: bytes, limits: HttpLimits) -> Outcome:
    reader = RequestReader(limits, parse_head_python)
    reader.feed(data)
    try:
        head = reader.read_head()
    except HttpError as exc:
        return ("error", exc.status, exc.reason)
    return ("head", head, bytes(reader.buffer))


def _declines_for_a_reason(head: ParsedHead, data: bytes) -> bool:
    connection = [v for n, v in head.headers if n.lower() == "connection"]
    return data[:1] in (b"\r", b"\n") or not all(v.isascii() for v in connection)


def check(data: bytes, limits: HttpLimits | None = None) -> str:
    """Hold C to the Python path on ``data``; returns "c", "declined" or "python-error"."""
    limits = limits or HttpLimits()
    expected = python_outcome(data, limits)
    accepted = parse_request_head(bytearray(data), limits, _IndexedPairs)
    if accepted is None:
        if expected[0] == "head" and isinstance(expected[1], ParsedHead):
            assert _declines_for_a_reason(expected[1], data), (data, expected)
            return "declined"
        return "python-error" if expected[0] == "error" else "declined"
    assert expected[0] == "head" and expected[1] is not None, (data, expected)
    assert c_outcome(data, limits) == expected
    if READER_USES_C:
        assert reader_c_outcome(data, limits) == expected
    end, pairs = accepted[0], accepted[6]
    assert bytes(data[end:]) == expected[2]
    assert type(pairs) is _IndexedPairs
    rebuilt = Headers(list(pairs))
    assert list(pairs.by_name.items()) == list(rebuilt._index.items())
    return "c"


# --- targeted ---------------------------------------------------------------------------------


def test_the_benchmark_request_takes_the_fast_path() -> None:
    from bench.loadgen import handshake_request

    data = handshake_request("127.0.0.1", 8765, "/")
    assert check(data) == "c"
    accepted = parse_request_head(bytearray(data), HttpLimits(), _IndexedPairs)
    assert accepted is not None
    end, method, target, path, query, version, pairs, length, alive, upgrade = accepted
    assert (end, method, target, path, query, version) == (len(data), "GET", "/", "/", "", "1.1")
    assert (length, alive, upgrade) == (0, True, True)
    assert pairs.by_name["sec-websocket-version"] == ["13"]


def test_upgrade_request_with_percent_path_and_empty_values() -> None:
    assert check(UPGRADE + b"\x81\x80trailing") == "c"
    accepted = parse_request_head(bytearray(UPGRADE), HttpLimits(), _IndexedPairs)
    assert accepted is not None
    assert accepted[3:5] == (None, None)  # "%" in the path: Python percent-decodes it


@pytest.mark.parametrize(
    "data",
    [
        b"GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /?q HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET http://h:1/p/q?a=b HTTP/1.1\r\nHost: h:1\r\n\r\n",
        b"GET ws://h HTTP/1.1\r\nHost: h\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: a, keep-alive ,b\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: ,,close,\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed, xclose\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: \tclose\t\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0012\r\n\r\nbody",
        b"POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 1048576\r\n\r\n",
        b"GET / HTTP/1.1\r\nHOST: h\r\nX: \x80\xff\r\nx: 2\r\nX: 3\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX:\r\nY:  \t \r\nZ:a  b\r\n\r\n",
        b"M-._~!#$%&'*+^`| / HTTP/1.1\r\nHost: h\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n",
        b"GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n",
    ],
)
def test_accepted_like_python(data: bytes) -> None:
    assert check(data) == "c"


@pytest.mark.parametrize(
    "data",
    [
        b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",  # leading empty line (RFC 9112 §2.2)
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: \xa0close\r\n\r\n",  # str.strip() decides
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: \x85keep-alive\r\n\r\n",
    ],
)
def test_declined_but_python_accepts(data: bytes) -> None:
    assert check(data) == "declined"
    assert python_outcome(data, HttpLimits())[0] == "head"


def test_declines_everything_python_rejects_in_test_http11() -> None:
    from tests.server import test_http11

    marks = getattr(test_http11.test_rejects, "pytestmark")  # noqa: B009
    cases = next(m for m in marks if m.name == "parametrize")
    rejected = [data for data, _ in cases.args[1]]
    assert len(rejected) > 20
    for data in rejected:
        assert parse_request_head(bytearray(data), HttpLimits(), _IndexedPairs) is None, data
        assert check(data) == "python-error"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"G",
        b"GET / HTTP/1.1\r\nHost: h\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\r",
        b"GET / HTTP/1.1\r\nHost: h",
        b"GET / HTTP/1.1\r",
        b"GET / HTTP/1.1",
        b"GET / HTTP/1.",
    ],
)
def test_incomplete_heads_are_declined(data: bytes) -> None:
    assert parse_request_head(bytearray(data), HttpLimits(), _IndexedPairs) is None
    assert python_outcome(data, HttpLimits())[:2] == ("head", None)


def _sizes(data: bytes) -> tuple[int, int, int, int]:
    """The request line's length, the longest field line's, the field count, the head size
    as the line scan counts them (each non-empty line plus its CRLF)."""
    lines = data[: data.index(b"\r\n\r\n")].split(b"\r\n")
    fields = lines[1:]
    return (
        len(lines[0]),
        max(map(len, fields), default=0),
        len(fields),
        sum(len(x) + 2 for x in lines),
    )


@pytest.mark.parametrize("delta", [-1, 0, 1])
@pytest.mark.parametrize("which", ["request_line", "header_line", "headers", "head_size"])
def test_limits_at_the_edge(which: str, delta: int) -> None:
    data = UPGRADE.replace(b"%20", b"-")
    request_line, header_line, headers, head_size = _sizes(data)
    exact = {
        "request_line": request_line,
        "header_line": header_line,
        "headers": headers,
        "head_size": head_size,
    }
    limits = HttpLimits(**{f"max_{which}": exact[which] + delta})
    assert check(data, limits) == ("python-error" if delta < 0 else "c")


@pytest.mark.parametrize("delta", [-1, 0])
def test_body_limit_at_the_edge(delta: int) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"
    assert check(data, HttpLimits(max_body_size=100 + delta)) == ("python-error" if delta else "c")


def test_huge_header_counts() -> None:
    fields = b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(5000))
    data = b"GET / HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n"
    assert check(data) == "python-error"  # 431: more than 100 fields
    big = HttpLimits(max_headers=5001, max_head_size=len(data))
    assert check(data, big) == "c"
    assert check(data, HttpLimits(max_headers=5000, max_head_size=len(data))) == "python-error"
    assert check(data, HttpLimits(max_headers=5001, max_head_size=len(data) - 3)) == (
        "python-error"
    )


def test_only_the_head_is_looked_at() -> None:
    # A head at the size limit, then far more bytes: C stops at the limit, whatever follows.
    data = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    limits = HttpLimits(max_head_size=len(data) - 2)
    assert check(data + b"\x00" * 100_000, limits) == "c"
    assert check(b"GET / HTTP/1.1\r\nHost: " + b"h" * 100_000, limits) == "python-error"


def test_limits_too_large_for_a_machine_word_limit_nothing() -> None:
    huge = 2**80
    limits: Any = SimpleNamespace(
        max_request_line=huge,
        max_header_line=huge,
        max_headers=huge,
        max_head_size=huge,
        max_body_size=huge,
    )
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999999999\r\n\r\n"
    accepted = parse_request_head(bytearray(data), limits, _IndexedPairs)
    assert accepted is not None and accepted[7] == 999_999_999_999_999_999


@pytest.mark.parametrize("negative", ["max_request_line", "max_headers", "max_body_size"])
def test_negative_limits_decline(negative: str) -> None:
    values = dict.fromkeys(
        ["max_request_line", "max_header_line", "max_headers", "max_head_size", "max_body_size"],
        1000,
    )
    values[negative] = -(2**80) if negative == "max_headers" else -1
    data = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    assert parse_request_head(bytearray(data), SimpleNamespace(**values), _IndexedPairs) is None


def test_bad_arguments_raise() -> None:
    data = bytearray(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    with pytest.raises(TypeError):
        parse_request_head(data, HttpLimits())
    with pytest.raises(TypeError):
        parse_request_head(data, HttpLimits(), dict)
    with pytest.raises(TypeError):
        parse_request_head("GET", HttpLimits(), _IndexedPairs)
    with pytest.raises(AttributeError):
        parse_request_head(data, object(), _IndexedPairs)
    with pytest.raises(TypeError):
        parse_request_head(data, SimpleNamespace(max_request_line="8"), _IndexedPairs)
    with pytest.raises(AttributeError):  # a list subclass without the by_name slot
        parse_request_head(data, HttpLimits(), type("Plain", (list,), {"__slots__": ()}))


def test_any_buffer_and_it_stays_resizable() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\n\r\nrest"
    for buffer in (data, bytearray(data), memoryview(data)):
        accepted = parse_request_head(buffer, HttpLimits(), _IndexedPairs)
        assert accepted is not None and accepted[0] == len(data) - 4
    buf = bytearray(data)
    assert parse_request_head(buf, HttpLimits(), _IndexedPairs) is not None
    del buf[:4]  # the buffer export was released
    assert parse_request_head(b"\r\n", HttpLimits(), _IndexedPairs) is None
    del buf[:]


INTERESTING = b'\x00\t\n\r \x01\x1f\x7f\x80\xff:%?/,"()'


def test_every_byte_at_every_position_of_an_upgrade_request() -> None:
    data = UPGRADE
    outcomes: dict[str, int] = {}
    for at in range(len(data)):
        for byte in INTERESTING + bytes([data[at] ^ 0x20]):
            for mutated in (
                data[:at] + bytes([byte]) + data[at + 1 :],
                data[:at] + bytes([byte]) + data[at:],
            ):
                result = check(mutated)
                outcomes[result] = outcomes.get(result, 0) + 1
        check(data[:at] + data[at + 1 :])
        check(data[:at])
    assert outcomes.get("c", 0) > 500 and outcomes.get("python-error", 0) > 500


@pytest.mark.parametrize("where", ["method", "target", "name", "value"])
def test_every_byte_value_in_every_part(where: str) -> None:
    for byte in range(256):
        b = bytes([byte])
        method, target, name, value = b"GET", b"/x", b"X-Name", b"v"
        if where == "method":
            method = b"G" + b + b"T"
        elif where == "target":
            target = b"/" + b + b"x"
        elif where == "name":
            name = b"X" + b + b"N"
        else:
            value = b"a" + b + b"z"
        data = method + b" " + target + b" HTTP/1.1\r\nHost: h\r\n" + name + b": " + value
        check(data + b"\r\n\r\n")


# --- hypothesis ---------------------------------------------------------------------------------

_TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOKEN = st.text(alphabet=_TCHAR, min_size=1, max_size=10).map(str.encode)
_VCHAR = bytes(range(0x21, 0x7F))
_PATH = st.binary(max_size=0) | st.lists(
    st.sampled_from([bytes([c]) for c in _VCHAR if c != ord("?")]), max_size=12
).map(b"".join)
_QUERY = st.lists(st.sampled_from([bytes([c]) for c in _VCHAR]), max_size=12).map(b"".join)
_TARGET = st.one_of(
    st.tuples(_PATH, st.none() | _QUERY).map(
        lambda pq: b"/" + pq[0] + (b"" if pq[1] is None else b"?" + pq[1])
    ),
    st.tuples(st.sampled_from([b"http://", b"ws://", b"https://"]), _PATH).map(
        lambda sp: sp[0] + b"h:1/" + sp[1]
    ),
    st.sampled_from([b"*", b"relative", b"h:80", b"/%41%zz", b"/a%20b?c%20d"]),
)
_METHOD = st.sampled_from([b"GET", b"GET", b"POST", b"OPTIONS", b"HEAD"]) | _TOKEN
_VERSION = st.sampled_from([b"1.1"] * 6 + [b"1.0"] * 3 + [b"2.0", b"0.9", b"1.2"])
_NAME = (
    st.sampled_from(
        [
            b"Host",
            b"host",
            b"HOST",
            b"Upgrade",
            b"upgrade",
            b"Connection",
            b"connection",
            b"Content-Length",
            b"content-length",
            b"Transfer-Encoding",
            b"Sec-WebSocket-Key",
            b"sec-websocket-key",
            b"Sec-Websocket-Key",
            b"Origin",
            b"X-Real-IP",
            b"X-Thing",
            b"Expect",
        ]
    )
    | _TOKEN
)
_VALUE_CHARS = [bytes([c]) for c in b" \t" + _VCHAR + bytes(range(0x80, 0x100))]
_VALUE = st.one_of(
    st.lists(st.sampled_from(_VALUE_CHARS), max_size=12).map(b"".join),
    st.sampled_from(
        [
            b"close",
            b"keep-alive",
            b"Upgrade",
            b"Upgrade, close",
            b" close ",
            b"Keep-Alive",
            b"\xa0close",
            b"close\x85",
            b"websocket",
            b"12",
            b"012",
            b"0",
            b"",
            b"1" * 18,
            b"1" * 19,
            b"-1",
            b"+1",
            b"1 2",
            b"\xb2",
            b"100-continue",
            b"chunked",
        ]
    ),
)
_OWS = st.sampled_from([b"", b"", b" ", b"\t", b"  \t"])
_FIELD = st.tuples(_NAME, _OWS, _VALUE, _OWS).map(lambda f: f[0] + b":" + f[1] + f[2] + f[3])
_HOST = b"Host: example.com"
_TAIL = st.sampled_from([b"", b"", b"\x81\x80abcd", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b"\r\n"])


@st.composite
def valid_heads(draw: st.DrawFn) -> bytes:
    """Mostly heads the Python path accepts, with the unusual parts it rejects mixed in."""
    line = draw(_METHOD) + b" " + draw(_TARGET) + b" HTTP/" + draw(_VERSION)
    fields = draw(st.lists(_FIELD, max_size=8))
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
        fields.insert(draw(st.integers(0, len(fields))), _HOST)
    return b"\r\n".join([line, *fields]) + b"\r\n\r\n" + draw(_TAIL)


@st.composite
def mutated_heads(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(valid_heads()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        byte = draw(st.sampled_from(list(INTERESTING)) | st.integers(0, 255))
        if kind == "insert" or at == len(data):
            data[at:at] = bytes([byte])
        elif kind == "replace":
            data[at] = byte
        elif kind == "delete":
            del data[at]
        else:
            del data[at:]
    return bytes(data)


@st.composite
def limits_for(draw: st.DrawFn, data: bytes) -> HttpLimits:
    if b"\r\n\r\n" not in data or draw(st.booleans()):
        return HttpLimits()
    request_line, header_line, headers, head_size = _sizes(data)

    def near(size: int) -> int:
        return max(1, size + draw(st.sampled_from([-1, 0, 1, 1000])))

    return HttpLimits(
        max_request_line=near(request_line),
        max_header_line=near(header_line),
        max_headers=near(headers),
        max_head_size=near(head_size),
        max_body_size=draw(st.sampled_from([0, 11, 12, 13, 1 << 20])),
    )


@settings(max_examples=1000, deadline=None)
@given(data=st.data())
def test_valid_heads_agree(data: st.DataObject) -> None:
    head = data.draw(valid_heads())
    check(head, data.draw(limits_for(head)))


@settings(max_examples=1000, deadline=None)
@given(data=st.data())
def test_mutated_heads_agree(data: st.DataObject) -> None:
    head = data.draw(mutated_heads())
    check(head, data.draw(limits_for(head)))


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_agree(data: bytes) -> None:
    check(data)
    check(b"GET / HTTP/1.1\r\n" + data)


def test_the_generated_heads_mostly_take_the_fast_path() -> None:
    """The properties above would pass for a C that declined everything: make sure the
    generators do reach acceptance, and errors, often."""
    seen: dict[str, int] = {}

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(head=valid_heads())
    def run(head: bytes) -> None:
        result = check(head)
        seen[result] = seen.get(result, 0) + 1

    run()
    assert seen.get("c", 0) > 60 and seen.get("python-error", 0) > 60


# --- no references leak -------------------------------------------------------------------------


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def test_no_memory_is_kept_on_any_path(traced: None) -> None:
    cases = [
        UPGRADE,  # accepted
        b"GET /a?b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",  # accepted
        b"GET / HTTP/1.1\r\nX: 1\r\nY: 2\r\n\r\n",  # all fields made, then declined: no Host
        b"GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\nX : 2\r\n\r\n",  # declined mid-way
        b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
    ]

    def run() -> None:
        for _ in range(2000):
            for data in cases:
                parse_request_head(data, HttpLimits(), _IndexedPairs)

    run()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    run()
    gc.collect()
    assert tracemalloc.get_traced_memory()[0] - before < 10_000


# --- Headers from an indexed list ---------------------------------------------------------------


def test_headers_from_indexed_pairs_behave_like_headers_from_a_list() -> None:
    accepted = parse_request_head(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nX-B:\r\n\r\n",
        HttpLimits(),
        _IndexedPairs,
    )
    assert accepted is not None
    fast, plain = Headers(accepted[6]), Headers(list(accepted[6]))
    assert type(fast.raw) is list and fast.raw == plain.raw
    assert fast.raw is not accepted[6]
    assert list(fast) == list(plain) == ["host", "x-a", "x-b"]
    assert (len(fast), fast["X-A"], fast.get_all("x-A"), fast["x-b"]) == (3, "1", ["1", "2"], "")
    assert "HOST" in fast and "nope" not in fast and not fast.__contains__(3)
    assert dict(fast) == dict(plain) and repr(fast) == repr(plain)
    fast.get_all("x-a").append("mutated")
    assert fast.get_all("x-a") == ["1", "2"]


def test_the_python_path_gives_headers_the_same_index() -> None:
    previous = use_head_implementation("python")
    try:
        reader = RequestReader(HttpLimits(), parse_head_python)
        reader.feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
        head = reader.read_head()
    finally:
        use_head_implementation(previous)
    assert head is not None and type(head.headers) is _IndexedPairs
    assert head.headers.by_name == {"host": ["h"], "x-a": ["1", "2"]}


def _offered_to_c() -> bool:
    return getattr(_http11, "_whole_head_c") is not None  # noqa: B009  # read at call time


def test_use_head_implementation_switches_and_reports() -> None:
    assert (os.environ.get("WEBSOCK_NO_EXTENSIONS") != "1") is READER_USES_C is _offered_to_c()
    if not READER_USES_C:
        with pytest.raises(ValueError, match="not available"):
            use_head_implementation("c")
        assert use_head_implementation("python") == "python"
        return
    assert use_head_implementation("python") == "c"
    try:
        assert not _offered_to_c()
        assert use_head_implementation("python") == "python"
    finally:
        assert use_head_implementation("c") == "python"
    assert _offered_to_c()
    with pytest.raises(ValueError, match="not available"):
        use_head_implementation("rust")  # type: ignore[arg-type]
