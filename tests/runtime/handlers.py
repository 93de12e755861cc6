"""Handlers for the runtime tests: scripted results, recorded calls, sync or async."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websock import Handler, Ok
from websock.results import Reason

#: How a scripted handler's callbacks run: plain functions, ``async def`` that finish
#: without suspending, or ``async def`` that really suspend (adopted into a task).
MODES = ("sync", "async", "suspending")

Script = dict[str, Callable[..., Any]]


class Scripted(Handler):
    """Returns ``script[name](*args)`` from each callback (default ``Ok(state)``) and
    records every call; ``terminated`` collects terminate's (reason, state)."""

    def __init__(self, script: Script | None = None, initial: Any = 0) -> None:
        self.script = script or {}
        self.initial = initial
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.terminated: list[tuple[Reason, Any]] = []

    def _run(self, name: str, *args: Any) -> Any:
        self.calls.append((name, args))
        fn = self.script.get(name)
        if fn is not None:
            return fn(*args)
        return Ok(self.initial if name == "init" else args[-1])

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def init(self, arg: Any) -> Any:
        return self._run("init", arg)

    def handle_in(self, message: Any, state: Any) -> Any:
        return self._run("handle_in", message, state)

    def handle_control(self, frame: Any, state: Any) -> Any:
        return self._run("handle_control", frame, state)

    def handle_info(self, message: Any, state: Any) -> Any:
        return self._run("handle_info", message, state)

    def terminate(self, reason: Reason, state: Any) -> None:
        self.calls.append(("terminate", (reason, state)))
        self.terminated.append((reason, state))


class AsyncScripted(Scripted):
    """The same callbacks as ``async def``; ``suspend`` makes each one really suspend."""

    def __init__(self, script: Script | None = None, initial: Any = 0, *, suspend: bool) -> None:
        super().__init__(script, initial)
        self.suspend = suspend

    async def _pause(self) -> None:
        if self.suspend:
            await asyncio.sleep(0)

    async def init(self, arg: Any) -> Any:
        await self._pause()
        return self._run("init", arg)

    async def handle_in(self, message: Any, state: Any) -> Any:
        await self._pause()
        return self._run("handle_in", message, state)

    async def handle_control(self, frame: Any, state: Any) -> Any:
        await self._pause()
        return self._run("handle_control", frame, state)

    async def handle_info(self, message: Any, state: Any) -> Any:
        await self._pause()
        return self._run("handle_info", message, state)

    async def terminate(self, reason: Reason, state: Any) -> None:  # type: ignore[override]
        await self._pause()
        super().terminate(reason, state)


def scripted(mode: str, script: Script | None = None, initial: Any = 0) -> Scripted:
    if mode == "sync":
        return Scripted(script, initial)
    return AsyncScripted(script, initial, suspend=mode == "suspending")
