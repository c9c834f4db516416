"""Run cells: data → fine-tuned model (cached) → victim → attack → record.

Finished cells are skipped according to the overwrite strategy; a cell's examples file is written
before its record, both atomically, so a record on disk always describes a complete cell.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from bench.assets import AssetConfig
from bench.data import DataSizes, TaskData, prepare_task
from bench.errors import ConfigError
from bench.grid import Cell, ResolvedCell, resolve_cell
from bench.metrics import attack_metrics
from bench.models import fingerprint, package_version, resolve_model, spec_for
from bench.provenance import git_revision, hardware, now, package_versions
from bench.store import (SCHEMA_VERSION, CorruptRecord, atomic_write_json, examples_path, load_record, read_jsonl,
                         record_path, write_jsonl)

OVERWRITE = ("never", "always", "missing")


@dataclass
class RunOptions:
    results_dir: Path
    cache_dir: Path
    assets: AssetConfig
    overwrite: str = "never"
    device: str = "auto"
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr, flush=True))

    def __post_init__(self) -> None:
        if self.overwrite not in OVERWRITE:
            raise ConfigError(f"--overwrite must be one of {', '.join(OVERWRITE)}, got {self.overwrite!r}")


def needs_run(path: Path, overwrite: str) -> bool:
    """never: run only cells without a record file. missing: also rerun invalid or incomplete records. always: rerun."""
    if overwrite == "always" or not path.exists():
        return True
    if overwrite == "never":
        return False
    try:
        load_record(path)
    except CorruptRecord:
        return True
    return not examples_path(path).exists()


class Runner:
    """Runs cells in order, keeping the last task data and fine-tuned model in memory."""

    def __init__(self, options: RunOptions) -> None:
        import torch

        from bench.train import ModelCache
        from bench.victim import pick_device

        self.options = options
        self.device: torch.device = pick_device(options.device)
        self.cache = ModelCache(options.cache_dir / "models")
        self._tasks: dict[tuple, TaskData] = {}
        self._model: tuple[str, object] | None = None

    def task(self, rc: ResolvedCell) -> TaskData:
        s = rc.scale
        key = (rc.cell.dataset, s.n_train, s.n_dev, s.n_test, s.data_seed)
        if key not in self._tasks:
            self._tasks = {key: prepare_task(rc.cell.dataset, DataSizes(s.n_train, s.n_dev, s.n_test, s.data_seed),
                                             self.options.assets)}
            for note in self._tasks[key].provenance["notes"]:
                self.options.log(f"  note: {note}")
        return self._tasks[key]

    def run(self, cell: Cell) -> tuple[str, dict | None]:
        """Run one cell. Returns (status, record) with status "done" or "skipped"."""
        from bench.train import TrainSpec, train_or_load
        from bench.victim import Victim

        rc = resolve_cell(cell)
        path = record_path(self.options.results_dir, rc.config, rc.cell_id)
        if not needs_run(path, self.options.overwrite):
            return "skipped", None
        log = self.options.log
        started, t0 = now(), time.perf_counter()
        log(f"[{rc.cell_id}] {cell.label()}")
        task = self.task(rc)
        model_src = resolve_model(cell.model, self.options.assets)
        mspec = spec_for(cell.model)
        spec = TrainSpec(cell.dataset, cell.model, fingerprint(model_src.value), mspec.pooling, cell.method,
                         asdict(rc.hparams), cell.seed, rc.scale, rc.max_length,
                         {k: task.provenance[k] for k in ("train_split", "n_train", "n_dev", "data_seed")})
        if self._model is not None and self._model[0] == spec.key:
            trained = self._model[1]
            log("  reusing the fine-tuned model in memory")
        else:
            trained = train_or_load(spec, rc.method_cls, rc.hparams, task, model_src.value, self.cache, self.device, log)
            self._model = (spec.key, trained)
        victim = Victim(trained.model, trained.tokenizer, rc.max_length, rc.scale.eval_batch_size, self.device)
        recipe = rc.attack_cls(rc.settings, self.options.assets)
        rows = []
        from tqdm.auto import tqdm

        import os

        bar = tqdm(task.test, desc=f"attack {cell.attack}", leave=False,
                   disable=not sys.stderr.isatty() or bool(os.environ.get("CI")))
        for example in bar:
            rows.append(recipe.attack(victim, example, rc.attack_field).to_json())
        metrics = attack_metrics(rows)
        log(f"  clean acc {metrics['clean_accuracy']:.3f}, acc under {cell.attack} {metrics['accuracy_under_attack']:.3f} "
            f"({metrics['n_examples']} examples, {time.perf_counter() - t0:.1f}s)")
        record = {
            "schema_version": SCHEMA_VERSION,
            "cell_id": rc.cell_id,
            "cell": {**asdict(cell), "overrides": [list(o) for o in cell.overrides]},
            "config": rc.config,
            "metrics": metrics,
            "training": {
                "train_key": spec.key, "from_cache": trained.cached, "epochs": rc.scale.epochs,
                "selected_epoch": trained.log["selected_epoch"], "selection_metric": trained.log["selection_metric"],
                "selected_dev_accuracy": trained.log["selected_dev_accuracy"],
                "final_rel_weight_distance": trained.log["final_rel_weight_distance"],
                "selected_rel_weight_distance": trained.log["selected_rel_weight_distance"],
                "train_seconds": trained.log["train_seconds"], "epoch_log": trained.log["epochs"],
                "step_log": trained.log["steps"],
            },
            "data": task.provenance,
            "model": {"name": cell.model, "source": model_src.source, "fingerprint": spec.model_fingerprint,
                      "pooling": trained.model.pooling, "package_version": package_version(mspec.package)},
            "attack": {"name": cell.attack, "field": "text_pair" if rc.attack_field else "text",
                       "recipe": rc.attack_cls.__module__ + "." + rc.attack_cls.__name__},
            "provenance": {"packages": package_versions(), "git": git_revision(), "hardware": hardware(str(self.device)),
                           "started": started, "finished": now(), "wall_seconds": time.perf_counter() - t0},
            "examples_file": examples_path(path).name,
        }
        write_jsonl(examples_path(path), rows)
        atomic_write_json(path, record)
        return "done", record


def run_cells(cells: list[Cell], options: RunOptions) -> dict[str, int]:
    for cell in cells:  # resolve everything first: a bad name or value fails before any work
        resolve_cell(cell)
    runner = Runner(options)
    counts = {"done": 0, "skipped": 0}
    for i, cell in enumerate(cells, 1):
        status, _ = runner.run(cell)
        counts[status] += 1
        if status == "skipped":
            options.log(f"[{i}/{len(cells)}] skip (record exists): {cell.label()}")
    return counts


def read_examples(record_file: Path) -> list[dict]:
    return read_jsonl(examples_path(record_file))
