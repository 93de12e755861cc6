"""``websock.serve()`` over real sockets: lifecycle, plain HTTP, bad requests, handshakes."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

import pytest
import websockets

import websock
from tests.implementations import implementation  # noqa: F401 (autouse: C and Python)
from tests.server.rawhttp import Raw, handshake
from tests.server.server_apps import Echo, Probe, make_app
from websock.protocol.events import CloseReceived
from websock.server import HttpLimits, Server

RawConnect = Callable[[int], Awaitable[Raw]]

TIMEOUT = 10.0


async def test_port_zero_url_and_sockets(server: Server) -> None:
    assert server.port > 0
    assert server.url == f"ws://127.0.0.1:{server.port}"
    assert server.http_url == f"http://127.0.0.1:{server.port}"
    assert server.sockets and server.sockets[0].getsockname()[1] == server.port
    assert repr(server) == f"<Server ws://127.0.0.1:{server.port} serving, 0 connection(s)>"


async def test_await_serve_then_serve_forever_until_shutdown(
    probe: Probe, raw_connect: RawConnect
) -> None:
    server = await websock.serve(make_app(probe), port=0)
    forever = asyncio.create_task(server.serve_forever())
    raw = await raw_connect(server.port)
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await raw.response())[0] == 200
    async with asyncio.timeout(TIMEOUT):
        # The idle keep-alive connection is closed at once; the client closes on EOF.
        await asyncio.gather(server.shutdown(), raw.closed())
        await forever
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


async def test_cancelling_serve_forever_shuts_down(probe: Probe) -> None:
    server = websock.serve(make_app(probe), port=0)
    forever = asyncio.create_task(server.serve_forever())
    async with asyncio.timeout(TIMEOUT):
        await server.start()
        forever.cancel()
        with pytest.raises(asyncio.CancelledError):
            await forever
    assert server.connection_count == 0 and not server.sockets


async def test_plain_responses_keep_alive_and_pipelining(
    server: Server, raw_connect: RawConnect
) -> None:
    raw = await raw_connect(server.port)
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await raw.response() == (
        200,
        {"content-type": "text/plain", "content-length": "6"},
        b"hello\n",
    )
    # Same connection, two pipelined requests, answered in order.
    raw.send(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /deny HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await raw.response())[0] == 404
    assert (await raw.response())[2] == b"go away\n"
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, _ = await raw.response()
    assert status == 200 and headers["connection"] == "close"
    assert await raw.closed()


async def test_head_gets_the_headers_without_the_body(
    server: Server, raw_connect: RawConnect
) -> None:
    raw = await raw_connect(server.port)
    raw.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    async with asyncio.timeout(TIMEOUT):
        head = await raw.reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 6\r\n" in head
    # No body followed: the next bytes are the next response.
    assert (await raw.response())[0] == 404


async def test_request_body_is_read_and_discarded(server: Server, raw_connect: RawConnect) -> None:
    raw = await raw_connect(server.port)
    raw.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
    raw.send(b"56789GET /deny HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await raw.response())[0] == 200
    assert (await raw.response())[0] == 403


async def test_expect_100_continue(server: Server, raw_connect: RawConnect) -> None:
    raw = await raw_connect(server.port)
    raw.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    async with asyncio.timeout(TIMEOUT):
        assert await raw.reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    raw.send(b"body")
    assert (await raw.response())[0] == 200


async def test_http_10_closes_after_the_response(server: Server, raw_connect: RawConnect) -> None:
    raw = await raw_connect(server.port)
    raw.send(b"GET / HTTP/1.0\r\n\r\n")
    assert (await raw.response())[0] == 200
    assert await raw.closed()


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (b"GET / HTTP/1.1\nHost: x\n\n", 400, b"bare LF"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, b"obs-fold"),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, b""),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, b""),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
            b"Content-Length",
        ),
        (b"GET / HTTP/1.1\r\n\r\n", 400, b"Host"),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, b""),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n", 414, b""),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413, b""),
    ],
)
async def test_malformed_requests_get_an_error_and_a_close(
    server: Server, request_bytes: bytes, status: int, reason: bytes, raw_connect: RawConnect
) -> None:
    raw = await raw_connect(server.port)
    raw.send(request_bytes)
    got, headers, body = await raw.response()
    assert got == status and headers["connection"] == "close"
    assert reason in body
    assert await raw.closed()


async def test_too_many_headers_is_431(server: Server, raw_connect: RawConnect) -> None:
    raw = await raw_connect(server.port)
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200 + b"\r\n")
    assert (await raw.response())[0] == 431


async def test_slowloris_gets_408_at_the_handshake_deadline(
    probe: Probe, raw_connect: RawConnect
) -> None:
    limits = HttpLimits(handshake_timeout=0.3)
    async with websock.serve(make_app(probe), port=0, limits=limits) as server:
        raw = await raw_connect(server.port)
        raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # ... and never the final CRLF
        status, headers, body = await raw.response()
        assert (status, headers["connection"], body) == (408, "close", b"request timeout\n")
        assert await raw.closed()


async def test_idle_keepalive_connection_is_closed(probe: Probe, raw_connect: RawConnect) -> None:
    limits = HttpLimits(keepalive_timeout=0.2)
    async with websock.serve(make_app(probe), port=0, limits=limits) as server:
        raw = await raw_connect(server.port)
        raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await raw.response())[0] == 200
        assert await raw.closed()


async def test_a_silent_connection_is_closed_without_a_response(
    probe: Probe, raw_connect: RawConnect
) -> None:
    limits = HttpLimits(handshake_timeout=0.2)
    async with websock.serve(make_app(probe), port=0, limits=limits) as server:
        raw = await raw_connect(server.port)
        async with asyncio.timeout(TIMEOUT):
            assert await raw.reader.read() == b""
        assert await raw.closed()


# --- the app's decisions ---------------------------------------------------------------------


async def test_app_denial_reaches_a_websocket_client(server: Server) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with asyncio.timeout(TIMEOUT), websockets.connect(server.url + "/deny"):
            pass
    assert info.value.response.status_code == 403
    assert info.value.response.body == b"go away\n"


async def test_app_that_raises_gets_500_and_the_server_keeps_serving(
    server: Server, caplog: pytest.LogCaptureFixture, raw_connect: RawConnect
) -> None:
    raw = await raw_connect(server.port)
    with caplog.at_level(logging.ERROR, logger="websock.server"):
        raw.send(b"GET /raise HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = await raw.response()
    assert (status, body) == (500, b"internal server error\n")
    assert await raw.closed()
    record = next(r for r in caplog.records if "raised" in r.getMessage())
    assert record.exc_info is not None and "exploded on purpose" in str(record.exc_info[1])
    async with asyncio.timeout(TIMEOUT), websockets.connect(server.url + "/echo") as ws:
        await ws.send("still here")
        assert await ws.recv() == "still here"


async def test_app_returning_garbage_gets_500(
    server: Server, caplog: pytest.LogCaptureFixture, raw_connect: RawConnect
) -> None:
    raw = await raw_connect(server.port)
    with caplog.at_level(logging.ERROR, logger="websock.server"):
        raw.send(b"GET /garbage HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await raw.response())[0] == 500
    assert any("returned 42" in r.getMessage() for r in caplog.records)


async def test_invalid_response_from_the_app_is_500(raw_connect: RawConnect) -> None:
    async def app(request: websock.Request) -> websock.Response:
        return websock.Response(200, [("X-Evil", "a\r\nSet-Cookie: x=1")], "")

    async with websock.serve(app, port=0) as server:
        raw = await raw_connect(server.port)
        raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = await raw.response()
        assert status == 500 and "set-cookie" not in headers
        assert await raw.closed()


@pytest.mark.parametrize(
    ("request_bytes", "status", "says"),
    [
        (handshake().replace(b"Sec-WebSocket-Key", b"X-Nothing"), 400, b"Sec-WebSocket-Key"),
        (handshake().replace(b"Upgrade: websocket", b"Upgrade: h2c"), 400, b"Upgrade"),
        (handshake().replace(b"GET", b"PUT"), 400, b"GET"),
        (handshake().replace(b"Version: 13", b"Version: 8"), 426, b"Version"),
    ],
)
async def test_bad_handshakes_are_answered_with_the_rule(
    server: Server,
    caplog: pytest.LogCaptureFixture,
    request_bytes: bytes,
    status: int,
    says: bytes,
    raw_connect: RawConnect,
) -> None:
    raw = await raw_connect(server.port)
    with caplog.at_level(logging.INFO, logger="websock.server"):
        raw.send(request_bytes)
        got, headers, body = await raw.response()
    assert got == status and says in body
    if status == 426:
        assert headers["sec-websocket-version"] == "13"
    rejected = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rejected")]
    assert len(rejected) == 1 and str(status) in rejected[0]


async def test_upgrade_with_early_frames_behind_the_handshake(
    server: Server, raw_connect: RawConnect
) -> None:
    raw = await raw_connect(server.port)
    client = raw.ws
    client.send_text("early bird")
    raw.send(handshake() + client.data_to_send())
    assert (await raw.response())[0] == 101
    assert await raw.events() == [websock.Text("early bird")]


async def test_start_line_is_logged(probe: Probe, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="websock.server"):
        async with websock.serve(make_app(probe), port=0) as server:
            pass
    messages = [r.getMessage() for r in caplog.records]
    assert any(server.url in m and "serving" in m for m in messages)


async def test_both_http_parsers_serve_upgrades() -> None:
    async def app(request: websock.Request) -> websock.Upgrade:
        return websock.upgrade(request, Echo(), None)

    for parser in ("python", "httptools"):
        async with (
            websock.serve(app, port=0, http_parser=parser) as server,
            asyncio.timeout(TIMEOUT),
            websockets.connect(server.url) as ws,
        ):
            await ws.send(parser)
            assert await ws.recv() == parser


# --- graceful shutdown edge cases ----------------------------------------------------------


async def test_shutdown_drops_a_peer_that_never_answers_the_close(
    probe: Probe, raw_connect: RawConnect
) -> None:
    server = await websock.serve(make_app(probe), port=0, shutdown_timeout=0.3)
    raw = await raw_connect(server.port)
    await raw.upgrade("/probe")
    async with asyncio.timeout(TIMEOUT):
        await server.shutdown()  # returns at the deadline, having dropped the silent peer
    events = []
    async with asyncio.timeout(TIMEOUT):
        while data := await raw.reader.read(65536):
            events += raw.ws.receive_data(data)
    assert events and events[-1] == CloseReceived(1001, "server shutting down")
    assert await probe.ended() == [websock.Shutdown()]
    assert server.connection_count == 0


async def test_upgrade_decided_during_shutdown_gets_503(raw_connect: RawConnect) -> None:
    called = asyncio.Event()
    release = asyncio.Event()

    async def slow_app(request: websock.Request) -> websock.Upgrade:
        called.set()
        await release.wait()
        return websock.upgrade(request, Echo(), None)

    server = await websock.serve(slow_app, port=0, shutdown_timeout=5)
    raw = await raw_connect(server.port)
    raw.send(handshake("/"))
    async with asyncio.timeout(TIMEOUT):
        await called.wait()
        server.close()  # the shutdown begins now; the app answers a stopping server
        release.set()
        status, headers, body = await raw.response()
        assert await raw.closed()
        await server.shutdown()
    assert (status, headers["connection"], body) == (503, "close", b"server shutting down\n")
