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
from pathlib import Path
from typing import Any, Iterable, Iterator

from bench.errors import BenchError

SCHEMA_VERSION = 1


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def config_hash(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def safe_name(name: str) -> str:
    """A path component for a model/dataset name (hub ids contain '/')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "_"


def cell_dir(results: Path, cell: dict[str, Any]) -> Path:
    return results / safe_name(cell["dataset"]) / safe_name(cell["model"]) / safe_name(cell["method"]) / safe_name(cell["attack"])


def record_path(results: Path, cell: dict[str, Any], cell_id: str) -> Path:
    return cell_dir(results, cell) / f"{cell_id}.json"


def examples_path(record: Path) -> Path:
    return record.with_name(record.stem + ".examples.jsonl")


REQUIRED_KEYS = ("schema_version", "cell_id", "cell", "config", "metrics", "provenance")


class CorruptRecord(BenchError):
    pass


def load_record(path: Path) -> dict:
    """A record, checked against the contract; :class:`CorruptRecord` names the file when it is not one."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptRecord(f"{path}: not a readable JSON record ({exc})") from None
    if not isinstance(record, dict) or any(k not in record for k in REQUIRED_KEYS):
        raise CorruptRecord(f"{path}: not a rift-bench record (needs keys {', '.join(REQUIRED_KEYS)})")
    if record["schema_version"] != SCHEMA_VERSION:
        raise CorruptRecord(f"{path}: schema_version {record['schema_version']} is not {SCHEMA_VERSION}")
    if path.stem != record["cell_id"]:
        raise CorruptRecord(f"{path}: file name does not match its cell_id {record['cell_id']}")
    return record


def iter_record_files(results: Path) -> Iterator[Path]:
    if results.exists():
        for path in sorted(results.rglob("*.json")):
            if not path.name.startswith("."):
                yield path


def load_records(results: Path) -> tuple[list[dict], list[str]]:
    """All valid records under ``results`` and one message per file that was skipped."""
    records, problems = [], []
    for path in iter_record_files(results):
        try:
            records.append(load_record(path))
        except CorruptRecord as exc:
            problems.append(str(exc))
    return records, problems
