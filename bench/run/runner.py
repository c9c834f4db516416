"""Run cells: data → fine-tuned model (cached) → victim → attack → record.

Nothing is lost when a run is killed: a cell is claimed with a lock file (so two runners on one
results folder never run it twice at once), its examples are checkpointed one by one (a resumed
cell skips finished examples), its examples file is written before its record, both atomically,
and a fine-tuned model is trained under a lock of its own (so it is trained once, also across
workers). A cell that fails leaves a ``.failed.json`` note and the grid goes on.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.core.assets import AssetConfig
from bench.core.checkpoint import ExampleCheckpoint
from bench.core.data import DataIdentities, DataSizes, TaskData, data_mismatch, prepare_task
from bench.core.errors import BenchError, ConfigError
from bench.run.grid import Cell, ResolvedCell
from bench.core.locks import Claim
from bench.core.models import fingerprint, package_version, resolve_model, spec_for
from bench.core.provenance import now
from bench.core.record import CellRecord, ExampleLine
from bench.run.cell_record import CellRun, cell_record
from bench.core.store import (CellFiles, CorruptRecord, RecordCache, examples_path, examples_problem, load_record,
                         write_jsonl, write_record)

OVERWRITE = ("never", "always", "missing")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class RunOptions:
    results_dir: Path
    cache_dir: Path
    assets: AssetConfig
    overwrite: str = "never"
    device: str = "auto"
    #: examples attacked at once with their queries batched (engine recipes); None: many on a GPU, one on a CPU
    in_flight: int | None = None
    #: annotate successful attacks with the USE similarity of adversarial to original text
    similarity: bool = False
    log: Callable[[str], None] = field(default=_stderr)

    def __post_init__(self) -> None:
        if self.overwrite not in OVERWRITE:
            raise ConfigError(f"--overwrite must be one of {', '.join(OVERWRITE)}, got {self.overwrite!r}")
        if self.in_flight is not None and self.in_flight < 1:
            raise ConfigError(f"--examples-in-flight must be ≥ 1, got {self.in_flight}")


def needs_run(path: Path, overwrite: str, log: Callable[[str], None] = _stderr, identity: dict | None = None) -> bool:
    """never: run only cells without a record file. missing: also redo invalid or incomplete records. always: redo.

    A record made from other data than ``identity`` (the data the cell would use now) is never taken as done."""
    if overwrite == "always" or not path.exists():
        return True
    try:
        record = load_record(path)
    except CorruptRecord as exc:
        if overwrite == "never":
            log(f"warning: {exc}; left alone (rerun with --overwrite missing to replace it)")
        return overwrite == "missing"
    why = data_mismatch(record, identity)
    if why:
        log(f"warning: {path} was made from other data ({why}): running the cell again")
        return True
    problem = examples_problem(record, examples_path(path))
    if problem and overwrite == "never":
        log(f"warning: the examples of {path} cannot be used ({problem}); left alone (rerun with --overwrite "
            "missing to redo the cell)")
    return overwrite == "missing" and bool(problem)


def progress_enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Runner:
    """Runs cells in order, keeping the last task data and fine-tuned model in memory."""

    def __init__(self, options: RunOptions) -> None:
        import torch

        from bench.core.model_cache import ModelCache
        from bench.core.victim import pick_device

        self.options = options
        if not progress_enabled():  # transformers' own bars (weight loading, GGUF conversion) too
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        self.device: torch.device = pick_device(options.device)
        self.cache = ModelCache(options.cache_dir / "models", options.log)
        self._tasks: dict[tuple, TaskData] = {}
        #: the identity of the data a cell of a dataset would use now (files hashed once per run)
        self.identity = DataIdentities(options.assets)
        self._model: tuple[str, object] | None = None
        self.current: tuple[Cell, Path] | None = None  # the cell in progress (for interruption reports)

    def task(self, rc: ResolvedCell, log: Callable[[str], None]) -> TaskData:
        s = rc.scale
        key = (rc.cell.dataset, s.n_train, s.n_dev, s.n_test, s.data_seed)
        if key not in self._tasks:
            self._tasks = {key: prepare_task(rc.cell.dataset, DataSizes(s.n_train, s.n_dev, s.n_test, s.data_seed),
                                             self.options.assets)}
        return self._tasks[key]

    def run(self, rc: ResolvedCell) -> tuple[str, dict | None]:
        """Run one resolved cell. Status: "done", "skipped" (record exists), "busy" (another runner has it) or
        "failed"."""
        cell = rc.cell
        files = CellFiles.of(self.options.results_dir, rc.config, rc.cell_id)
        path = files.record
        identity = self.identity(rc.cell.dataset)
        if not needs_run(path, self.options.overwrite, self.options.log, identity):
            return "skipped", None
        claim = Claim(files.lock)
        if not claim.try_acquire():
            return "busy", None
        self.current = (cell, path)
        try:
            with open(files.log, "a", encoding="utf-8") as log_file:
                def log(msg: str) -> None:
                    self.options.log(msg)
                    log_file.write(f"{now()} {msg}\n")
                    log_file.flush()

                try:
                    if path.exists() and not needs_run(path, self.options.overwrite, lambda m: None, identity):
                        return "skipped", None  # finished by another runner while we looked
                    record = self._run_claimed(rc, files, log)
                except (KeyboardInterrupt, SystemExit):
                    log("  interrupted")
                    raise
                except BenchError as exc:  # a problem the user must fix (missing asset, bad data): stop the grid
                    files.write_failure(str(exc))
                    raise
                except Exception as exc:  # a bug or a resource problem: note it, go on with the grid
                    log(f"  failed: {type(exc).__name__}: {exc} (traceback in {files.failed})")
                    files.write_failure(f"{type(exc).__name__}: {exc}", traceback.format_exc())
                    return "failed", None
            files.failed.unlink(missing_ok=True)
            return "done", record
        finally:
            self.current = None
            claim.release()

    def _trained(self, rc: ResolvedCell, task: TaskData, log: Callable[[str], None]):
        from bench.core.model_cache import train_or_load
        from bench.core.train import TrainJob

        cell = rc.cell
        model_src = resolve_model(cell.model, self.options.assets)
        mspec = spec_for(cell.model)
        spec = rc.train_spec(fingerprint(model_src.value), mspec.pooling, task.provenance)
        if self._model is not None and self._model[0] == spec.key:
            log("  reusing the fine-tuned model in memory")
            return spec, model_src, mspec, self._model[1]
        for note in task.provenance["notes"]:  # once per model, not again for the cells that reuse it
            log(f"  note: {note}")
        # One trainer per model, across runners and workers; the others wait, then load it from the cache.
        with_lock = Claim(self.cache.entry(spec.key).with_name(f".{spec.key}.lock"))
        if not with_lock.try_acquire():
            log(f"  waiting for another runner to finish training model {spec.key}")
            with_lock.acquire()
        try:
            trained = train_or_load(TrainJob(spec, rc.method_cls, task, model_src.value, self.options.assets),
                                    self.cache, self.device, log)
        finally:
            with_lock.release()
        self._model = (spec.key, trained)
        return spec, model_src, mspec, trained

    def _run_claimed(self, rc: ResolvedCell, files: CellFiles, log: Callable[[str], None]) -> CellRecord:
        from tqdm.auto import tqdm

        from bench.core.victim import Victim

        cell = rc.cell
        started, t0 = now(), time.perf_counter()
        log(f"[{rc.cell_id}] {cell.label()}")
        task = self.task(rc, log)
        spec, model_src, mspec, trained = self._trained(rc, task, log)
        victim = Victim(trained.model, trained.tokenizer, rc.max_length, rc.scale.eval_batch_size, self.device,
                        rc.scale.precision)
        recipe = rc.attack_cls(rc.settings, self.options.assets)
        checkpoint = ExampleCheckpoint(files.partial, rc.cell_id, [ex.uid for ex in task.test],
                                        task.provenance["identity"])
        if self.options.overwrite == "always" and checkpoint.path.exists():
            checkpoint.remove()  # --overwrite always: the cell starts afresh, nothing is resumed
            log("  --overwrite always: discarded the cell's checkpoint")
        rows, note = checkpoint.load()
        if note:
            log(f"  checkpoint: {note}")
        lines = [ExampleLine.from_json(row, f"{checkpoint.path}") for row in rows]
        resumed = len(lines)
        if resumed:
            log(f"  resuming: {resumed}/{len(task.test)} examples already attacked")
        bar = tqdm(total=len(task.test), initial=resumed, desc=f"attack {cell.attack}", leave=False,
                   disable=not progress_enabled())
        finished = {line.uid for line in lines}
        todo = [ex for ex in task.test if ex.uid not in finished]
        attack_started = time.perf_counter()
        crops = long_text_crops(recipe, todo, rc.attack_index, victim)
        for line in recipe.iter_attack(victim, [crops[ex.uid].example if ex.uid in crops else ex for ex in todo],
                                       rc.attack_index, self.options.in_flight):
            if line.uid in crops:
                line = crops[line.uid].restore(line)
            checkpoint.append(line.to_json())
            lines.append(line)
            bar.update(1)
        bar.close()
        attack_seconds = time.perf_counter() - attack_started
        order = {ex.uid: i for i, ex in enumerate(task.test)}
        lines.sort(key=lambda line: order[line.uid])
        similarity = None
        if self.options.similarity:
            from bench.core.similarity import annotate, describe

            lines = annotate(lines)
            similarity = describe()
        record = cell_record(CellRun(
            rc, task, trained, model_source=model_src.source, model_fingerprint=spec.model_fingerprint,
            model_package_version=package_version(mspec.package), recipe=recipe, lines=lines, similarity=similarity,
            device=str(self.device), started=started, started_clock=t0, resumed=resumed,
            in_flight=self.options.in_flight, examples_file=files.examples.name))
        metrics = record.metrics
        log(f"  clean acc {metrics.clean_accuracy:.3f}, acc under {cell.attack} {metrics.accuracy_under_attack:.3f} "
            f"({metrics.n_examples} examples" + (f", {resumed} resumed" if resumed else "")
            + f", attacked in {attack_seconds:.1f}s)")
        write_jsonl(files.examples, [line.to_json() for line in lines])
        write_record(files.record, record)
        checkpoint.remove()
        return record


def long_text_crops(recipe, examples: list, field: int, victim) -> dict:
    """uid → :class:`bench.core.crop.Cropped` for the long texts a recipe may attack through a prefix."""
    if not recipe.crops_long_texts():
        return {}
    from bench.core.crop import crop_for_attack

    crops = ((ex.uid, crop_for_attack(ex, field, victim.tokenizer, victim.max_length)) for ex in examples)
    return {uid: crop for uid, crop in crops if crop is not None}


@dataclass
class GridSummary:
    done: list[Cell] = field(default_factory=list)
    skipped: list[Cell] = field(default_factory=list)
    busy: list[Cell] = field(default_factory=list)
    failed: list[Cell] = field(default_factory=list)

    def add(self, status: str, cell: Cell) -> None:
        getattr(self, status).append(cell)

    def merge(self, other: "GridSummary") -> None:
        for name in ("done", "skipped", "busy", "failed"):
            getattr(self, name).extend(getattr(other, name))

    def line(self) -> str:
        text = f"{len(self.done)} run, {len(self.skipped)} skipped (already done)"
        if self.busy:
            text += f", {len(self.busy)} running in another runner"
        if self.failed:
            text += f", {len(self.failed)} failed (see the .failed.json next to each cell's record)"
        return text


class Interrupted(Exception):
    """A run stopped by SIGINT/SIGTERM; carries what finished and what was in progress."""

    def __init__(self, summary: GridSummary, in_progress: list[Cell], pending: list[Cell]) -> None:
        super().__init__("interrupted")
        self.summary, self.in_progress, self.pending = summary, in_progress, pending


def run_cells(cells: list[ResolvedCell], options: RunOptions) -> GridSummary:
    """Run resolved cells in order, in this process."""
    options.log(f"{len(cells)} cell(s) → {options.results_dir}")
    runner = Runner(options)
    summary = GridSummary()
    finished = RecordCache(options.results_dir)  # the ETA's basis, re-read only where a record is new
    for i, cell in enumerate(cells, 1):
        started = time.perf_counter()
        try:
            status, _ = runner.run(cell)
        except KeyboardInterrupt:
            current = runner.current[0] if runner.current else cell.cell
            raise Interrupted(summary, [current], [rc.cell for rc in cells[i:]]) from None
        summary.add(status, cell.cell)
        if status == "skipped":
            options.log(f"[{i}/{len(cells)}] skip (record exists): {cell.label()}")
        elif status == "busy":
            options.log(f"[{i}/{len(cells)}] skip (another runner is on it): {cell.label()}")
        else:
            left = len(cells) - i
            eta = f", ETA ≈ {_eta(cells[i:], finished)} for {left} more" if left else ""
            options.log(f"[{i}/{len(cells)}] {status} in {format_duration(time.perf_counter() - started)}{eta}: "
                        f"{cell.label()}")
    return summary


def _eta(left: list[ResolvedCell], finished: RecordCache) -> str:
    """The time the ``left`` cells will take, from finished cells like them (:mod:`bench.run.estimate`): from the first
    finished cell on, each model's training counted once."""
    from bench.run.estimate import estimate

    results = finished.results
    left = [rc for rc in left if not CellFiles.of(results, rc.config, rc.cell_id).record.exists()]  # to be skipped
    if not left:
        return format_duration(0)
    guess = estimate(left, finished.records())
    if not guess.cells:
        return "unknown (no finished cell like the ones left)"
    text = format_duration(guess.seconds)
    if guess.rough:
        text += f" ({guess.rough} cell(s) from other attacks or methods)"
    if guess.unknown:
        text += f" + {guess.unknown} cell(s) not estimated"
    return text


def format_duration(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.1f}min" if seconds < 7200 else f"{seconds / 3600:.1f}h"
