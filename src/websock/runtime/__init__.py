"""The runtime: drives one handler over any transport (SPEC §3).

    session.py       Session: callbacks, results, timers, mailbox delivery, flow control
    close_policy.py  the one table: every ending → close code + terminate reason
    handle.py        ConnectionHandle: the thread-safe mailbox (``connection().send``)
    context.py       ``websock.connection()``
    callbacks.py     inspecting a handler once (stdlib only; ``upgrade()`` uses it too)
    adopt.py         finishing an inline-stepped coroutine inside a task
    transport.py     what a host implements (Transport)

Nothing is imported here, so ``websock.runtime.callbacks`` and ``close_policy`` stay free
of asyncio.
"""
