"""The Redis half of PubSub: one node's link to the other nodes (redis-py's asyncio client).

One Redis channel per topic (``prefix + topic``). The node SUBSCRIBEs to a channel while
it has a local subscriber of the topic and UNSUBSCRIBEs when the last one leaves, so a
node receives only the topics it serves.

The node runs on its own thread and event loop, started when the PubSub is created (in a
server: while the app is imported, before any connection arrives) and connected by the
time ``start()`` returns, so a SPEC-only app's first subscriptions do not race the
connection. Connections' loops hand it work with ``call_soon_threadsafe``; it hands
deliveries back the same way, once per loop and message.

    supervisor task   connect → SUBSCRIBE what is wanted → PING barrier → read messages;
                      on any failure: mark down, back off (jittered, doubling), reconnect
    publisher task    PUBLISHes queued messages (pipelined when several wait)
    keepalive task    PINGs every ``health_interval``; no PONG by the next one = dead link

A PING carrying a generation number follows each batch of subscription changes: its PONG
proves Redis applied everything before it (Redis answers one connection's commands in
order), which is what ``synced()`` waits for.

Delivery is at-most-once: while Redis is unreachable, publishes are dropped and counted,
and what other nodes published is missed. After reconnecting, the node re-subscribes,
waits for the barrier and only then sends ``Resync(topic)`` to every local subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
from collections import deque
from collections.abc import Coroutine, Mapping
from typing import Any, Final

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..runtime.adopt import resume
from ._codec import Codec
from ._frame import PreparedFrame
from ._local import Registry
from ._messages import Resync
from ._stats import Counters

__all__ = ["RedisNode"]

logger: Final = logging.getLogger("websock.pubsub")

_SYNC: Final = "websock-sync:"
_HEALTH: Final = "websock-health"
_BATCH: Final = 1000  # PUBLISHes per pipeline round trip
_STARTUP_WAIT: Final = 2.0  # seconds start() waits for the first connection attempt


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class RedisNode:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        codec: Codec,
        registry: Registry,
        stats: Counters,
        reconnect_min: float,
        reconnect_max: float,
        publish_queue: int,
        health_interval: float,
        redis_options: Mapping[str, Any],
    ) -> None:
        self.url = url
        self._prefix = prefix
        self._prefix_bytes = prefix.encode("utf-8")
        self._codec = codec
        self._registry = registry
        self._stats = stats
        self._min = reconnect_min
        self._max = reconnect_max
        self._queue_size = publish_queue
        self._health = health_interval
        # Our own reconnection logic (with the Resync it implies) replaces redis-py's
        # silent retries: no retry inside the client.
        base: dict[str, Any] = {
            "socket_connect_timeout": 5.0,
            "socket_keepalive": True,
            **redis_options,
        }
        self._options = {"retry": AsyncRetry(NoBackoff(), 0), **base}
        # Publishing retries once on a fresh connection: after Redis restarted, the pooled
        # connection is stale and the first PUBLISH on it fails although Redis is back.
        self._publish_options = {"retry": AsyncRetry(NoBackoff(), 1), **base}
        self._sync_options = {"retry": Retry(NoBackoff(), 1), **base}
        self._sync_lock = threading.Lock()
        self._sync_client: redis.Redis | None = None
        self._closing = False
        self._start_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner = threading.Thread()
        self._pid = 0
        self._reset()

    def _reset(self) -> None:
        """Per node thread state (a forked child starts afresh)."""
        self._thread = 0
        self._client: redis.asyncio.Redis | None = None
        self._publisher: redis.asyncio.Redis | None = None
        self._ps: redis.asyncio.client.PubSub | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wake: asyncio.Event | None = None
        self._have: set[str] = set()
        self._applying = False
        self._dirty = False
        self._gen_req = 0
        self._gen_acked = -1
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._connected = False
        self._down = False
        self._resync_due = False
        self._pong_seen = False
        self._first_attempt = threading.Event()  # the first connection attempt ended

    @property
    def connected(self) -> bool:
        return self._connected

    # -- the node's own thread and loop ----------------------------------------------------------

    def start(self) -> asyncio.AbstractEventLoop | None:
        """Start the node's thread (if not running in this process) and return its loop.

        Called when the PubSub is created, so the node is connected to Redis by the time
        the first connection subscribes (typically: at import, before the server accepts).
        A forked child (a pre-forking server) gets its own thread on first use.
        """
        with self._start_lock:
            if self._closing:
                return None
            loop = self._loop
            if loop is not None and self._pid == os.getpid() and self._runner.is_alive():
                return loop
            self._reset()
            loop = asyncio.new_event_loop()
            started = threading.Event()
            self._runner = threading.Thread(
                target=self._run, args=(loop, started), name="websock-pubsub-redis", daemon=True
            )
            self._loop = loop
            self._pid = os.getpid()
            self._runner.start()
            started.wait()
        # Wait (briefly, once) for the first connection attempt: subscriptions made right
        # after start-up then take effect at once instead of racing the connection.
        self._first_attempt.wait(_STARTUP_WAIT)
        return loop

    def _run(self, loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        self._thread = threading.get_ident()
        self._client = redis.asyncio.Redis.from_url(self.url, **self._options)
        self._publisher = redis.asyncio.Redis.from_url(self.url, **self._publish_options)
        self._wake = asyncio.Event()
        self._spawn(self._supervise())
        self._spawn(self._publish_loop())
        self._spawn(self._warm_publisher())
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_home_thread(self) -> bool:
        return threading.get_ident() == self._thread

    # -- entry points (any thread) ------------------------------------------------------------

    def topic_changed(self, topic: str) -> None:
        """A topic gained its first or lost its last local subscriber."""
        loop = self.start()
        if loop is None:
            return
        if self._on_home_thread():
            self._changed()
        else:
            loop.call_soon_threadsafe(self._changed)

    def publish(self, topic: str, data: bytes) -> None:
        channel = self._prefix + topic
        if _running_loop() is None and not self._on_home_thread():
            # This thread runs no event loop (a worker, a script): a blocking PUBLISH that
            # raises on failure, rather than a message that may not leave before exit.
            self._publish_sync(channel, data)
            return
        loop = self.start()
        if loop is None:
            self._stats.add(dropped_unavailable=1)  # closed
        elif self._on_home_thread():
            self._enqueue(channel, data)
        else:
            try:
                loop.call_soon_threadsafe(self._enqueue, channel, data)
            except RuntimeError:  # closed meanwhile
                self._stats.add(dropped_unavailable=1)

    def _publish_sync(self, channel: str, data: bytes) -> None:
        # No event loop here (a worker thread, a CLI script): a blocking PUBLISH on redis-py's
        # sync client; a failure is raised to the caller, who can act on it.
        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = redis.Redis.from_url(self.url, **self._sync_options)
            client = self._sync_client
        try:
            client.publish(channel, data)
        except (redis.RedisError, OSError):
            self._stats.add(dropped_unavailable=1)
            raise
        self._stats.add(published=1)

    async def synced(self) -> None:
        """Return once Redis applied every subscription change made before the call."""
        home = self.start()
        if home is None:
            raise RuntimeError("this PubSub is closed")
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._synced(), home))

    async def _synced(self) -> None:
        running = asyncio.get_running_loop()
        target = self._gen_req
        if self._connected and self._gen_acked >= target:
            return
        future: asyncio.Future[None] = running.create_future()
        self._waiters.append((target, future))
        if self._ps is not None and not self._applying:
            self._eager(self._apply())
        await future

    # -- on the node's loop ---------------------------------------------------------------------

    def _changed(self) -> None:
        self._gen_req += 1
        if self._ps is not None:
            self._eager(self._apply())

    def _eager(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` inline up to its first real suspension, then in a task."""
        try:
            yielded = coro.send(None)
        except StopIteration:
            return
        self._spawn(_finish(coro, yielded))

    def _enqueue(self, channel: str, data: bytes) -> None:
        if self._down:
            self._stats.add(dropped_unavailable=1)
            return
        if len(self._queue) >= self._queue_size:
            self._stats.add(dropped_backlog=1)
            return
        self._queue.append((channel, data))
        assert self._wake is not None
        self._wake.set()

    async def _apply(self) -> None:
        """Bring the channel subscriptions in line with the local topics, then PING."""
        if self._applying:
            self._dirty = True
            return
        self._applying = True
        ps = None
        try:
            while True:
                self._dirty = False
                ps = self._ps
                if ps is None:
                    return
                generation = self._gen_req
                want = {self._prefix + topic for topic in self._registry.topics()}
                add = sorted(want - self._have)
                remove = sorted(self._have - want)
                if add:
                    self._have.update(add)
                    await ps.subscribe(*add)
                if remove:
                    self._have.difference_update(remove)
                    await ps.unsubscribe(*remove)
                await ps.ping(f"{_SYNC}{generation}")
                if not self._dirty:
                    return
        except (redis.RedisError, OSError) as exc:
            # The reader sees the same failure and reconnects; that re-applies everything.
            logger.debug("websock pubsub: subscription update failed: %r", exc)
        finally:
            self._applying = False
            if self._dirty and self._ps is not None and self._ps is not ps:
                self._eager(self._apply())

    async def _supervise(self) -> None:
        delay = self._min
        while not self._closing:
            try:
                await self._connection()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closing:
                    return
                if self._connected:
                    delay = self._min  # it worked for a while: start the backoff afresh
                self._lost(exc)
            # Backoff with jitter so that many nodes do not reconnect in lockstep.
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, self._max)

    async def _connection(self) -> None:
        assert self._client is not None
        ps = self._client.pubsub()
        try:
            await ps.connect()  # type: ignore[no-untyped-call]
            self._ps = ps
            self._have = set()
            await self._apply()
            reader = asyncio.ensure_future(self._read(ps))
            keepalive = asyncio.ensure_future(self._keepalive(ps))
            try:
                done, _ = await asyncio.wait(
                    (reader, keepalive), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                reader.cancel()
                keepalive.cancel()
                await asyncio.gather(reader, keepalive, return_exceptions=True)
            for task in done:
                task.result()  # raises the failure
            raise redis.ConnectionError("no PONG from Redis within the health interval")
        finally:
            if self._ps is ps:
                self._ps = None
            try:
                await ps.aclose()  # type: ignore[no-untyped-call]
            except Exception:  # the link is already broken; nothing to release
                pass

    async def _read(self, ps: redis.asyncio.client.PubSub) -> None:
        while not self._closing:
            message = await ps.get_message(timeout=None)
            if message is not None:
                self._on_message(message)

    async def _keepalive(self, ps: redis.asyncio.client.PubSub) -> None:
        while not self._closing:
            self._pong_seen = False
            await ps.ping(_HEALTH)
            await asyncio.sleep(self._health)
            if not self._pong_seen:
                return

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            self._remote(message["channel"], message["data"])
        elif kind == "pong":
            self._pong_seen = True
            data = message["data"]
            text = data.decode("ascii", "replace") if isinstance(data, bytes) else str(data)
            if text.startswith(_SYNC):
                self._acked(int(text[len(_SYNC) :]))

    def _remote(self, channel: bytes, data: bytes) -> None:
        try:
            envelope = self._codec.decode(data)
            topic = channel[len(self._prefix_bytes) :].decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            self._stats.add(dropped_invalid=1)
            return
        except Exception:  # a custom serializer's loads() failed
            logger.exception("websock pubsub: cannot decode a message on %r", channel)
            self._stats.add(dropped_invalid=1)
            return
        if envelope.origin == self._codec.origin:
            return  # ours: delivered locally when it was broadcast
        self._stats.add(received=1)
        if envelope.frame:
            frame = PreparedFrame(envelope.message, self._stats.on_encode)
            self._registry.deliver_frame(topic, frame)
        else:
            self._registry.deliver_via_loops(topic, envelope.message)

    def _acked(self, generation: int) -> None:
        self._gen_acked = max(self._gen_acked, generation)
        if not self._connected:
            self._connected = True
            self._first_attempt.set()
            self._down = False
            logger.info("websock pubsub: connected to %s", _safe_url(self.url))
            if self._resync_due:
                self._resync_due = False
                sent = self._registry.notify_all(Resync)
                self._stats.add(reconnects=1, resyncs=sent)
        waiting = []
        for target, future in self._waiters:
            if target <= self._gen_acked:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((target, future))
        self._waiters = waiting

    def _lost(self, exc: BaseException) -> None:
        if self._connected or not self._down:
            logger.warning(
                "websock pubsub: Redis at %s unreachable (%s); connections stay up, "
                "reconnecting with backoff",
                _safe_url(self.url),
                exc,
            )
        self._connected = False
        self._down = True
        self._resync_due = True
        self._first_attempt.set()
        dropped = len(self._queue)
        self._queue.clear()
        if dropped:
            self._stats.add(dropped_unavailable=dropped)

    async def _warm_publisher(self) -> None:
        # Open the PUBLISH connection now, so the first broadcast does not wait for it.
        assert self._publisher is not None
        try:
            await self._publisher.ping()
        except (redis.RedisError, OSError):
            pass  # the supervisor reports an unreachable Redis

    async def _publish_loop(self) -> None:
        assert self._publisher is not None and self._wake is not None
        client, wake, queue = self._publisher, self._wake, self._queue
        while not self._closing:
            await wake.wait()
            wake.clear()
            while queue and not self._closing:
                batch = [queue.popleft() for _ in range(min(len(queue), _BATCH))]
                try:
                    if len(batch) == 1:
                        await client.publish(*batch[0])
                    else:
                        pipe = client.pipeline(transaction=False)
                        for channel, data in batch:
                            pipe.publish(channel, data)
                        await pipe.execute()
                except (redis.RedisError, OSError) as exc:
                    logger.debug("websock pubsub: PUBLISH failed: %r", exc)
                    self._stats.add(dropped_unavailable=len(batch))
                else:
                    self._stats.add(published=len(batch))

    def close(self, timeout: float = 10.0) -> None:
        """Stop the node: its tasks, connections and thread (blocking, from any thread)."""
        with self._start_lock:
            self._closing = True
            loop, runner = self._loop, self._runner
        if loop is not None and runner.is_alive() and self._pid == os.getpid():
            stopping = asyncio.run_coroutine_threadsafe(self._stop(), loop)
            try:
                stopping.result(timeout)
            except Exception:
                logger.exception("websock pubsub: error while stopping")
            loop.call_soon_threadsafe(loop.stop)
            runner.join(timeout)
        self.close_sync()

    async def _stop(self) -> None:
        """On the node loop: cancel the tasks, close the clients, fail the waiters."""
        if self._wake is not None:
            self._wake.set()  # the publisher exits its loop even if a cancel gets lost
        pending = set(self._tasks)
        # redis-py can swallow a cancellation that lands inside one of its calls (the task
        # then awaits again); the loops check _closing, and the cancel is repeated.
        for _ in range(5):
            if not pending:
                break
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        if pending:
            logger.warning("websock pubsub: %d Redis task(s) did not stop", len(pending))
        for client in (self._client, self._publisher):
            if client is not None:
                await client.aclose()
        self._client = self._publisher = None
        for _, future in self._waiters:
            future.cancel()
        self._waiters = []

    def close_sync(self) -> None:
        with self._sync_lock:
            client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()


async def _finish(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    await resume(coro, yielded)


def _safe_url(url: str) -> str:
    """The URL without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest
