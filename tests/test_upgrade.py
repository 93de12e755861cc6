"""``websock.upgrade()``: request, handler, options and subprotocol checks; the 101 headers."""

from __future__ import annotations

import types
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from websock.exceptions import HandlerError, UpgradeError
from websock.handler import Handler
from websock.http import Headers, Request
from websock.options import Options
from websock.protocol.deflate import DeflateParams, PerMessageDeflate
from websock.protocol.handshake import build_101
from websock.results import Ok
from websock.upgrade import Upgrade, upgrade

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3
BASE = [
    ("Host", "example.com"),
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]


class Echo(Handler):
    def init(self, arg: Any) -> Ok:
        return Ok(arg)

    def handle_in(self, message: Any, state: Any) -> Ok:
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Ok:
        return Ok(state)


def request(*extra: tuple[str, str], method: str = "GET") -> Request:
    return Request(method, "/ws", headers=Headers([*BASE, *extra]), client=("127.0.0.1", 5000))


def test_upgrade_value() -> None:
    req = request()
    handler = Echo()
    result = upgrade(req, handler, {"room": 1})
    assert isinstance(result, Upgrade)
    assert result.request is req
    assert result.handler is handler
    assert result.arg == {"room": 1}
    assert result.options == Options()
    assert result.subprotocol is None
    assert result.deflate is None
    assert result.response_headers == (
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
    )
    assert build_101(result) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n\r\n"
    )


def test_arg_defaults_to_none() -> None:
    assert upgrade(request(), Echo()).arg is None


def test_options_are_validated_and_kept() -> None:
    result = upgrade(request(), Echo(), None, timeout=5, max_message_size=1000)
    assert result.options.timeout == 5
    assert result.options.max_message_size == 1000
    with pytest.raises(HandlerError, match="unknown upgrade option"):
        upgrade(request(), Echo(), None, tiemout=5)
    with pytest.raises(HandlerError, match="timeout must be positive"):
        upgrade(request(), Echo(), None, timeout=-1)


def test_invalid_request_raises_upgrade_error_first() -> None:
    # The request is checked before the handler: a bad request is the client's fault.
    with pytest.raises(UpgradeError, match=r"method must be GET.*RFC 6455 §4.2.1") as info:
        upgrade(request(method="POST"), object())
    assert info.value.status == 400


def test_wrong_version_is_426() -> None:
    req = Request("GET", "/", headers=Headers([*BASE[:-1], ("Sec-WebSocket-Version", "7")]))
    with pytest.raises(UpgradeError) as info:
        upgrade(req, Echo())
    assert info.value.status == 426
    assert info.value.headers == (("Sec-WebSocket-Version", "13"),)


# -- handler checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["init", "handle_in", "handle_info"])
def test_missing_callback_is_named(missing: str) -> None:
    callbacks = {"init": lambda arg: Ok(arg), "handle_in": lambda m, s: Ok(s)}
    callbacks["handle_info"] = lambda m, s: Ok(s)
    del callbacks[missing]
    module = types.SimpleNamespace(**callbacks)
    with pytest.raises(HandlerError, match=rf"no {missing}\(\) callback"):
        upgrade(request(), module)


def test_non_callable_callback_is_named() -> None:
    module = types.SimpleNamespace(init=lambda a: Ok(a), handle_in=3, handle_info=print)
    with pytest.raises(HandlerError, match="handle_in is not callable"):
        upgrade(request(), module)
    module = types.SimpleNamespace(
        init=lambda a: Ok(a), handle_in=print, handle_info=print, terminate="x"
    )
    with pytest.raises(HandlerError, match="terminate is not callable"):
        upgrade(request(), module)


def test_a_module_is_a_handler() -> None:
    module = types.ModuleType("my_handler")
    module.init = lambda arg: Ok(arg)  # type: ignore[attr-defined]
    module.handle_in = lambda m, s: Ok(s)  # type: ignore[attr-defined]
    module.handle_info = lambda m, s: Ok(s)  # type: ignore[attr-defined]
    assert upgrade(request(), module).handler is module


def test_async_callbacks_are_fine() -> None:
    class AsyncEcho(Handler):
        async def init(self, arg: Any) -> Ok:
            return Ok(arg)

        async def handle_in(self, message: Any, state: Any) -> Ok:
            return Ok(state)

        async def handle_info(self, message: Any, state: Any) -> Ok:
            return Ok(state)

    assert upgrade(request(), AsyncEcho()).handler is not None


# -- subprotocol ------------------------------------------------------------------------------


def test_subprotocol_offered_is_answered() -> None:
    req = request(("Sec-WebSocket-Protocol", "mqtt, chat"), ("Sec-WebSocket-Protocol", "v2"))
    result = upgrade(req, Echo(), None, subprotocol="chat")
    assert result.subprotocol == "chat"
    assert result.options.subprotocol == "chat"
    assert ("Sec-WebSocket-Protocol", "chat") in result.response_headers
    assert result.response_headers[3] == ("Sec-WebSocket-Protocol", "chat")


def test_no_subprotocol_chosen_means_no_header() -> None:
    req = request(("Sec-WebSocket-Protocol", "chat"))
    result = upgrade(req, Echo())
    assert result.subprotocol is None
    assert all(name != "Sec-WebSocket-Protocol" for name, _ in result.response_headers)


def test_subprotocol_not_offered_is_a_handler_error() -> None:
    req = request(("Sec-WebSocket-Protocol", "mqtt, chat"))
    with pytest.raises(HandlerError, match=r"'graphql-ws' was not offered.*'mqtt', 'chat'"):
        upgrade(req, Echo(), None, subprotocol="graphql-ws")
    with pytest.raises(HandlerError, match=r"not offered by the client \(offered: none"):
        upgrade(request(), Echo(), None, subprotocol="chat")
    with pytest.raises(HandlerError, match="not offered"):
        upgrade(req, Echo(), None, subprotocol="CHAT")  # subprotocols are exact tokens


