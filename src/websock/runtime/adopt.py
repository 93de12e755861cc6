"""Finishing a coroutine that was first stepped inline, outside any task.

The session runs an ``async def`` callback by calling ``coro.send(None)`` itself: most
callbacks finish in that first step and cost no task at all. One that really suspends has
already yielded (typically a future with ``_asyncio_future_blocking`` set) to *us*;
``resume`` hands that same value on to the task that adopts the coroutine and forwards
every later send/throw, so asyncio sees an ordinary coroutine.

Known limit: code that runs before the first suspension is not inside a task of its own
(``asyncio.current_task()`` is the host's task or None), so ``asyncio.timeout()`` entered
there is refused or bound to the host's task. Await something first, or wrap the work in
``asyncio.create_task``/``asyncio.wait_for`` which create their own task.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["resume"]


@types.coroutine
def resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """Await this in a task to finish ``coro``, which last yielded ``yielded``."""
    send = coro.send
    throw = coro.throw
    while True:
        try:
            value = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # forwarded: cancellation included
            try:
                yielded = throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = send(value)
            except StopIteration as stop:
                return stop.value
