"""The values of the contract (SPEC §1): frames, callback results and terminate reasons.

All are immutable, slotted dataclasses usable in ``match`` statements. Construction checks
what RFC 6455 forbids, so a handler's mistake is reported where it was made:
control payloads of at most 125 bytes (§5.5), close codes valid to send (§7.4),
close reasons of at most 123 UTF-8 bytes (§5.5.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from .exceptions import HandlerError

__all__ = [
    "Binary",
    "Error",
    "Frame",
    "FrameLike",
    "Normal",
    "Ok",
    "Ping",
    "Pong",
    "Push",
    "Reason",
    "Remote",
    "Result",
    "Shutdown",
    "Stop",
    "Text",
    "Timeout",
    "check_close",
    "is_sendable_close_code",
]

MAX_CONTROL_PAYLOAD: Final = 125  # RFC 6455 §5.5
MAX_CLOSE_REASON: Final = 123  # RFC 6455 §5.5.1: 125 minus the 2-byte code


# --- frames -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """A complete text message (opcode 0x1)."""

    data: str


@dataclass(frozen=True, slots=True)
class Binary:
    """A complete binary message (opcode 0x2)."""

    data: bytes


def _check_control(kind: str, data: bytes) -> None:
    if len(data) > MAX_CONTROL_PAYLOAD:
        raise HandlerError(
            f"{kind} payload is {len(data)} bytes; control frames carry at most 125 (RFC 6455 §5.5)"
        )


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping control frame; its payload is at most 125 bytes (RFC 6455 §5.5.2)."""

    data: bytes = b""

    def __post_init__(self) -> None:
        _check_control("Ping", self.data)


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong control frame; its payload is at most 125 bytes (RFC 6455 §5.5.3)."""

    data: bytes = b""

    def __post_init__(self) -> None:
        _check_control("Pong", self.data)


Frame: TypeAlias = Text | Binary | Ping | Pong
#: What may be pushed: a frame, or a bare ``str`` (Text) or bytes-like object (Binary).
FrameLike: TypeAlias = Text | Binary | Ping | Pong | str | bytes | bytearray | memoryview


# --- close codes ---------------------------------------------------------------------------


def is_sendable_close_code(code: int) -> bool:
    """Whether an endpoint may put ``code`` in a close frame (RFC 6455 §7.4.1, §7.4.2).

    1000-1003 and 1007-1014 are defined for use; 1004 is reserved, 1005, 1006 and 1015 must
    never be sent; 1016-2999 are reserved for future RFCs; 3000-4999 belong to
    libraries and applications.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def check_close(code: int, message: str) -> None:
    """Raise HandlerError unless ``code``/``message`` may go out in a close frame."""
    if isinstance(code, bool) or not isinstance(code, int):
        raise HandlerError(f"close code must be an int, got {code!r}")
    if not is_sendable_close_code(code):
        raise HandlerError(
            f"close code {code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999 "
            "(RFC 6455 §7.4)"
        )
    if not isinstance(message, str):
        raise HandlerError(f"close message must be a str, got {type(message).__name__}")
    size = len(message.encode("utf-8"))
    if size > MAX_CLOSE_REASON:
        raise HandlerError(
            f"close message is {size} bytes of UTF-8; at most 123 fit in a close frame "
            "(RFC 6455 §5.5.1)"
        )


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Push:
    """Send one frame or a sequence of frames, in order, and keep going with ``state``."""

    frames: FrameLike | Sequence[FrameLike]
    state: Any = None


@dataclass(frozen=True, slots=True)
class Ok:
    """Send nothing and keep going with ``state``."""

    state: Any = None


@dataclass(frozen=True, slots=True)
class Stop:
    """Send ``frames``, then a close frame, then end the connection.

    ``reason`` is the why: ``"normal"`` (close 1000, terminate gets ``Normal()``),
    ``"restart"`` (close 1012, terminate gets ``Normal()``), anything else (close 1011,
    terminate gets ``Error(reason)``). ``code`` and ``message`` override the close frame.
    """

    state: Any = None
    reason: Any = "normal"
    code: int | None = None
    message: str = ""
    frames: FrameLike | Sequence[FrameLike] = field(default=())

    def __post_init__(self) -> None:
        if self.code is not None:
            check_close(self.code, self.message)
        elif not isinstance(self.message, str):
            raise HandlerError(f"close message must be a str, got {type(self.message).__name__}")
        elif len(self.message.encode("utf-8")) > MAX_CLOSE_REASON:
            check_close(1000, self.message)


Result: TypeAlias = Push | Ok | Stop


# Handlers build a Push or an Ok for nearly every message, and the adapters a Text or a
# Binary for every inbound one. A frozen dataclass's generated __init__ stores each field
# through object.__setattr__ (the frozen __setattr__ refuses); storing through the slots'
# own descriptors does the same, and costs about a third less per message
# (docs/profiling.md). Same signature, defaults and errors.
_set_text_data = vars(Text)["data"].__set__
_set_binary_data = vars(Binary)["data"].__set__
_set_push_frames = vars(Push)["frames"].__set__
_set_push_state = vars(Push)["state"].__set__
_set_ok_state = vars(Ok)["state"].__set__


def _text_init(self: Text, data: str) -> None:
    _set_text_data(self, data)


def _binary_init(self: Binary, data: bytes) -> None:
    _set_binary_data(self, data)


def _push_init(self: Push, frames: FrameLike | Sequence[FrameLike], state: Any = None) -> None:
    _set_push_frames(self, frames)
    _set_push_state(self, state)


def _ok_init(self: Ok, state: Any = None) -> None:
    _set_ok_state(self, state)


_text_init.__qualname__ = "Text.__init__"
_binary_init.__qualname__ = "Binary.__init__"
_push_init.__qualname__ = "Push.__init__"
_ok_init.__qualname__ = "Ok.__init__"
Text.__init__ = _text_init  # type: ignore[method-assign]
Binary.__init__ = _binary_init  # type: ignore[method-assign]
Push.__init__ = _push_init  # type: ignore[method-assign]
Ok.__init__ = _ok_init  # type: ignore[method-assign]


# --- terminate reasons ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Normal:
    """The handler stopped the connection with reason ``"normal"`` or ``"restart"``."""


@dataclass(frozen=True, slots=True)
class Remote:
    """The peer closed; ``code`` is None when its close frame carried no code."""

    code: int | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The server is shutting down."""


@dataclass(frozen=True, slots=True)
class Timeout:
    """No inbound activity within the idle timeout, or a keepalive ping went unanswered."""


@dataclass(frozen=True, slots=True)
class Error:
    """Anything abnormal: a protocol error, a handler crash or bad result, an abnormal Stop
    reason, the transport lost. ``reason`` is the exception or the Stop reason."""

    reason: Any = None


Reason: TypeAlias = Normal | Remote | Shutdown | Timeout | Error
