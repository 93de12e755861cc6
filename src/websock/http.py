"""HTTP values shared by every host: ``Headers``, ``Request``, ``Response`` (SPEC §2)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["Headers", "Request", "Response"]


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued, order-preserving HTTP headers.

    ``headers["x"]`` is the first value, ``headers.get_all("x")`` every value;
    ``list(headers.raw)`` gives the pairs as received.
    """

    __slots__ = ("_index", "raw")

    def __init__(self, pairs: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        self.raw: list[tuple[str, str]] = [(str(k), str(v)) for k, v in items]
        self._index: dict[str, list[str]] = {}
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
    """The HTTP request an app decides on. ``client`` is ``(host, port)`` or None."""

    method: str
    path: str
    query_string: str = ""
    headers: Headers = field(default_factory=Headers)
    client: tuple[str, int] | None = None
    http_version: str = "1.1"
    scheme: str = "ws"


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
