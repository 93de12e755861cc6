"""Micro-benchmark of the sans-I/O parser: masked client frames → events.

    PYTHONPATH=src python bench/micro_parse.py [--size 32] [--batch 16] [--repeat 5]

Prints frames parsed per second (the best of ``--repeat`` runs, since a shared machine
only ever makes a run slower), for comparing parser changes (and an accelerator) on one
machine; absolute numbers mean little across machines.
"""

from __future__ import annotations

import argparse
import os
import time

from websock.options import Options
from websock.protocol.connection import ServerConnection
from websock.protocol.frames import Opcode, encode_frame


def run(size: int, batch: int, seconds: float, binary: bool) -> float:
    opcode = Opcode.BINARY if binary else Opcode.TEXT
    payload = b"x" * size
    chunk = b"".join(encode_frame(opcode, payload, mask=os.urandom(4)) for _ in range(batch))
    conn = ServerConnection(Options())
    receive = conn.receive_data
    calls = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while True:
        for _ in range(200):
            events = receive(chunk)
        calls += 200
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    assert len(events) == batch
    return calls * batch / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="payload bytes per frame")
    parser.add_argument("--batch", type=int, default=16, help="frames per receive_data call")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one run")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best one counts")
    parser.add_argument("--binary", action="store_true", help="binary instead of text frames")
    args = parser.parse_args()
    rate = max(run(args.size, args.batch, args.seconds, args.binary) for _ in range(args.repeat))
    kind = "binary" if args.binary else "text"
    print(
        f"{rate:,.0f} frames/s ({args.size}-byte masked {kind} frames, "
        f"{args.batch} per receive_data call)"
    )


if __name__ == "__main__":
    main()
