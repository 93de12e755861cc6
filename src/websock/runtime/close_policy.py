"""The one table: every way a connection ends → one close frame and one terminate reason.

Nothing else in websock decides a close code or a terminate reason; the session asks this
module and applies the answer (``Closing``). ``render_markdown()`` turns ``RULES`` into
``docs/close-codes.md`` (a test keeps the two in sync): regenerate it with
``python -m websock.runtime.close_policy > docs/close-codes.md``.

Stdlib only: no asyncio here, so the table can be read and rendered anywhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from ..exceptions import ConnectionClosed, HandlerError, ProtocolError
from ..results import (
    MAX_CLOSE_REASON,
    Error,
    Normal,
    Reason,
    Remote,
    Shutdown,
    Stop,
    Timeout,
    is_sendable_close_code,
)

__all__ = [
    "RULES",
    "Closing",
    "Ending",
    "Rule",
    "bad_result",
    "handler_raised",
    "idle_timeout",
    "mailbox_full",
    "peer_close",
    "ping_timeout",
    "protocol_error",
    "render_markdown",
    "shutdown",
    "stop",
    "transport_lost",
    "write_buffer_full",
]

#: RFC 6455 §7.1.5: the close code to report when the peer's close frame carried none.
NO_STATUS_RECEIVED: Final = 1005
#: RFC 6455 §7.1.5 / §7.4.1: the close code to report when no close frame was exchanged.
ABNORMAL_CLOSURE: Final = 1006


class Ending(enum.Enum):
    """Every way a connection can end."""

    STOP_NORMAL = "stop_normal"
    STOP_RESTART = "stop_restart"
    STOP_OTHER = "stop_other"
    HANDLER_RAISED = "handler_raised"
    BAD_RESULT = "bad_result"
    PROTOCOL_ERROR = "protocol_error"
    PEER_CLOSE = "peer_close"
    IDLE_TIMEOUT = "idle_timeout"
    PING_TIMEOUT = "ping_timeout"
    TRANSPORT_LOST = "transport_lost"
    SHUTDOWN = "shutdown"
    MAILBOX_FULL = "mailbox_full"
    WRITE_BUFFER_FULL = "write_buffer_full"


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table."""

    ending: Ending
    #: What happened, for the documentation.
    when: str
    #: The close code sent by default; None when the row computes it (see ``code_doc``).
    code: int | None
    code_doc: str
    reason_doc: str
    #: After our close frame, wait up to ``close_timeout`` for the peer's close frame
    #: (RFC 6455 §7.1.1: the server then closes TCP first) rather than dropping at once.
    wait_for_peer: bool
    note: str = ""


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        Ending.STOP_NORMAL,
        'a callback returned `Stop(state)` or `Stop(state, "normal")`',
        1000,
        "1000 Normal Closure",
        "`Normal()`",
        True,
        "`Stop(code=..., message=...)` overrides the code and text in every Stop row.",
    ),
    Rule(
        Ending.STOP_RESTART,
        'a callback returned `Stop(state, "restart")`',
        1012,
        "1012 Service Restart",
        "`Normal()`",
        True,
        "For draining a node: clients should reconnect (Phoenix-style).",
    ),
    Rule(
        Ending.STOP_OTHER,
        "a callback returned `Stop(state, reason)` with any other reason",
        1011,
        "1011 Internal Error",
        "`Error(reason)`",
        True,
    ),
    Rule(
        Ending.HANDLER_RAISED,
        "a callback raised an exception",
        1011,
        "1011 Internal Error",
        "`Error(exc)`",
        True,
        "Logged with its traceback on the `websock` logger. If `init` raised, `terminate` "
        "is not called (there is no state to hand it).",
    ),
    Rule(
        Ending.BAD_RESULT,
        "a callback returned something that is not `Push`/`Ok`/`Stop`, or a frame that "
        "cannot be sent",
        1011,
        "1011 Internal Error",
        "`Error(HandlerError(...))` describing the bad value",
        True,
        "Logged, naming the callback and the handler. If `init` returned it, `terminate` "
        "is not called.",
    ),
    Rule(
        Ending.PROTOCOL_ERROR,
        "the peer broke RFC 6455 / RFC 7692 (bad framing, invalid UTF-8, too big, ...)",
        None,
        "the error's own code: 1002 protocol, 1007 invalid data, 1009 too big, ...",
        "`Error(ProtocolError(code, reason))`",
        False,
        "The close text is the rule that was broken; the connection is then dropped "
        "(RFC 6455 §7.1.7: fail the connection).",
    ),
    Rule(
        Ending.PEER_CLOSE,
        "the peer sent a close frame",
        None,
        "the peer's code echoed (RFC 6455 §5.5.1); an empty close frame if it sent none",
        "`Remote(code, message)` (`code` None when it sent none)",
        False,
        "`close_code` reads 1005 when the peer sent no code (RFC 6455 §7.1.5). "
        "We close TCP right after our answer (RFC 6455 §7.1.1).",
    ),
    Rule(
        Ending.IDLE_TIMEOUT,
        "nothing arrived from the peer for `timeout` seconds",
        1001,
        "1001 Going Away",
        "`Timeout()`",
        False,
        "Only inbound frames count as activity: our pushes do not keep a dead peer alive.",
    ),
    Rule(
        Ending.PING_TIMEOUT,
        "a keepalive ping (sent after `ping_interval` of silence) got no answer within "
        "`ping_timeout`",
        1011,
        "1011 Internal Error",
        "`Timeout()`",
        False,
        "Hosts without control frames (ASGI) send no keepalive pings; the idle timeout "
        "still applies.",
    ),
    Rule(
        Ending.TRANSPORT_LOST,
        "the connection dropped without a close frame",
        None,
        "none (nothing can be sent); `close_code` reads 1006",
        "`Error(ConnectionClosed(...))`, the OS error as its `__cause__`",
        False,
    ),
    Rule(
        Ending.SHUTDOWN,
        "the server is stopping",
        1001,
        "1001 Going Away (the server can choose another, e.g. 1000 or 1012)",
        "`Shutdown()`",
        True,
    ),
    Rule(
        Ending.MAILBOX_FULL,
        '`connection().send()` found the mailbox full under `mailbox_overflow="close"`',
        1008,
        "1008 Policy Violation",
        "`Error(MailboxFull(...))`",
        True,
        "The message that did not fit is dropped and counted.",
    ),
    Rule(
        Ending.WRITE_BUFFER_FULL,
        "more than `max_write_buffer` bytes wait to be sent to a slow peer",
        1008,
        "1008 Policy Violation",
        "`Error(HandlerError(...))` naming the limit",
        False,
    ),
)

