"""Apps and handlers the server tests serve, in-process and through ``websock serve``.

Routes of ``app``:
    /            200 text page            /deny     403 from the app
    /echo        echo handler             /raise    the app raises (→ 500)
    /probe       scripted handler         /garbage  the app returns a non-result (→ 500)
    /idle        echo, idle timeout 0.3 s and no keepalive
    /keepalive   echo, ping every 0.2 s, pong timeout 0.3 s, no idle timeout
    /big         echo with 16 MiB limits
    /slow        echo from an async handle_in that suspends
Query ``compress=1`` turns permessage-deflate on; /probe takes ``timeout``,
``ping_interval``, ``ping_timeout``, ``max_message_size``, ``max_write_buffer`` and
``mailbox_size`` from the query too.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import websock
from websock import Binary, Ok, Push, Stop, Text

MiB = 1 << 20


class Echo(websock.Handler):
    def init(self, arg: Any) -> Ok:
        return Ok(0)

    def handle_in(self, message: Any, count: int) -> Push | Stop:
        if message == Text("bye"):
            return Stop(count, code=1000, message="see you")
        return Push(message, count + 1)

    def handle_info(self, message: Any, count: int) -> Push:
        return Push(str(message), count)


class Probe(websock.Handler):
    """Does what each text message says; records how every connection ended.

    ``stop`` (1000), ``restart`` (1012), ``code 4321 text`` (a custom close),
    ``fail`` (Stop with an abnormal reason → 1011), ``raise`` (handle_in raises → 1011),
    ``bad`` (a non-result → 1011), ``ping`` (push a Ping), ``frames`` (push three frames),
    ``flood N`` (push N binary frames of 1 MiB at once), ``register`` (keep the
    connection's handle in ``handles``),
    anything else is echoed.
    """

    def __init__(self) -> None:
        self.reasons: list[Any] = []
        #: Connection handles, from ``register``.
        self.handles: list[websock.ConnectionHandle] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    async def ended(self, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Wait until ``count`` connections ended; return the terminate reasons so far."""
        if len(self.reasons) < count:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append((count, future))
            async with asyncio.timeout(timeout):
                await future
        return list(self.reasons)

    def init(self, arg: Any) -> Ok:
        return Ok("open")

    def handle_in(self, message: Any, state: Any) -> Any:
        if isinstance(message, Binary):
            return Push(message, state)
        command, _, rest = message.data.partition(" ")
        match command:
            case "stop":
                return Stop(state)
            case "restart":
                return Stop(state, "restart")
            case "code":
                code, _, text = rest.partition(" ")
                return Stop(state, code=int(code), message=text, frames=["last words"])
            case "fail":
                return Stop(state, reason="broken")
            case "raise":
                raise RuntimeError("probe asked to raise")
            case "bad":
                return "not a result"
            case "ping":
                return Push(websock.Ping(b"probe"), state)
            case "frames":
                return Push(["one", b"two", Text("three")], state)
            case "register":
                self.handles.append(websock.connection())
                return Push("registered", state)
            case "flood":
                return Push([bytes(MiB)] * int(rest), state)
        return Push(message, state)

    def handle_control(self, frame: Any, state: Any) -> Ok:
        return Ok(state)

    def handle_info(self, message: Any, state: Any) -> Push:
        return Push(str(message), state)

    def terminate(self, reason: Any, state: Any) -> None:
        self.reasons.append(reason)
        for count, future in list(self._waiters):
            if len(self.reasons) >= count and not future.done():
                future.set_result(None)
                self._waiters.remove((count, future))


class SlowEcho(Echo):
    """An async handle_in that really suspends before echoing."""

    async def handle_in(self, message: Any, count: int) -> Push | Stop:  # type: ignore[override]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, message)
        return Push(await future, count + 1)


echo = Echo()


def make_app(probe: Probe) -> Any:
    """The routes above, with ``probe`` behind /probe."""

    async def app(request: websock.Request) -> Any:
        return await route(request, probe)

    return app


async def route(request: websock.Request, probe: Probe) -> Any:
    query = parse_qs(request.query_string)
    compress = query.get("compress", ["0"])[0] == "1"
    match request.path:
        case "/":
            return websock.Response(200, {"content-type": "text/plain"}, "hello\n")
        case "/deny":
            return websock.Response(403, {"content-type": "text/plain"}, "go away\n")
        case "/raise":
            raise RuntimeError("app exploded on purpose")
        case "/garbage":
            return 42
        case "/echo":
            return websock.upgrade(request, echo, None, compress=compress)
        case "/probe":
            # Numeric query parameters become upgrade options ("none" disables a timer).
            options: dict[str, Any] = {}
            for name in ("timeout", "ping_interval", "ping_timeout"):
                if name in query:
                    value = query[name][0]
                    options[name] = None if value == "none" else float(value)
            for name in ("max_message_size", "max_write_buffer", "mailbox_size"):
                if name in query:
                    options[name] = int(query[name][0])
            return websock.upgrade(request, probe, None, compress=compress, **options)
        case "/slow":
            return websock.upgrade(request, SlowEcho(), None)
        case "/idle":
            return websock.upgrade(request, echo, None, timeout=0.3, ping_interval=None)
        case "/keepalive":
            return websock.upgrade(
                request, echo, None, timeout=None, ping_interval=0.2, ping_timeout=0.3
            )
        case "/big":
            return websock.upgrade(
                request,
                echo,
                None,
                compress=compress,
                max_frame_size=16 * MiB,
                max_message_size=16 * MiB,
                max_inflate_ratio=2000.0,
            )
    return websock.Response(404, {"content-type": "text/plain"}, "not found\n")


app = make_app(Probe())
