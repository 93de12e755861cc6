"""The sans-I/O WebSocket core: bytes in, events out; frames in, bytes out.

Stdlib only and never asyncio (``tests/protocol/test_no_asyncio.py`` enforces it), so
every host and the test client share one codec and one set of RFC checks.

    frames       opcodes, masking, headers, close payloads (RFC 6455 §5, §7.4)
    utf8         incremental UTF-8 validation that fails fast (RFC 6455 §8.1)
    events       what ``receive_data()`` returns
    connection   ``ServerConnection``: the state machine (limits, fragmentation, close)
    deflate      permessage-deflate (RFC 7692)
    handshake    the opening handshake (RFC 6455 §4)
"""

from __future__ import annotations

from .connection import ServerConnection, State
from .events import CloseReceived, Event
from .frames import CloseCode, Opcode, encode_frame

__all__ = [
    "CloseCode",
    "CloseReceived",
    "Event",
    "Opcode",
    "ServerConnection",
    "State",
    "encode_frame",
]
