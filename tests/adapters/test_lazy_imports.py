"""Importing websock's adapters imports no host library (each host is an optional extra)."""

from __future__ import annotations

import subprocess
import sys

HOST_LIBRARIES = ("uvicorn", "hypercorn", "daphne", "granian", "starlette", "aiohttp", "websockets")


def test_adapters_import_no_host_library() -> None:
    code = (
        "import sys\n"
        "import websock\n"
        "import websock.adapters.asgi, websock.adapters.aiohttp, websock.adapters.websockets\n"
        f"print(','.join(m for m in {HOST_LIBRARIES!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == ""
