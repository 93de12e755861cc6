"""The local half of PubSub: who subscribes to what in this process, and delivery to them.

    topics:  topic → event loop → {handle: None}   (an ordered set per loop)
    members: handle → {topics}                     (to forget a connection in one step)

Subscriptions end with the connection: the first subscription of a handle registers one
``on_close`` callback that removes the handle from every topic, so nothing outlives the
connection (tests/pubsub/test_leak.py measures it over 100,000 connections).

Delivery may start on any thread. ``handle_info`` messages go through each handle's
thread-safe mailbox. Fast-lane frames are written by the subscriber's own event loop:
subscribers on the caller's loop are written to at once, every other loop gets one
``call_soon_threadsafe`` per broadcast (not one per subscriber).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from ..exceptions import HandlerError, MailboxFull
from ..runtime.handle import ConnectionHandle
from ._frame import PreparedFrame
from ._stats import Counters

__all__ = ["Registry"]

_Loop = asyncio.AbstractEventLoop


class Registry:
    def __init__(self, stats: Counters, on_topic: Callable[[str], object] | None = None) -> None:
        self._lock = threading.Lock()
        self._topics: dict[str, dict[_Loop, dict[ConnectionHandle, None]]] = {}
        self._members: dict[ConnectionHandle, set[str]] = {}
        self._stats = stats
        # Told (outside the lock, on the subscriber's thread) that a topic gained its first
        # or lost its last local subscriber; it reads the truth with has() (Redis node).
        self._on_topic = on_topic

    # -- membership (on the connection's loop) -------------------------------------------

    def subscribe(self, topic: str, handle: ConnectionHandle) -> None:
        _check_topic(topic)
        if handle.closed:
            return  # e.g. called from terminate: the subscription would end at once
        with self._lock:
            topics = self._members.get(handle)
            first_of_handle = topics is None
            if topics is None:
                topics = self._members[handle] = set()
            elif topic in topics:
                return
            topics.add(topic)
            by_loop = self._topics.get(topic)
            new_topic = by_loop is None
            if by_loop is None:
                by_loop = self._topics[topic] = {}
            by_loop.setdefault(handle.loop, {})[handle] = None
        if first_of_handle:
            self._watch(handle)
        if new_topic and self._on_topic is not None:
            self._on_topic(topic)

    def unsubscribe(self, topic: str, handle: ConnectionHandle) -> None:
        with self._lock:
            topics = self._members.get(handle)
            if topics is None or topic not in topics:
                return
            topics.discard(topic)
            # The member entry stays (empty) until the connection ends: its on_close is
            # registered once, however often it subscribes and unsubscribes.
            gone = self._remove(topic, handle)
        if gone and self._on_topic is not None:
            self._on_topic(topic)

    def _watch(self, handle: ConnectionHandle) -> None:
        if threading.get_ident() == handle._thread:
            handle.on_close(self._forget)
        else:  # on_close must be registered on the connection's loop
            handle._loop.call_soon_threadsafe(handle.on_close, self._forget)

    def _forget(self, handle: ConnectionHandle) -> None:
        """The connection ended: drop it from every topic."""
        gone: list[str] = []
        with self._lock:
            topics = self._members.pop(handle, None)
            if topics:
                gone = [topic for topic in topics if self._remove(topic, handle)]
        if self._on_topic is not None:
            for topic in gone:
                self._on_topic(topic)

    def _remove(self, topic: str, handle: ConnectionHandle) -> bool:
        """Under the lock; True if ``topic`` lost its last local subscriber."""
        by_loop = self._topics[topic]
        handles = by_loop[handle.loop]
        del handles[handle]
        if not handles:
            del by_loop[handle.loop]
            if not by_loop:
                del self._topics[topic]
                return True
        return False

    # -- queries ----------------------------------------------------------------------------

    def has(self, topic: str) -> bool:
        return topic in self._topics

    def topics(self) -> list[str]:
        with self._lock:
            return list(self._topics)

    def count(self, topic: str) -> int:
        with self._lock:
            by_loop = self._topics.get(topic)
            return sum(map(len, by_loop.values())) if by_loop else 0

    def topics_of(self, handle: ConnectionHandle) -> set[str]:
        with self._lock:
            return set(self._members.get(handle, ()))

    def sizes(self) -> tuple[int, int, int]:
        """(topics, subscriptions, member entries): for stats and leak tests."""
        with self._lock:
            subscriptions = sum(
                len(handles) for by_loop in self._topics.values() for handles in by_loop.values()
            )
            return len(self._topics), subscriptions, len(self._members)

    # -- delivery (any thread) -----------------------------------------------------------

    def _snapshot(self, topic: str) -> list[tuple[_Loop, list[ConnectionHandle]]]:
        with self._lock:
            by_loop = self._topics.get(topic)
            if not by_loop:
                return []
            return [(loop, list(handles)) for loop, handles in by_loop.items()]

    def deliver(self, topic: str, message: Any) -> None:
        """``message`` to every local subscriber's ``handle_info`` (through its mailbox)."""
        handles = [handle for _, group in self._snapshot(topic) for handle in group]
        self._send_all(message, handles)

    def deliver_via_loops(self, topic: str, message: Any) -> None:
        """Like ``deliver``, from a thread that runs none of the subscribers' loops (the
        Redis node): one ``call_soon_threadsafe`` per loop, not one wake-up per handle."""
        for loop, handles in self._snapshot(topic):
            try:
                loop.call_soon_threadsafe(self._send_all, message, handles)
            except RuntimeError:  # that loop is closed: its connections are gone
                self._stats.add(dropped_closed=len(handles))

    def _send_all(self, message: Any, handles: list[ConnectionHandle]) -> None:
        delivered = closed = full = 0
        for handle in handles:
            try:
                if handle.send(message):
                    delivered += 1
                elif handle.closed:
                    closed += 1
                else:
                    full += 1
            except MailboxFull:  # the subscriber chose mailbox_overflow="raise"
                full += 1
        self._stats.add(delivered=delivered, dropped_closed=closed, dropped_mailbox=full)

    def deliver_frame(self, topic: str, frame: PreparedFrame) -> None:
        """The fast lane: ``frame`` written to every local subscriber, no handler woken."""
        try:
            running: _Loop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, handles in self._snapshot(topic):
            if loop is running:
                self._write(frame, handles)
                continue
            try:
                loop.call_soon_threadsafe(self._write, frame, handles)
            except RuntimeError:  # that loop is closed: its connections are gone
                self._stats.add(dropped_closed=len(handles))

    def _write(self, frame: PreparedFrame, handles: list[ConnectionHandle]) -> None:
        """On the handles' loop: one frame, many transports; slow ones are skipped."""
        sent = slow = closed = 0
        for handle in handles:
            outcome = handle._owner.send_prepared(frame)
            if outcome == "sent":
                sent += 1
            elif outcome == "slow":
                slow += 1
            else:
                closed += 1
        self._stats.add(frames_sent=sent, dropped_slow=slow, dropped_closed=closed)

    def notify_all(self, make: Callable[[str], Any]) -> int:
        """``make(topic)`` to every subscriber of every topic (Resync); returns how many."""
        sent = 0
        for topic in self.topics():
            message = make(topic)
            for _, handles in self._snapshot(topic):
                for handle in handles:
                    try:
                        sent += handle.send(message)
                    except MailboxFull:
                        pass
        return sent


def _check_topic(topic: object) -> None:
    if not isinstance(topic, str) or not topic:
        raise HandlerError(f"a topic is a non-empty str, not {topic!r}")
