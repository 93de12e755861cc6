"""Strict HTTP/1.1 request-head parsing for the built-in server (RFC 9112).

Only what a WebSocket server needs: request heads, and request bodies framed by
Content-Length (read and discarded). Everything ambiguous is refused with a 4xx rather than
guessed at, because guessing is how request smuggling works (RFC 9112 §11.2):

- bare LF or bare CR line endings (§2.2 allows lenience; we don't),
- obs-fold continuation lines (§5.2: a server MAY reject them with 400),
- whitespace between a field name and its colon (§5.1: MUST reject with 400),
- field names that are not tokens, field values with control characters,
- duplicate or non-numeric Content-Length (§6.3),
- any Transfer-Encoding (§6.1: we implement none; with Content-Length it is an attack),
- a missing or repeated Host in HTTP/1.1 (§3.2: MUST respond 400).

``RequestReader`` finds complete heads incrementally (each byte is scanned once, so a client
dribbling bytes costs linear time) and enforces the size limits; a backend turns a complete
head into fields: httptools (llhttp, what uvicorn uses) when installed, else the strict
parser below. Both feed the same semantic checks, and both are fuzzed.

The common case, a whole head in the buffer, is first offered to the C accelerator
(``_speedups.parse_request_head``) when it is built and WEBSOCK_NO_EXTENSIONS=1 is not set,
whichever backend is configured: in one call it accepts a head only if the strict parser
and the checks here would, with the same result, and declines everything else (every error
included, and two rare kinds of valid head), which then goes the Python way described above
and gets its error named here. This module stays the reference;
tests/server/test_head_parser.py holds the two to the same results.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import unquote

from ..http import _IndexedPairs
from ._limits import HttpLimits

__all__ = [
    "HeadImplementation",
    "HttpError",
    "ParsedHead",
    "RawHead",
    "RequestReader",
    "check_head",
    "head_implementations",
    "parse_head_python",
    "use_head_implementation",
]

#: Leading empty lines tolerated before a request line (RFC 9112 §2.2: a server SHOULD
#: ignore at least one, sent by clients after a POST body).
_MAX_LEADING_EMPTY_LINES = 4


class HttpError(Exception):
    """The request cannot be served; answer ``status`` with ``reason`` and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


# Not frozen: internal values built once per request, and a frozen dataclass's __init__
# pays an object.__setattr__ call per field.
@dataclass(slots=True)
class RawHead:
    """A syntactically valid request head, fields still bytes-level text."""

    method: str
    target: str
    version: str  # "1.0" or "1.1"
    headers: list[tuple[str, str]]


@dataclass(slots=True)
class ParsedHead:
    """A request head that passed the semantic checks too."""

    method: str
    path: str
    query_string: str
    version: str
    headers: list[tuple[str, str]]
    content_length: int
    keep_alive: bool
    wants_upgrade: bool


HeadParser = Callable[[bytes], RawHead]

# --- the strict pure-Python backend ---------------------------------------------------------

# token = 1*tchar (RFC 9110 §5.6.2)
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# request-line = method SP request-target SP HTTP-version (RFC 9112 §3); the target is
# visible ASCII only (clients percent-encode everything else, RFC 3986 §2.1).
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])")
# field-line = field-name ":" OWS field-value OWS (RFC 9112 §5); field-value characters are
# VCHAR / obs-text with SP/HTAB only inside (RFC 9110 §5.5).
_FIELD_LINE = re.compile(
    rb"(" + _TOKEN + rb"):[ \t]*"
    rb"((?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?)[ \t]*"
)


def parse_head_python(head: bytes) -> RawHead:
    """Parse a complete head (request line, field lines, final CRLF) or raise HttpError."""
    lines = head.split(b"\r\n")
    # The head ends with CRLF CRLF, so the split leaves two empty strings at the end.
    if len(lines) < 3 or lines[-1] or lines[-2]:
        raise HttpError(400, "incomplete request head")
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        raise HttpError(400, "malformed request line (RFC 9112 §3)")
    method, target, major, minor = match.groups()
    version = _check_version(int(major), int(minor))
    headers: list[tuple[str, str]] = []
    for line in lines[1:-2]:
        headers.append(_parse_field_line(line))
    return RawHead(method.decode("ascii"), target.decode("ascii"), version, headers)


def _parse_field_line(line: bytes) -> tuple[str, str]:
    field = _FIELD_LINE.fullmatch(line)
    if field is not None:
        return field.group(1).decode("ascii"), field.group(2).decode("latin-1")
    if line[:1] in (b" ", b"\t"):
        raise HttpError(400, "obs-fold continuation line (RFC 9112 §5.2)")
    name, colon, _ = line.partition(b":")
    if not colon:
        raise HttpError(400, "header line without a colon (RFC 9112 §5)")
    if name[-1:] in (b" ", b"\t"):
        raise HttpError(400, "whitespace between header name and colon (RFC 9112 §5.1)")
    if not re.fullmatch(_TOKEN, name):
        raise HttpError(400, "invalid character in header name (RFC 9110 §5.1)")
    raise HttpError(400, "invalid character in header value (RFC 9110 §5.5)")


