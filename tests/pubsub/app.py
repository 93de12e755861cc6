"""The app of the PubSub tests: served in-process, by ``websock serve`` subprocesses and by
uvicorn (``asgi_app``). ``WEBSOCK_REDIS_URL`` set: the Redis backend; unset: in-process.

A connection to ``/?topic=T`` subscribes to T and is told ``ready:<pid>`` once Redis
applied the subscription. It then understands ``say:<text>`` (broadcast to handle_info),
``frame:<text>`` (the fast lane), ``echo:<text>`` and ``stats``; handle_info pushes
``info:<message>``, or ``resync:<topic>`` for ``websock.pubsub.Resync``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

import websock
from websock import Ok, Push, Text
from websock.adapters.asgi import App
from websock.pubsub import Resync
from websock.results import Result

PUBSUB = websock.PubSub(os.environ.get("WEBSOCK_REDIS_URL") or None)


class Member(websock.Handler):
    """State: the topic."""

    async def init(self, topic: str) -> Result:
        PUBSUB.subscribe(topic)
        await PUBSUB.synced()
        return Push(f"ready:{os.getpid()}", topic)

    def handle_in(self, message: Any, topic: str) -> Result:
        if not isinstance(message, Text):
            return Ok(topic)
        command, _, rest = message.data.partition(":")
        if command == "say":
            PUBSUB.broadcast(topic, rest)
        elif command == "frame":
            PUBSUB.broadcast_frame(topic, rest)
        elif command == "echo":
            return Push(rest, topic)
        elif command == "stats":
            return Push(json.dumps(asdict(PUBSUB.stats)), topic)
        return Ok(topic)

    def handle_info(self, message: Any, topic: str) -> Result:
        if isinstance(message, Resync):
            return Push(f"resync:{message.topic}", topic)
        return Push(f"info:{message}", topic)


class SpecMember(Member):
    """Uses only SPEC names: subscribes in init and answers at once (no ``synced()``)."""

    def init(self, topic: str) -> Result:  # type: ignore[override]
        PUBSUB.subscribe(topic)
        return Push(f"ready:{os.getpid()}", topic)


MEMBER = Member()
SPEC_MEMBER = SpecMember()


async def app(request: websock.Request) -> Any:
    query = parse_qs(request.query_string)
    topic = query.get("topic", ["lobby"])[0]
    compress = query.get("compress", ["0"])[0] == "1"
    handler = SPEC_MEMBER if query.get("spec", ["0"])[0] == "1" else MEMBER
    return websock.upgrade(request, handler, topic, compress=compress, compress_threshold=0)


asgi_app = App(app)
