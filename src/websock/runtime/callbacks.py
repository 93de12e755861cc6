"""Inspect a handler once (SPEC §1): which callbacks it has and which are ``async def``.

Stdlib only (no asyncio), so ``upgrade()`` can use ``inspect_handler`` to reject a bad
handler before the 101 goes out.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ..exceptions import HandlerError
from ..handler import Handler

__all__ = ["Callbacks", "inspect_handler"]

_REQUIRED: Final = ("init", "handle_in", "handle_info")
_OPTIONAL: Final = ("handle_control", "terminate")


@dataclass(frozen=True, slots=True)
class Callbacks:
    """A handler's callbacks, resolved to callables, each with its async flag."""

    name: str
    init: Callable[..., Any]
    init_async: bool
    handle_in: Callable[..., Any]
    in_async: bool
    handle_info: Callable[..., Any]
    info_async: bool
    handle_control: Callable[..., Any] | None
    control_async: bool
    terminate: Callable[..., Any] | None
    terminate_async: bool


def handler_name(handler: object) -> str:
    """How logs name a handler: ``module`` or ``module.Class``."""
    if isinstance(handler, types.ModuleType):
        return handler.__name__
    cls = handler if isinstance(handler, type) else type(handler)
    return f"{cls.__module__}.{cls.__qualname__}"


def _resolve(handler: object, name: str, required: bool) -> tuple[Callable[..., Any] | None, bool]:
    fn = getattr(handler, name, None)
    if not required and getattr(type(handler), name, None) is getattr(Handler, name):
        # Handler's own default (Ok / nothing): skip the call altogether.
        return None, False
    if fn is None:
        if required:
            raise HandlerError(
                f"handler {handler_name(handler)} has no {name}(): a handler needs init, "
                "handle_in and handle_info (SPEC §1)"
            )
        return None, False
    if not callable(fn):
        raise HandlerError(f"handler {handler_name(handler)}.{name} is not callable: {fn!r}")
    if isinstance(handler, type) and inspect.isfunction(inspect.getattr_static(handler, name)):
        # A class whose callbacks are plain methods: it was meant to be instantiated.
        raise HandlerError(
            f"handler {handler_name(handler)} is a class: pass an instance, "
            f"{handler.__qualname__}(), not the class itself"
        )
    return fn, inspect.iscoroutinefunction(fn)


def inspect_handler(handler: object) -> Callbacks:
    """Resolve ``handler``'s callbacks; raises HandlerError naming what is missing."""
    init, init_async = _resolve(handler, "init", True)
    handle_in, in_async = _resolve(handler, "handle_in", True)
    handle_info, info_async = _resolve(handler, "handle_info", True)
    control, control_async = _resolve(handler, "handle_control", False)
    terminate, terminate_async = _resolve(handler, "terminate", False)
    assert init is not None and handle_in is not None and handle_info is not None
    return Callbacks(
        name=handler_name(handler),
        init=init,
        init_async=init_async,
        handle_in=handle_in,
        in_async=in_async,
        handle_info=handle_info,
        info_async=info_async,
        handle_control=control,
        control_async=control_async,
        terminate=terminate,
        terminate_async=terminate_async,
    )
