"""permessage-deflate (RFC 7692): offer parsing, negotiation, bounded inflation.

Sans-I/O and stdlib only (``zlib``). The server negotiates once per upgrade with
``negotiate()``; the connection then owns one ``PerMessageDeflate`` that compresses outbound
messages and inflates inbound ones under the limits of ``Options``.

Choices worth knowing (each is documented where it is implemented):

* A malformed ``Sec-WebSocket-Extensions`` header (RFC 6455 §9.1 syntax) is ignored for
  negotiation: no compression, no error. An offer with unknown, duplicated or invalid
  parameters is declined (RFC 7692 §5.1) and the next offer is tried.
* zlib cannot deflate with an 8-bit window (raw ``wbits=-8`` is refused since zlib 1.2.9).
  When the client limits our window to 8 bits we still accept the offer, answer
  ``server_max_window_bits=8`` and send every message uncompressed (RSV1 clear, allowed per
  message by RFC 7692 §6); inbound messages are still inflated. ``should_compress()`` tells
  the connection which messages to compress; ``compress()`` called anyway emits stored
  (uncompressed) DEFLATE blocks, which are valid under any window.
* Inflation is bounded twice: by the caller's ``max_size`` and by
  ``max_inflate_ratio`` times the compressed size (with a small floor so short, highly repetitive
  messages stay legal). Exceeding either raises ``ProtocolError(1009)`` before the output is
  allocated.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from ..exceptions import ProtocolError
from ..options import Options

__all__ = [
    "EXTENSION_NAME",
    "DeflateParams",
    "PerMessageDeflate",
    "negotiate",
    "parse_offers",
]

EXTENSION_NAME = "permessage-deflate"

#: Appended to every inbound message and stripped from every outbound one (RFC 7692 §7.2.1/2).
_TAIL = b"\x00\x00\xff\xff"
#: Compressed messages inflating to at most this many bytes are never refused for their
#: ratio: a few bytes can legitimately encode a long run, and this much is cheap to hold.
_MIN_INFLATE_ALLOWANCE = 64 * 1024
_CLOSE_TOO_BIG = 1009  # RFC 6455 §7.4.1 "message too big"
_CLOSE_BAD_DATA = 1007  # RFC 6455 §7.4.1 "inconsistent data" (RFC 7692 §8: fail the connection)

# RFC 7230 §3.2.6 tchar: the characters of a token.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"

Param = tuple[str, str | None]
Offer = tuple[str, list[Param]]


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """The agreed permessage-deflate parameters (RFC 7692 §7.1), server's point of view.

    ``*_max_window_bits`` are always set (15 when the parameter was not negotiated).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


# -- offer parsing (RFC 6455 §9.1) ------------------------------------------------------------


def parse_offers(header_values: list[str]) -> list[Offer]:
    """Parse ``Sec-WebSocket-Extensions`` header values into ``(name, [(param, value)])``.

    Grammar (RFC 6455 §9.1): ``1#( token *( ";" token [ "=" ( token / quoted-string ) ] ) )``;
    a quoted value must unescape to a token. Names are lower-cased (compared
    case-insensitively); empty list elements are skipped (RFC 7230 §7). Raises ``ValueError``
    on any syntax error.
    """
    offers: list[Offer] = []
    for value in header_values:
        offers.extend(_Parser(value).extensions())
    return offers


