"""Fixtures for the built-in server tests: a running server with the test routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import websock
from tests.server.rawhttp import Raw
from tests.server.server_apps import Probe, make_app
from websock.server import Server


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def server(probe: Probe) -> AsyncIterator[Server]:
    async with websock.serve(make_app(probe), port=0, shutdown_timeout=5.0) as running:
        yield running


@pytest.fixture
async def raw_connect() -> AsyncIterator[Callable[[int], Awaitable[Raw]]]:
    """``await raw_connect(port)``: a raw TCP peer, closed at the end of the test."""
    opened: list[Raw] = []

    async def connect(port: int) -> Raw:
        raw = await Raw.connect(port)
        opened.append(raw)
        return raw

    yield connect
    for raw in opened:
        await raw.aclose()
