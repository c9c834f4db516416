"""``bench regress``: rerun a fixed, deterministic grid and compare every metric with a committed reference.

The reference folder (default ``results/reference/``) holds

* ``grid.yaml`` — the grid, in the ``bench run --grid`` format (fixed seeds, a real data subset, the embedded model);
* ``tolerances.yaml`` — per metric, how far a fresh value may move (``abs`` and/or ``rel``) before the check fails;
* ``records/`` — the reference records (a normal results folder: ``bench report --results`` reads it).

A fresh run trains every model anew (a temporary model cache unless ``--cache`` is given), so a change to a
method's loss or an attack's search shows up in the numbers. Any metric beyond its tolerance, either way, fails
(exit 1); so do a missing cell and a changed configuration. ``bench regress --update`` records a new reference.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.core.errors import ConfigError
from bench.core.store import CellRecord, examples_path, load_records, record_path

DEFAULT_REFERENCE = Path("results") / "reference"
GRID_FILE, TOLERANCE_FILE, RECORDS_DIR = "grid.yaml", "tolerances.yaml", "records"
UPDATE_HINT = ("If the change is intended, record a new reference with `bench regress --update` and commit "
               "results/reference/ (see results/reference/README.md).")


@dataclass(frozen=True)
class Tolerance:
    """``|fresh − reference| ≤ max(abs, rel·|reference|)`` passes. ``better`` (higher/lower) names the direction."""

    abs: float = 0.0
    rel: float = 0.0
    better: str | None = None

    def limit(self, reference: float) -> float:
        return max(self.abs, self.rel * abs(reference))

    def describe(self) -> str:
        parts = ([f"±{self.abs:g}"] if self.abs else []) + ([f"±{100 * self.rel:g}%"] if self.rel else [])
        return " or ".join(parts) or "exact"


@dataclass
class Check:
    cell: str
    metric: str
    reference: float | None
    fresh: float | None
    tolerance: Tolerance
    ok: bool
    verdict: str  # "ok", "robustness dropped", "worse", "better", "moved", "missing value"


@dataclass
class Comparison:
    checks: list[Check] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # missing cells, changed configurations

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems


# ---------------------------------------------------------------- the reference folder


def load_tolerances(path: Path) -> dict[str, Tolerance]:
    """``metric path → Tolerance`` from ``tolerances.yaml`` (``metrics.accuracy_under_attack: {abs: 0.05}``)."""
    if not path.is_file():
        raise ConfigError(f"tolerance file {path} " + ("is a folder" if path.is_dir() else "does not exist"))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path} is not valid YAML ({first})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected a mapping of metric → {{abs, rel, better}}")
    out = {}
    for metric, spec in data.items():
        if not isinstance(spec, dict) or set(spec) - {"abs", "rel", "better"}:
            raise ConfigError(f"{path}: {metric}: expected keys abs, rel, better; got {spec!r}")
        if spec.get("better") not in (None, "higher", "lower"):
            raise ConfigError(f"{path}: {metric}: better must be higher or lower")
        values = [spec.get(k, 0.0) for k in ("abs", "rel")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise ConfigError(f"{path}: {metric}: abs and rel must be finite numbers; got {spec!r}")
        tol = Tolerance(float(values[0]), float(values[1]), spec.get("better"))
        if tol.abs < 0 or tol.rel < 0:
            raise ConfigError(f"{path}: {metric}: tolerances must be ≥ 0")
        out[str(metric)] = tol
    return out


TRAINING_VALUES = ("epochs", "selected_epoch", "selected_dev_accuracy", "final_rel_weight_distance",
                   "selected_rel_weight_distance", "train_seconds")


def _has_path(record: CellRecord, path: str) -> bool:
    """A number at ``path`` (the same path rules as :func:`metric_value`)."""
    return metric_value(record, path) is not None


def check_tolerance_metrics(tolerances: dict[str, Tolerance], records: list[CellRecord], source: Path) -> None:
    """Every tolerance must name a value the records have (any reference record; without records, a cell
    metric or a loss term of the epoch log): a misspelt metric would otherwise pass silently, forever."""
    import re

    from bench.core.metrics import metric_names

    cell_values = {f"metrics.{k}" for k in metric_names()} | {f"training.{k}" for k in TRAINING_VALUES}
    epoch_term = re.compile(r"^training\.epoch_log\.-?\d+\.(terms\.\w+|train_loss|dev_accuracy|rel_weight_distance)$")

    def plausible(metric: str) -> bool:  # before the first reference is recorded
        return metric in cell_values or bool(epoch_term.match(metric))

    known = (lambda m: any(_has_path(r, m) for r in records)) if records else plausible
    unknown = [m for m in tolerances if not known(m)]
    if unknown:
        where = "any reference record" if records else "the cell metrics"
        raise ConfigError(f"{source}: tolerance for {', '.join(unknown)}, which is not in {where} "
                          f"(metrics: {', '.join('metrics.' + k for k in metric_names())})")


def grid_cells(grid_file: Path) -> list:
    """The resolved cells of a ``bench run --grid`` file; every grid key must be given (a reference is explicit)."""
    from bench.run.grid import cells_of_grids, read_grid_file  # the one grid-file reader, the one grid → cells

    grids = read_grid_file(grid_file)
    for grid in grids:
        missing = [k for k in ("datasets", "models", "methods", "attacks", "seeds", "scale") if k not in grid]
        if missing:
            raise ConfigError(f"{grid_file}: a reference grid must give {', '.join(missing)} explicitly")
    return cells_of_grids(grids)


def run_grid(cells: list, results: Path, cache: Path, assets: Any, device: str = "cpu") -> None:
    """Run every cell afresh into ``results`` (records already there are redone)."""
    from bench.run.runner import RunOptions, run_cells

    run_cells(cells, RunOptions(results_dir=results, cache_dir=cache, assets=assets, overwrite="always", device=device))


# ---------------------------------------------------------------- comparing


def cell_key(record: CellRecord) -> tuple:
    c = record.cell
    overrides = tuple(sorted((str(k), json.dumps(v, sort_keys=True)) for k, v in c.overrides))
    return c.dataset, c.model, c.method, c.attack, int(c.seed), c.scale, overrides


def cell_name(record: CellRecord) -> str:
    """The record's cell as :meth:`bench.run.grid.Cell.label` names it."""
    from bench.run.grid import Cell

    c = record.cell
    return Cell(c.dataset, c.model, c.method, c.seed, c.attack, c.scale,
                tuple((k, v) for k, v in c.overrides)).label()


