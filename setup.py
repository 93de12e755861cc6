"""Build hook for the optional C accelerator; the metadata lives in pyproject.toml.

``websock.protocol._speedups`` is built with the machine's C compiler when one is there.
If it cannot be built (no compiler, no Python headers, WEBSOCK_NO_EXTENSIONS=1 at build
time), the install still succeeds and websock runs its pure-Python twins of the same
functions (``websock.protocol._accel`` chooses at import).
"""

from __future__ import annotations

import os

from setuptools import Extension, setup

ext_modules = []
if os.environ.get("WEBSOCK_NO_EXTENSIONS") != "1":
    ext_modules.append(
        Extension(
            "websock.protocol._speedups",
            [
                "src/websock/protocol/_speedups.c",
                "src/websock/protocol/_method.c",
                "src/websock/protocol/_fieldinit.c",
                "src/websock/protocol/_serve.c",
            ],
            depends=["src/websock/protocol/_speedups.h"],
            extra_compile_args=["-O3"],
            # optional: a failed compile is a warning, not a failed install.
            optional=True,
        )
    )

setup(ext_modules=ext_modules)
