"""Inspect a handler once (SPEC §1): which callbacks it has and which are ``async def``.

Stdlib only (no asyncio), so ``upgrade()`` can use ``inspect_handler`` to reject a bad
handler before the 101 goes out.
"""

from __future__ import annotations

import inspect
import types
import weakref
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


_NAMES: Final = _REQUIRED + _OPTIONAL

#: The last handler inspected and its callbacks: an app serving every connection with the
#: same handler object inspects it once. One tuple, swapped whole (threads may share it).
_last: tuple[object, Callbacks] | None = None

#: Per handler class, which optional callbacks are skipped and which are async: what an
#: instance adds is only the binding (for handlers made per connection).
_plans: weakref.WeakKeyDictionary[type, tuple[bool, ...]] = weakref.WeakKeyDictionary()


def inspect_handler(handler: object) -> Callbacks:
    """Resolve ``handler``'s callbacks; raises HandlerError naming what is missing.

    Cached: the same handler object again returns the same ``Callbacks``; another instance
    of a plain class (no per-instance callbacks, no ``__getattr__``) reuses the class's
    inspection.
    """
    last = _last
    if last is not None and last[0] is handler:
        return last[1]
    cls = type(handler)
    plan = _plans.get(cls) if _class_decides(handler, cls) else None
    if plan is None:
        callbacks = _inspect(handler)
        if _class_decides(handler, cls):
            _plans[cls] = (
                callbacks.init_async,
                callbacks.in_async,
                callbacks.info_async,
                callbacks.handle_control is not None,
                callbacks.control_async,
                callbacks.terminate is not None,
                callbacks.terminate_async,
            )
    else:
        init_async, in_async, info_async, control, control_async, term, term_async = plan
        callbacks = Callbacks(
            name=handler_name(handler),
            init=getattr(handler, "init"),  # noqa: B009 (names kept parallel to _NAMES)
            init_async=init_async,
            handle_in=getattr(handler, "handle_in"),  # noqa: B009
            in_async=in_async,
            handle_info=getattr(handler, "handle_info"),  # noqa: B009
            info_async=info_async,
            handle_control=getattr(handler, "handle_control") if control else None,  # noqa: B009
            control_async=control_async,
            terminate=getattr(handler, "terminate") if term else None,  # noqa: B009
            terminate_async=term_async,
        )
    _remember(handler, callbacks)
    return callbacks


def _remember(handler: object, callbacks: Callbacks) -> None:
    global _last
    _last = (handler, callbacks)


def _class_decides(handler: object, cls: type) -> bool:
    """True when ``handler``'s callbacks are its class's: same inspection for all of them."""
    if isinstance(handler, type | types.ModuleType):
        return False
    lookup: object = cls.__getattribute__
    if lookup is not object.__getattribute__ or hasattr(cls, "__getattr__"):
        return False
    own = getattr(handler, "__dict__", None)
    return own is None or not any(name in own for name in _NAMES)


def _inspect(handler: object) -> Callbacks:
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
