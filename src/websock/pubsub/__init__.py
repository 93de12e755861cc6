"""Topics over connections (SPEC §4): ``websock.PubSub``, in-process or through Redis.

    pubsub = websock.PubSub()                          # one process
    pubsub = websock.PubSub("redis://localhost:6379/0")  # every process on that Redis

    def init(self, arg):                 # inside any callback: the current connection
        pubsub.subscribe("room:1")
        return Ok(arg)

    pubsub.broadcast("room:1", ("say", "ann", "hi"))   # → handle_info of each subscriber
    pubsub.broadcast_frame("room:1", Text("tick"))     # fast lane: same bytes, no handler

Guide, delivery semantics and every counter: docs/pubsub.md.
"""

from ._codec import JsonSerializer, PickleSerializer, Serializer
from ._frame import PreparedFrame
from ._messages import Resync
from ._pubsub import PubSub
from ._stats import PubSubStats

__all__ = [
    "JsonSerializer",
    "PickleSerializer",
    "PreparedFrame",
    "PubSub",
    "PubSubStats",
    "Resync",
    "Serializer",
]