_BY_ENDING: Final = {rule.ending: rule for rule in RULES}
assert len(_BY_ENDING) == len(Ending), "every Ending needs exactly one rule"


@dataclass(frozen=True, slots=True)
class Closing:
    """The decision for one ending: what to send, what terminate gets."""

    ending: Ending
    #: Close code to send; None sends an empty close frame (when ``send_frame``).
    code: int | None
    message: str
    reason: Reason
    #: False when no close frame can go out (the transport is gone).
    send_frame: bool
    wait_for_peer: bool

    @property
    def recorded_code(self) -> int:
        """The code ``Session.close_code`` reports (RFC 6455 §7.1.5 for 1005/1006)."""
        if not self.send_frame:
            return ABNORMAL_CLOSURE
        return NO_STATUS_RECEIVED if self.code is None else self.code


def _fit(message: str) -> str:
    """Cut ``message`` to the 123 UTF-8 bytes a close frame holds (RFC 6455 §5.5.1)."""
    data = message.encode("utf-8")
    if len(data) <= MAX_CLOSE_REASON:
        return message
    return data[:MAX_CLOSE_REASON].decode("utf-8", errors="ignore")


def _closing(
    ending: Ending,
    reason: Reason,
    *,
    code: int | None = None,
    message: str = "",
    send_frame: bool = True,
) -> Closing:
    rule = _BY_ENDING[ending]
    return Closing(
        ending=ending,
        code=rule.code if code is None else code,
        message=_fit(message),
        reason=reason,
        send_frame=send_frame,
        wait_for_peer=rule.wait_for_peer,
    )


def stop(result: Stop) -> Closing:
    """A callback returned ``Stop``; its code and message were validated at construction."""
    reason: Reason
    why = result.reason
    if type(why) is str and why == "normal":
        ending, reason = Ending.STOP_NORMAL, Normal()
    elif type(why) is str and why == "restart":
        ending, reason = Ending.STOP_RESTART, Normal()
    else:
        ending, reason = Ending.STOP_OTHER, Error(why)
    return _closing(ending, reason, code=result.code, message=result.message)


