"""1,000 concurrent WebSocket connections on one server, each echoing, then a graceful
shutdown that closes them all with 1001."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

import websock
from tests.implementations import implementation  # noqa: F401 (autouse: C and Python)
from tests.server.server_apps import Probe, make_app

N = 1000


@pytest.mark.slow
async def test_thousand_concurrent_connections() -> None:
    probe = Probe()
    async with websock.serve(make_app(probe), port=0, backlog=N) as server:
        url = server.url + "/probe"
        clients: list[ClientConnection] = []
        try:
            async with asyncio.timeout(120):
                # Open in batches so the listen backlog never overflows on a busy machine.
                for _batch in range(N // 100):
                    batch = [websockets.connect(url, ping_interval=None) for _ in range(100)]
                    clients += await asyncio.gather(*batch)
                assert server.connection_count == N

                async def roundtrip(i: int, ws: ClientConnection) -> str:
                    await ws.send(f"hello {i}")
                    reply = await ws.recv()
                    assert isinstance(reply, str)
                    return reply

                replies = await asyncio.gather(*(roundtrip(i, ws) for i, ws in enumerate(clients)))
                assert replies == [f"hello {i}" for i in range(N)]

                waits = [asyncio.ensure_future(ws.wait_closed()) for ws in clients]
                await server.shutdown()
                await asyncio.gather(*waits)
            assert {ws.close_code for ws in clients} == {1001}
            assert len(await probe.ended(N)) == N
            assert server.connection_count == 0
        finally:
            for ws in clients:
                ws.transport.abort()
