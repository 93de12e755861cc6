"""HTTP values shared by every host: ``Headers``, ``Request``, ``Response`` (SPEC §2)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Headers", "Request", "Response"]

#: The default ``Request.extra``: one shared, read-only, empty mapping.
_NOTHING: Mapping[str, Any] = MappingProxyType({})


class _IndexedPairs(list[tuple[str, str]]):
    """Header pairs with ``Headers``' lower-cased index built alongside, by the built-in
    server's head parser (``server/_http11.py``, its C accelerator included), which looks at
    every name anyway: ``Headers`` then takes both as they are. Never mutated once built."""

    __slots__ = ("by_name",)
    by_name: dict[str, list[str]]


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued, order-preserving HTTP headers.

    ``headers["x"]`` is the first value, ``headers.get_all("x")`` every value;
    ``list(headers.raw)`` gives the pairs as received.
    """

    __slots__ = ("_index", "raw")

    def __init__(self, pairs: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        # Exact type checks first: the isinstance of an ABC costs more than the rest of a
        # handshake's header handling.
        if type(pairs) is _IndexedPairs:
            self.raw: list[tuple[str, str]] = list(pairs)
            # Shared, never mutated: neither Headers nor the parser changes it later.
            self._index: dict[str, list[str]] = pairs.by_name
            return
        items = (
            pairs if isinstance(pairs, list) or not isinstance(pairs, Mapping) else pairs.items()
        )
        self.raw = [(str(k), str(v)) for k, v in items]
        self._index = {}
        for name, value in self.raw:
            self._index.setdefault(name.lower(), []).append(value)

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()][0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def get_all(self, name: str) -> list[str]:
        return list(self._index.get(name.lower(), ()))

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


@dataclass(frozen=True, slots=True)
class Request:
    """The HTTP request an app decides on. ``client`` is ``(host, port)`` or None.

    ``extra`` is what the host knows beyond HTTP, read-only: under ASGI every scope key
    the other fields do not carry (``url_route`` from Django Channels' URLRouter,
    ``path_params`` from Starlette, ``user``/``session`` from middleware, ``state``,
    ``root_path``, ...); under aiohttp ``match_info`` (the route's variables) and
    ``request`` (aiohttp's own); under ``websockets`` ``connection``. Empty on the
    built-in server.
    """

    method: str
    path: str
    query_string: str = ""
    headers: Headers = field(default_factory=Headers)
    client: tuple[str, int] | None = None
    http_version: str = "1.1"
    scheme: str = "ws"
    extra: Mapping[str, Any] = field(default_factory=lambda: _NOTHING)


@dataclass(frozen=True, slots=True)
class Response:
    """A plain HTTP answer: a denial with any status, a page, a 404."""

    status: int = 200
    headers: Iterable[tuple[str, str]] | Mapping[str, str] = ()
    body: bytes | str = b""

    def header_pairs(self) -> list[tuple[str, str]]:
        items = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        return [(str(k), str(v)) for k, v in items]

    def body_bytes(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else bytes(self.body)