# -- extra headers ----------------------------------------------------------------------------


def test_extra_headers_come_last() -> None:
    result = upgrade(request(), Echo(), None, headers={"X-Server": "websock", "Set-Cookie": "a=1"})
    assert result.response_headers[-2:] == (("X-Server", "websock"), ("Set-Cookie", "a=1"))
    assert result.options.headers == (("X-Server", "websock"), ("Set-Cookie", "a=1"))
    assert b"\r\nSet-Cookie: a=1\r\n\r\n" in build_101(result)


@pytest.mark.parametrize(
    ("headers", "needle"),
    [
        ([("X-A", "1\r\nX-B: 2")], "CR, LF or NUL"),
        ([("X A", "1")], "invalid header name"),
        ([("Sec-WebSocket-Accept", "forged")], "set by the handshake"),
        ([("sec-websocket-protocol", "chat")], "set by the handshake"),
        ([("Connection", "close")], "set by the handshake"),
        ([("Content-Length", "0")], "set by the handshake"),
    ],
)
def test_bad_extra_headers_are_handler_errors(headers: list[tuple[str, str]], needle: str) -> None:
    with pytest.raises(HandlerError, match=needle):
        upgrade(request(), Echo(), None, headers=headers)


# -- permessage-deflate -----------------------------------------------------------------------

OFFER = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")


def test_compression_is_off_by_default() -> None:
    result = upgrade(request(OFFER), Echo())
    assert result.deflate is None
    assert all(name != "Sec-WebSocket-Extensions" for name, _ in result.response_headers)


def test_compress_negotiates_and_answers() -> None:
    result = upgrade(request(OFFER), Echo(), None, compress=True)
    assert result.deflate == DeflateParams()
    assert ("Sec-WebSocket-Extensions", "permessage-deflate") in result.response_headers


def test_compress_with_limits_is_reflected_in_the_answer() -> None:
    req = request(
        ("Sec-WebSocket-Protocol", "chat"),
        ("Sec-WebSocket-Extensions", "x-foo, permessage-deflate; unknown"),
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; server_no_context_takeover; "
            "client_max_window_bits; server_max_window_bits=12",
        ),
    )
    result = upgrade(
        req,
        Echo(),
        None,
        compress=True,
        client_max_window_bits=10,
        subprotocol="chat",
        headers=[("X-A", "1")],
    )
    assert result.deflate == DeflateParams(
        server_no_context_takeover=True, server_max_window_bits=12, client_max_window_bits=10
    )
    assert result.response_headers[3:] == (
        ("Sec-WebSocket-Protocol", "chat"),
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; "
            "client_max_window_bits=10",
        ),
        ("X-A", "1"),
    )


def test_compress_without_an_acceptable_offer_proceeds_uncompressed() -> None:
    for extra in [(), (("Sec-WebSocket-Extensions", "permessage-deflate; bogus"),)]:
        result = upgrade(request(*extra), Echo(), None, compress=True)
        assert result.deflate is None
        assert len(result.response_headers) == 3


def test_upgrade_is_immutable() -> None:
    result = upgrade(request(), Echo())
    with pytest.raises(AttributeError):
        result.arg = 2  # type: ignore[misc]


# -- against a real client: the websockets library's sans-I/O handshake -------------------------


def parse_request(raw: bytes) -> Request:
    head = raw.decode("latin-1").split("\r\n\r\n", 1)[0].split("\r\n")
    method, path, version = head[0].split(" ")
    pairs = [tuple(line.split(": ", 1)) for line in head[1:]]
    return Request(
        method, path, headers=Headers([(k, v) for k, v in pairs]), http_version=version[5:]
    )


@pytest.mark.parametrize(
    ("factory_kwargs", "options", "expected"),
    [
        ({}, {}, None),
        ({}, {"compress": True}, DeflateParams()),
        (
            {"server_max_window_bits": 10, "client_no_context_takeover": True},
            {"compress": True, "client_max_window_bits": 12},
            DeflateParams(False, True, 10, 12),
        ),
        (
            {"server_no_context_takeover": True, "server_max_window_bits": 8},
            {"compress": True},
            DeflateParams(True, False, 8, 15),
        ),
    ],
)
def test_websockets_client_accepts_our_101(
    factory_kwargs: dict[str, Any], options: dict[str, Any], expected: DeflateParams | None
) -> None:
    client = ClientProtocol(
        parse_uri("ws://example.com/chat"),
        subprotocols=[Subprotocol("mqtt"), Subprotocol("chat")],
        extensions=[ClientPerMessageDeflateFactory(**factory_kwargs)],
    )
    client.send_request(client.connect())
    req = parse_request(b"".join(client.data_to_send()))

    result = upgrade(req, Echo(), None, subprotocol="chat", **options)
    assert result.deflate == expected
    client.receive_data(build_101(result))
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert client.subprotocol == "chat"
    if expected is None:
        assert client.extensions == []
        return

    # Both sides now agree: messages cross in both directions, several times (context).
    (extension,) = client.extensions
    ours = PerMessageDeflate(expected, result.options)
    message = b'{"event": "update", "payload": [1, 2, 3]}' * 50
    for _ in range(3):
        frame = ours.compress(message)
        decoded = extension.decode(Frame(Opcode.TEXT, frame, rsv1=True))
        assert decoded.data == message
        encoded = extension.encode(Frame(Opcode.TEXT, message))
        assert encoded.rsv1
        assert ours.decompress(bytes(encoded.data), 1 << 20) == message
