"""The sans-I/O core imports no event loop (DESIGN: protocol/ never imports asyncio)."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import websock.protocol

SRC = Path(websock.protocol.__file__).resolve().parents[2]

CHECK = """
import importlib, pkgutil, sys
import websock.protocol
names = ["websock.protocol"] + [
    "websock.protocol." + m.name for m in pkgutil.iter_modules(websock.protocol.__path__)
]
for name in names:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m == "asyncio" or m.startswith("asyncio."))
print(",".join(names))
print(",".join(loaded))
"""


def test_protocol_modules_do_not_import_asyncio() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    imported, loaded = result.stdout.splitlines()
    expected = {m.name for m in pkgutil.iter_modules(websock.protocol.__path__)}
    assert {"connection", "frames", "utf8", "events"} <= expected
    assert imported.split(",") == ["websock.protocol"] + [
        f"websock.protocol.{name}" for name in sorted(expected)
    ]
    assert loaded == "", f"importing websock.protocol loaded {loaded}"
