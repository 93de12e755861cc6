"""The opening handshake (RFC 6455 §4): validation rules, accept key, response bytes."""

from __future__ import annotations

import pytest

from websock.exceptions import UpgradeError
from websock.http import Headers, Request, Response
from websock.protocol.handshake import (
    accept_key,
    build_error,
    build_response,
    check_header,
    offered_extensions,
    offered_subprotocols,
    validate_request,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
GOOD = [
    ("Host", "example.com"),
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]


def request(
    headers: list[tuple[str, str]] | None = None,
    *,
    method: str = "GET",
    http_version: str = "1.1",
    drop: str = "",
) -> Request:
    pairs = [(k, v) for k, v in (GOOD if headers is None else headers) if k.lower() != drop]
    return Request(method, "/chat", headers=Headers(pairs), http_version=http_version)


def replaced(name: str, *values: str) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in GOOD if k.lower() != name.lower()]
    return kept + [(name, v) for v in values]


def test_accept_key_rfc_vector() -> None:  # RFC 6455 §1.3
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_valid_request_returns_the_key() -> None:
    assert validate_request(request()) == KEY


@pytest.mark.parametrize(
    "headers",
    [
        replaced("Connection", "keep-alive, Upgrade"),
        replaced("Connection", "keep-alive", "upgrade"),  # tokens across header lines
        replaced("Connection", "UPGRADE"),
        replaced("Upgrade", "WebSocket"),
        replaced("Upgrade", "h2c, websocket"),
        replaced("Sec-WebSocket-Key", f"  {KEY} "),
        replaced("Sec-WebSocket-Version", " 13"),
    ],
)
def test_valid_variants(headers: list[tuple[str, str]]) -> None:
    assert validate_request(request(headers)) == KEY


@pytest.mark.parametrize("version", ["1.1", "HTTP/1.1", "2", "2.0", "3"])
def test_http_versions_from_1_1(version: str) -> None:
    assert validate_request(request(http_version=version)) == KEY


@pytest.mark.parametrize(
    ("req", "needle"),
    [
        (request(method="POST"), "the method must be GET, not 'POST'"),
        (request(method="get"), "the method must be GET"),
        (request(http_version="1.0"), "HTTP/1.1 or higher is required, not '1.0'"),
        (request(http_version="0.9"), "HTTP/1.1 or higher"),
        (request(http_version="garbage"), "HTTP/1.1 or higher"),
        (request(drop="host"), "the Host header is missing"),
        (request(drop="connection"), "the Connection header must include 'Upgrade'"),
        (request(replaced("Connection", "keep-alive")), "Connection header must include"),
        (request(replaced("Connection", "upgrade-ish")), "Connection header must include"),
        (request(drop="upgrade"), "the Upgrade header must include 'websocket'"),
        (request(replaced("Upgrade", "h2c")), "Upgrade header must include 'websocket'"),
        (request(drop="sec-websocket-key"), "the Sec-WebSocket-Key header is missing"),
        (request(replaced("Sec-WebSocket-Key", KEY, KEY)), "more than one Sec-WebSocket-Key"),
        (request(replaced("Sec-WebSocket-Key", "")), "Sec-WebSocket-Key must be 16 bytes"),
        (request(replaced("Sec-WebSocket-Key", "c2hvcnQ=")), "must be 16 bytes in base64"),
        (request(replaced("Sec-WebSocket-Key", "not base64 at all!!!!!==")), "16 bytes"),
        (request(replaced("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")), "16 bytes"),  # pad
        (request(replaced("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==AAAA")), "16 bytes"),
        (request(replaced("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ€==")), "16 bytes"),
    ],
)
def test_each_rule_fails_with_400_naming_it(req: Request, needle: str) -> None:
    with pytest.raises(UpgradeError) as info:
        validate_request(req)
    assert needle in info.value.message
    assert "RFC 6455 §4.2.1" in info.value.message
    assert info.value.status == 400
    assert info.value.headers == ()


def test_first_failure_wins() -> None:
    with pytest.raises(UpgradeError, match="method must be GET"):
        validate_request(request([], method="PUT", http_version="1.0"))
    with pytest.raises(UpgradeError, match=r"HTTP/1\.1"):
        validate_request(request([], http_version="1.0"))