def metric_value(record: CellRecord, path: str) -> float | None:
    """The number at a dotted path of the record's JSON; an integer part indexes a list
    (``training.epoch_log.-1.terms.kl``)."""
    value: Any = record.to_json()
    for part in path.split("."):
        if isinstance(value, list):
            try:
                value = value[int(part)]
            except (ValueError, IndexError):
                return None
            continue
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def config_changes(reference: dict, fresh: dict) -> list[str]:
    a, b = _flatten(reference), _flatten(fresh)
    return [f"{k}: {a.get(k, '(absent)')!r} → {b.get(k, '(absent)')!r}" for k in sorted(set(a) | set(b))
            if a.get(k, "(absent)") != b.get(k, "(absent)")]


def _verdict(metric: str, ref: float, new: float, tol: Tolerance) -> str:
    if tol.better is None:
        return "moved"
    worse = new < ref if tol.better == "higher" else new > ref
    robustness = any(w in metric for w in ("accuracy_under_attack", "attack_success_rate"))
    if worse:
        return "robustness dropped" if robustness else "worse"
    return "better (beyond tolerance)"


def check_metric(cell: str, metric: str, ref: float | None, new: float | None, tol: Tolerance) -> Check:
    if ref is None and new is None:
        return Check(cell, metric, ref, new, tol, True, "ok (undefined in both)")
    if ref is None or new is None:
        return Check(cell, metric, ref, new, tol, False, "missing value")
    ok = abs(new - ref) <= tol.limit(ref) + 1e-12
    return Check(cell, metric, ref, new, tol, ok, "ok" if ok else _verdict(metric, ref, new, tol))


def compare(reference: list[CellRecord], fresh: list[CellRecord], tolerances: dict[str, Tolerance]) -> Comparison:
    """Every tolerance-listed metric of every reference cell against the fresh record of the same cell."""
    result = Comparison()
    fresh_by_key = {cell_key(r): r for r in fresh}
    ref_keys = set()
    for ref in sorted(reference, key=cell_name):
        key = cell_key(ref)
        ref_keys.add(key)
        name = cell_name(ref)
        new = fresh_by_key.get(key)
        if new is None:
            result.problems.append(f"{name}: no fresh record (the cell is in the reference but was not run)")
            continue
        # as today's code writes them: a reference from before a setting existed, or from before task defaults
        # were filled in with the cell (β null), is the same configuration as a fresh record that writes them
        changes = config_changes(ref.resolved_config(), new.resolved_config())
        if changes:
            result.problems.append(f"{name}: configuration changed: " + "; ".join(changes))
        for metric, tol in tolerances.items():
            result.checks.append(check_metric(name, metric, metric_value(ref, metric), metric_value(new, metric), tol))
    for key, new in fresh_by_key.items():
        if key not in ref_keys:
            result.problems.append(f"{cell_name(new)}: fresh cell has no reference record (update the reference)")
    return result


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def format_report(comparison: Comparison, header: str = "", verbose: bool = True) -> str:
    """A readable diff: per cell, every checked metric with reference, fresh, change and tolerance."""
    lines = [header] if header else []
    by_cell: dict[str, list[Check]] = {}
    for c in comparison.checks:
        by_cell.setdefault(c.cell, []).append(c)
    width = max([len(c.metric) for c in comparison.checks] + [6])
    for cell, checks in by_cell.items():
        shown = checks if verbose else [c for c in checks if not c.ok]
        if not shown:
            continue
        lines.append(f"\n{cell}")
        lines.append(f"  {'metric':<{width}}  {'reference':>10}  {'fresh':>10}  {'change':>10}  {'tolerance':>12}  verdict")
        for c in shown:
            change = "—" if c.reference is None or c.fresh is None else f"{c.fresh - c.reference:+.4g}"
            mark = "" if c.ok else "  <<<"
            lines.append(f"  {c.metric:<{width}}  {_num(c.reference):>10}  {_num(c.fresh):>10}  {change:>10}  "
                         f"{c.tolerance.describe():>12}  {c.verdict}{mark}")
    for p in comparison.problems:
        lines.append(f"\nPROBLEM: {p}")
    failures = comparison.failures
    lines.append("")
    if comparison.ok:
        lines.append(f"PASS: {len(comparison.checks)} check(s) within tolerance over {len(by_cell)} cell(s).")
    else:
        dropped = [c for c in failures if c.verdict == "robustness dropped"]
        lines.append(f"FAIL: {len(failures)} of {len(comparison.checks)} check(s) beyond tolerance"
                     + (f" ({len(dropped)} robustness drop(s))" if dropped else "")
                     + (f", {len(comparison.problems)} problem(s)" if comparison.problems else "") + ".")
        for c in failures:
            lines.append(f"  {c.verdict}: {c.cell}: {c.metric} {_num(c.reference)} → {_num(c.fresh)} "
                         f"(tolerance {c.tolerance.describe()})")
        lines.append(UPDATE_HINT)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the reference itself