class _Parser:
    """A tiny scanner for one header value; every method raises ValueError on bad input."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def extensions(self) -> list[Offer]:
        result: list[Offer] = []
        while True:
            self._skip_ows()
            if self._at_end():
                return result
            if self._peek() == ",":  # empty element
                self.pos += 1
                continue
            name = self._token().lower()
            params: list[Param] = []
            self._skip_ows()
            while self._peek() == ";":
                self.pos += 1
                self._skip_ows()
                param = self._token().lower()
                self._skip_ows()
                value: str | None = None
                if self._peek() == "=":
                    self.pos += 1
                    self._skip_ows()
                    value = self._quoted() if self._peek() == '"' else self._token()
                    self._skip_ows()
                params.append((param, value))
            result.append((name, params))
            if self._at_end():
                return result
            if self._peek() != ",":
                raise ValueError(f"unexpected {self._peek()!r} at {self.pos} (RFC 6455 §9.1)")
            self.pos += 1

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_ows(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _OWS:
            self.pos += 1

    def _token(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _TCHAR:
            self.pos += 1
        if self.pos == start:
            raise ValueError(f"expected a token at {start} (RFC 6455 §9.1)")
        return self.text[start : self.pos]

    def _quoted(self) -> str:
        # quoted-string (RFC 7230 §3.2.6); RFC 6455 §9.1: the unescaped value must be a token.
        self.pos += 1
        chars: list[str] = []
        while True:
            if self._at_end():
                raise ValueError("unterminated quoted-string (RFC 7230 §3.2.6)")
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                break
            if char == "\\":
                if self._at_end():
                    raise ValueError("unterminated quoted-pair (RFC 7230 §3.2.6)")
                char = self.text[self.pos]
                self.pos += 1
            chars.append(char)
        value = "".join(chars)
        if not value or not set(value) <= _TCHAR:
            raise ValueError(f"quoted value {value!r} is not a token (RFC 6455 §9.1)")
        return value


# -- negotiation (RFC 7692 §5, §7.1) --------------------------------------------------------


class _Declined(Exception):
    """This offer cannot be accepted; try the next one (RFC 7692 §5.1)."""


def negotiate(header_values: list[str], options: Options) -> tuple[DeflateParams, str] | None:
    """Accept the first acceptable permessage-deflate offer, or None (no compression).

    Returns the agreed parameters and the ``Sec-WebSocket-Extensions`` response value, which
    lists only what the client offered (a bare offer gets a bare answer) plus a
    ``client_max_window_bits`` limit when the client allowed one and ``options`` wants it.
    """
    try:
        offers = parse_offers(header_values)
    except ValueError:
        # A malformed header is ignored for negotiation: compression is optional, so the
        # connection proceeds without it rather than failing the handshake.
        return None
    for name, params in offers:
        if name != EXTENSION_NAME:
            continue
        try:
            return _accept(params, options)
        except _Declined:
            continue
    return None


def _window_bits(value: str | None, param: str) -> int:
    # RFC 7692 §7.1.2: a decimal integer without leading zeros, 8..15.
    if value is None or not value.isdigit() or not value.isascii() or value.startswith("0"):
        raise _Declined(f"{param} needs a decimal value")
    bits = int(value)
    if not 8 <= bits <= 15:
        raise _Declined(f"{param} must be within 8..15")
    return bits


def _accept(params: list[Param], options: Options) -> tuple[DeflateParams, str]:
    seen: dict[str, str | None] = {}
    for param, value in params:
        if param in seen:
            raise _Declined(f"duplicated parameter {param} (RFC 7692 §7)")
        seen[param] = value

    response = [EXTENSION_NAME]
    server_nct = client_nct = False
    # Our own deflater never uses 8 bits unless the client demands it (zlib cannot, see below).
    server_bits = max(9, options.server_max_window_bits)
    client_bits = options.client_max_window_bits

    for param, value in seen.items():
        if param == "server_no_context_takeover":  # RFC 7692 §7.1.1.1
            if value is not None:
                raise _Declined("server_no_context_takeover takes no value")
            server_nct = True
        elif param == "client_no_context_takeover":  # RFC 7692 §7.1.1.2
            if value is not None:
                raise _Declined("client_no_context_takeover takes no value")
            client_nct = True
        elif param == "server_max_window_bits":  # RFC 7692 §7.1.2.1: a limit on us
            server_bits = min(server_bits, _window_bits(value, param))
        elif param == "client_max_window_bits":  # RFC 7692 §7.1.2.2
            if value is not None:
                client_bits = min(client_bits, _window_bits(value, param))
        else:
            raise _Declined(f"unknown parameter {param} (RFC 7692 §7)")

    if "client_max_window_bits" not in seen and client_bits < 15:
        # The client did not say it can limit its window, so it will use up to 15 bits;
        # we cannot ask for less (RFC 7692 §7.1.2.2), and accepting would break our limit.
        raise _Declined("client cannot limit its window as options require")

    if server_nct:
        response.append("server_no_context_takeover")
    if client_nct:
        response.append("client_no_context_takeover")
    if "server_max_window_bits" in seen:
        # Accepting requires echoing the parameter with a value <= the offered one. An agreed
        # 8 is honoured by never compressing (zlib refuses raw 8-bit windows).
        response.append(f"server_max_window_bits={server_bits}")
    if "client_max_window_bits" in seen and client_bits < 15:
        response.append(f"client_max_window_bits={client_bits}")

    agreed = DeflateParams(
        server_no_context_takeover=server_nct,
        client_no_context_takeover=client_nct,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
    )
    return agreed, "; ".join(response)


# -- the codec (RFC 7692 §7.2) --------------------------------------------------------------


class PerMessageDeflate:
    """Compress outbound and inflate inbound messages for one connection.

    ``server_side=False`` swaps the roles (a client deflates with the client parameters).
    Inbound messages are inflated either whole with ``decompress()`` or fragment by fragment
    with ``decompress_fragment()`` (so UTF-8 can fail fast); both enforce the same limits.
    """

    __slots__ = (
        "_can_compress",
        "_compressor",
        "_in_bits",
        "_in_reset",
        "_inflater",
        "_level",
        "_mem_level",
        "_msg_in",
        "_msg_out",
        "_out_bits",
        "_out_reset",
        "_ratio",
        "_threshold",
        "params",
    )

    def __init__(self, params: DeflateParams, options: Options, server_side: bool = True) -> None:
        self.params = params
        if server_side:
            self._out_bits, self._out_reset = (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            )
            self._in_bits, self._in_reset = (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            )
        else:
            self._out_bits, self._out_reset = (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            )
            self._in_bits, self._in_reset = (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            )
        # zlib refuses raw 8-bit windows for deflate: such messages go out uncompressed.
        self._can_compress = self._out_bits >= 9
        self._level = options.compression_level
        self._mem_level = options.compression_mem_level
        self._threshold = options.compress_threshold
        self._ratio = options.max_inflate_ratio
        # Without context takeover no zlib state is kept between messages (saves memory).
        self._compressor: zlib._Compress | None = None
        self._inflater: zlib._Decompress | None = None
        self._msg_in = 0  # compressed bytes of the inbound message in progress
        self._msg_out = 0  # inflated bytes of the inbound message in progress

    # -- outbound --------------------------------------------------------------------------

    def should_compress(self, size: int) -> bool:
        """Whether an outbound message of ``size`` bytes should be compressed (RSV1 set).

        RFC 7692 §6 lets the sender choose per message: small messages cost more to
        compress than they save, and an agreed 8-bit window cannot be honoured by zlib.
        """
        return self._can_compress and size >= self._threshold

    def compress(self, data: bytes) -> bytes:
        """Deflate one whole message: sync flush, trailing ``00 00 ff ff`` removed (§7.2.1)."""
        compressor = self._compressor
        if compressor is None:
            if self._can_compress:
                compressor = zlib.compressobj(
                    self._level, zlib.DEFLATED, -self._out_bits, self._mem_level
                )
            else:
                # Agreed 8-bit window: level 0 emits only stored blocks, which never refer
                # back, so any window honours them (callers should prefer should_compress()).
                compressor = zlib.compressobj(0, zlib.DEFLATED, -9, 1)
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if out.endswith(_TAIL):
            out = out[:-4]
        if not out:
            # An empty message still needs one empty stored-block header (RFC 7692 §7.2.3.6).
            out = b"\x00"
        # RFC 7692 §7.1.1: without context takeover every message starts a fresh window.
        self._compressor = None if self._out_reset else compressor
        return out

    # -- inbound ---------------------------------------------------------------------------

    def decompress(self, data: bytes, max_size: int) -> bytes:
        """Inflate one whole compressed message (§7.2.2); raises ProtocolError 1009/1007."""
        return self.decompress_fragment(data, True, max_size)

    def decompress_fragment(self, data: bytes, final: bool, max_size: int) -> bytes:
        """Inflate the next fragment of a compressed message; ``final`` on its last frame.

        ``max_size`` bounds the whole message's inflated size. Returns this fragment's share.
        """
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = zlib.decompressobj(-max(9, self._in_bits))
        self._msg_in += len(data)
        if final:
            data += _TAIL  # RFC 7692 §7.2.2
        allowance = min(max_size, max(_MIN_INFLATE_ALLOWANCE, int(self._msg_in * self._ratio)))
        budget = allowance - self._msg_out
        try:
            # Ask for one byte more than allowed: getting it proves the message too big,
            # and zlib never allocates beyond max_length.
            out = inflater.decompress(data, budget + 1)
        except zlib.error as exc:
            self._end_message(reset=True)
            raise ProtocolError(
                _CLOSE_BAD_DATA, f"invalid compressed data: {exc} (RFC 7692 §8)"
            ) from None
        if len(out) > budget:
            self._end_message(reset=True)
            if allowance >= max_size:
                reason = f"message exceeds {max_size} bytes once inflated"
            else:
                reason = f"message inflates beyond {self._ratio:g}x its compressed size"
            raise ProtocolError(_CLOSE_TOO_BIG, reason)
        self._msg_out += len(out)
        if inflater.eof:
            # The peer ended its DEFLATE stream with a BFINAL block (RFC 7692 §7.2.3.3): only
            # an empty stored block and our tail may follow. The window cannot survive the
            # stream's end in zlib, so the next message starts a fresh one.
            leftover = inflater.unused_data
            if leftover not in ((_TAIL, b"\x00" + _TAIL) if final else (b"", b"\x00")):
                self._end_message(reset=True)
                raise ProtocolError(
                    _CLOSE_BAD_DATA, "data after the final DEFLATE block (RFC 7692 §7.2.3.3)"
                )
        if final:
            self._end_message(reset=self._in_reset or inflater.eof)
        return out

    def _end_message(self, *, reset: bool) -> None:
        self._msg_in = self._msg_out = 0
        if reset:
            # RFC 7692 §7.1.1: without context takeover the peer starts every message afresh.
            self._inflater = None
