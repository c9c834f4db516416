"""One small generic registry, used for methods, attacks, datasets and models.

Entries are registered with a decorator, looked up by name (with a "did you mean …?" error) and
listed with a one-line description. The registration carries what the rest of the suite shows of an entry:
its display name (tables, figures), its place in the tables (``rank``), whether it goes beyond the paper or
is an ablation. A registry filled by a package (``methods``, ``attacks``) imports every module of that
package on first use, so a new method or attack is one file and nothing else.

:meth:`Registry.catalog` reads the same registrations from the package's source without importing it, for the
report, which must not load torch; a test keeps the two views equal.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generic, Iterator, TypeVar

from bench.core.errors import UnknownNameError

T = TypeVar("T")

#: the rank of an entry that names none: after the ranked ones, in the order of discovery
UNRANKED = 1000


@dataclass(frozen=True)
class Info:
    """What a registration says of an entry, besides the object itself."""

    name: str
    description: str
    display: str
    rank: int = UNRANKED
    beyond_paper: bool = False
    ablation: bool = False
    #: where it comes from (the report's footnote for entries beyond the paper), e.g. "Jin et al. 2020"
    reference: str = ""
    #: a footnote the report adds under the tables that show it (how to read its numbers)
    note: str = ""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    info: Info

    @property
    def description(self) -> str:
        return self.info.description

    @property
    def display(self) -> str:
        return self.info.display


def _first_line(text: str | None) -> str:
    return ((text or "").strip().splitlines() or [""])[0]


class Registry(Generic[T]):
    """Name → object mapping with helpful errors."""

    def __init__(self, kind: str, populate_from: str | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._populate_from = populate_from
        self._populated = populate_from is None

    def register(self, name: str, description: str = "", *, display: str | None = None, rank: int = UNRANKED,
                 beyond_paper: bool = False, ablation: bool = False, reference: str = "",
                 note: str = "") -> Callable[[T], T]:
        """Decorator: ``@REG.register("name", "one line", display="Name")``. The description defaults to the
        docstring's first line, the display name to the name. Keep the arguments literals: the report reads
        them from the source (:meth:`catalog`)."""

        def decorate(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            info = Info(name, description or _first_line(getattr(obj, "__doc__", None)), display or name, rank,
                        beyond_paper, ablation, reference, note)
            self._entries[name] = Entry(name, obj, info)
            return obj

        return decorate

    def _ensure_populated(self) -> None:
        if not self._populated:
            self._populated = True
            for module in package_modules(self._populate_from):  # type: ignore[arg-type]
                importlib.import_module(module)

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

    def _ordered(self) -> list[Entry[T]]:
        entries = list(self._entries.values())
        return sorted(entries, key=lambda e: (e.info.rank, entries.index(e)))

    def names(self) -> list[str]:
        self._ensure_populated()
        return [e.name for e in self._ordered()]

    def entries(self) -> Iterator[Entry[T]]:
        self._ensure_populated()
        return iter(self._ordered())

    def catalog(self) -> list[Info]:
        """The registrations of the package that fills this registry, read from its source (nothing is
        imported), in the registry's order. Registrations made at run time (e.g. ``ta:*``) are not in it."""
        if self._populate_from is None:
            return [e.info for e in self.entries()]
        found = [info for module in package_modules(self._populate_from) for info in _registrations(module)]
        return sorted(found, key=lambda i: (i.rank, found.index(i)))


def package_modules(name: str) -> list[str]:
    """``name`` and, when it is a package, each of its modules, in name order (found on disk, not imported)."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"no module named {name!r}")
    if not spec.submodule_search_locations:
        return [name]
    return [name] + sorted(f"{name}.{m.name}" for m in pkgutil.iter_modules(spec.submodule_search_locations))


def _registrations(module: str) -> list[Info]:
    """``@X.register("name", …)`` decorators of a module, from its source."""
    spec = importlib.util.find_spec(module)
    path = Path(spec.origin) if spec is not None and spec.origin else None
    if path is None or path.suffix != ".py":
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr == "register" and deco.args):
                continue
            args = [ast.literal_eval(a) for a in deco.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in deco.keywords if k.arg}
            name = args[0]
            description = (args[1] if len(args) > 1 else kwargs.pop("description", "")) or \
                _first_line(ast.get_docstring(node))
            kwargs.pop("description", None)
            out.append(Info(name, description, kwargs.pop("display", None) or name, **kwargs))
    return out


METHODS: Registry = Registry("method", populate_from="methods")
ATTACKS: Registry = Registry("attack", populate_from="attacks")
DATASETS: Registry = Registry("dataset", populate_from="bench.core.data")
MODELS: Registry = Registry("model", populate_from="bench.core.models")