def update_reference(fresh_dir: Path, reference: Path) -> int:
    """Replace ``reference/records`` with the fresh records and their examples files; the number of records."""
    records, problems = _load(fresh_dir)
    if problems or not records:
        raise ConfigError(f"cannot update the reference from {fresh_dir}: " + ("; ".join(problems) or "no records"))
    target = reference / RECORDS_DIR
    staging = Path(tempfile.mkdtemp(prefix=".records-", dir=reference))
    try:
        for r in records:
            src = record_path(fresh_dir, r.cell.to_json(), r.cell_id)
            dst = record_path(staging, r.cell.to_json(), r.cell_id)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            if examples_path(src).exists():
                shutil.copy2(examples_path(src), examples_path(dst))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(records)


def _load(folder: Path) -> tuple[list[CellRecord], list[str]]:
    """Records under ``folder``, and one line per failed cell (the runner's note) or unreadable file."""
    return load_records(folder, with_failures=True)


def reference_header(reference: Path, records: list[CellRecord], n_cells: int) -> str:
    revs = sorted({str((r.provenance.git or {}).get("revision") or "?")[:10]
                   + ("+dirty" if (r.provenance.git or {}).get("dirty") else "") for r in records})
    finished = max((r.provenance.finished or "" for r in records), default="")
    return (f"bench regress: {n_cells} cell(s) of {reference / GRID_FILE} against {len(records)} reference record(s) "
            f"(recorded {finished or '?'}, git {', '.join(revs) or '?'})")


def regress(reference: Path = DEFAULT_REFERENCE, fresh: Path | None = None, results: Path | None = None,
            cache: Path | None = None, assets: Any = None, device: str = "cpu", update: bool = False,
            verbose: bool = True, log=print) -> int:
    """Run (or read) the fresh grid, compare with the reference, print the diff. 0: pass, 1: regression."""
    grid_file, tol_file = reference / GRID_FILE, reference / TOLERANCE_FILE
    if not grid_file.exists():
        raise ConfigError(f"no reference grid at {grid_file} (pass --reference DIR)")
    tolerances = load_tolerances(tol_file)
    cells = grid_cells(grid_file)
    ref_records, ref_problems = _load(reference / RECORDS_DIR)
    if ref_problems:
        raise ConfigError("unreadable reference records: " + "; ".join(ref_problems))
    check_tolerance_metrics(tolerances, ref_records, tol_file)
    if fresh is None:
        from bench.core.checks import check_device, check_folder

        check_device(device)
        for option, folder in (("--results", results), ("--cache", cache)):
            if folder is not None:
                check_folder(option, folder, writable=True)
    elif not fresh.is_dir():
        raise ConfigError(f"--fresh {fresh} is not a results folder")
    with tempfile.TemporaryDirectory(prefix="rift-bench-regress-") as tmp:
        if fresh is None:
            fresh = results or Path(tmp) / "results"
            model_cache = cache or Path(tmp) / "cache"
            run_grid(cells, fresh, model_cache, assets, device)
        fresh_records, fresh_problems = _load(fresh)
        comparison = compare(ref_records, fresh_records, tolerances)
        comparison.problems += [f"fresh run: {p}" for p in fresh_problems]  # failed cells, unreadable records
        log(format_report(comparison, reference_header(reference, ref_records, len(cells)), verbose))
        if update:
            n = update_reference(fresh, reference)
            log(f"updated the reference: {n} record(s) in {reference / RECORDS_DIR} — review `git diff` and commit it")
            return 0
        if not ref_records:
            log(f"no reference records yet: record them with `bench regress --update --reference {reference}`")
            return 1
        return 0 if comparison.ok else 1
