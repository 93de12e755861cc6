"""wss:// — TLS from a cert/key pair and from an ``ssl.SSLContext``, with real clients."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

import websock
from tests.implementations import implementation  # noqa: F401 (autouse: C and Python)
from tests.server.certs import client_context, make_certificate
from tests.server.clients import CLIENTS
from tests.server.server_apps import Echo, Probe, make_app
from websock.server import HttpLimits


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path)


@pytest.mark.parametrize("name", list(CLIENTS))
async def test_wss_from_certfile_and_keyfile(certificate: tuple[Path, Path], name: str) -> None:
    cert, key = certificate
    async with websock.serve(
        make_app(Probe()), port=0, certfile=str(cert), keyfile=str(key)
    ) as server:
        assert server.url.startswith("wss://")
        client = await CLIENTS[name].connect(server.url + "/echo", False, client_context(cert))
        try:
            await client.send("over tls")
            assert await client.recv() == "over tls"
            await client.send(b"\x00" * 300_000)
            assert await client.recv() == b"\x00" * 300_000
        finally:
            await client.aclose()


async def test_wss_from_an_ssl_context_with_compression(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    seen: list[str] = []

    async def app(request: websock.Request) -> websock.Upgrade:
        seen.append(request.scheme)
        return websock.upgrade(request, Echo(), None, compress=True)

    async with websock.serve(app, port=0, ssl=context) as server:
        client = await CLIENTS["websockets"].connect(server.url, True, client_context(cert))
        try:
            assert client.extensions.startswith("permessage-deflate")
            await client.send("secret " * 100)
            assert await client.recv() == "secret " * 100
        finally:
            await client.aclose()
    assert seen == ["wss"]


async def test_plain_client_on_a_tls_port_is_refused(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    async with websock.serve(
        make_app(Probe()), port=0, certfile=str(cert), keyfile=str(key)
    ) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            async with asyncio.timeout(10):
                data = await reader.read()
            assert not data.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


async def test_a_stalled_tls_handshake_is_dropped(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    limits = HttpLimits(handshake_timeout=0.3)
    async with websock.serve(
        make_app(Probe()), port=0, certfile=str(cert), keyfile=str(key), limits=limits
    ) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"\x16\x03\x01")  # the start of a ClientHello, and then nothing
            async with asyncio.timeout(10):
                assert await reader.read() == b""
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
