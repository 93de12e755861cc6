"""Echo server: every message comes back; "bye" ends the connection with a goodbye.

    websock serve examples.echo:app --port 8000

then connect a client to ws://127.0.0.1:8000/ws (any path but "/" upgrades).
"""

from __future__ import annotations

from typing import Any

import websock
from websock import Ok, Push, Stop, Text


class Echo(websock.Handler):
    """State: how many messages this connection echoed."""

    def init(self, arg: Any) -> Ok:
        return Ok(0)

    def handle_in(self, message: Any, count: int) -> Push | Stop:
        if message == Text("bye"):
            return Stop(count, code=1000, message="see you")
        return Push(message, count + 1)

    def handle_info(self, message: Any, count: int) -> Push:
        # websock.connection().send(...) from anywhere lands here.
        return Push(str(message), count)


handler = Echo()


async def app(request: websock.Request) -> websock.Upgrade | websock.Response:
    if request.path == "/":
        return websock.Response(200, {"content-type": "text/plain"}, "echo: connect to /ws\n")
    return websock.upgrade(request, handler, None, compress=True)
