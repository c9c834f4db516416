"""The import graph, read from the source (every import statement, lazy ones included; a package's
``__init__`` aside): layers that point one way and no cycle. The layers are folders:

    orchestration   bench/run/ (grid, runner, executors, scheduler, status, estimate, regress, run checks),
                    bench/report/, bench/cli.py
        ↓ (methods and attacks only through bench.core.registry)
    plugins         methods/, attacks/
        ↓
    core            bench/core/ (registry, assets, data, models, victim, store, record, config, method, attack,
                    ascc, train, …)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bench", "methods", "attacks")
#: the layers, by folder (a module's layer is that of the first prefix it starts with)
LAYERS = {"bench.core": "core", "methods": "plugins", "attacks": "plugins",
          "bench.run": "orchestration", "bench.report": "orchestration", "bench.cli": "orchestration"}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _target(name: str) -> str | None:
    """The module an imported name lives in (``bench.run.grid.Cell`` → ``bench.run.grid``), None outside the project."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> list[tuple[str, str]]:
    """(imported module, imported name) for every import statement of ``module``, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(t, "") for a in node.names if (t := _target(a.name))]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                target = _target(f"{base}.{alias.name}") or _target(base)
                if target:
                    out.append((target, "" if target == f"{base}.{alias.name}" else alias.name))
    return out


def graph() -> dict[str, set[str]]:
    """Module → the modules it imports; packages' ``__init__`` files are left out (they only gather)."""
    inits = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    return {m: {t for t, _ in imports(m) if t != m and t not in inits} for m in MODULES if m not in inits}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def _layer(module: str) -> str | None:
    return next((layer for prefix, layer in LAYERS.items() if module == prefix or module.startswith(prefix + ".")),
                None)


def test_every_module_lives_in_a_layer_folder():
    """bench/ holds only its layer folders and the CLI: a new module must choose its layer by where it is put."""
    loose = [m for m in MODULES if m != "bench" and _layer(m) is None]
    assert not loose, f"modules outside bench/core, bench/run, bench/report, bench/cli.py, methods/, attacks/: {loose}"


def test_the_checker_sees_lazy_imports_and_cycles():
    assert ("bench.core.registry", "") in [(t, "") for t, _ in imports("bench.run.grid")]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    assert find_cycle(graph()) is None


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("bench")))
def test_bench_never_imports_methods_or_attacks(module):
    """The interfaces live in the core; orchestration reaches methods and attacks through the registry."""
    assert not [t for t, _ in imports(module) if t.startswith(("methods", "attacks"))]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_point_down(module):
    order = {"core": 0, "plugins": 1, "orchestration": 2}
    up = [t for t in graph().get(module, ()) if order[_layer(t)] > order[_layer(module)]]
    assert not up, f"{module} ({_layer(module)}) imports {up} from a layer above it"


def test_methods_and_attacks_do_not_import_each_other():
    edges = graph()
    assert not [(m, t) for m, ts in edges.items() for t in ts
                if m.startswith("methods") and t.startswith("attacks") or m.startswith("attacks") and t.startswith("methods")]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_is_imported_from_another_module(module):
    private = [(t, name) for t, name in imports(module) if name.startswith("_") and t != module]
    assert not private
