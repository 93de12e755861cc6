"""The contract suite: the same test functions for every host (SPEC §1, §2, §4).

Each test talks to a real server over a real socket with the ``websockets`` client and
checks what the client sees (frames, close codes) and what the handler saw (its terminate
reason, reported through the recorder). Where hosts differ, the test observes the
behaviour and asserts it equals the host's declared capability.

Collect it with ``from websock.contract.suite import *`` in a module whose conftest loads
``websock.contract.plugin``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .plugin import Contract

__all__ = [
    "test_async_handler",
    "test_client_close_reaches_terminate",
    "test_client_ping",
    "test_compression",
    "test_denial",
    "test_echo",
    "test_fragmented_messages",
    "test_handle_info_from_task",
    "test_handle_info_from_thread",
    "test_idle_timeout",
    "test_init_results",
    "test_large_messages",
    "test_message_too_big",
    "test_push_sequence",
    "test_server_ping",
    "test_server_shutdown",
    "test_slow_reader",
    "test_stop_and_errors",
    "test_subprotocol_and_headers",
]

#: Upper bound for any single test's network activity.
TEST_TIMEOUT = 30.0
MiB = 1 << 20


@contextlib.asynccontextmanager
async def client(url: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    options: dict[str, Any] = {
        "max_size": None,
        "compression": None,
        "ping_interval": None,
        "open_timeout": 10,
        "close_timeout": 5,
    }
    options.update(kwargs)
    async with connect(url, **options) as ws:
        yield ws


async def until_closed(ws: ClientConnection) -> tuple[list[str | bytes], int | None, str]:
    """Read until the server closes; the messages read and the server's close frame."""
    messages: list[str | bytes] = []
    try:
        while True:
            messages.append(await ws.recv())
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        return messages, (rcvd.code if rcvd else None), (rcvd.reason if rcvd else "")


async def test_echo(contract: Contract) -> None:
    url, conn = contract.url()
    async with asyncio.timeout(TEST_TIMEOUT):
        async with client(url) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00binary\xff")
            assert await ws.recv() == b"\x00binary\xff"
            # An empty message, then a marker: the marker shows whether the empty one
            # came back or was dropped (without waiting for an absence).
            await ws.send("")
            await ws.send("after-empty")
            first = await ws.recv()
            if first == "":
                assert await ws.recv() == "after-empty"
            else:
                assert first == "after-empty"
        reason = await contract.terminated(conn)
    assert_remote_close(contract, reason, 1000)
    contract.observe("empty_messages", first == "")


@pytest.mark.parametrize(
    ("mode", "frames", "code", "text"),
    [
        ("push", ["welcome", b"\x00\x01"], None, None),
        ("stop", [], 4000, "init says no"),
        ("raise", [], 1011, None),
    ],
)
async def test_init_results(
    contract: Contract, mode: str, frames: list[Any], code: int | None, text: str | None
) -> None:
    url, conn = contract.url(mode=mode)
    async with asyncio.timeout(TEST_TIMEOUT), client(url) as ws:
        if code is None:
            for frame in frames:
                assert await ws.recv() == frame
            await ws.send("still alive")
            assert await ws.recv() == "still alive"
            return
        messages, got_code, got_text = await until_closed(ws)
    assert messages == frames
    assert got_code == contract.close_code(code)
    if text is not None and contract.capability("close_reason"):
        assert got_text == text
    if mode == "stop":  # init raising has no state, so no terminate (close table)
        assert (await contract.terminated(conn))["kind"] == "Normal"


async def test_push_sequence(contract: Contract) -> None:
    url, _ = contract.url()
    async with asyncio.timeout(TEST_TIMEOUT), client(url) as ws:
        await ws.send("!push3")
        assert [await ws.recv() for _ in range(3)] == ["one", b"two", "three"]


@pytest.mark.parametrize(
    ("command", "frames", "code", "text", "kind"),
    [
        ("stop", [], 1000, None, "Normal"),
        ("restart", [], 1012, None, "Normal"),
        ("stop_custom", [], 4001, "custom bye", "Normal"),
        ("stop_error", [], 1011, None, "Error"),
        ("stop_frames", ["last words", b"\xff"], 1000, None, "Normal"),
        ("raise", [], 1011, None, "Error"),
        ("bad_result", [], 1011, None, "Error"),
        ("lone_surrogate", [], 1011, None, "Error"),
    ],
)
async def test_stop_and_errors(
    contract: Contract,
    command: str,
    frames: list[Any],
    code: int,
    text: str | None,
    kind: str,
) -> None:
    url, conn = contract.url()
    async with asyncio.timeout(TEST_TIMEOUT):
        async with client(url) as ws:
            await ws.send(f"!{command}")
            messages, got_code, got_text = await until_closed(ws)
        reason = await contract.terminated(conn)
    assert messages == frames
    assert got_code == contract.close_code(code)
    if text is not None:
        contract.observe("close_reason", got_text == text)
    if command == "restart":
        mapped = {1012: "exact", 3012: "1xxx→3xxx"}
        contract.observe("close_codes", mapped.get(got_code or 0, f"1012→{got_code}"))
    assert reason["kind"] == kind
    if command == "stop_error":
        assert reason["detail"] == "boom"


