"""Real client libraries against the built-in server on real sockets.

Every test runs against each client that can do it: websockets, aiohttp, websocket-client
(sync, in a thread) and picows. Terminate reasons are read from the probe handler.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.implementations import implementation  # noqa: F401 (autouse: C and Python)
from tests.server.clients import CLIENTS, Client
from tests.server.server_apps import Probe
from websock import Error, HandlerError, MailboxFull, Normal, Remote, Shutdown
from websock.server import Server

MiB = 1 << 20
ALL = list(CLIENTS)
#: The clients that implement permessage-deflate (RFC 7692).
DEFLATE = ["websockets", "aiohttp"]
#: The clients that can send a fragmented message (RFC 6455 §5.4).
FRAGMENTS = ["websockets", "websocket-client", "picows"]

Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(server: Server) -> AsyncIterator[Connect]:
    """``await connect(name, path, compress=False)``: a connected client, closed afterwards."""
    opened: list[Client] = []

    async def open_client(name: str, path: str = "/probe", *, compress: bool = False) -> Client:
        client: Client = await CLIENTS[name].connect(server.url + path, compress, None)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.aclose()


@pytest.mark.parametrize("name", ALL)
async def test_text_and_binary_echo(connect: Connect, name: str) -> None:
    client = await connect(name, "/echo")
    await client.send("héllo ✓")
    assert await client.recv() == "héllo ✓"
    await client.send(b"\x00\xffbinary")
    assert await client.recv() == b"\x00\xffbinary"
    await client.send("")
    assert await client.recv() == ""


@pytest.mark.parametrize("name", FRAGMENTS)
async def test_fragmented_message_is_reassembled(connect: Connect, name: str) -> None:
    client = await connect(name, "/echo")
    await client.send_fragments(["frag", "men", "ted ✓"])
    assert await client.recv() == "fragmented ✓"


@pytest.mark.parametrize("name", DEFLATE)
async def test_compressed_messages(connect: Connect, name: str) -> None:
    client = await connect(name, "/echo?compress=1", compress=True)
    assert client.extensions.startswith("permessage-deflate")
    words = [os.urandom(3).hex() for _ in range(300)]
    text = " ".join(words * 20)  # compressible, but well within the inflate-ratio limit
    for message in (text, text.encode(), "short"):
        await client.send(message)
        assert await client.recv() == message


@pytest.mark.parametrize("name", ALL)
async def test_uncompressed_when_not_asked(connect: Connect, name: str) -> None:
    client = await connect(name, "/echo")
    assert client.extensions == ""


@pytest.mark.parametrize("name", ALL)
async def test_ping_gets_its_pong(connect: Connect, name: str) -> None:
    client = await connect(name, "/probe")
    await client.ping(b"are you there")
    await client.send("still echoing")
    assert await client.recv() == "still echoing"


@pytest.mark.parametrize("name", ALL)
async def test_server_pushes_several_frames_and_pings(connect: Connect, name: str) -> None:
    client = await connect(name, "/probe")
    await client.send("frames")
    assert [await client.recv() for _ in range(3)] == ["one", b"two", "three"]
    await client.send("ping")  # the handler pushes a Ping; every client answers it
    await client.send("after the ping")
    assert await client.recv() == "after the ping"


@pytest.mark.parametrize("name", ALL)
async def test_async_handle_in_that_suspends(connect: Connect, name: str) -> None:
    client = await connect(name, "/slow")
    for i in range(3):
        await client.send(f"later {i}")
    assert [await client.recv() for _ in range(3)] == ["later 0", "later 1", "later 2"]


CLOSES = [
    ("stop", 1000, "", Normal()),
    ("restart", 1012, "", Normal()),
    ("fail", 1011, "", Error("broken")),
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(("command", "code", "text", "reason"), CLOSES)
async def test_handler_stops(
    connect: Connect,
    probe: Probe,
    name: str,
    command: str,
    code: int,
    text: str,
    reason: object,
) -> None:
    client = await connect(name)
    await client.send(command)
    got_code, _ = await client.closed()
    assert got_code == code
    assert await probe.ended() == [reason]


@pytest.mark.parametrize("name", ALL)
async def test_stop_with_custom_code_sends_final_frames_first(
    connect: Connect, probe: Probe, name: str
) -> None:
    client = await connect(name)
    await client.send("code 4321 so long")
    assert await client.recv() == "last words"
    assert await client.closed() == (4321, "so long")
    assert await probe.ended() == [Normal()]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("command", ["raise", "bad"])
async def test_handler_crash_is_1011_and_logged(
    connect: Connect,
    probe: Probe,
    caplog: pytest.LogCaptureFixture,
    name: str,
    command: str,
) -> None:
    client = await connect(name)
    await client.send(command)
    assert (await client.closed())[0] == 1011
    (reason,) = await probe.ended()
    assert isinstance(reason, Error)
    expected = RuntimeError if command == "raise" else HandlerError
    assert isinstance(reason.reason, expected)
    assert any("handle_in" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name", ALL)
async def test_client_close_reaches_terminate(connect: Connect, probe: Probe, name: str) -> None:
    client = await connect(name)
    code, _ = await client.close(4000, "client bye")
    assert code == 4000  # RFC 6455 §5.5.1: the server echoes the code
    assert await probe.ended() == [Remote(4000, "client bye")]


@pytest.mark.parametrize("name", ALL)
async def test_idle_timeout_closes_with_1001(connect: Connect, probe: Probe, name: str) -> None:
    client = await connect(name, "/probe?timeout=0.3&ping_interval=none")
    assert (await client.closed())[0] == 1001
    assert type((await probe.ended())[0]).__name__ == "Timeout"


@pytest.mark.parametrize("name", ALL)
async def test_keepalive_pings_keep_a_quiet_client_alive(connect: Connect, name: str) -> None:
    # Pings every 0.1 s; the idle timeout is 0.5 s: pongs count as inbound activity.
    client = await connect(name, "/probe?timeout=0.5&ping_interval=0.1&ping_timeout=1")
    for _ in range(4):
        await client.ping(b"x")  # each round trip waits for a pong, giving time to pass
    await client.send("alive")
    assert await client.recv() == "alive"


@pytest.mark.parametrize("name", ALL)
async def test_eight_mib_messages(connect: Connect, name: str) -> None:
    client = await connect(name, "/big")
    blob = os.urandom(8 * MiB)
    await client.send(blob)
    assert await client.recv() == blob
    text = "é" * (4 * MiB)  # 8 MiB of UTF-8
    await client.send(text)
    assert await client.recv() == text


@pytest.mark.parametrize("name", DEFLATE)
async def test_eight_mib_compressed(connect: Connect, name: str) -> None:
    client = await connect(name, "/big?compress=1", compress=True)
    blob = os.urandom(4 * MiB) * 2
    await client.send(blob)
    assert await client.recv() == blob


async def test_shutdown_closes_every_client_with_1001(
    server: Server, connect: Connect, probe: Probe
) -> None:
    clients = [await connect(name) for name in ALL]
    for client in clients:
        await client.send("ready?")
        assert await client.recv() == "ready?"
    waits = [asyncio.ensure_future(client.closed()) for client in clients]
    async with asyncio.timeout(20):
        await server.shutdown()
        results = await asyncio.gather(*waits)
    assert [code for code, _ in results] == [1001] * len(ALL)
    assert await probe.ended(len(ALL)) == [Shutdown()] * len(ALL)
    assert server.connection_count == 0


@pytest.mark.parametrize("name", ALL)
async def test_handle_info_from_other_threads(connect: Connect, probe: Probe, name: str) -> None:
    client = await connect(name)
    await client.send("register")
    assert await client.recv() == "registered"
    (handle,) = probe.handles

    def send_from_a_thread(i: int) -> None:
        for j in range(5):
            handle.send(f"t{i}-{j}")

    threads = [threading.Thread(target=send_from_a_thread, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    received = [await client.recv() for _ in range(20)]
    assert sorted(received) == sorted(f"t{i}-{j}" for i in range(4) for j in range(5))
    for i in range(4):  # in order per sender
        mine = [m for m in received if isinstance(m, str) and m.startswith(f"t{i}-")]
        assert mine == [f"t{i}-{j}" for j in range(5)]


async def test_full_mailbox_closes_with_1008(connect: Connect, probe: Probe) -> None:
    client = await connect("websockets", "/probe?mailbox_size=2")
    await client.send("register")
    assert await client.recv() == "registered"
    (handle,) = probe.handles
    for i in range(10):  # on the loop, back to back: the mailbox cannot drain in between
        handle.send(i)
    assert (await client.closed())[0] == 1008
    (reason,) = await probe.ended()
    assert isinstance(reason, Error) and isinstance(reason.reason, MailboxFull)
