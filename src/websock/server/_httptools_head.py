"""Request-head backend on httptools (llhttp, the parser uvicorn uses), when installed.

``RequestReader`` has already found a complete, CRLF-terminated head within the limits;
llhttp checks its syntax (tokens, URL characters, field values) and ``check_head`` applies
the same framing rules as for the pure-Python backend.
"""

from __future__ import annotations

import httptools

from ._http11 import HttpError, RawHead

__all__ = ["parse_head_httptools"]


class _Collector:
    __slots__ = ("complete", "headers", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    # llhttp may deliver the URL in pieces; a head fed whole still comes as one.
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.complete = True


def parse_head_httptools(head: bytes) -> RawHead:
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    try:
        parser.feed_data(head)
    except httptools.HttpParserUpgrade:
        pass  # llhttp stops at the end of an Upgrade request's head: that is all we fed
    except httptools.HttpParserError as exc:
        raise HttpError(400, f"malformed request ({exc})") from None
    if not collector.complete:
        raise HttpError(400, "incomplete request head")
    version = parser.get_http_version()
    if version not in ("1.0", "1.1"):
        raise HttpError(505, f"HTTP/{version} is not supported; use HTTP/1.1")
    method = parser.get_method().decode("ascii")
    try:
        target = collector.url.decode("ascii")
    except UnicodeDecodeError:
        raise HttpError(400, "non-ASCII request target (RFC 3986 §2.1)") from None
    headers = [
        (name.decode("latin-1"), value.decode("latin-1").strip(" \t"))
        for name, value in collector.headers
    ]
    return RawHead(method, target, version, headers)
