"""Every callback x every result variant, with sync, async and really-suspending callbacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.runtime.handlers import MODES, scripted
from websock import (
    Binary,
    Error,
    Normal,
    Ok,
    Ping,
    Pong,
    Push,
    Stop,
    Text,
)
from websock.results import Reason
from websock.testing import TestClient

CALLBACKS = ("init", "handle_in", "handle_control", "handle_info")


@dataclass(frozen=True)
class Variant:
    result: Callable[[Any], Any]  # state → result
    frames: list[Any]  # what the client receives, in order
    close: tuple[int, str] | None = None  # the server's close frame
    reason: Reason | None = None  # terminate's reason


VARIANTS: dict[str, Variant] = {
    "push_single": Variant(lambda s: Push(Text("a"), s), [Text("a")]),
    "push_sequence": Variant(
        lambda s: Push([Text("a"), Binary(b"b"), "c", b"d", Ping(b"p")], s),
        [Text("a"), Binary(b"b"), Text("c"), Binary(b"d"), Ping(b"p")],
    ),
    "push_tuple": Variant(lambda s: Push(("a", "b"), s), [Text("a"), Text("b")]),
    "push_str": Variant(lambda s: Push("héllo", s), [Text("héllo")]),
    "push_bytes": Variant(lambda s: Push(b"\x00\x01", s), [Binary(b"\x00\x01")]),
    "push_bytearray": Variant(lambda s: Push(bytearray(b"ba"), s), [Binary(b"ba")]),
    "push_memoryview": Variant(lambda s: Push(memoryview(b"mv"), s), [Binary(b"mv")]),
    "push_binary": Variant(lambda s: Push(Binary(b"x"), s), [Binary(b"x")]),
    "push_pong": Variant(lambda s: Push(Pong(b"unsolicited"), s), [Pong(b"unsolicited")]),
    "push_empty": Variant(lambda s: Push([], s), []),
    "ok": Variant(lambda s: Ok(s), []),
    "stop_default": Variant(lambda s: Stop(s), [], (1000, ""), Normal()),
    "stop_normal": Variant(lambda s: Stop(s, "normal"), [], (1000, ""), Normal()),
    "stop_restart": Variant(lambda s: Stop(s, "restart"), [], (1012, ""), Normal()),
    "stop_other": Variant(lambda s: Stop(s, "boom"), [], (1011, ""), Error("boom")),
    "stop_other_object": Variant(lambda s: Stop(s, ("db", 42)), [], (1011, ""), Error(("db", 42))),
    "stop_code_message": Variant(
        lambda s: Stop(s, "normal", code=4000, message="bye"), [], (4000, "bye"), Normal()
    ),
    "stop_other_with_code": Variant(
        lambda s: Stop(s, "kicked", code=1008, message="kicked"),
        [],
        (1008, "kicked"),
        Error("kicked"),
    ),
    "stop_message_only": Variant(
        lambda s: Stop(s, "normal", message="done"), [], (1000, "done"), Normal()
    ),
    "stop_with_frames": Variant(
        lambda s: Stop(s, "normal", frames=["last", Binary(b"words")]),
        [Text("last"), Binary(b"words")],
        (1000, ""),
        Normal(),
    ),
    "stop_with_single_frame": Variant(
        lambda s: Stop(s, "restart", code=4001, frames="bye"), [Text("bye")], (4001, ""), Normal()
    ),
}


async def trigger(client: TestClient, callback: str) -> None:
    """Make the session call ``callback`` (init already ran on entry)."""
    if callback == "handle_in":
        await client.send("go")  # handle_in gets Text("go")
    elif callback == "handle_control":
        await client.send(Ping(b"go"))
        # The runtime answered the ping before handle_control ran (SPEC §1).
        assert await client.receive() == Pong(b"go")
    elif callback == "handle_info":
        await client.send_info("go")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("callback", CALLBACKS)
async def test_callback_result(callback: str, variant: str, mode: str) -> None:
    spec = VARIANTS[variant]
    script: dict[str, Callable[..., Any]]
    if callback == "init":
        script = {"init": lambda arg: spec.result(arg)}
    else:
        # Only the trigger: the client's automatic pong to a pushed Ping must not loop.
        script = {
            callback: lambda message, state: (
                spec.result(state + 1) if message in ("go", Text("go"), Ping(b"go")) else Ok(state)
            )
        }
    handler = scripted(mode, script)
    async with TestClient(handler, 41 if callback == "init" else None, ping_interval=None) as c:
        await trigger(c, callback)
        for expected in spec.frames:
            assert await c.receive() == expected
        await c.assert_no_push()
        if spec.close is None:
            assert not c.closed
            assert c.session.state == (41 if callback == "init" else 1)
            assert handler.terminated == []
        else:
            await c.wait_closed()
            assert c.server_close_frame == spec.close
            assert c.close_code == spec.close[0]
            assert c.close_message == spec.close[1]
            assert c.terminate_reason == spec.reason
            # terminate gets the state the stopping callback returned, exactly once
            assert handler.terminated == [(spec.reason, 41 if callback == "init" else 1)]
    if spec.close is None:  # leaving the block closed it from the client side
        assert [r for r, _ in handler.terminated] == [c.terminate_reason]


@pytest.mark.parametrize("mode", MODES)
async def test_handle_in_gets_text_and_binary(mode: str) -> None:
    handler = scripted(mode, {"handle_in": lambda m, s: Push(m, s)})
    async with TestClient(handler) as c:
        await c.send("text")
        await c.send(b"bin")
        await c.send(Text("T"))
        await c.send(Binary(b"B"))
        assert [await c.receive() for _ in range(4)] == [
            Text("text"),
            Binary(b"bin"),
            Text("T"),
            Binary(b"B"),
        ]
    assert [args[0] for name, args in handler.calls if name == "handle_in"] == [
        Text("text"),
        Binary(b"bin"),
        Text("T"),
        Binary(b"B"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_state_threads_through_callbacks(mode: str) -> None:
    handler = scripted(
        mode,
        {
            "init": lambda arg: Ok([arg]),
            "handle_in": lambda m, s: Push(repr(s), [*s, m.data]),
            "handle_info": lambda m, s: Push(repr(s), [*s, m]),
            "handle_control": lambda f, s: Ok([*s, f]),
        },
    )
    async with TestClient(handler, "arg", ping_interval=None) as c:
        await c.send("a")
        assert await c.receive() == Text("['arg']")
        await c.send_info("b")
        assert await c.receive() == Text("['arg', 'a']")
        await c.send(Pong(b"p"))
        await c.send("c")
        assert await c.receive() == Text("['arg', 'a', 'b', Pong(data=b'p')]")
        await c.close()
    assert handler.terminated[-1][1] == ["arg", "a", "b", Pong(b"p"), "c"]


async def test_handle_control_gets_pings_and_pongs_after_the_pong_went_out() -> None:
    seen: list[tuple[Any, int]] = []
    client: TestClient

    def control(frame: Any, state: Any) -> Any:
        # The pong for a ping is already flushed when handle_control runs.
        seen.append((frame, client.flushes))
        return Ok(state)

    handler = scripted("sync", {"handle_control": control})
    async with TestClient(handler, ping_interval=None) as client:
        before = client.flushes
        await client.send(Ping(b"1"))
        assert await client.receive() == Pong(b"1")
        await client.send(Pong(b"2"))
        await client.assert_no_push()
    assert [frame for frame, _ in seen] == [Ping(b"1"), Pong(b"2")]
    assert seen[0][1] == before  # handle_control ran inside the same unit of work


async def test_ping_is_answered_even_without_handle_control() -> None:
    class Minimal:
        def init(self, arg: Any) -> Any:
            return Ok(None)

        def handle_in(self, message: Any, state: Any) -> Any:
            return Ok(state)

        def handle_info(self, message: Any, state: Any) -> Any:
            return Ok(state)

    async with TestClient(Minimal()) as c:
        await c.send(Ping(b"x" * 125))
        assert await c.receive() == Pong(b"x" * 125)
        assert c.stats.pings_in == 1
