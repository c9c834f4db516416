"""``bench status``: where each cell of a grid stands, read from the results folder (and, when the data can be
found, checked against it as ``bench run`` would: a record made from other data is "stale", not "done")."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.core.data import data_mismatch
from bench.run.grid import Cell, ResolvedCell
from bench.core.locks import is_stale, read_owner
from bench.core.store import CellFiles, CorruptRecord, examples_problem, load_record

ORDER = ("done", "stale", "running", "failed", "interrupted", "corrupt", "pending")


@dataclass
class CellState:
    cell: Cell
    cell_id: str
    state: str
    detail: str = ""


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return max(0, sum(1 for _ in handle) - 1)  # minus the header line


#: the identity of the data a dataset's cells would use now (None: not known, the record is not checked)
Identities = Callable[[str], "dict | None"]


def cell_state(rc: ResolvedCell, results: Path, identity: Identities | None = None) -> CellState:
    cell = rc.cell
    files = CellFiles.of(results, rc.config, rc.cell_id)
    path, lock, partial, failed = files.record, files.lock, files.partial, files.failed
    if path.exists():
        try:
            record = load_record(path)
        except CorruptRecord as exc:
            return CellState(cell, rc.cell_id, "corrupt", str(exc))
        why = data_mismatch(record, identity(cell.dataset) if identity else None)
        if why and not (lock.exists() and not is_stale(lock)):  # (a run redoing it shows as running)
            return CellState(cell, rc.cell_id, "stale", f"made from other data: {why}; bench run runs it again")
        if not why:
            problem = examples_problem(record, files.examples)
            if problem:  # as a corrupt record: bench run leaves it alone unless --overwrite missing
                return CellState(cell, rc.cell_id, "corrupt", f"examples unusable: {problem}")
            return CellState(cell, rc.cell_id, "done")
    if lock.exists() and not is_stale(lock):
        owner = read_owner(lock) or {}
        done = f", {_count_lines(partial)} examples done" if partial.exists() else ""
        return CellState(cell, rc.cell_id, "running", f"pid {owner.get('pid')} on {owner.get('host')}{done}")
    if failed.exists():
        return CellState(cell, rc.cell_id, "failed", f"see {failed}")
    if partial.exists():
        return CellState(cell, rc.cell_id, "interrupted", f"{_count_lines(partial)} examples checkpointed")
    return CellState(cell, rc.cell_id, "pending")


def cell_states(cells: list[ResolvedCell], results: Path, identity: Identities | None = None) -> list[CellState]:
    return [cell_state(cell, results, identity) for cell in cells]


def format_status(states: list[CellState], show_all: bool = False) -> str:
    counts = Counter(s.state for s in states)
    lines = [" · ".join(f"{counts[k]} {k}" for k in ORDER if counts[k]) or "no cells"]
    for s in states:
        if show_all or s.state != "done":
            lines.append(f"  {s.state:<11} {s.cell_id}  {s.cell.label()}" + (f"  ({s.detail})" if s.detail else ""))
    return "\n".join(lines)
