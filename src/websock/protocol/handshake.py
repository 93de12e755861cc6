"""The opening handshake (RFC 6455 §4): request validation, accept key, response bytes.

Sans-I/O and stdlib only. ``validate_request`` checks a ``websock.Request`` against
RFC 6455 §4.2.1 and raises ``UpgradeError`` naming the first rule broken; the ``build_*``
functions serialize HTTP/1.1 responses for the built-in server and refuse header names or
values that could split a response (CR, LF, NUL).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

from ..exceptions import UpgradeError
from ..http import Request, Response
from .deflate import parse_offers

if TYPE_CHECKING:
    from ..upgrade import Upgrade

__all__ = [
    "GUID",
    "accept_key",
    "build_101",
    "build_error",
    "build_response",
    "check_header",
    "header_tokens",
    "offered_extensions",
    "offered_subprotocols",
    "validate_request",
]

#: RFC 6455 §1.3: the fixed GUID appended to the client's key.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Header checks (RFC 9110 §5.1 token names; no CR, LF, NUL in values), one C scan each.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SPLITTING = re.compile(r"[\r\n\x00]")
_RULE = "RFC 6455 §4.2.1"


# -- request side --------------------------------------------------------------------------


def header_tokens(request: Request, name: str) -> list[str]:
    """The comma-separated elements of every ``name`` header, stripped, empties dropped."""
    return [
        item.strip()
        for value in request.headers.get_all(name)
        for item in value.split(",")
        if item.strip()
    ]


def _http_version(version: str) -> tuple[int, int]:
    major, _, minor = version.strip().upper().removeprefix("HTTP/").partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return 0, 0


_KEY = re.compile(r"[A-Za-z0-9+/]{22}==")


def _has_token(values: list[str], token: str) -> bool:
    """``token`` (lower case) is one of the comma-separated elements of ``values``,
    compared case-insensitively (as ``header_tokens`` splits them)."""
    for value in values:
        lowered = value.lower()
        if lowered.strip() == token:
            return True
        if "," in lowered and token in (item.strip() for item in lowered.split(",")):
            return True
    return False


def validate_request(request: Request) -> str:
    """Check the upgrade request (RFC 6455 §4.2.1) and return its ``Sec-WebSocket-Key``.

    The first broken rule raises ``UpgradeError`` with status 400, or 426 with
    ``Sec-WebSocket-Version: 13`` for a missing or unsupported version (RFC 6455 §4.4).
    """
    if request.method != "GET":
        raise UpgradeError(f"the method must be GET, not {request.method!r} ({_RULE})")
    if request.http_version != "1.1" and _http_version(request.http_version) < (1, 1):
        raise UpgradeError(
            f"HTTP/1.1 or higher is required, not {request.http_version!r} ({_RULE})"
        )
    headers = request.headers
    if "host" not in headers:
        raise UpgradeError(f"the Host header is missing ({_RULE})")
    if not _has_token(headers.get_all("connection"), "upgrade"):
        raise UpgradeError(f"the Connection header must include 'Upgrade' ({_RULE})")
    if not _has_token(headers.get_all("upgrade"), "websocket"):
        raise UpgradeError(f"the Upgrade header must include 'websocket' ({_RULE})")
    keys = headers.get_all("sec-websocket-key")
    if not keys:
        raise UpgradeError(f"the Sec-WebSocket-Key header is missing ({_RULE})")
    if len(keys) > 1:
        raise UpgradeError(f"more than one Sec-WebSocket-Key header ({_RULE})")
    key = keys[0].strip()
    # base64 of 16 bytes (RFC 4648 §4): 22 alphabet characters and "==", exactly what
    # a strict decode accepts as 16 bytes.
    if _KEY.fullmatch(key) is None:
        raise UpgradeError(
            f"Sec-WebSocket-Key must be 16 bytes in base64, got {key[:40]!r} ({_RULE})"
        )
    versions = headers.get_all("sec-websocket-version")
    if len(versions) != 1 or versions[0].strip() != "13":
        versions = [v.strip() for v in versions]
        got = ", ".join(versions) if versions else "none"
        raise UpgradeError(
            f"Sec-WebSocket-Version must be 13, got {got[:40]} ({_RULE}, §4.4)",
            status=426,
            headers=(("Sec-WebSocket-Version", "13"),),
        )
    return key


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client key: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def offered_subprotocols(request: Request) -> list[str]:
    """The subprotocols the client offered, in its order (RFC 6455 §4.1, §11.3.4)."""
    return header_tokens(request, "sec-websocket-protocol")


def offered_extensions(request: Request) -> list[str]:
    """The names of the extensions the client offered, in order, each once (RFC 6455 §9.1).

    A malformed ``Sec-WebSocket-Extensions`` header offers nothing (see ``deflate``).
    """
    try:
        offers = parse_offers(request.headers.get_all("sec-websocket-extensions"))
    except ValueError:
        return []
    return list(dict.fromkeys(name for name, _ in offers))


# -- response side -------------------------------------------------------------------------


def check_header(name: str, value: str) -> None:
    """Raise ValueError unless ``name`` is a token and ``value`` cannot split the response.

    CR or LF in either would let a value inject headers or a second response
    (response splitting, RFC 9112 §11.1); NUL is refused by RFC 9110 §5.5.
    """
    if _TOKEN_RE.fullmatch(name) is None:
        raise ValueError(f"invalid header name {name!r} (RFC 9110 §5.1)")
    if _SPLITTING.search(value) is not None:
        raise ValueError(f"CR, LF or NUL in the value of header {name!r} (RFC 9110 §5.5)")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _head(status: int, headers: Iterable[tuple[str, str]]) -> bytearray:
    if not isinstance(status, int) or not 100 <= status <= 999:
        raise ValueError(f"invalid HTTP status {status!r} (RFC 9110 §15)")
    out = bytearray(f"HTTP/1.1 {status} {_phrase(status)}\r\n".encode("ascii"))
    out += _fields(headers)
    return out


def _fields(headers: Iterable[tuple[str, str]]) -> bytearray:
    out = bytearray()
    for name, value in headers:
        check_header(name, value)
        try:
            out += f"{name}: {value}\r\n".encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"header {name!r} is not latin-1 (RFC 9110 §5.5)") from None
    return out


#: The constant start of every 101 that ``upgrade()`` builds (RFC 6455 §4.2.2, items 1 to 4).
_101_START: Final = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: "
)
_ACCEPT_VALUE = re.compile(r"[A-Za-z0-9+/]{27}=")


def build_101(upgrade: Upgrade) -> bytes:
    """The ``101 Switching Protocols`` response for an accepted upgrade (RFC 6455 §4.2.2)."""
    headers = upgrade.response_headers
    if (
        len(headers) >= 3
        and headers[0] == ("Upgrade", "websocket")
        and headers[1] == ("Connection", "Upgrade")
        and headers[2][0] == "Sec-WebSocket-Accept"
        and _ACCEPT_VALUE.fullmatch(headers[2][1]) is not None
    ):
        # What upgrade() builds: the constant part precomputed, the rest checked as usual.
        out = _101_START + headers[2][1].encode("ascii") + b"\r\n"
        if len(headers) == 3:
            return out + b"\r\n"
        return bytes(out + _fields(headers[3:]) + b"\r\n")
    return bytes(_head(101, headers) + b"\r\n")


#: Framing headers we compute ourselves; a caller's conflicting one could smuggle a request.
_FRAMING = frozenset({"content-length", "transfer-encoding"})


def build_response(response: Response, *, keep_alive: bool = True) -> bytes:
    """Serialize a plain answer (a denial, a page) with an exact ``Content-Length``.

    Raises ValueError for headers that could split or desynchronize the response:
    CR/LF/NUL, a ``Transfer-Encoding``, a ``Content-Length`` that disagrees with the body,
    or a body on a status that cannot have one (1xx, 204, 304; RFC 9110 §6.4.1).
    """
    body = response.body_bytes()
    status = response.status
    bodiless = status < 200 or status in (204, 304)
    headers: list[tuple[str, str]] = []
    has_connection = False
    for name, value in response.header_pairs():
        lower = name.lower()
        if lower == "transfer-encoding":
            raise ValueError("Transfer-Encoding is not supported: the body is sent whole")
        if lower == "content-length":
            if value.strip() != str(len(body)):
                raise ValueError(f"Content-Length {value!r} disagrees with the body's {len(body)}")
            continue  # ours follows
        has_connection = has_connection or lower == "connection"
        headers.append((name, value))
    if bodiless:
        if body:
            raise ValueError(f"status {status} cannot carry a body (RFC 9110 §6.4.1)")
    else:
        headers.append(("Content-Length", str(len(body))))
    if not keep_alive and not has_connection:
        headers.append(("Connection", "close"))
    return bytes(_head(status, headers) + b"\r\n" + body)


def build_error(exc: UpgradeError, *, keep_alive: bool = True) -> bytes:
    """The 400/426 answer to a failed upgrade, its text/plain body saying why."""
    body = f"{_phrase(exc.status) or 'Error'}: {exc.message}\n"
    headers = [("Content-Type", "text/plain; charset=utf-8"), *exc.headers]
    return build_response(Response(exc.status, headers, body), keep_alive=keep_alive)
