"""``Push``, ``Ok``, ``Text`` and ``Binary`` keep a frozen dataclass's behaviour with their
faster constructors.

``websock.results`` replaces the generated ``__init__`` of the two results handlers build
per message and of the two frames the adapters build per inbound message
(docs/profiling.md). Each case here is checked against a twin declared the
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

from tests.implementations import implementation  # noqa: F401 (autouse: C and Python)
from websock.results import Binary, Ok, Push, Text


@dataclass(frozen=True, slots=True)
class GeneratedPush:
    frames: Any
    state: Any = None


@dataclass(frozen=True, slots=True)
class GeneratedOk:
    state: Any = None


@dataclass(frozen=True, slots=True)
class GeneratedText:
    data: str


@dataclass(frozen=True, slots=True)
class GeneratedBinary:
    data: bytes


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

#: Text and Binary take one required field; their constructors store what they are given.
DATA_CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    (("hi",), {}),
    ((b"\x00\xff",), {}),
    ((), {"data": "kw"}),
    (("a", "b"), {}),
    (("a",), {"data": "b"}),
    (("a",), {"nope": 1}),
    ((), {"nope": 1}),
]

OURS_AND_GENERATED = [
    (Push, GeneratedPush),
    (Ok, GeneratedOk),
    (Text, GeneratedText),
    (Binary, GeneratedBinary),
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


@pytest.mark.parametrize(("args", "kwargs"), DATA_CALLS)
@pytest.mark.parametrize(("ours", "generated"), [(Text, GeneratedText), (Binary, GeneratedBinary)])
def test_frame_constructor_matches_the_generated_one(
    ours: type, generated: type, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    assert _outcome(ours, args, kwargs) == _outcome(generated, args, kwargs)


@pytest.mark.parametrize(("ours", "generated"), OURS_AND_GENERATED)
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


@pytest.mark.parametrize(("cls", "data", "other"), [(Text, "hé", "x"), (Binary, b"\x00", b"")])
def test_frames_still_frozen_comparable_hashable_copyable_and_matchable(
    cls: Any, data: Any, other: Any
) -> None:
    frame = cls(data)
    assert frame.data is data  # stored as given, not copied or converted
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.data = other
    assert not hasattr(frame, "__dict__")  # still slotted
    assert frame == cls(data) and frame != cls(other)
    assert frame != GeneratedText(data) and frame != GeneratedBinary(data)
    assert hash(frame) == hash(cls(data))
    assert pickle.loads(pickle.dumps(frame)) == frame
    assert copy.copy(frame) == frame and copy.deepcopy(frame) == frame
    assert dataclasses.replace(frame, data=other) == cls(other)
    assert dataclasses.asdict(frame) == {"data": data}
    assert repr(frame) == f"{cls.__name__}(data={data!r})"
    assert cls.__match_args__ == ("data",)
    match frame:
        case Text(got) | Binary(got):
            assert got is data
        case _:
            pytest.fail(f"{cls.__name__} no longer matches positionally")


def test_subclasses_construct_as_before() -> None:
    @dataclass(frozen=True, slots=True)
    class Tagged(Push):
        tag: str = ""

    class Plain(Ok):
        __slots__ = ()

    assert (Tagged("f", 1, "t").frames, Tagged("f", 1, "t").tag) == ("f", "t")
    assert Plain(4).state == 4 and isinstance(Plain(4), Ok)

    @dataclass(frozen=True, slots=True)
    class Labelled(Text):
        label: str = ""

    class Raw(Binary):
        __slots__ = ()

    assert (Labelled("d", "l").data, Labelled("d", "l").label) == ("d", "l")
    assert Raw(b"r").data == b"r" and isinstance(Raw(b"r"), Binary)
