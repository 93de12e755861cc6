"""The handshake fast paths keep the slow paths' behaviour.

- a whole request head is checked with C-level scans (``RequestReader._whole_head``);
  whatever it declines goes through the line scan, so results must be the same either way;
- every connection timer runs on one coarse wheel (``TimerWheel``): never early, cancel
  means never;
- the app runs inline and is adopted by a task only if it suspends;
- ``inspect_handler`` is cached per handler object and per plain class.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import types
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import websock
from tests.server.server_apps import Echo, Probe, make_app
from websock.results import Ok, Result
from websock.runtime.callbacks import inspect_handler
from websock.server._http11 import HttpError, RequestReader, use_head_implementation
from websock.server._limits import HttpLimits
from websock.server._state import choose_head_parser
from websock.server._timers import TimerWheel

TIMEOUT = 10.0

# --- the whole-head scan agrees with the line scan ------------------------------------------

LIMITS = HttpLimits(max_request_line=40, max_header_line=30, max_headers=4, max_head_size=120)

_LINE_PIECES = st.sampled_from(
    [
        b"GET / HTTP/1.1",
        b"GET /" + b"a" * 40 + b" HTTP/1.1",
        b"Host: h",
        b"X-A: " + b"b" * 30,
        b" folded",
        b"\tfolded",
        b"Upgrade: websocket",
        b"Bad Name: v",
        b"",
    ]
)
_ENDINGS = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r"])


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(_LINE_PIECES, _ENDINGS), min_size=1, max_size=8))
    data = b"".join(line + end for line, end in lines)
    return data + draw(st.sampled_from([b"\r\n", b"", b"\r\n\x81\x80"]))


class LineScanOnly(RequestReader):
    """The reader with its whole-head scan turned off: every head goes line by line."""

    __slots__ = ()

    def _whole_head(self) -> bytes | None:
        return None


def _outcome(
    parser_name: str, data: bytes, *, fast: bool
) -> tuple[str, Any, bytes] | tuple[str, int, str]:
    kind = RequestReader if fast else LineScanOnly
    reader = kind(LIMITS, choose_head_parser(parser_name))
    reader.feed(data)
    # The line scan alone: the C head parser (when built) must not take the head first.
    previous = None if fast else use_head_implementation("python")
    try:
        head = reader.read_head()
    except HttpError as exc:
        return ("error", exc.status, exc.reason)
    finally:
        if previous is not None:
            use_head_implementation(previous)
    fields = None if head is None else (head.method, head.path, head.headers, head.keep_alive)
    return ("head", fields, bytes(reader.buffer))


@pytest.mark.parametrize("parser_name", ["python", "httptools"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=heads())
def test_whole_head_scan_agrees_with_the_line_scan(parser_name: str, data: bytes) -> None:
    assert _outcome(parser_name, data, fast=True) == _outcome(parser_name, data, fast=False)


def test_whole_head_leaves_what_follows_buffered() -> None:
    reader = RequestReader(HttpLimits(), choose_head_parser("auto"))
    reader.feed(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n\x81")
    first, second = reader.read_head(), reader.read_head()
    assert first is not None and second is not None
    assert (first.path, second.path, bytes(reader.buffer)) == ("/a", "/b", b"\x81")


# --- the timer wheel ------------------------------------------------------------------------


async def test_wheel_timers_never_run_early_and_cancelled_ones_never_run() -> None:
    wheel = TimerWheel(asyncio.get_running_loop(), resolution=0.02)
    fired: list[tuple[str, float]] = []
    done = asyncio.get_running_loop().create_future()
    start = time.monotonic()
    delays = {"a": 0.05, "b": 0.01, "c": 0.03, "last": 0.08}

    def make(name: str) -> Any:
        def run() -> None:
            fired.append((name, time.monotonic()))
            if name == "last":
                done.set_result(None)

        return run

    timers = {name: wheel.call_later(delay, make(name)) for name, delay in delays.items()}
    cancelled = wheel.call_later(0.02, make("cancelled"))
    cancelled.cancel()
    timers["c"].postpone(time.monotonic() + 0.06)
    async with asyncio.timeout(TIMEOUT):
        await done
    names = [name for name, _ in fired]
    assert sorted(names) == ["a", "b", "c", "last"]
    when = dict(fired)
    for name, delay in delays.items():
        if name != "c":
            assert when[name] >= start + delay
    assert when["c"] >= start + 0.06  # postponed, never before its new deadline
    assert names.index("b") < names.index("a")


async def test_cancelled_wheel_timers_are_not_kept_until_their_tick() -> None:
    wheel = TimerWheel(asyncio.get_running_loop())
    timers = [wheel.call_later(60.0, lambda: None) for _ in range(1000)]
    kept = wheel.call_later(60.0, lambda: None)
    assert wheel.pending() == 1001
    for timer in timers:
        timer.cancel()
        timer.cancel()  # twice is harmless
    assert wheel.pending() == 1
    kept.cancel()
    assert wheel.pending() == 0


async def test_a_timer_cancelled_by_another_of_the_same_tick_never_runs() -> None:
    loop = asyncio.get_running_loop()
    wheel = TimerWheel(loop, resolution=0.02)
    ran: list[str] = []
    done = loop.create_future()

    def first() -> None:
        ran.append("first")
        second.cancel()
        loop.call_soon(done.set_result, None)

    wheel.call_later(0.001, first)
    second = wheel.call_later(0.001, lambda: ran.append("second"))
    assert wheel.pending() == 2
    async with asyncio.timeout(TIMEOUT):
        await done
    assert ran == ["first"] and wheel.pending() == 0


async def test_closed_connections_leave_no_timers_behind() -> None:
    async with websock.serve(make_app(Probe()), port=0) as server:
        assert server._state is not None
        async with asyncio.timeout(TIMEOUT):
            for _ in range(20):
                async with websockets.connect(server.url + "/echo") as ws:
                    await ws.send("x")
                    assert await ws.recv() == "x"
            await server._state.wait_drained()
        # Each had a handshake timer, then idle/keepalive timers, all cancelled on close.
        assert server._state.clock.pending() == 0


async def test_wheel_is_the_session_clock_with_monotonic_time() -> None:
    wheel = TimerWheel(asyncio.get_running_loop())
    assert wheel.time is time.monotonic


# --- the app inline, adopted only when it suspends ------------------------------------------

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def test_an_app_that_suspends_is_adopted_and_context_stays_per_request() -> None:
    values: list[str] = []

    async def app(request: websock.Request) -> Any:
        values.append(seen.get())
        seen.set(request.path)  # must not leak into the next request
        if request.path == "/slow":
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(future.set_result, None)
            await future  # really suspends: a task finishes the app
            # A task of its own now: asyncio.timeout() works after the first suspension.
            async with asyncio.timeout(TIMEOUT):
                await asyncio.sleep(0)
        return websock.upgrade(request, Echo(), None)

    async with websock.serve(app, port=0) as server:
        for path in ("/fast", "/slow", "/fast"):
            async with asyncio.timeout(TIMEOUT), websockets.connect(server.url + path) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
    assert values == ["unset", "unset", "unset"]


# --- inspect_handler caching ----------------------------------------------------------------


class Plain(websock.Handler):
    def init(self, arg: Any) -> Result:
        return Ok(arg)

    def handle_in(self, message: Any, state: Any) -> Result:
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Result:
        return Ok(state)


def test_inspection_is_cached_per_object_and_bound_per_instance() -> None:
    one, two = Plain(), Plain()
    first = inspect_handler(one)
    assert inspect_handler(one) is first
    second = inspect_handler(two)
    assert second.init.__self__ is two  # type: ignore[attr-defined]
    assert inspect_handler(one).init.__self__ is one  # type: ignore[attr-defined]
    assert second.handle_control is None and second.terminate is None


def test_per_instance_callbacks_are_not_taken_from_the_class_cache() -> None:
    inspect_handler(Plain())  # the class is cached now

    async def handle_in(message: Any, state: Any) -> Result:
        return Ok(state)

    odd = Plain()
    odd.handle_in = handle_in  # type: ignore[method-assign,assignment]
    callbacks = inspect_handler(odd)
    assert callbacks.handle_in is handle_in and callbacks.in_async


def test_module_handlers_are_inspected_as_modules() -> None:
    module = types.ModuleType("handler_module")

    def init(arg: Any) -> Result:
        return Ok(arg)

    module.init = init  # type: ignore[attr-defined]
    module.handle_in = init  # type: ignore[attr-defined]
    module.handle_info = init  # type: ignore[attr-defined]
    callbacks = inspect_handler(module)
    assert callbacks.init is init and callbacks.name == "handler_module"


# --- reads: plain for small input, into the server's buffer for large payloads ---------------


async def test_large_payloads_switch_to_buffered_reads_and_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection reads with data_received until a large frame's payload is arriving,
    then into the server's buffer (uvloop), then plain again; messages are echoed intact
    either way, in order."""
    from websock.server._connection import HttpConnection, PlainReads

    switches: list[bool] = []
    original = HttpConnection._read_large

    def record(self: HttpConnection, large: bool) -> None:
        if (type(self) is PlainReads) == large:  # a real switch, not a no-op
            switches.append(large)
        original(self, large)

    monkeypatch.setattr(HttpConnection, "_read_large", record)
    big = bytes(range(256)) * 4096  # 1 MiB

    async def app(request: websock.Request) -> websock.Upgrade:
        return websock.upgrade(request, Echo(), None)

    async with (
        asyncio.timeout(TIMEOUT),
        websock.serve(app, port=0) as server,
        websockets.connect(server.url, max_size=None) as ws,
    ):
        for payload in (b"small", big, "text", big[::-1], b"after"):
            await ws.send(payload)
            assert await ws.recv() == payload
        (connection,) = server._state.connections  # type: ignore[union-attr]
        assert type(connection) is PlainReads
    if type(asyncio.get_running_loop()).__module__.startswith("uvloop"):
        # Each large message: into the buffer while it arrives, plain once it is done.
        assert switches == [True, False, True, False]
    else:
        assert switches == []  # asyncio's loops always use get_buffer for this class
