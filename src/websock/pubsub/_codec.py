"""How a broadcast travels through Redis: one bytes payload per message (an envelope).

    byte 0      version (1)
    bytes 1-8   origin: the publishing node's random id (a node ignores its own messages:
                it already delivered them locally)
    byte 9      kind, then the body:
                  s  str              (UTF-8)      → handle_info gets the same str
                  b  bytes            (raw)        → bytes
                  T  websock.Text     (UTF-8)      → Text
                  B  websock.Binary   (raw)        → Binary
                  t  fast-lane text frame (UTF-8)  → written to subscribers, no handle_info
                  y  fast-lane binary frame (raw)
                  j  anything else, as JSON (the default serializer)
                  p  anything else, pickled (opt-in: only between nodes that trust each other)
                  c  anything else, through a custom serializer (dumps/loads)

str, bytes, Text and Binary always travel natively. Other objects go through the chosen
serializer; JSON turns tuples into lists (``case ["say", name, text]`` matches both).
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Final, Literal, Protocol

from ..results import Binary, Text

__all__ = [
    "FRAME_KINDS",
    "Codec",
    "Envelope",
    "JsonSerializer",
    "PickleSerializer",
    "Serializer",
    "SerializerName",
]

VERSION: Final = 1
ORIGIN_SIZE: Final = 8
_HEADER: Final = 1 + ORIGIN_SIZE + 1
FRAME_KINDS: Final = frozenset(b"ty")


class Serializer(Protocol):
    """Turns broadcast messages other than str/bytes/Text/Binary into bytes and back."""

    def dumps(self, message: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class JsonSerializer:
    """The default: JSON, so nodes never execute what they receive."""

    def dumps(self, message: Any) -> bytes:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class PickleSerializer:
    """Any picklable object, round-tripped exactly. Unpickling runs code chosen by whoever
    can publish to the Redis channels: use only when every publisher is trusted."""

    def dumps(self, message: Any) -> bytes:
        return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)  # opt-in, documented above


SerializerName = Literal["json", "pickle"]


class Envelope:
    """A decoded payload: who sent it, whether it is a fast-lane frame, and the message."""

    __slots__ = ("frame", "message", "origin")

    def __init__(self, origin: bytes, frame: bool, message: Any) -> None:
        self.origin = origin
        self.frame = frame
        self.message = message


class Codec:
    """Encodes and decodes envelopes for one node (its origin id and serializer)."""

    def __init__(self, origin: bytes, serializer: SerializerName | Serializer = "json") -> None:
        if len(origin) != ORIGIN_SIZE:
            raise ValueError(f"origin must be {ORIGIN_SIZE} bytes")
        self.origin = origin
        self._prefix = bytes((VERSION,)) + origin
        if serializer == "json":
            self._serializer: Serializer = JsonSerializer()
            self._kind = b"j"
        elif serializer == "pickle":
            self._serializer = PickleSerializer()
            self._kind = b"p"
        elif isinstance(serializer, str):
            raise ValueError(f"unknown serializer {serializer!r}: 'json', 'pickle' or an object")
        else:
            self._serializer = serializer
            self._kind = b"c"

    # -- encoding (the publishing thread: a message that cannot be encoded fails here) ------

    def message(self, message: Any) -> bytes:
        """The envelope for a ``broadcast`` (handle_info) message."""
        if isinstance(message, str):
            return self._prefix + b"s" + message.encode("utf-8")
        if isinstance(message, bytes | bytearray | memoryview):
            return self._prefix + b"b" + bytes(message)
        if isinstance(message, Text):
            return self._prefix + b"T" + message.data.encode("utf-8")
        if isinstance(message, Binary):
            return self._prefix + b"B" + bytes(message.data)
        return self._prefix + self._kind + self._serializer.dumps(message)

    def frame(self, message: str | bytes) -> bytes:
        """The envelope for a fast-lane frame (``broadcast_frame``)."""
        if isinstance(message, str):
            return self._prefix + b"t" + message.encode("utf-8")
        return self._prefix + b"y" + message

    # -- decoding -------------------------------------------------------------------------

    def decode(self, data: bytes) -> Envelope:
        """Raises ValueError for anything that is not an envelope we can read."""
        if len(data) < _HEADER or data[0] != VERSION:
            raise ValueError("not a websock pubsub envelope")
        origin = data[1 : 1 + ORIGIN_SIZE]
        kind = data[_HEADER - 1]
        body = data[_HEADER:]
        if kind in FRAME_KINDS:
            return Envelope(origin, True, body.decode("utf-8") if kind == 0x74 else body)
        return Envelope(origin, False, self.loads(kind, body))

    def loads(self, kind: int, body: bytes) -> Any:
        if kind == 0x73:  # s
            return body.decode("utf-8")
        if kind == 0x62:  # b
            return body
        if kind == 0x54:  # T
            return Text(body.decode("utf-8"))
        if kind == 0x42:  # B
            return Binary(body)
        if kind == self._kind[0]:
            return self._serializer.loads(body)
        raise ValueError(f"payload kind {chr(kind)!r} does not match this node's serializer")

    def local_copy(self, envelope: bytes) -> Any:
        """What local subscribers get: the message as remote nodes will decode it, so every
        node's subscribers see the same value (e.g. JSON turns a tuple into a list)."""
        return self.decode(envelope).message