def remote_close_kind(reason: dict[str, Any], code: int, message: str) -> str:
    if reason["kind"] == "Remote" and reason["code"] == code:
        return "code+reason" if reason["message"] == message else "code"
    if reason["kind"] == "Error" and reason.get("detail") == "ConnectionClosed":
        return "lost"
    return f"unexpected {reason}"


def assert_remote_close(contract: Contract, reason: dict[str, Any], code: int) -> None:
    """The client closed with ``code`` and no text: terminate saw it as declared."""
    kind = remote_close_kind(reason, code, "")
    declared = contract.capability("remote_close")
    assert kind == ("lost" if declared == "lost" else "code+reason"), reason


async def test_client_close_reaches_terminate(contract: Contract) -> None:
    url, conn = contract.url()
    async with asyncio.timeout(TEST_TIMEOUT):
        async with client(url) as ws:
            await ws.send("ping-pong")
            assert await ws.recv() == "ping-pong"
            await ws.close(4002, "client bye")
        reason = await contract.terminated(conn)
    contract.observe("remote_close", remote_close_kind(reason, 4002, "client bye"))


async def test_handle_info_from_task(contract: Contract) -> None:
    url, _ = contract.url()
    async with asyncio.timeout(TEST_TIMEOUT), client(url) as ws:
        await ws.send("!info_task")
        assert await ws.recv() == "from-task"


async def test_handle_info_from_thread(contract: Contract) -> None:
    url, _ = contract.url()
    async with asyncio.timeout(TEST_TIMEOUT), client(url) as ws:
        for _ in range(3):
            await ws.send("!info_thread")
            assert await ws.recv() == "from-thread"


async def test_idle_timeout(contract: Contract) -> None:
    url, conn = contract.url(timeout=0.3)
    async with asyncio.timeout(TEST_TIMEOUT):
        async with client(url) as ws:
            messages, code, _ = await until_closed(ws)
        reason = await contract.terminated(conn)
    assert messages == []
    assert code == contract.close_code(1001)
    assert reason["kind"] == "Timeout"


@pytest.mark.parametrize("path", ["/deny", "/missing"])
async def test_denial(contract: Contract, path: str) -> None:
    url, _ = contract.url(path)
    async with asyncio.timeout(TEST_TIMEOUT):
        with pytest.raises(InvalidStatus) as info:
            async with client(url):
                pass
    response = info.value.response
    if path == "/deny":
        full = (
            response.status_code == 401
            and response.headers.get("www-authenticate") == 'Bearer realm="contract"'
            and response.body == b"token required"
        )
        contract.observe("denial", "full" if full else str(response.status_code))
    else:  # frameworks route before the app: their own answer for an unknown path
        full = response.status_code == 404 and response.body == b"no such endpoint"
        contract.observe("not_found", "app" if full else str(response.status_code))


