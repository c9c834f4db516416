"""One small generic registry, used for methods, attacks, datasets and models.

Entries are registered with a decorator, looked up by name (with a "did you mean …?" error) and
listed with a one-line description. A registry may name a module to import on first use, so the
packages that fill it (``methods``, ``attacks``) are loaded lazily and never import the CLI.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Callable, Generic, Iterator, TypeVar

from bench.errors import UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    description: str


class Registry(Generic[T]):
    """Name → object mapping with helpful errors."""

    def __init__(self, kind: str, populate_from: str | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._populate_from = populate_from
        self._populated = populate_from is None

    def register(self, name: str, description: str = "") -> Callable[[T], T]:
        """Decorator: ``@REG.register("name", "one line")``. The description defaults to the docstring's first line."""

        def decorate(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            doc = description or ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]
            self._entries[name] = Entry(name, obj, doc)
            return obj

        return decorate

    def _ensure_populated(self) -> None:
        if not self._populated:
            self._populated = True
            importlib.import_module(self._populate_from)  # type: ignore[arg-type]

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        self._ensure_populated()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        self._ensure_populated()
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())}."

    def __contains__(self, name: object) -> bool:
        self._ensure_populated()
        return name in self._entries

    def names(self) -> list[str]:
        self._ensure_populated()
        return list(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        self._ensure_populated()
        return iter(list(self._entries.values()))


METHODS: Registry = Registry("method", populate_from="methods")
ATTACKS: Registry = Registry("attack", populate_from="attacks")
DATASETS: Registry = Registry("dataset", populate_from="bench.data")
MODELS: Registry = Registry("model", populate_from="bench.models")
