"""The contract app: one SPEC-only app and handler that every host serves in the suite.

The client drives it with text commands (``!name``); anything else is echoed. Query
parameters choose the connection's options and identity:

    id       connection id for the recorder     rec      recorder port (see recorder.py)
    mode     init behaviour: push|stop|raise|async   proto    subprotocol to choose
    compress 1 = permessage-deflate                timeout  idle timeout (seconds)
    max      max_message_size                    ping     keepalive ping interval

The path decides: ``/ws`` upgrades, ``/deny`` answers 401 with a header and a body,
anything else 404. ``terminate`` reports the reason to the recorder, so the test can
assert it whichever process the host runs in.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from urllib.parse import parse_qs

from ..handler import Handler
from ..http import Request, Response
from ..results import (
    Binary,
    Error,
    Ok,
    Ping,
    Pong,
    Push,
    Reason,
    Remote,
    Result,
    Stop,
    Text,
)
from .recorder import report

__all__ = [
    "DENIAL",
    "AsyncContractHandler",
    "ContractHandler",
    "app",
    "asgi_app",
    "decide",
    "describe_reason",
]

#: What ``/deny`` answers: a status the ASGI fallback (403) cannot fake.
DENIAL = Response(
    401,
    [("www-authenticate", 'Bearer realm="contract"'), ("content-type", "text/plain")],
    "token required",
)


def describe_reason(reason: Reason) -> dict[str, Any]:
    """A terminate reason as JSON: ``{"kind": "Remote", "code": 4002, "message": "..."}``."""
    out: dict[str, Any] = {"kind": type(reason).__name__}
    if isinstance(reason, Remote):
        out.update(code=reason.code, message=reason.message)
    elif isinstance(reason, Error):
        detail = reason.reason
        out["detail"] = detail if isinstance(detail, str) else type(detail).__name__
        code = getattr(detail, "code", None)
        if isinstance(code, int):
            out["code"] = code
    return out


def _connection() -> Any:
    import websock

    return websock.connection()


class ContractHandler(Handler):
    """Sync callbacks. ``state`` is a dict: the arg plus the control frames seen."""

    def init(self, arg: dict[str, Any]) -> Result:
        state = {**arg, "control": []}
        mode = arg.get("mode")
        if mode == "push":
            return Push([Text("welcome"), Binary(b"\x00\x01")], state)
        if mode == "stop":
            return Stop(state, code=4000, message="init says no")
        if mode == "raise":
            raise RuntimeError("init failed on purpose")
        return Ok(state)

    def handle_in(self, message: Text | Binary, state: dict[str, Any]) -> Any:
        if isinstance(message, Binary) or not message.data.startswith("!"):
            return Push(message, state)
        command, _, rest = message.data[1:].partition(" ")
        match command:
            case "push3":
                return Push(["one", b"two", Text("three")], state)
            case "stop":
                return Stop(state)
            case "restart":
                return Stop(state, "restart")
            case "stop_custom":
                return Stop(state, code=4001, message="custom bye")
            case "stop_error":
                return Stop(state, "boom")
            case "stop_frames":
                return Stop(state, frames=["last words", b"\xff"])
            case "raise":
                raise ValueError("handle_in failed on purpose")
            case "bad_result":
                return "not a result"
            case "lone_surrogate":
                return Push("\ud800", state)  # no UTF-8 can carry it: a handler error
            case "info_task":
                handle = _connection()

                async def later() -> None:
                    handle.send("from-task")

                state.setdefault("tasks", set()).add(asyncio.ensure_future(later()))
                return Ok(state)
            case "info_thread":
                handle = _connection()
                thread = threading.Thread(target=handle.send, args=("from-thread",))
                thread.start()
                return Ok(state)
            case "ping":
                return Push([Ping(b"srv"), Text("after-ping")], state)
            case "control":
                seen = ",".join(state["control"])
                return Push(Text(f"control:{seen}"), state)
            case "flood":
                count, size = (int(x) for x in rest.split())
                return Push([bytes([i % 256]) * size for i in range(count)], state)
            case _:
                return Push(Text(f"unknown command {command}"), state)

    def handle_control(self, frame: Ping | Pong, state: dict[str, Any]) -> Result:
        name = "ping" if isinstance(frame, Ping) else "pong"
        state["control"].append(f"{name}:{frame.data.decode('latin-1')}")
        if isinstance(frame, Pong) and frame.data == b"srv":
            return Push(Text("pong-seen"), state)
        return Ok(state)

    def handle_info(self, message: Any, state: dict[str, Any]) -> Result:
        return Push(Text(str(message)), state)

    def terminate(self, reason: Reason, state: dict[str, Any]) -> None:
        port = state.get("rec")
        if port:
            report(int(port), {"id": state["id"], **describe_reason(reason)})


class AsyncContractHandler(ContractHandler):
    """The same behaviour through coroutine callbacks that really suspend."""

    async def init(self, arg: dict[str, Any]) -> Result:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().init(arg)

    async def handle_in(self, message: Text | Binary, state: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        return super().handle_in(message, state)

    async def handle_info(self, message: Any, state: dict[str, Any]) -> Result:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().handle_info(message, state)


SYNC_HANDLER = ContractHandler()
ASYNC_HANDLER = AsyncContractHandler()


def decide(request: Request) -> Response | tuple[Any, dict[str, Any], dict[str, Any]]:
    """The app's decision: a ``Response``, or ``(handler, arg, upgrade options)``."""
    if request.path == "/deny":
        return DENIAL
    if request.path != "/ws":
        return Response(404, [("content-type", "text/plain")], "no such endpoint")
    query = {k: v[-1] for k, v in parse_qs(request.query_string).items()}
    arg = {"id": query.get("id", ""), "rec": query.get("rec"), "mode": query.get("mode")}
    options: dict[str, Any] = {"headers": [("x-contract", "yes")], "ping_interval": None}
    if "proto" in query:
        options["subprotocol"] = query["proto"]
    if query.get("compress") == "1":
        options["compress"] = True
    if "timeout" in query:
        options["timeout"] = float(query["timeout"])
    if "max" in query:
        options["max_message_size"] = int(query["max"])
        # max_frame_size counts the header too: up to 14 bytes (RFC 6455 §5.2).
        options["max_frame_size"] = int(query["max"]) + 14
    if "ping" in query:
        options["ping_interval"] = float(query["ping"])
    handler = ASYNC_HANDLER if query.get("mode") == "async" else SYNC_HANDLER
    return handler, arg, options


async def app(request: Request) -> Any:
    """The contract app itself (SPEC §2): ``Response`` or ``websock.upgrade(...)``."""
    import websock

    decision = decide(request)
    if isinstance(decision, Response):
        return decision
    handler, arg, options = decision
    return websock.upgrade(request, handler, arg, **options)


def _make_asgi_app() -> Any:
    from ..adapters.asgi import App

    return App(app)


#: The contract app as an ASGI application, for servers started by import path.
asgi_app = _make_asgi_app()
