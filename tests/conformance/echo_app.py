"""The app Autobahn|Testsuite plays against: echo every message, compression on.

    websock serve tests.conformance.echo_app:app --port 9001

Limits are raised so that the largest cases pass (9.1.6/9.2.6 send 16 MiB messages in one
frame), and timers are set so that they never interfere: Autobahn records every frame, so a
keepalive ping of ours would show up in its transcripts, and 9.* cases run for a while.
"""

from __future__ import annotations

from typing import Any

import websock
from websock import Request, Response, Upgrade
from websock.contract.echo import EchoHandler

MiB = 1 << 20

OPTIONS: dict[str, Any] = {
    "compress": True,
    "max_message_size": 16 * MiB,
    # The frame limit counts the header too (2 + 8 length bytes + 4 mask bytes, RFC 6455
    # §5.2), and 9.1.6 sends a 16 MiB payload in a single frame.
    "max_frame_size": 16 * MiB + 14,
    # 12.*/13.* send compressible text; the message limit still bounds every inflation.
    "max_inflate_ratio": 100_000.0,
    "timeout": 600.0,
    "ping_interval": None,
    "ping_timeout": None,
}


ECHO = EchoHandler()


async def app(request: Request) -> Upgrade | Response:
    return websock.upgrade(request, ECHO, None, **OPTIONS)