@pytest.mark.parametrize(
    ("values", "got"),
    [((), "none"), (("8",), "8"), (("13", "8"), "13, 8"), (("13, 8",), "13, 8"), (("14",), "14")],
)
def test_wrong_version_is_426_with_the_supported_version(values: tuple[str, ...], got: str) -> None:
    with pytest.raises(UpgradeError) as info:
        validate_request(request(replaced("Sec-WebSocket-Version", *values)))
    assert info.value.status == 426
    assert info.value.headers == (("Sec-WebSocket-Version", "13"),)
    assert f"Sec-WebSocket-Version must be 13, got {got}" in info.value.message
    assert "§4.4" in info.value.message


def test_offered_subprotocols_in_order() -> None:
    req = request(
        [*GOOD, ("Sec-WebSocket-Protocol", "chat, v2.chat"), ("Sec-WebSocket-Protocol", " mqtt ,")]
    )
    assert offered_subprotocols(req) == ["chat", "v2.chat", "mqtt"]
    assert offered_subprotocols(request()) == []


def test_offered_extensions_names() -> None:
    req = request(
        [
            *GOOD,
            ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits, x-foo"),
            ("Sec-WebSocket-Extensions", "permessage-deflate"),
        ]
    )
    assert offered_extensions(req) == ["permessage-deflate", "x-foo"]
    assert offered_extensions(request()) == []
    bad = request([*GOOD, ("Sec-WebSocket-Extensions", "permessage-deflate; a=(")])
    assert offered_extensions(bad) == []


# -- responses ---------------------------------------------------------------------------------


def test_build_response_sets_content_length() -> None:
    raw = build_response(Response(404, {"Content-Type": "text/plain"}, "not here"))
    assert raw == (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nnot here"
    )


def test_build_response_connection_close() -> None:
    raw = build_response(Response(403, (), b""), keep_alive=False)
    assert raw == b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    own = build_response(Response(403, [("Connection", "close")]), keep_alive=False)
    assert own.count(b"Connection") == 1


def test_build_response_unknown_status_and_utf8_body() -> None:
    raw = build_response(Response(599, (), "é"))
    assert raw == b"HTTP/1.1 599 \r\nContent-Length: 2\r\n\r\n\xc3\xa9"


def test_build_response_accepts_a_matching_content_length() -> None:
    raw = build_response(Response(200, [("Content-Length", "2")], b"ok"))
    assert raw.count(b"Content-Length") == 1


def test_bodiless_statuses() -> None:
    assert build_response(Response(204)) == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert build_response(Response(304)) == b"HTTP/1.1 304 Not Modified\r\n\r\n"
    with pytest.raises(ValueError, match="cannot carry a body"):
        build_response(Response(204, (), b"x"))


@pytest.mark.parametrize(
    ("response", "needle"),
    [
        (Response(200, [("X-A", "1\r\nSet-Cookie: evil=1")]), "CR, LF or NUL"),
        (Response(200, [("X-A", "1\nX-B: 2")]), "CR, LF or NUL"),
        (Response(200, [("X-A", "1\x00")]), "CR, LF or NUL"),
        (Response(200, [("X-A\r\nX-B", "1")]), "invalid header name"),
        (Response(200, [("X A", "1")]), "invalid header name"),
        (Response(200, [("", "1")]), "invalid header name"),
        (Response(200, [("X-A", "€")]), "not latin-1"),
        (Response(200, [("Transfer-Encoding", "chunked")]), "Transfer-Encoding"),
        (Response(200, [("Content-Length", "5")], b"ok"), "disagrees"),
        (Response(42), "invalid HTTP status"),
        (Response(1000), "invalid HTTP status"),
    ],
)
def test_build_response_refuses_smuggling(response: Response, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        build_response(response)


def test_check_header_accepts_latin1_visible_values() -> None:
    check_header("X-Thing", "a value; with=params, and \t tabs")


def test_build_error_400() -> None:
    exc = UpgradeError("the Host header is missing (RFC 6455 §4.2.1)")
    raw = build_error(exc)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Content-Type: text/plain; charset=utf-8" in head
    assert body.decode() == "Bad Request: the Host header is missing (RFC 6455 §4.2.1)\n"
    assert f"Content-Length: {len(body)}".encode() in head


def test_build_error_426_carries_the_version() -> None:
    with pytest.raises(UpgradeError) as info:
        validate_request(request(replaced("Sec-WebSocket-Version", "8")))
    raw = build_error(info.value, keep_alive=False)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in head + b"\r\n"
    assert b"\r\nConnection: close" in head
    assert body.startswith(b"Upgrade Required: Sec-WebSocket-Version must be 13, got 8")
