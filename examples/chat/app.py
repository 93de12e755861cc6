"""A chat with rooms: one websock app serves the page (GET /) and the socket (/ws).

    websock demo                       # or: websock serve examples.chat.app:app

Each connection joins ``/ws?room=...&name=...``: it subscribes to the room's topic on
``websock.PubSub`` and every message is broadcast to the members' ``handle_info``, which
pushes it to their browsers. With ``WEBSOCK_REDIS_URL`` set, rooms span processes and
machines (users on different workers chat together)::

    WEBSOCK_REDIS_URL=redis://localhost:6379/0 websock serve examples.chat.app:app --workers 4

The "online" list of the welcome names the members connected to the same process.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import websock
from websock import Ok, Push, Stop, Text
from websock.pubsub import PubSub

PAGE = (Path(__file__).parent / "index.html").read_bytes()
MAX_NAME = 32
MAX_TEXT = 2000


class Rooms:
    """room name → {connection handle: member name} of this process (the welcome's list)."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[Any, str]] = {}

    def join(self, room: str, handle: Any, name: str) -> list[str]:
        members = self.rooms.setdefault(room, {})
        members[handle] = name
        return sorted(members.values())

    def leave(self, room: str, handle: Any) -> None:
        members = self.rooms.get(room, {})
        members.pop(handle, None)
        if not members:
            self.rooms.pop(room, None)


class Chat(websock.Handler):
    """State: ``(room, name, me)``; ``me`` tells a member's own join event apart.

    Room messages travel as lists (``["say", name, text]``): PubSub's Redis backend
    carries them as JSON, and sequence patterns match lists and tuples alike.
    """

    def __init__(self, rooms: Rooms, pubsub: PubSub) -> None:
        self.rooms = rooms
        self.pubsub = pubsub

    def init(self, arg: tuple[str, str]) -> Push:
        room, name = arg
        me = uuid.uuid4().hex
        members = self.rooms.join(room, websock.connection(), name)
        self.pubsub.subscribe(_topic(room))
        self.pubsub.broadcast(_topic(room), ["joined", name, me])
        return Push(_event("welcome", room=room, name=name, members=members), (room, name, me))

    def handle_in(self, message: Any, state: tuple[str, str, str]) -> Ok | Stop:
        if not isinstance(message, Text):
            return Stop(state, code=1003, message="text messages only")
        text = message.data.strip()
        if len(text) > MAX_TEXT:
            return Stop(state, code=1009, message="message too long")
        if text:
            room, name, _ = state
            self.pubsub.broadcast(_topic(room), ["say", name, text])
        return Ok(state)

    def handle_info(self, message: Any, state: tuple[str, str, str]) -> Push | Ok:
        match message:
            case ["say", name, text]:
                return Push(_event("message", name=name, text=text), state)
            case ["joined", name, sender] if sender != state[2]:
                return Push(_event("joined", name=name), state)
            case ["left", name]:
                return Push(_event("left", name=name), state)
        return Ok(state)  # our own join, or websock.pubsub.Resync after a Redis outage

    def terminate(self, reason: Any, state: tuple[str, str, str] | None) -> None:
        if state is None:
            return
        room, name, _ = state
        self.rooms.leave(room, websock.connection())
        self.pubsub.broadcast(_topic(room), ["left", name])


def _topic(room: str) -> str:
    return f"chat:{room}"


def _event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


rooms = Rooms()
# In-process by default; set WEBSOCK_REDIS_URL to chat across processes and machines.
pubsub = PubSub(os.environ.get("WEBSOCK_REDIS_URL") or None)
chat = Chat(rooms, pubsub)


async def app(request: websock.Request) -> Any:
    if request.path == "/" and request.method == "GET":
        headers = {"content-type": "text/html; charset=utf-8", "cache-control": "no-cache"}
        return websock.Response(200, headers, PAGE)
    if request.path == "/ws":
        query = parse_qs(request.query_string)
        room = query.get("room", ["lobby"])[0].strip()
        name = query.get("name", [""])[0].strip()
        if not (0 < len(room) <= MAX_NAME and 0 < len(name) <= MAX_NAME):
            body = "need ?room=...&name=..., 1-32 characters each\n"
            return websock.Response(400, {"content-type": "text/plain"}, body)
        return websock.upgrade(request, chat, (room, name), compress=True)
    return websock.Response(404, {"content-type": "text/plain"}, "not found\n")
