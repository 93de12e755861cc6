"""Which implementation of the protocol's hot loops runs: C (``_speedups``) or Python.

The C accelerator is optional: built by the package build when a compiler is there
(setup.py), it has the same functions with the same results as ``_pure``. It is used
when importable, unless ``WEBSOCK_NO_EXTENSIONS=1`` (read once, at import) forces pure
Python. Callers look the functions up on this module at call time (``_accel.apply_mask``),
so ``use()`` switches every caller at once; the tests run both that way.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final, Literal

from ..results import Binary, Ok, Push, Text
from . import _pure

__all__ = [
    "IMPLEMENTATION",
    "apply_mask",
    "apply_mask_inplace",
    "available",
    "message_buffer",
    "message_bytes",
    "parse_small",
    "setup_serve",
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


#: Methods with a C version: (class, name, Python function, C version), swapped by use().
_METHODS: Final[list[tuple[type, str, object, object]]] = []


def _field_inits(c: ModuleType) -> None:
    """The constructors of the classes built once per message, in C: the C one
    (_fieldinit.c) stores positional fields, and hands every other call to the Python one
    from results.py, its twin."""
    for cls in (Push, Ok, Text, Binary):
        fields = dataclasses.fields(cls)
        if hasattr(cls, "__post_init__") or any(
            f.default_factory is not dataclasses.MISSING for f in fields
        ):
            continue  # a constructor that does more than store its fields stays Python's
        python_init = vars(cls)["__init__"]
        names = tuple(f.name for f in fields)
        defaults = tuple(f.default for f in fields if f.default is not dataclasses.MISSING)
        c_init = c.field_init(cls, python_init, names, defaults)
        _METHODS.append((cls, "__init__", python_init, c_init))


if _c is not None:
    _field_inits(_c)


def setup_serve(
    protocol: type, conn: type, session: type, push: type, current: object, large_payload: int
) -> None:
    """Give the C read path (_serve.c) the classes it mirrors, and give ``protocol`` a
    ``data_received`` that takes the common read there, with its own as the fallback and
    twin. Called once by server/_connection.py."""
    if _c is None:
        return
    _c.setup_serve(protocol, conn, session, push, current, large_payload)
    python_read = vars(protocol)["data_received"]
    c_read = _c.read_method(python_read)
    _METHODS.append((protocol, "data_received", python_read, c_read))
    if IMPLEMENTATION == "c":
        type.__setattr__(protocol, "data_received", c_read)


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
    for cls, method, python_version, c_version in _METHODS:
        type.__setattr__(cls, method, c_version if name == "c" else python_version)
    IMPLEMENTATION = name
    return previous


if _c is not None:
    use("c")
