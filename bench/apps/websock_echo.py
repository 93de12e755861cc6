"""The websock app of the benchmark: an echo handler, plus a broadcast handler on /broadcast.

The same ``app`` is served by the built-in server (``websock serve
bench.apps.websock_echo:app``) and by uvicorn through ``websock.adapters.asgi.App``.

Echo: every message comes back unchanged (``Push(message)``), with websock's defaults
(UTF-8 validation, limits, idle timeout, keepalive) left on: the contract is measured whole.

Broadcast (workload e): a subscriber sends ``"sub"`` and gets ``"ok"`` once subscribed to
the topic; a publisher sends ``"pub:<text>"`` and every subscriber receives ``<text>``. On
``/broadcast`` through the fast lane ``websock.PubSub.broadcast_frame``; on
``/broadcast-info`` through ``PubSub.broadcast`` → ``handle_info`` → ``Push``.
"""

from __future__ import annotations

from typing import Any

import websock
from websock.contract.echo import EchoHandler
from websock.handler import Handler
from websock.http import Request
from websock.results import Ok, Push, Result, Text

TOPIC = "bench"


class Broadcast(Handler):
    """Subscribe on "sub"; on "pub:<text>", send <text> to every subscriber.

    ``fast=True`` uses the fast lane (``broadcast_frame``: one frame encoded once, queued
    to every subscriber without waking its handler); otherwise ``broadcast`` delivers the
    message to each subscriber's ``handle_info``, which pushes it.
    """

    def __init__(self, pubsub: Any, *, fast: bool) -> None:
        self.pubsub = pubsub
        self.fast = fast

    def init(self, arg: Any) -> Result:
        return Ok(None)

    def handle_in(self, message: Any, state: Any) -> Result:
        if isinstance(message, Text):
            if message.data == "sub":
                self.pubsub.subscribe(TOPIC)
                return Push(Text("ok"), state)
            if message.data.startswith("pub:"):
                payload = Text(message.data[4:])
                if self.fast:
                    self.pubsub.broadcast_frame(TOPIC, payload)
                else:
                    self.pubsub.broadcast(TOPIC, payload)
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Result:
        return Push(message, state)


ECHO = EchoHandler()
_broadcasts: dict[str, Broadcast] = {}
BROADCAST_PATHS = {"/broadcast": True, "/broadcast-info": False}  # path -> fast lane


def has_pubsub() -> bool:
    return hasattr(websock, "PubSub")


async def app(request: Request) -> Any:
    fast = BROADCAST_PATHS.get(request.path)
    if fast is not None and has_pubsub():
        if not _broadcasts:  # created inside the server's loop, on first use
            pubsub = websock.PubSub()
            _broadcasts.update(
                {path: Broadcast(pubsub, fast=f) for path, f in BROADCAST_PATHS.items()}
            )
        return websock.upgrade(request, _broadcasts[request.path], None)
    return websock.upgrade(request, ECHO, None)