def handler_raised(exc: BaseException) -> Closing:
    # The close text stays empty: exception text is for the log, not for the client.
    return _closing(Ending.HANDLER_RAISED, Error(exc))


def bad_result(error: HandlerError) -> Closing:
    return _closing(Ending.BAD_RESULT, Error(error))


def protocol_error(error: ProtocolError) -> Closing:
    # The parser picks the code; one that may not be sent (RFC 6455 §7.4) becomes 1002.
    code = error.code if is_sendable_close_code(error.code) else 1002
    return _closing(Ending.PROTOCOL_ERROR, Error(error), code=code, message=error.reason)


def peer_close(code: int | None, message: str) -> Closing:
    # RFC 6455 §5.5.1: answer with a close frame, "typically echoing the status code it
    # received". The parser only lets valid codes through; anything else is a §7.4 error.
    if code is not None and not is_sendable_close_code(code):
        return _closing(
            Ending.PEER_CLOSE, Remote(code, message), code=1002, message="invalid close code"
        )
    return _closing(Ending.PEER_CLOSE, Remote(code, message), code=code)


def idle_timeout() -> Closing:
    return _closing(Ending.IDLE_TIMEOUT, Timeout(), message="idle timeout")


def ping_timeout() -> Closing:
    return _closing(Ending.PING_TIMEOUT, Timeout(), message="keepalive ping timeout")


def transport_lost(exc: BaseException | None) -> Closing:
    lost = ConnectionClosed(
        "the connection dropped without a close frame (close 1006)"
        + (f": {exc}" if exc is not None else "")
    )
    lost.__cause__ = exc
    return _closing(Ending.TRANSPORT_LOST, Error(lost), send_frame=False)


def shutdown(code: int | None = None, message: str = "") -> Closing:
    return _closing(Ending.SHUTDOWN, Shutdown(), code=code, message=message)


def mailbox_full(error: BaseException) -> Closing:
    return _closing(Ending.MAILBOX_FULL, Error(error), message="mailbox full")


def write_buffer_full(size: int, limit: int) -> Closing:
    error = HandlerError(
        f"{size} bytes wait to be sent, more than max_write_buffer={limit}: the peer is too slow"
    )
    return _closing(Ending.WRITE_BUFFER_FULL, Error(error), message="too slow")


def render_markdown() -> str:
    """``docs/close-codes.md``: the table above, for people."""
    lines = [
        "# Close codes and terminate reasons",
        "",
        "<!-- Generated by `python -m websock.runtime.close_policy`; edit",
        "     src/websock/runtime/close_policy.py instead. -->",
        "",
        "Every way a connection ends maps to exactly one close frame and one `terminate`",
        "reason. The runtime calls `terminate` once per connection whose `init` returned a",
        "result, after the close frame was queued. `close_code` and `terminate_reason` on",
        "the session (and on `websock.testing.TestClient`) tell afterwards how it ended.",
        "",
        "| ending | close code sent | `terminate` reason | then |",
        "|---|---|---|---|",
    ]
    for rule in RULES:
        then = (
            "wait up to `close_timeout` for the peer's close frame, then close TCP"
            if rule.wait_for_peer
            else "close TCP"
        )
        if rule.ending is Ending.TRANSPORT_LOST:
            then = "—"
        lines.append(f"| {rule.when} | {rule.code_doc} | {rule.reason_doc} | {then} |")
    lines += ["", "## Notes", ""]
    lines += [f"- **{rule.ending.value}**: {rule.note}" for rule in RULES if rule.note]
    lines += [
        "",
        "Invalid close codes (1004-1006, 1015, below 1000, 1016-2999, 5000 and above) and",
        "close texts over 123 UTF-8 bytes are refused when `Stop` is built (a `HandlerError`",
        "naming the rule, RFC 6455 §7.4 and §5.5.1), so they are never sent; a callback that",
        "does so ends the connection as a handler error (1011).",
        "",
        "After our close frame nothing more is sent or handed to the handler (RFC 6455",
        "§5.5.1); the peer's data is read and discarded until its close frame arrives. If it",
        "does not arrive within `close_timeout`, the connection is dropped; `close_code` and",
        "`terminate_reason` stay as above. Only the first ending counts: a second one (say,",
        "the transport dropping while we wait) changes nothing.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
