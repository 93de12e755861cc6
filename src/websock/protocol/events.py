"""Events the sans-I/O connection produces from inbound bytes.

Data and control frames are the contract's own values (``Text``, ``Binary``, ``Ping``,
``Pong``), so the runtime hands them to the handler without another allocation. A close
frame becomes ``CloseReceived``; a violation becomes a ``ProtocolError`` value (not raised),
always the last event of its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from ..exceptions import ProtocolError
from ..results import Binary, Ping, Pong, Text

__all__ = ["CloseReceived", "Event"]


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer's close frame (RFC 6455 §5.5.1); ``code`` is None for an empty payload."""

    code: int | None
    reason: str = ""


Event: TypeAlias = Text | Binary | Ping | Pong | CloseReceived | ProtocolError
