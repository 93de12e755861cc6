"""A handler written as a module (SPEC §1): module-level callbacks, one async."""

from __future__ import annotations

from typing import Any

from websock import Ok, Push, Text
from websock.results import Reason

terminated: list[Reason] = []


def init(arg: Any) -> Any:
    return Ok(arg)


async def handle_in(message: Text, state: Any) -> Any:
    return Push(f"{state}:{message.data}", state)


def handle_info(message: Any, state: Any) -> Any:
    return Push(message, state)


def terminate(reason: Reason, state: Any) -> None:
    terminated.append(reason)
