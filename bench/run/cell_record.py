"""A cell's record, built from what running it produced: the runner gathers the pieces (:class:`CellRun`), and
:func:`cell_record` turns them into the typed :class:`~bench.core.record.CellRecord`, its metrics computed from the
example lines."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.core.data import TaskData
from bench.core.metrics import attack_metrics
from bench.core.provenance import git_revision, hardware, now, package_versions
from bench.core.record import (SCHEMA_VERSION, AttackInfo, CellKey, CellRecord, DataInfo, ExampleLine, ModelInfo,
                               Provenance, ResolvedConfig, Training)
from bench.core.train import TrainedModel
from bench.run.grid import ResolvedCell


@dataclass
class CellRun:
    """What running one cell produced."""

    rc: ResolvedCell
    task: TaskData
    trained: TrainedModel
    model_source: str  #: where the pre-trained weights were read from
    model_fingerprint: str
    model_package_version: str | None
    recipe: Any  #: the attack recipe that ran (:class:`bench.core.attack.AttackRecipe`)
    lines: list[ExampleLine]  #: one per test example, in the test split's order
    similarity: str | None  #: what computed the lines' similarities (``--similarity``), else None
    device: str
    started: str  #: UTC start time
    started_clock: float  #: ``time.perf_counter()`` at the start
    resumed: int  #: lines taken from the checkpoint of an interrupted run
    in_flight: int | None  #: ``--examples-in-flight``
    examples_file: str  #: name of the examples file next to the record


def _one_set(training: Training, hparams: dict[str, Any]) -> Training:
    """``training`` without ``resolved_hparams`` where they repeat the cell's (a model cached before hyperparameters
    were resolved with the cell logged them): a record holds one set."""
    return replace(training, resolved_hparams=None) if training.resolved_hparams == hparams else training


def cell_record(run: CellRun) -> CellRecord:
    """The record of ``run``, finished now."""
    rc, cell, recipe = run.rc, run.rc.cell, run.recipe
    return CellRecord(
        schema_version=SCHEMA_VERSION, cell_id=rc.cell_id,
        cell=CellKey(**{**asdict(cell), "overrides": [list(o) for o in cell.overrides]}),
        config=ResolvedConfig(**rc.config),
        metrics=attack_metrics(run.lines),
        training=_one_set(run.trained.training, rc.config["hparams"]),
        data=DataInfo(**run.task.provenance),
        model=ModelInfo(name=cell.model, source=run.model_source, fingerprint=run.model_fingerprint,
                        pooling=run.trained.model.pooling, package_version=run.model_package_version),
        attack=AttackInfo(name=cell.attack, field=run.task.spec.attack_field,
                          recipe=rc.attack_cls.__module__ + "." + rc.attack_cls.__name__, similarity=run.similarity,
                          # how a recipe resolved what depends on the installation (e.g. textfooler's POS tagger)
                          details=recipe.describe() if hasattr(recipe, "describe") else None),
        provenance=Provenance(packages=package_versions(), git=git_revision(), hardware=hardware(run.device),
                              started=run.started, finished=now(), wall_seconds=time.perf_counter() - run.started_clock,
                              resumed_examples=run.resumed, examples_in_flight=run.in_flight),
        examples_file=run.examples_file,
    )