def _check_version(major: int, minor: int) -> str:
    if major == 1 and minor in (0, 1):
        return f"1.{minor}"
    raise HttpError(505, f"HTTP/{major}.{minor} is not supported; use HTTP/1.1")


# --- the C accelerator for the common case ---------------------------------------------------

#: (head length, method, target, path, query, version, headers, content length, keep-alive,
#: wants upgrade); path and query are None when _split_target must work them out.
_Accepted = tuple[int, str, str, str | None, str | None, str, _IndexedPairs, int, bool, bool]
_WholeHeadParser = Callable[[bytearray, HttpLimits, type[_IndexedPairs]], _Accepted | None]
HeadImplementation = Literal["c", "python"]


def _load_c() -> _WholeHeadParser | None:
    if os.environ.get("WEBSOCK_NO_EXTENSIONS") == "1":
        return None
    try:
        from ..protocol import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    found: _WholeHeadParser | None = getattr(_speedups, "parse_request_head", None)
    return found  # None from a build older than the function: the Python path serves


_C_WHOLE_HEAD: Final = _load_c()
_whole_head_c: _WholeHeadParser | None = _C_WHOLE_HEAD


def head_implementations() -> tuple[HeadImplementation, ...]:
    """What can read heads here: ``("c", "python")`` or ``("python",)``."""
    return ("c", "python") if _C_WHOLE_HEAD is not None else ("python",)


def use_head_implementation(name: HeadImplementation) -> HeadImplementation:
    """Offer whole heads to the C accelerator first (``"c"``) or not; returns the previous
    choice. For tests and measurements; ``"c"`` is the default where it is built."""
    global _whole_head_c
    if name not in head_implementations():
        raise ValueError(f"head implementation {name!r} is not available: {head_implementations()}")
    previous: HeadImplementation = "python" if _whole_head_c is None else "c"
    _whole_head_c = _C_WHOLE_HEAD if name == "c" else None
    return previous


# --- incremental framing with limits --------------------------------------------------------


class RequestReader:
    """Accumulates inbound bytes and yields complete request heads, enforcing size limits.

    Bytes after a head (a body, a pipelined request, early WebSocket frames) stay in
    ``buffer`` for the caller.
    """

    __slots__ = ("_lines", "_parse", "_scan", "_size", "_start", "buffer", "limits")

    def __init__(self, limits: HttpLimits, parse: HeadParser = parse_head_python) -> None:
        self.limits = limits
        self._parse = parse
        self.buffer = bytearray()
        # _reset(), inline: a reader is made per connection.
        self._scan = self._start = self._lines = self._size = 0

    def _reset(self) -> None:
        self._scan = 0  # where the search for the next LF resumes
        self._start = 0  # start of the current line
        self._lines = 0  # complete non-empty lines of the current head
        self._size = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self.buffer += data

    def read_head(self) -> ParsedHead | None:
        """Return the next complete head (removed from the buffer), None if incomplete."""
        buf = self.buffer
        limits = self.limits
        if self._scan == 0:
            if _whole_head_c is not None:
                # The whole head, accepted by C only where the code below would accept it,
                # with the same fields; or None: then the code below decides (and names
                # the error).
                accepted = _whole_head_c(buf, limits, _IndexedPairs)
                if accepted is not None:
                    end, method, target, path, query, version, pairs, length, alive, up = accepted
                    del buf[:end]
                    if path is None or query is None:
                        path, query = _split_target(method, target)
                    return ParsedHead(method, path, query, version, pairs, length, alive, up)
            if not buf.startswith((b"\r", b"\n")):
                head = self._whole_head()
                if head is not None:
                    return check_head(self._parse(head), limits)
        while True:
            lf = buf.find(b"\n", self._scan)
            if lf < 0:
                self._check_line_length(len(buf) - self._start)
                self._scan = len(buf)
                return None
            # RFC 9112 §2.2: a recipient MAY accept bare LF; accepting it while a proxy in
            # front does not is a smuggling vector, so every line must end in CRLF.
            if lf == self._start or buf[lf - 1] != 0x0D:
                raise HttpError(
                    400, "bare LF line ending; lines must end with CRLF (RFC 9112 §2.2)"
                )
            length = lf - 1 - self._start
            self._check_line_length(length)
            if length == 0:
                if self._lines == 0:
                    # An empty line before the request line is skipped (RFC 9112 §2.2).
                    if self._start >= 2 * _MAX_LEADING_EMPTY_LINES:
                        raise HttpError(400, "too many empty lines before the request line")
                    self._start = self._scan = lf + 1
                    continue
                skipped = self._lines_skipped_prefix()
                head = bytes(buf[skipped : lf + 1])
                del buf[: lf + 1]
                self._reset()
                return check_head(self._parse(head), limits)
            if self._lines and buf[self._start] in (0x20, 0x09):
                # Also catches whitespace before the first field (RFC 9112 §2.2).
                raise HttpError(400, "obs-fold continuation line (RFC 9112 §5.2)")
            self._lines += 1
            if self._lines - 1 > limits.max_headers:
                raise HttpError(431, f"more than {limits.max_headers} header fields")
            self._size += length + 2
            if self._size > limits.max_head_size:
                raise HttpError(431, f"request head larger than {limits.max_head_size} bytes")
            self._start = self._scan = lf + 1

    def _whole_head(self) -> bytes | None:
        """The common case, a whole head in the buffer, checked with a few C-level scans.

        Returns the head (removed from the buffer) only when the line scan below would
        accept every line of it; anything else — incomplete, leading empty lines, a bare
        LF, obs-fold, a limit crossed — returns None and the line scan decides (and names
        the error).
        """
        buf = self.buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buf[: end + 4])
        limits = self.limits
        # Sizes as the line scan counts them: each non-empty line plus its CRLF.
        if end + 2 > limits.max_head_size:
            return None
        # RFC 9112 §2.2 (no bare LF) and §5.2 (no obs-fold) hold for every line.
        if head.count(b"\n") != head.count(b"\r\n") or b"\n " in head or b"\n\t" in head:
            return None
        lines = head.split(b"\r\n")
        fields = lines[1:-2]
        if len(fields) > limits.max_headers or len(lines[0]) > limits.max_request_line:
            return None
        if fields and max(map(len, fields)) > limits.max_header_line:
            return None
        del buf[: end + 4]
        return head

    def _lines_skipped_prefix(self) -> int:
        # The leading empty lines were all CRLF, each two bytes, before the request line.
        return self._start - self._size

    def _check_line_length(self, length: int) -> None:
        if self._lines == 0:
            if length > self.limits.max_request_line:
                raise HttpError(
                    414, f"request line longer than {self.limits.max_request_line} bytes"
                )
        elif length > self.limits.max_header_line:
            raise HttpError(431, f"header line longer than {self.limits.max_header_line} bytes")


