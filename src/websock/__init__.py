"""websock: one WebSocket handler contract for Python ("Plug for WebSockets").

The public API is exactly the names in ``__all__`` (SPEC.md). Names that need asyncio or
an optional part (``connection``, ``serve``, ``PubSub``, ``testing``, ``Session``-side
types) are imported lazily on first use, so ``import websock`` and the sans-I/O core
(``websock.protocol``) never import asyncio or any host library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .exceptions import (
    ConnectionClosed,
    HandlerError,
    MailboxFull,
    ProtocolError,
    UpgradeError,
    WebSockError,
)
from .handler import Handler
from .http import Headers, Request, Response
from .options import Options
from .results import (
    Binary,
    Error,
    Normal,
    Ok,
    Ping,
    Pong,
    Push,
    Remote,
    Shutdown,
    Stop,
    Text,
    Timeout,
)

# Bound eagerly (it is stdlib-only): the submodule is also called ``upgrade``, and
# binding the function here keeps ``websock.upgrade`` the function whoever imports first.
from .upgrade import Upgrade, upgrade

if TYPE_CHECKING:
    from . import testing
    from .pubsub import PubSub
    from .runtime.context import connection
    from .runtime.handle import ConnectionHandle
    from .server import serve

__all__ = [
    "Binary",
    "ConnectionClosed",
    "ConnectionHandle",
    "Error",
    "Handler",
    "HandlerError",
    "Headers",
    "MailboxFull",
    "Normal",
    "Ok",
    "Options",
    "Ping",
    "Pong",
    "ProtocolError",
    "PubSub",
    "Push",
    "Remote",
    "Request",
    "Response",
    "Shutdown",
    "Stop",
    "Text",
    "Timeout",
    "Upgrade",
    "UpgradeError",
    "WebSockError",
    "connection",
    "serve",
    "testing",
    "upgrade",
]

__version__ = "0.1.0"

# name → (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "connection": ("websock.runtime.context", "connection"),
    "ConnectionHandle": ("websock.runtime.handle", "ConnectionHandle"),
    "serve": ("websock.server", "serve"),
    "PubSub": ("websock.pubsub", "PubSub"),
    "testing": ("websock.testing", None),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'websock' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
