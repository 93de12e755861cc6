"""``websock.PubSub``: topics over connections, in one process or across many (SPEC §4)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from ..exceptions import HandlerError
from ..runtime.context import connection
from ..runtime.handle import ConnectionHandle
from ._codec import Codec, Serializer, SerializerName
from ._frame import FrameInput, PreparedFrame
from ._local import Registry, _check_topic
from ._stats import Counters, PubSubStats

__all__ = ["PubSub"]


class PubSub:
    """Topics: ``subscribe`` connections, ``broadcast`` to them; docs/pubsub.md has the rest.

    ``PubSub()`` keeps everything in this process. ``PubSub("redis://host:port/db")``
    also carries every broadcast to the other nodes (processes, machines) using the same
    Redis and ``prefix``; a node receives only the topics it has subscribers for.

    Options (Redis only): ``prefix`` of the channel names; ``serializer`` for messages that
    are not str/bytes/Text/Binary (``"json"``, the default, ``"pickle"`` between trusted
    nodes only, or an object with ``dumps``/``loads``); ``reconnect_min``/``reconnect_max``
    backoff bounds in seconds; ``publish_queue`` (messages waiting for Redis, beyond which
    broadcasts are dropped and counted); ``health_interval`` (seconds between PINGs that
    detect a dead link); ``redis_options`` passed to redis-py's ``from_url``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "websock:",
        serializer: SerializerName | Serializer = "json",
        reconnect_min: float = 0.1,
        reconnect_max: float = 5.0,
        publish_queue: int = 10_000,
        health_interval: float = 15.0,
        redis_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._stats = Counters()
        self._node: Any = None  # RedisNode; imported only when used (redis is optional)
        self._codec: Codec | None = None
        if url is not None:
            if not url.startswith(("redis://", "rediss://", "unix://")):
                raise HandlerError(
                    f"PubSub(url): a redis://, rediss:// or unix:// URL, not {url!r}"
                )
            if not 0 < reconnect_min <= reconnect_max:
                raise HandlerError("need 0 < reconnect_min <= reconnect_max")
            if publish_queue < 1 or not health_interval > 0:
                raise HandlerError("publish_queue must be >= 1, health_interval > 0")
            try:
                from ._redis import RedisNode
            except ImportError as exc:  # pragma: no cover - redis is in the dev extra
                raise HandlerError(
                    "PubSub('redis://...') needs redis-py: pip install 'pywebsock[redis]'"
                ) from exc
            self._codec = Codec(os.urandom(8), serializer)
        self._registry = Registry(self._stats)
        if url is not None:
            self._node = RedisNode(
                url,
                prefix=prefix,
                codec=self._codec,  # type: ignore[arg-type]
                registry=self._registry,
                stats=self._stats,
                reconnect_min=reconnect_min,
                reconnect_max=reconnect_max,
                publish_queue=publish_queue,
                health_interval=health_interval,
                redis_options=redis_options or {},
            )
            self._registry._on_topic = self._node.topic_changed
            # The node's own thread connects now, typically while the app is imported and
            # long before the first connection subscribes.
            self._node.start()
        self.url = url

    def __repr__(self) -> str:
        where = "in-process" if self.url is None else self.url.split("@")[-1]
        return f"<websock.PubSub {where}, {self._registry.sizes()[0]} topic(s)>"

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(self, topic: str, handle: ConnectionHandle | None = None) -> None:
        """Subscribe the current connection (``websock.connection()``) to ``topic``.

        Call it inside a callback (or pass ``handle``, on that connection's event loop).
        The subscription ends when the connection ends. With Redis, other nodes' messages
        arrive once Redis applied the SUBSCRIBE: ``await synced()`` to wait for that.
        """
        self._registry.subscribe(topic, connection() if handle is None else handle)

    def unsubscribe(self, topic: str, handle: ConnectionHandle | None = None) -> None:
        """Undo ``subscribe`` (no error if not subscribed)."""
        self._registry.unsubscribe(topic, connection() if handle is None else handle)

    def subscribers(self, topic: str) -> int:
        """How many local connections subscribe to ``topic``."""
        return self._registry.count(topic)

    def topics(self, handle: ConnectionHandle | None = None) -> list[str]:
        """The local topics with subscribers, or the topics of one connection."""
        if handle is None:
            return self._registry.topics()
        return sorted(self._registry.topics_of(handle))

    async def synced(self) -> None:
        """Return once Redis applied every subscribe/unsubscribe made before this call
        (at once for the in-process backend). Waits while Redis is unreachable: wrap it in
        ``asyncio.timeout()`` if that matters."""
        if self._node is not None:
            await self._node.synced()

    # -- broadcasting (any thread, any task, or no event loop at all) ---------------------------

    def broadcast(self, topic: str, message: Any) -> None:
        """Deliver ``message`` to ``handle_info`` of every subscriber of ``topic``.

        Never blocks, except with Redis from code that runs no event loop (a script): there
        it waits for Redis to take the message and raises redis-py's error if it cannot.
        With Redis, ``message`` is encoded first (an unencodable one raises here) and local
        subscribers get what remote ones decode.
        """
        _check_topic(topic)
        self._stats.add(broadcasts=1)
        if self._node is None:
            self._registry.deliver(topic, message)
            return
        assert self._codec is not None
        envelope = self._codec.message(message)
        self._registry.deliver(topic, self._codec.local_copy(envelope))
        self._node.publish(topic, envelope)

    def broadcast_frame(self, topic: str, frame: FrameInput) -> None:
        """The fast lane: send one Text/Binary message to every subscriber of ``topic``
        without waking their handlers; it is framed once per compression setting and the
        same bytes are written to every connection. Subscribers whose transport is above
        high water miss it (counted as ``dropped_slow``). Not ordered with ``handle_info``
        pushes of the same connection."""
        _check_topic(topic)
        prepared = PreparedFrame(frame, self._stats.on_encode)
        self._stats.add(frame_broadcasts=1)
        self._registry.deliver_frame(topic, prepared)
        if self._node is not None:
            assert self._codec is not None
            self._node.publish(topic, self._codec.frame(prepared.message))

    # -- observability and lifetime -------------------------------------------------------------

    @property
    def stats(self) -> PubSubStats:
        topics, subscriptions, _ = self._registry.sizes()
        connected = None if self._node is None else bool(self._node.connected)
        return self._stats.snapshot(topics=topics, subscriptions=subscriptions, connected=connected)

    async def aclose(self) -> None:
        """``close()`` without blocking the event loop."""
        if self._node is not None:
            await asyncio.to_thread(self._node.close)

    def close(self) -> None:
        """Stop the Redis node: its thread, tasks and connections (blocks until done; any
        thread). Local subscriptions stay and end with their connections; later broadcasts
        reach local subscribers only. Also ``with PubSub(url) as pubsub:``."""
        if self._node is not None:
            self._node.close()

    def __enter__(self) -> PubSub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> PubSub:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