async def test_subprotocol_and_headers(contract: Contract) -> None:
    url, _ = contract.url(proto="chat")
    async with asyncio.timeout(TEST_TIMEOUT), client(url, subprotocols=["x-other", "chat"]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response is not None
        headers_seen = ws.response.headers.get("x-contract") == "yes"
        await ws.send("hi")
        assert await ws.recv() == "hi"
    contract.observe("accept_headers", headers_seen)


async def test_large_messages(contract: Contract) -> None:
    url, _ = contract.url(max=16 * MiB)
    big = bytes(range(256)) * (8 * MiB // 256)
    text = "é" * (MiB // 2)  # 1 MiB of UTF-8, all two-byte sequences
    async with asyncio.timeout(TEST_TIMEOUT), client(url) as ws:
        await ws.send(big)
        assert await ws.recv() == big
        await ws.send(text)
        assert await ws.recv() == text


async def test_message_too_big(contract: Contract) -> None:
    url, conn = contract.url(max=1024)
    async with asyncio.timeout(TEST_TIMEOUT):
        async with client(url) as ws:
            await ws.send(b"x" * 1024)
            assert await ws.recv() == b"x" * 1024
            await ws.send(b"x" * 2048)
            messages, code, _ = await until_closed(ws)
        reason = await contract.terminated(conn)
    assert messages == []
    assert code == contract.close_code(1009)
    assert reason["kind"] == "Error"
    assert reason.get("code") == 1009


async def test_fragmented_messages(contract: Contract) -> None:
    url, _ = contract.url()
    async with asyncio.timeout(TEST_TIMEOUT), client(url) as ws:
        await ws.send(["frag", "ment", "ed ✓"])
        assert await ws.recv() == "fragmented ✓"
        await ws.send([b"\x01", b"\x02" * 70000, b"\x03"])
        assert await ws.recv() == b"\x01" + b"\x02" * 70000 + b"\x03"


async def _negotiates_deflate(contract: Contract, compress: bool) -> bool:
    url, _ = contract.url(compress=int(compress))
    body = " ".join(str(i) for i in range(20000))  # compressible, but not a bomb
    async with client(url, compression="deflate") as ws:
        await ws.send(body)
        assert await ws.recv() == body
        assert ws.response is not None
        return "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")


async def test_compression(contract: Contract) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        on = await _negotiates_deflate(contract, True)
        off = await _negotiates_deflate(contract, False)
    observed = ("per-connection" if not off else "server-wide") if on else "none"
    if off and not on:
        observed = "inverted"
    contract.observe("compression", observed)


async def test_client_ping(contract: Contract) -> None:
    url, _ = contract.url()
    async with asyncio.timeout(TEST_TIMEOUT), client(url) as ws:
        pong = await ws.ping(b"cli")
        await pong  # every host answers pings (RFC 6455 §5.5.2)
        await ws.send("!control")
        seen = await ws.recv()
    assert isinstance(seen, str) and seen.startswith("control:")
    contract.observe("client_ping", "ping:cli" in seen.split(":", 1)[1].split(","))


async def test_server_ping(contract: Contract) -> None:
    url, _ = contract.url()
    async with asyncio.timeout(TEST_TIMEOUT), client(url) as ws:
        await ws.send("!ping")
        assert await ws.recv() == "after-ping"
        await ws.send("!control")
        replies = [await ws.recv()]
        if replies[0] == "pong-seen":
            replies.append(await ws.recv())
    assert isinstance(replies[-1], str) and replies[-1].startswith("control:")
    pong_seen = replies[0] == "pong-seen" and "pong:srv" in replies[-1]
    contract.observe("server_ping", pong_seen)


async def test_slow_reader(contract: Contract) -> None:
    """A client that stops reading: the server buffers within bounds and loses nothing."""
    url, conn = contract.url()
    count, size = 48, 64 * 1024
    async with asyncio.timeout(TEST_TIMEOUT):
        async with client(url, max_queue=1) as ws:
            await ws.send(f"!flood {count} {size}")
            for i in range(count):
                assert await ws.recv() == bytes([i % 256]) * size
            await ws.send("still here")
            assert await ws.recv() == "still here"
        reason = await contract.terminated(conn)
    assert_remote_close(contract, reason, 1000)


async def test_async_handler(contract: Contract) -> None:
    url, conn = contract.url(mode="async")
    async with asyncio.timeout(TEST_TIMEOUT):
        async with client(url) as ws:
            for i in range(5):
                await ws.send(f"async {i}")
                assert await ws.recv() == f"async {i}"
            await ws.send("!info_thread")
            assert await ws.recv() == "from-thread"
            await ws.send("!stop_custom")
            _, code, _ = await until_closed(ws)
        reason = await contract.terminated(conn)
    assert code == 4001
    assert reason["kind"] == "Normal"


async def test_server_shutdown(contract: Contract) -> None:
    """A graceful stop: every connection gets a close frame and ``terminate``."""
    with contract.spec.running() as server:
        url, conn = contract.url(server=server)
        async with asyncio.timeout(TEST_TIMEOUT):
            async with client(url) as ws:
                await ws.send("before shutdown")
                assert await ws.recv() == "before shutdown"
                stopping = asyncio.ensure_future(asyncio.to_thread(server.stop))
                _, code, _ = await until_closed(ws)
            await stopping  # the server has exited: every terminate has run by now
            try:  # its report may still be in flight to the recorder
                reason = await contract.recorder.wait(conn, timeout=5.0)
            except TimeoutError:  # declared for daphne: it drops the app on SIGTERM
                reason = {"kind": "none"}
    # 1006: the client got no close frame (RFC 6455 §7.1.5), only the TCP close.
    contract.observe("shutdown", f"{1006 if code is None else code} {reason['kind']}")