# --- semantics, shared by both backends --------------------------------------------------------


def check_head(raw: RawHead, limits: HttpLimits) -> ParsedHead:
    """Apply the framing and Host rules every backend must enforce (RFC 9112 §3.2, §6)."""
    content_length: str | None = None
    hosts = 0
    connection: list[str] = []
    upgrade = False
    # Headers' lower-cased index, built here where every name is lower-cased anyway.
    pairs = _IndexedPairs(raw.headers)
    by_name: dict[str, list[str]] = {}
    for name, value in pairs:
        lower = name.lower()
        values = by_name.get(lower)
        if values is None:
            by_name[lower] = [value]
        else:
            values.append(value)
        if lower == "content-length":
            # RFC 9112 §6.3: differing lengths are unrecoverable; repeated equal ones are
            # legal but only ever sent by attackers or broken proxies, so refuse both.
            if content_length is not None:
                raise HttpError(400, "duplicate Content-Length (RFC 9112 §6.3)")
            content_length = value
        elif lower == "transfer-encoding":
            raise HttpError(400, "Transfer-Encoding in a request is not supported (RFC 9112 §6.1)")
        elif lower == "host":
            hosts += 1
        elif lower == "connection":
            connection.extend(t.strip().lower() for t in value.split(","))
        elif lower == "upgrade":
            upgrade = True
    if raw.version == "1.1" and hosts != 1:
        raise HttpError(400, "an HTTP/1.1 request needs exactly one Host header (RFC 9112 §3.2)")
    if hosts > 1:
        raise HttpError(400, "more than one Host header (RFC 9112 §3.2)")
    length = 0
    if content_length is not None:
        if not (content_length.isdigit() and content_length.isascii() and len(content_length) < 19):
            raise HttpError(400, "invalid Content-Length (RFC 9112 §6.3)")
        length = int(content_length)
        if length > limits.max_body_size:
            raise HttpError(413, f"request body larger than {limits.max_body_size} bytes")
    keep_alive = "close" not in connection if raw.version == "1.1" else "keep-alive" in connection
    path, query = _split_target(raw.method, raw.target)
    pairs.by_name = by_name
    return ParsedHead(
        method=raw.method,
        path=path,
        query_string=query,
        version=raw.version,
        headers=pairs,
        content_length=length,
        keep_alive=keep_alive,
        wants_upgrade=upgrade,
    )


def _split_target(method: str, target: str) -> tuple[str, str]:
    # RFC 9112 §3.2: origin-form "/path?query"; absolute-form must be accepted by servers;
    # asterisk-form only for OPTIONS. authority-form is for CONNECT, which we don't do.
    if target.startswith("/"):
        path, _, query = target.partition("?")
    elif target.startswith(("http://", "https://", "ws://", "wss://")):
        rest = target.split("://", 1)[1]
        authority_end = re.search(r"[/?]", rest)
        remainder = rest[authority_end.start() :] if authority_end else ""
        path, _, query = ("/" + remainder.lstrip("/")).partition("?")
    elif target == "*" and method == "OPTIONS":
        return "*", ""
    else:
        raise HttpError(400, "request target must be origin-form or absolute-form (RFC 9112 §3.2)")
    # Percent-decode the path like ASGI's scope["path"]; the query stays raw.
    return unquote(path, errors="replace"), query
