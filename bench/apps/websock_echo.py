"""The websock app of the benchmark: an echo handler, plus a broadcast handler on /broadcast.

The same ``app`` is served by the built-in server (``websock serve
bench.apps.websock_echo:app``) and by uvicorn through ``websock.adapters.asgi.App``.

Echo: every message comes back unchanged (``Push(message)``), with websock's defaults
(UTF-8 validation, limits, idle timeout, keepalive) left on: the contract is measured whole.

Broadcast (workload e): a subscriber sends ``"sub"`` and gets ``"ok"`` once subscribed to
the topic; a publisher sends ``"pub:<text>"`` and every subscriber receives ``<text>`` through
``websock.PubSub.broadcast`` → ``handle_info`` → ``Push``.
"""

from __future__ import annotations

import inspect
from typing import Any

import websock
from websock.handler import Handler
from websock.http import Request
from websock.results import Ok, Push, Result, Text

TOPIC = "bench"


class Echo(Handler):
    def init(self, arg: Any) -> Result:
        return Ok(None)

    def handle_in(self, message: Any, state: Any) -> Result:
        return Push(message, state)

    def handle_info(self, message: Any, state: Any) -> Result:
        return Ok(state)


class Broadcast(Handler):
    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub

    def init(self, arg: Any) -> Result:
        return Ok(None)

    async def handle_in(self, message: Any, state: Any) -> Result:
        if isinstance(message, Text):
            if message.data == "sub":
                await _maybe_await(self.pubsub.subscribe(TOPIC))
                return Push(Text("ok"), state)
            if message.data.startswith("pub:"):
                await _maybe_await(self.pubsub.broadcast(TOPIC, Text(message.data[4:])))
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Result:
        return Push(message, state)


async def _maybe_await(value: Any) -> None:
    # PubSub calls may be plain or coroutine functions; the benchmark accepts either.
    if inspect.isawaitable(value):
        await value


ECHO = Echo()
_broadcast: Broadcast | None = None


def has_pubsub() -> bool:
    return hasattr(websock, "PubSub")


async def app(request: Request) -> Any:
    global _broadcast
    if request.path == "/broadcast" and has_pubsub():
        if _broadcast is None:  # created inside the server's loop, on first use
            _broadcast = Broadcast(websock.PubSub())
        return websock.upgrade(request, _broadcast, None)
    return websock.upgrade(request, ECHO, None)
