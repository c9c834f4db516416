"""Per-example checkpoints of a running cell: an append-only JSONL, validated on resume.

The first line names the cell; each further line is one finished example's result, in the order the
examples finished (attacks batched across examples may finish them out of order). A line cut off by
a crash (no trailing newline, or not JSON) is dropped together with everything after it, so a resumed
cell redoes at most the examples that were in progress; so is a line that is JSON but not an example
row (a number, a list, a row missing fields). All of it is validated before any attacking starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from bench.core.record import ExampleLine


def row_problem(obj: object) -> str:
    """Why ``obj`` is not an attacked example's row ("" when it is one): :meth:`bench.core.record.ExampleLine.problem`."""
    return ExampleLine.problem(obj)


class ExampleCheckpoint:
    def __init__(self, path: Path, cell_id: str, expected_uids: Sequence[str], data: dict | None = None) -> None:
        self.path = path
        self.cell_id = cell_id
        self.data = data  # the identity of the data the examples come from (checked on resume when given)
        self.expected = set(expected_uids)
        self._handle = None

    def load(self) -> tuple[list[dict], str | None]:
        """The finished rows (in the order they finished) and a note when something was discarded."""
        if not self.path.exists():
            return [], None
        raw = self.path.read_bytes()
        rows: list[dict] = []
        seen: set[str] = set()
        good = 0
        note = None
        lines = raw.split(b"\n")
        complete = lines[:-1]  # the last element follows the final newline: empty, or a torn line
        if lines[-1]:
            note = "dropped a partly written line"
        for i, line in enumerate(complete):
            try:
                obj = json.loads(line)
            except ValueError:
                note = f"dropped an unreadable line {i + 1} and what followed"
                break
            if i == 0:
                if not isinstance(obj, dict) or obj.get("cell_id") != self.cell_id:
                    cell = obj.get("cell_id") if isinstance(obj, dict) else None
                    return self._discard(f"checkpoint belongs to cell {cell!r}" if cell else
                                         "checkpoint has no header line naming this cell")
                if self.data is not None and obj.get("data") != self.data:
                    return self._discard("checkpoint was made from other data")
            else:
                why = row_problem(obj)
                if why:
                    note = f"dropped line {i + 1} ({why}) and what followed"
                    break
                uid = obj.get("uid")
                if uid not in self.expected or uid in seen:
                    return self._discard("checkpoint examples do not match this cell's test sample")
                seen.add(uid)
                rows.append(obj)
            good += len(line) + 1
        if good != len(raw):
            with open(self.path, "r+b") as handle:
                handle.truncate(good)
        if good == 0:
            self.path.unlink(missing_ok=True)
        return rows, note

    def _discard(self, why: str) -> tuple[list[dict], str]:
        self.path.unlink(missing_ok=True)
        return [], f"{why}: started the cell afresh"

    def append(self, row: dict) -> None:
        if self._handle is None:
            new = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")
            if new:
                self._write({"cell_id": self.cell_id, **({"data": self.data} if self.data is not None else {})})
        self._write(row)

    def _write(self, obj: dict) -> None:
        self._handle.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
