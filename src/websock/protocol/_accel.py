"""Which implementation of the protocol's hot loops runs: C (``_speedups``) or Python.

The C accelerator is optional: built by the package build when a compiler is there
(setup.py), it has the same functions with the same results as ``_pure``. It is used
when importable, unless ``WEBSOCK_NO_EXTENSIONS=1`` (read once, at import) forces pure
Python. Callers look the functions up on this module at call time (``_accel.apply_mask``),
so ``use()`` switches every caller at once; the tests run both that way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final, Literal

from ..results import Binary, Text
from . import _pure

__all__ = [
    "IMPLEMENTATION",
    "apply_mask",
    "apply_mask_inplace",
    "available",
    "message_buffer",
    "message_bytes",
    "parse_small",
    "unmask_into",
    "use",
    "utf8_check",
]

Implementation = Literal["c", "python"]

_FUNCTIONS: Final = (
    "apply_mask",
    "apply_mask_inplace",
    "message_buffer",
    "message_bytes",
    "parse_small",
    "unmask_into",
    "utf8_check",
)


def _load_c() -> ModuleType | None:
    if any(hasattr(cls, "__post_init__") for cls in (Text, Binary)):
        # The C parser fills the one slot of Text/Binary directly, which is all their
        # generated __init__ does; a class that checks more must be built by Python.
        return None
    try:
        from . import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    speedups: ModuleType = _speedups
    speedups.setup(Text, Binary)  # the classes its frame parser builds
    return speedups


_c: Final = None if os.environ.get("WEBSOCK_NO_EXTENSIONS") == "1" else _load_c()

apply_mask: Callable[..., bytes] = _pure.apply_mask
apply_mask_inplace: Callable[..., None] = _pure.apply_mask_inplace
parse_small: Callable[[bytes, int, list[Any], bool], int] = _pure.parse_small
utf8_check: Callable[..., int] = _pure.utf8_check
message_buffer: Callable[[int], Any] = _pure.message_buffer
unmask_into: Callable[[Any, int, Any, Any, int], None] = _pure.unmask_into
message_bytes: Callable[[Any], bytes] = _pure.message_bytes
IMPLEMENTATION: Implementation = "python"


def available() -> tuple[Implementation, ...]:
    """The implementations that can run here: ``("c", "python")`` or ``("python",)``."""
    return ("c", "python") if _c is not None else ("python",)


def use(name: Implementation) -> Implementation:
    """Switch every caller to ``name``; returns the previous choice (tests use it)."""
    global IMPLEMENTATION
    if name not in available():
        raise ValueError(f"implementation {name!r} is not available here: {available()}")
    source: Any = _c if name == "c" else _pure
    previous = IMPLEMENTATION
    for function in _FUNCTIONS:
        globals()[function] = getattr(source, function)
    IMPLEMENTATION = name
    return previous


if _c is not None:
    use("c")
