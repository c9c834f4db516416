"""Records on disk: atomic writes, canonical hashing, and the results-folder layout.

Layout under a results folder: ``<dataset>/<model>/<method>/<attack>/<cell-id>.json`` (the record)
and ``<cell-id>.examples.jsonl`` (one line per attacked example). A record is written last, after
its examples file, so an existing record always has complete examples.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from bench.core.metrics import attack_metrics
from bench.core.record import SCHEMA_VERSION, CellRecord, CorruptRecord, ExampleLine

__all__ = ["SCHEMA_VERSION", "CellRecord", "CorruptRecord"]  # the record's contract, with the store's layout


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes (read in 1 MiB blocks); OSError propagates."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def config_hash(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def _file_mode() -> int:
    """The mode a plainly created file gets under the process's umask (``mkstemp`` alone makes it 0600, which other
    users of a shared results folder cannot read)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never a part. The file gets the
    umask's mode, as a plainly created one would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_example_lines(path: Path) -> list[dict]:
    """A cell's examples file, every line checked against :class:`~bench.core.record.ExampleLine`;
    :class:`CorruptRecord` names the file and line of the first one that is not an example line."""
    rows = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorruptRecord(f"{path}:{number}: not JSON ({exc.msg})") from None
                problem = ExampleLine.problem(row)
                if problem:
                    raise CorruptRecord(f"{path}:{number}: {problem}")
                rows.append(row)
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptRecord(f"{path}: not a readable examples file ({exc})") from None
    return rows


def checked_examples(record: CellRecord, examples: Path) -> tuple[list[dict], str]:
    """The example lines of ``record`` and why they cannot stand for it ("" when they can; then the lines):
    missing, unreadable, a line that is not an example line, or counts that disagree with the record's metrics
    (which were computed from that file)."""
    if not examples.exists():
        return [], f"{examples}: missing"
    try:
        rows = read_example_lines(examples)
    except CorruptRecord as exc:
        return [], str(exc)
    counts = attack_metrics(ExampleLine.from_json(row) for row in rows)
    wrong = [f"{k} {getattr(counts, k)} (the record says {getattr(record.metrics, k)})"
             for k in ("n_examples", "n_attacked", "n_success") if getattr(counts, k) != getattr(record.metrics, k)]
    return (rows, "") if not wrong else ([], f"{examples}: {', '.join(wrong)}")


def examples_problem(record: CellRecord, examples: Path) -> str:
    """Why ``examples`` cannot stand for ``record`` ("" when it can): :func:`checked_examples`."""
    return checked_examples(record, examples)[1]


def safe_name(name: str) -> str:
    """A path component for a model/dataset name (hub ids contain '/')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "_"


def cell_dir(results: Path, cell: dict[str, Any]) -> Path:
    return results / safe_name(cell["dataset"]) / safe_name(cell["model"]) / safe_name(cell["method"]) / safe_name(cell["attack"])


def record_path(results: Path, cell: dict[str, Any], cell_id: str) -> Path:
    return cell_dir(results, cell) / f"{cell_id}.json"


#: the files of a cell next to its record ``<cell-id>.json``: ``<cell-id><suffix>``
EXAMPLES_SUFFIX = ".examples.jsonl"  # one line per attacked example, written before the record
PARTIAL_SUFFIX = ".partial.jsonl"  # the examples checkpoint of a cell in progress
LOCK_SUFFIX = ".lock"  # the claim of the runner working on the cell
FAILED_SUFFIX = ".failed.json"  # the runner's note for a cell that raised (not a record)
LOG_SUFFIX = ".log"  # the cell's log lines, appended on every run


def sibling(record: Path, suffix: str) -> Path:
    """``<cell-id><suffix>`` next to a record."""
    return record.with_name(record.stem + suffix)


def examples_path(record: Path) -> Path:
    return sibling(record, EXAMPLES_SUFFIX)


@dataclass(frozen=True)
class CellFiles:
    """Where a cell's files are in a results folder (its record and the files beside it)."""

    cell_id: str
    config: dict[str, Any]
    record: Path

    @classmethod
    def of(cls, results: Path, config: dict[str, Any], cell_id: str) -> "CellFiles":
        return cls(cell_id, config, record_path(results, config, cell_id))

    def beside(self, suffix: str) -> Path:
        return sibling(self.record, suffix)

    examples = property(lambda self: self.beside(EXAMPLES_SUFFIX), doc="the examples file")
    partial = property(lambda self: self.beside(PARTIAL_SUFFIX), doc="the examples checkpoint")
    lock = property(lambda self: self.beside(LOCK_SUFFIX), doc="the runner's claim")
    failed = property(lambda self: self.beside(FAILED_SUFFIX), doc="the failure note")
    log = property(lambda self: self.beside(LOG_SUFFIX), doc="the cell's log")

    def write_failure(self, error: str, traceback: str | None = None) -> None:
        """The ``.failed.json`` note of a cell that raised (read back by :func:`failed_note`)."""
        from bench.core.provenance import now

        note: dict[str, Any] = {"cell_id": self.cell_id, "cell": self.config, "error": error}
        if traceback is not None:
            note["traceback"] = traceback
        note["time"] = now()
        atomic_write_json(self.failed, note)


