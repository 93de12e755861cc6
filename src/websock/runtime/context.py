"""``websock.connection()``: the handle of the connection whose callback is running.

The session sets a ContextVar around every callback; tasks a callback starts inherit it
(asyncio copies the context), so ``connection()`` also works inside them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

from ..exceptions import HandlerError
from .handle import ConnectionHandle

__all__ = ["connection"]

current: Final[ContextVar[ConnectionHandle]] = ContextVar("websock.connection")


def connection() -> ConnectionHandle:
    """The current connection's handle; only inside a handler callback (or a task it started)."""
    try:
        return current.get()
    except LookupError:
        raise HandlerError(
            "websock.connection() was called outside a handler callback: call it inside "
            "init/handle_in/handle_control/handle_info/terminate (or a task they started) "
            "and keep the handle to use it elsewhere"
        ) from None
