"""Fixtures for the built-in server tests: a running server with the test routes."""

from __future__ import annotations

import asyncio
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


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every server test runs on the stdlib loop and on uvloop (what the CLI picks)."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the dev extra
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories
