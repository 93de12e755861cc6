"""Handler shapes (module, plain instance, Handler subclass, class of static methods) and
the contract's misuse errors, reported clearly and never sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.runtime import module_handler
from tests.runtime.handlers import Scripted
from websock import (
    Binary,
    Error,
    Handler,
    HandlerError,
    Ok,
    Ping,
    Pong,
    Push,
    Remote,
    Stop,
    Text,
)
from websock.runtime.callbacks import inspect_handler
from websock.testing import TestClient


async def test_module_handler() -> None:
    module_handler.terminated.clear()
    async with TestClient(module_handler, "mod") as c:
        await c.send("x")
        assert await c.receive() == Text("mod:x")
        await c.send_info("info")
        assert await c.receive() == Text("info")
    assert module_handler.terminated == [Remote(1000, "")]
    callbacks = inspect_handler(module_handler)
    assert callbacks.name == "tests.runtime.module_handler"
    assert callbacks.in_async and not callbacks.init_async
    assert callbacks.handle_control is None


async def test_plain_instance_without_optional_callbacks() -> None:
    class Bare:
        def init(self, arg: Any) -> Any:
            return Ok(0)

        def handle_in(self, message: Any, state: Any) -> Any:
            return Push(message, state + 1)

        def handle_info(self, message: Any, state: Any) -> Any:
            return Ok(state)

    async with TestClient(Bare()) as c:
        await c.send(Ping(b"p"))
        assert await c.receive() == Pong(b"p")
        await c.send(b"bin")
        assert await c.receive() == Binary(b"bin")
        assert c.session.state == 1


async def test_handler_subclass_defaults_are_not_even_called() -> None:
    class Sub(Handler):
        def init(self, arg: Any) -> Any:
            return Ok(None)

        def handle_in(self, message: Any, state: Any) -> Any:
            return Ok(state)

        def handle_info(self, message: Any, state: Any) -> Any:
            return Ok(state)

    callbacks = inspect_handler(Sub())
    assert callbacks.handle_control is None and callbacks.terminate is None
    async with TestClient(Sub()) as c:
        await c.send(Ping(b"still answered"))
        assert await c.receive() == Pong(b"still answered")


async def test_a_class_of_static_methods_is_a_handler() -> None:
    class Static:
        @staticmethod
        def init(arg: Any) -> Any:
            return Ok("s")

        @staticmethod
        async def handle_in(message: Any, state: Any) -> Any:
            return Push(message, state)

        @staticmethod
        def handle_info(message: Any, state: Any) -> Any:
            return Ok(state)

    async with TestClient(Static) as c:
        await c.send("static")
        assert await c.receive() == Text("static")


def test_passing_the_class_instead_of_an_instance_is_explained() -> None:
    with pytest.raises(HandlerError, match=r"pass an instance, Scripted\(\)"):
        inspect_handler(Scripted)


@pytest.mark.parametrize("missing", ["init", "handle_in", "handle_info"])
def test_missing_required_callback_is_named(missing: str) -> None:
    class Partial:
        pass

    handler = Partial()
    for name in {"init", "handle_in", "handle_info"} - {missing}:
        setattr(handler, name, lambda *args: Ok(None))
    with pytest.raises(HandlerError, match=f"has no {missing}"):
        inspect_handler(handler)


def test_non_callable_callback() -> None:
    class Odd(Scripted):
        handle_control = 42  # type: ignore[assignment]

    with pytest.raises(HandlerError, match="handle_control is not callable"):
        inspect_handler(Odd())


# -- misuse inside callbacks: never sent, reported as handler errors (1011) ---------------------

# Deliberately ill-typed: these are the mistakes the runtime must catch.
MISUSE: dict[str, Callable[[Any], Any]] = {
    "close_code_1005": lambda s: Stop(s, code=1005),
    "close_code_999": lambda s: Stop(s, code=999),
    "close_code_5000": lambda s: Stop(s, code=5000),
    "close_code_1015": lambda s: Stop(s, code=1015),
    "close_code_not_int": lambda s: Stop(s, code="1000"),  # type: ignore[arg-type]
    "reason_124_bytes": lambda s: Stop(s, code=1000, message="x" * 124),
    "reason_multibyte_over_123": lambda s: Stop(s, message="é" * 62),
    "ping_126_bytes": lambda s: Push(Ping(b"x" * 126), s),
    "pong_126_bytes": lambda s: Push([Pong(b"x" * 126)], s),
    "bad_frame_in_list": lambda s: Push(["fine", 42], s),  # type: ignore[list-item]
    "bad_frame_alone": lambda s: Push(3.14, s),  # type: ignore[arg-type]
    "bad_frame_dict": lambda s: Push({"type": "text"}, s),  # type: ignore[arg-type]
    "bad_stop_frames": lambda s: Stop(s, frames=[None]),  # type: ignore[list-item]
    "none_result": lambda s: None,
    "elixir_tuple": lambda s: ("push", "x", s),
    "bare_string": lambda s: "hello",
}


@pytest.mark.parametrize("misuse", list(MISUSE))
async def test_misuse_is_a_clear_handler_error_and_nothing_is_sent(misuse: str) -> None:
    handler = Scripted({"handle_in": lambda m, s: MISUSE[misuse](s)})
    async with TestClient(handler) as c:
        await c.send("x")
        await c.wait_closed()
        assert c.server_close_frame == (1011, "")
        assert c.receive_nowait() is None  # e.g. "fine" was not sent before the bad frame
        reason = c.terminate_reason
        assert isinstance(reason, Error) and isinstance(reason.reason, HandlerError)
    assert handler.terminated == [(reason, 0)]


async def test_misuse_messages_cite_the_rule() -> None:
    cases = {
        "close_code_1005": "RFC 6455 §7.4",
        "reason_124_bytes": "RFC 6455 §5.5.1",
        "ping_126_bytes": "RFC 6455 §5.5",
        "bad_frame_in_list": "cannot push 42",
        "elixir_tuple": "Elixir-style tuples",
        "none_result": "returned None",
    }
    for misuse, text in cases.items():
        handler = Scripted({"handle_in": lambda m, s, misuse=misuse: MISUSE[misuse](s)})
        async with TestClient(handler) as c:
            await c.send("x")
            await c.wait_closed()
            assert isinstance(c.terminate_reason, Error)
            assert text in str(c.terminate_reason.reason), misuse


async def test_result_subclasses_are_accepted() -> None:
    class MyPush(Push):
        pass

    handler = Scripted({"handle_in": lambda m, s: MyPush("sub", s)})
    async with TestClient(handler) as c:
        await c.send("x")
        assert await c.receive() == Text("sub")
