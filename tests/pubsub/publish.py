"""Plain synchronous code with no event loop (a worker, a CLI script) broadcasting.

python -m tests.pubsub.publish REDIS_URL TOPIC MESSAGE
"""

from __future__ import annotations

import sys

import websock


def main(argv: list[str]) -> int:
    url, topic, message = argv
    with websock.PubSub(url) as pubsub:
        pubsub.broadcast(topic, message)  # blocks until Redis took it; raises if it cannot
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