def load_record(path: Path) -> CellRecord:
    """A record, checked against the contract; :class:`CorruptRecord` names the file when it is not one."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptRecord(f"{path}: not a readable JSON record ({exc})") from None
    record = CellRecord.from_json(data, str(path))
    if path.stem != record.cell_id:
        raise CorruptRecord(f"{path}: file name does not match its cell_id {record.cell_id}")
    return record


def write_record(path: Path, record: CellRecord) -> None:
    atomic_write_json(path, record.to_json())


def iter_record_files(results: Path) -> Iterator[Path]:
    """Candidate record files under ``results`` (every ``*.json`` but hidden files and failure notes)."""
    if results.exists():
        for path in sorted(results.rglob("*.json")):
            if not path.name.startswith(".") and not path.name.endswith(FAILED_SUFFIX):
                yield path


class RecordCache:
    """The valid records under ``results``, where each look re-reads only the files that are new or changed since
    the last one (a grid's ETA looks after every cell; reading every record each time grows with the grid)."""

    def __init__(self, results: Path) -> None:
        self.results = results
        self._seen: dict[Path, tuple[tuple[int, int], CellRecord | None]] = {}

    def records(self) -> list[CellRecord]:
        """The valid records as they are now, in :func:`iter_record_files` order (corrupt files left out)."""
        current: dict[Path, tuple[tuple[int, int], CellRecord | None]] = {}
        for path in iter_record_files(self.results):
            try:
                info = path.stat()
            except OSError:  # removed since the folder was listed
                continue
            stamp = (info.st_mtime_ns, info.st_size)
            cached = self._seen.get(path)
            if cached is None or cached[0] != stamp:
                try:
                    cached = (stamp, load_record(path))
                except CorruptRecord:
                    cached = (stamp, None)
            current[path] = cached
        self._seen = current
        return [record for _, record in current.values() if record is not None]


def iter_failure_notes(results: Path) -> Iterator[Path]:
    """The runner's ``<cell-id>.failed.json`` notes under ``results``."""
    if results.exists():
        yield from sorted(results.rglob("*" + FAILED_SUFFIX))


def failed_note(path: Path) -> str:
    """One line for a runner's ``<cell-id>.failed.json`` note."""
    try:
        note = json.loads(path.read_text(encoding="utf-8"))
        cell = note.get("cell", {})
        what = " · ".join(str(cell.get(k, "?")) for k in ("dataset", "model", "method", "attack", "seed"))
        return f"cell {note.get('cell_id', path.name)} ({what}) failed: {note.get('error', '?')} ({path})"
    except (OSError, ValueError, AttributeError):
        return f"unreadable failure note {path}"


def load_records_with_paths(results: Path, with_failures: bool = False) -> tuple[list[tuple[CellRecord, Path]], list[str]]:
    """All valid records under ``results`` with their paths, and one message per file that was skipped
    (and, ``with_failures``, one per failed cell's note)."""
    loaded: list[tuple[CellRecord, Path]] = []
    problems = [failed_note(path) for path in iter_failure_notes(results)] if with_failures else []
    for path in iter_record_files(results):
        try:
            loaded.append((load_record(path), path))
        except CorruptRecord as exc:
            problems.append(f"skipped {exc}")
    return loaded, problems


def load_records(results: Path, with_failures: bool = False) -> tuple[list[CellRecord], list[str]]:
    """All valid records under ``results`` and one message per file that was skipped (and failed cell)."""
    loaded, problems = load_records_with_paths(results, with_failures)
    return [record for record, _ in loaded], problems
