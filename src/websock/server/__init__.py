"""The built-in server: ``serve(app, host, port)`` hosts a websock app natively (SPEC §2).

asyncio ``BufferedProtocol`` per connection (uvloop when the CLI finds it), strict HTTP/1.1
request parsing with limits, TLS, graceful shutdown; ``websock serve module:app`` is the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._limits import HttpLimits

if TYPE_CHECKING:
    from ._server import Server, serve

__all__ = ["HttpLimits", "Server", "serve"]


def __getattr__(name: str) -> Any:
    # Lazy, so the HTTP parsing modules import without the runtime (and `import websock`
    # stays cheap for hosts that never start the built-in server).
    if name in ("Server", "serve"):
        from . import _server

        return getattr(_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
