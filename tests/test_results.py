"""``Push`` and ``Ok`` keep a frozen dataclass's behaviour with their faster constructors.

``websock.results`` replaces the generated ``__init__`` of the two results handlers build
per message (docs/profiling.md). Each case here is checked against a twin declared the
same way that keeps the generated constructor.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import dataclass
from typing import Any

import pytest

from websock.results import Binary, Ok, Push, Text


@dataclass(frozen=True, slots=True)
class GeneratedPush:
    frames: Any
    state: Any = None


@dataclass(frozen=True, slots=True)
class GeneratedOk:
    state: Any = None


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    (("hi",), {}),
    (("hi", 1), {}),
    ((Text("x"),), {"state": {"n": 1}}),
    ((), {"frames": [Binary(b"\x00")], "state": 2}),
    (("a", 1, 2), {}),
    (("a",), {"frames": "b"}),
    (("a",), {"nope": 1}),
    ((), {"state": 5}),
]


def _outcome(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        value = cls(*args, **kwargs)
    except TypeError as exc:
        # The same complaint; only the class name in it differs.
        return ("TypeError", str(exc).replace(cls.__name__, "X"))
    return ("ok", tuple(getattr(value, f.name) for f in dataclasses.fields(value)))


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
@pytest.mark.parametrize(("ours", "generated"), [(Push, GeneratedPush), (Ok, GeneratedOk)])
def test_constructor_matches_the_generated_one(
    ours: type, generated: type, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    assert _outcome(ours, args, kwargs) == _outcome(generated, args, kwargs)


@pytest.mark.parametrize(("ours", "generated"), [(Push, GeneratedPush), (Ok, GeneratedOk)])
def test_signature_matches(ours: type, generated: type) -> None:
    def shape(cls: type) -> list[tuple[str, Any, Any]]:
        parameters = inspect.signature(cls).parameters.values()
        return [(p.name, p.kind, p.default) for p in parameters]

    assert shape(ours) == shape(generated)


def test_still_frozen_comparable_hashable_copyable_and_matchable() -> None:
    push = Push("x", {"a": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        push.state = 2  # type: ignore[misc]
    assert push == Push("x", {"a": 1}) and push != Push("x")
    assert hash(Push("x", 1)) == hash(Push("x", 1))
    assert pickle.loads(pickle.dumps(push)) == push
    assert copy.deepcopy(push) == push
    assert dataclasses.replace(push, state=3) == Push("x", 3)
    assert dataclasses.asdict(Ok(7)) == {"state": 7}
    match push:
        case Push(frames, state):
            assert (frames, state) == ("x", {"a": 1})
        case _:
            pytest.fail("Push no longer matches positionally")
    assert repr(Ok()) == "Ok(state=None)"


def test_subclasses_construct_as_before() -> None:
    @dataclass(frozen=True, slots=True)
    class Tagged(Push):
        tag: str = ""

    class Plain(Ok):
        __slots__ = ()

    assert (Tagged("f", 1, "t").frames, Tagged("f", 1, "t").tag) == ("f", "t")
    assert Plain(4).state == 4 and isinstance(Plain(4), Ok)
