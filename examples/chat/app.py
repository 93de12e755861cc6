"""A chat with rooms: one websock app serves the page (GET /) and the socket (/ws).

    websock demo                       # or: websock serve examples.chat.app:app

Each connection joins ``/ws?room=...&name=...``. Rooms are an in-process registry of
connection handles; a message is fanned out with ``handle.send()`` to every member's
``handle_info``, which pushes it to that member's browser. (``websock.PubSub`` does the
same across processes.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import websock
from websock import Ok, Push, Stop, Text

PAGE = (Path(__file__).parent / "index.html").read_bytes()
MAX_NAME = 32
MAX_TEXT = 2000


class Rooms:
    """room name → {connection handle: member name}; lives on the server's event loop."""

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

    def send(self, room: str, message: Any, *, skip: Any = None) -> None:
        for handle in list(self.rooms.get(room, {})):
            if handle is not skip and not handle.closed:
                handle.send(message)


class Chat(websock.Handler):
    """State: ``(room, name)``."""

    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms

    def init(self, arg: tuple[str, str]) -> Push:
        room, name = arg
        handle = websock.connection()
        members = self.rooms.join(room, handle, name)
        self.rooms.send(room, ("joined", name), skip=handle)
        return Push(_event("welcome", room=room, name=name, members=members), arg)

    def handle_in(self, message: Any, state: tuple[str, str]) -> Ok | Stop:
        if not isinstance(message, Text):
            return Stop(state, code=1003, message="text messages only")
        text = message.data.strip()
        if len(text) > MAX_TEXT:
            return Stop(state, code=1009, message="message too long")
        if text:
            room, name = state
            self.rooms.send(room, ("say", name, text))
        return Ok(state)

    def handle_info(self, message: Any, state: tuple[str, str]) -> Push | Ok:
        match message:
            case ("say", name, text):
                return Push(_event("message", name=name, text=text), state)
            case ("joined" | "left" as kind, name):
                return Push(_event(kind, name=name), state)
        return Ok(state)

    def terminate(self, reason: Any, state: tuple[str, str] | None) -> None:
        if state is None:
            return
        room, name = state
        handle = websock.connection()
        self.rooms.leave(room, handle)
        self.rooms.send(room, ("left", name))


def _event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


rooms = Rooms()
chat = Chat(rooms)


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
