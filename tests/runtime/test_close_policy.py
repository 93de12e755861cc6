"""One test per row of the close table (runtime/close_policy.py), through the TestClient,
and the generated docs/close-codes.md kept in sync."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.handlers import Scripted
from websock import (
    ConnectionClosed,
    Error,
    HandlerError,
    MailboxFull,
    Normal,
    Ok,
    Ping,
    ProtocolError,
    Push,
    Remote,
    Shutdown,
    Stop,
    Timeout,
)
from websock.runtime import close_policy
from websock.runtime.close_policy import Ending
from websock.testing import TestClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "close-codes.md"


def test_doc_is_generated_from_the_table() -> None:
    assert DOC.read_text(encoding="utf-8") == close_policy.render_markdown(), (
        "docs/close-codes.md is stale: run "
        "`python -m websock.runtime.close_policy > docs/close-codes.md`"
    )


def test_every_ending_has_exactly_one_rule() -> None:
    assert [rule.ending for rule in close_policy.RULES] == list(Ending)


# -- the rows ---------------------------------------------------------------------------


async def stop_normal() -> None:
    handler = Scripted({"handle_in": lambda m, s: Stop(s)})
    async with TestClient(handler) as c:
        await c.send("x")
        await c.wait_closed()
        assert (c.server_close_frame, c.close_code, c.terminate_reason) == (
            (1000, ""),
            1000,
            Normal(),
        )


async def stop_restart() -> None:
    handler = Scripted({"handle_in": lambda m, s: Stop(s, "restart")})
    async with TestClient(handler) as c:
        await c.send("x")
        await c.wait_closed()
        assert (c.close_code, c.terminate_reason) == (1012, Normal())


async def stop_other() -> None:
    handler = Scripted({"handle_in": lambda m, s: Stop(s, {"why": "quota"})})
    async with TestClient(handler) as c:
        await c.send("x")
        await c.wait_closed()
        assert (c.close_code, c.terminate_reason) == (1011, Error({"why": "quota"}))
        assert handler.terminated == [(Error({"why": "quota"}), 0)]


async def handler_raised() -> None:
    boom = ValueError("boom")

    def crash(message: Any, state: Any) -> Any:
        raise boom

    handler = Scripted({"handle_in": crash})
    async with TestClient(handler) as c:
        await c.send("x")
        await c.wait_closed()
        assert c.server_close_frame == (1011, "")  # exception text stays in the log
        assert c.terminate_reason == Error(boom)
        assert handler.terminated == [(Error(boom), 0)]


async def bad_result() -> None:
    handler = Scripted({"handle_in": lambda m, s: 42})
    async with TestClient(handler) as c:
        await c.send("x")
        await c.wait_closed()
        assert c.close_code == 1011
        reason = c.terminate_reason
        assert isinstance(reason, Error) and isinstance(reason.reason, HandlerError)
        assert "handle_in returned 42" in str(reason.reason)
        assert "Scripted" in str(reason.reason)


async def protocol_error() -> None:
    handler = Scripted()
    # answer_close=False: the server must not wait for us after failing the connection.
    async with TestClient(handler, answer_close=False) as c:
        error = ProtocolError(1007, "invalid UTF-8 in a text message (RFC 6455 §8.1)")
        await c.send(error)
        await c.wait_closed()
        assert c.server_close_frame == (1007, error.reason)
        assert c.transport_closed
        assert c.terminate_reason == Error(error)


async def peer_close() -> None:
    handler = Scripted()
    async with TestClient(handler) as c:
        await c.close(4000, "bye")
        assert c.server_close_frame == (4000, "")  # the code echoed (RFC 6455 §5.5.1)
        assert c.transport_closed  # we closed TCP right after (RFC 6455 §7.1.1)
        assert (c.close_code, c.terminate_reason) == (4000, Remote(4000, "bye"))
    async with TestClient(handler) as c:
        await c.close(None)
        assert c.server_close_frame == (None, "")  # an empty close answers an empty close
        assert (c.close_code, c.terminate_reason) == (1005, Remote(None, ""))


async def idle_timeout() -> None:
    handler = Scripted()
    async with TestClient(handler, timeout=10, ping_interval=None) as c:
        await c.advance(6)
        await c.send("activity")  # inbound activity moves the deadline to 16
        await c.advance(9.5)
        assert not c.closed
        await c.advance(0.5)
        assert c.closed
        assert c.server_close_frame == (1001, "idle timeout")
        assert c.terminate_reason == Timeout()


async def ping_timeout() -> None:
    handler = Scripted()
    async with TestClient(
        handler, timeout=None, ping_interval=5, ping_timeout=3, answer_pings=False
    ) as c:
        await c.advance(5)
        assert await c.receive() == Ping(b"")
        await c.advance(2.9)
        assert not c.closed
        await c.advance(0.1)
        assert c.closed
        assert c.server_close_frame == (1011, "keepalive ping timeout")
        assert c.terminate_reason == Timeout()


async def transport_lost() -> None:
    handler = Scripted()
    async with TestClient(handler) as c:
        cause = ConnectionResetError("reset by peer")
        c.drop(cause)
        await c.wait_closed()
        assert c.server_close_frame is None
        assert c.close_code == 1006
        reason = c.terminate_reason
        assert isinstance(reason, Error) and isinstance(reason.reason, ConnectionClosed)
        assert reason.reason.__cause__ is cause
        assert handler.terminated == [(reason, 0)]


async def shutdown() -> None:
    handler = Scripted()
    async with TestClient(handler) as c:
        await c.shutdown()
        assert (c.server_close_frame, c.terminate_reason) == ((1001, ""), Shutdown())
    async with TestClient(handler) as c:
        await c.shutdown(1012, "restarting")
        assert (c.server_close_frame, c.terminate_reason) == ((1012, "restarting"), Shutdown())


async def mailbox_full() -> None:
    handler = Scripted()
    async with TestClient(handler, mailbox_size=2, mailbox_overflow="close") as c:
        c.pause_writing()  # a slow client: the mailbox is not drained
        for n in range(3):
            await c.send_info(n)
        assert c.server_close_frame == (1008, "mailbox full")
        reason = c.terminate_reason
        assert isinstance(reason, Error) and isinstance(reason.reason, MailboxFull)
        assert c.session.handle.dropped_overflow == 1
        assert c.session.handle.dropped_closed == 2  # still queued when it ended
        await c.resume_writing()  # the client reads the close frame and answers it
        await c.wait_closed()
    assert [name for name in handler.names() if name == "handle_info"] == []


async def write_buffer_full() -> None:
    release = asyncio.Event()

    async def slow_push(message: Any, state: Any) -> Any:
        await release.wait()
        return Push(["x" * 60, "y" * 60], state)

    class Handler(Scripted):
        handle_in = staticmethod(slow_push)

    handler = Handler()
    async with TestClient(
        handler, write_low_water=0, write_high_water=10, max_write_buffer=100
    ) as c:
        await c.send("go")
        c.pause_writing()
        release.set()
        await c.advance(0)  # the callback in flight finishes and pushes 120 bytes
        assert c.server_close_frame == (1008, "too slow")
        reason = c.terminate_reason
        assert isinstance(reason, Error) and "max_write_buffer=100" in str(reason.reason)
        assert c.transport_closed


ROWS: dict[Ending, Callable[[], Awaitable[None]]] = {
    Ending.STOP_NORMAL: stop_normal,
    Ending.STOP_RESTART: stop_restart,
    Ending.STOP_OTHER: stop_other,
    Ending.HANDLER_RAISED: handler_raised,
    Ending.BAD_RESULT: bad_result,
    Ending.PROTOCOL_ERROR: protocol_error,
    Ending.PEER_CLOSE: peer_close,
    Ending.IDLE_TIMEOUT: idle_timeout,
    Ending.PING_TIMEOUT: ping_timeout,
    Ending.TRANSPORT_LOST: transport_lost,
    Ending.SHUTDOWN: shutdown,
    Ending.MAILBOX_FULL: mailbox_full,
    Ending.WRITE_BUFFER_FULL: write_buffer_full,
}


def test_every_row_has_a_test() -> None:
    assert set(ROWS) == set(Ending)


@pytest.mark.parametrize("ending", list(Ending), ids=lambda e: e.value)
async def test_row(ending: Ending, caplog: pytest.LogCaptureFixture) -> None:
    await ROWS[ending]()


# -- details of the rows ------------------------------------------------------------------


async def test_handler_exception_is_logged_with_callback_handler_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def crash(message: Any, state: Any) -> Any:
        raise RuntimeError("kaput")

    with caplog.at_level(logging.ERROR, logger="websock"):
        await ROWS[Ending.HANDLER_RAISED]()
        async with TestClient(Scripted({"handle_info": crash})) as c:
            await c.send_info("m")
            await c.wait_closed()
    records = [r for r in caplog.records if r.name == "websock"]
    assert len(records) == 2
    assert "Scripted.handle_in" in records[0].getMessage()
    assert "Scripted.handle_info" in records[1].getMessage()
    assert records[1].exc_info is not None and records[1].exc_info[0] is RuntimeError


async def test_bad_result_is_logged_naming_callback_and_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="websock"):
        await ROWS[Ending.BAD_RESULT]()
    (record,) = [r for r in caplog.records if r.name == "websock"]
    message = record.getMessage()
    assert "tests.runtime.handlers.Scripted.handle_in returned 42" in message
    assert "Push, Ok or Stop" in message


async def test_init_failure_closes_1011_without_terminate() -> None:
    def crash(arg: Any) -> Any:
        raise KeyError("no state")

    for script in ({"init": crash}, {"init": lambda arg: "not a result"}):
        handler = Scripted(script)
        async with TestClient(handler) as c:
            await c.wait_closed()
            assert c.close_code == 1011
            assert isinstance(c.terminate_reason, Error)
        assert handler.terminated == []  # no state to hand it (websock_adapter#19)


async def test_close_handshake_timeout_drops_the_transport() -> None:
    handler = Scripted({"handle_in": lambda m, s: Stop(s)})
    async with TestClient(handler, answer_close=False, close_timeout=3) as c:
        await c.send("x")
        assert c.server_close_frame == (1000, "")
        await c.advance(2.9)
        assert not c.transport_closed and not c.closed
        await c.send("ignored: after our close frame")
        await c.advance(0.1)
        assert c.transport_closed and c.closed
    assert handler.names().count("handle_in") == 1
    assert c.stats.ignored_after_close == 1
    assert c.close_code == 1000 and c.terminate_reason == Normal()


async def test_peer_close_after_ours_completes_the_handshake() -> None:
    handler = Scripted({"handle_info": lambda m, s: Stop(s, code=4002, message="later")})
    async with TestClient(handler) as c:
        await c.send_info("stop")
        await c.wait_closed()  # the client answered our close; the server closed TCP
        assert c.transport_closed
        assert (c.close_code, c.close_message) == (4002, "later")


async def test_only_the_first_ending_counts() -> None:
    handler = Scripted({"handle_in": lambda m, s: Stop(s)})
    async with TestClient(handler, answer_close=False) as c:
        await c.send("x")
        c.drop(ConnectionResetError())
        await c.shutdown()
        await c.wait_closed()
        assert (c.close_code, c.terminate_reason) == (1000, Normal())
    assert len(handler.terminated) == 1


async def test_shutdown_rejects_codes_that_may_not_be_sent() -> None:
    async with TestClient(Scripted()) as c:
        with pytest.raises(HandlerError, match="1005"):
            c.session.shutdown(1005)
        assert not c.closed


def test_close_text_is_cut_to_123_bytes() -> None:
    closing = close_policy.protocol_error(ProtocolError(1002, "é" * 100))
    assert len(closing.message.encode("utf-8")) <= 123
    assert closing.message == "é" * 61


async def test_ok_result_keeps_the_connection_open() -> None:
    async with TestClient(Scripted({"handle_in": lambda m, s: Ok(s)})) as c:
        await c.send("x")
        await c.assert_no_push()
        assert not c.closed
