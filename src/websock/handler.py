"""The handler behaviour (SPEC §1).

A handler is any object with the callbacks as attributes: a module, an instance, or an
instance of a ``Handler`` subclass (which supplies the optional callbacks). Each callback
may be a plain function or an ``async def``; the runtime inspects them once, at upgrade.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, runtime_checkable

from .results import Ok, Ping, Pong, Reason, Result

__all__ = ["Handler", "HandlerProtocol"]


@runtime_checkable
class HandlerProtocol(Protocol):
    """The required callbacks. ``handle_control`` and ``terminate`` are optional."""

    def init(self, arg: Any) -> Any: ...  # Result, or an awaitable of one

    def handle_in(self, message: Any, state: Any) -> Any: ...

    def handle_info(self, message: Any, state: Any) -> Any: ...


class Handler:
    """Base class for handlers: subclass it and define ``init``, ``handle_in`` and
    ``handle_info``; ``handle_control`` and ``terminate`` default to doing nothing.

    One instance may serve many connections at once: keep per-connection data in ``state``.
    """

    def handle_control(self, frame: Ping | Pong, state: Any) -> Result | Awaitable[Result]:
        """Called per inbound ping or pong, after the runtime already answered a ping."""
        return Ok(state)

    def terminate(self, reason: Reason, state: Any) -> Awaitable[None] | None:
        """Called exactly once when the connection ends, whatever ended it."""
