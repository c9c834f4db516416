"""Result records → pandas frames (a row per cell; a row per logged training step), the input of every
table and figure. Reads the typed records of :mod:`bench.core.record` (never imports torch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report.labels import split_cell_overrides, with_variant
from bench.core.record import CellRecord, ExampleLine, Training
from bench.core.metrics import attack_metrics, median_clean_margin
from bench.core.store import checked_examples, examples_path, load_records_with_paths

METRICS = ["clean_accuracy", "accuracy_under_attack", "attack_success_rate", "mean_perturbed_pct", "mean_queries",
           "seconds_per_example", "mean_similarity", "accuracy_under_attack_attackable"]
COLUMNS = ["dataset", "model", "method", "attack", "seed", "scale", "train_split", "n_examples", *METRICS,
           "median_clean_margin",  # from the examples file (bench.core.metrics.median_clean_margin), not the record
           "unattackable_share",  # examples the recipe could not attack / examples tested
           "rel_weight_distance", "cell_id",
           # labels that keep distinct configurations apart: the scale/method/attack plus their overrides
           "scale_label", "method_label", "attack_label", "method_overrides", "attack_overrides",
           "n_train", "n_test", "train_pool_size", "epochs", "lr", "batch_size", "hparams", "train_key", "selected_dev_accuracy",
           "selected_epoch", "selection_metric",
           # the resolved configuration, for `--compare paper`'s list of differences
           "scale_settings", "attack_settings", "max_length",
           # the mean loss terms of the selected epoch (training.epoch_log) and the terms the settings switched off
           "loss_terms", "inactive_terms",
           # warnings about the fine-tuned model (training.notes: near chance, near-constant)
           "training_notes",
           "record_path", "examples_path"]
STEP_COLUMNS = ["dataset", "model", "method", "seed", "scale_label", "method_label", "method_overrides", "train_key",
                "step", "epoch", "rel_weight_distance"]


def _selected_terms(training: Training) -> dict:
    """The per-epoch mean of each loss term at the selected epoch ({} for records written before they were logged)."""
    for entry in training.epoch_log or []:
        if entry.get("epoch") == training.selected_epoch:
            return dict(entry.get("terms") or {})
    return {}


def _row(record: CellRecord, path: Path) -> dict:
    cell, m = record.cell, record.metrics
    config, data, training = record.config, record.data, record.training
    groups = split_cell_overrides(cell.overrides)
    resolved = record.resolved_config()  # as today's code writes it (a record from before a setting existed too)
    scale_settings = resolved["scale_settings"]
    examples = examples_path(path)
    return {
        "dataset": cell.dataset, "model": cell.model, "method": cell.method, "attack": cell.attack,
        "seed": cell.seed, "scale": cell.scale, "train_split": data.train_split,
        "n_examples": m.n_examples, **{k: getattr(m, k) for k in METRICS}, "median_clean_margin": None,
        "unattackable_share": (m.n_unattackable / m.n_examples if m.n_unattackable is not None and m.n_examples
                               else None),
        "rel_weight_distance": training.selected_rel_weight_distance, "cell_id": record.cell_id,
        # n_test is an evaluation size, not a training setting: cells of one model attacked on different numbers
        # of examples share a table (see separate_test_sizes)
        "scale_label": with_variant(cell.scale, [(k, v) for k, v in groups["scale"] if k != "n_test"]),
        "method_label": with_variant(cell.method, groups["method"]),
        "attack_label": with_variant(cell.attack, groups["attack"]),
        "attack_overrides": tuple(groups["attack"]),
        "method_overrides": tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in groups["method"])),
        "n_train": data.n_train, "n_test": data.n_test, "train_pool_size": data.train_pool_size,
        "epochs": scale_settings.get("epochs"), "lr": scale_settings.get("lr"),
        "batch_size": scale_settings.get("batch_size"), "hparams": resolved["hparams"],
        "train_key": training.train_key, "selected_dev_accuracy": training.selected_dev_accuracy,
        "selected_epoch": training.selected_epoch, "selection_metric": training.selection_metric,
        "scale_settings": scale_settings, "attack_settings": resolved["attack_settings"],
        "max_length": config.max_length,
        "loss_terms": _selected_terms(training), "inactive_terms": tuple(training.inactive_terms or []),
        "training_notes": tuple(training.notes or []),
        "record_path": str(path), "examples_path": str(examples) if examples.exists() else None,
    }


def _load(results: Path) -> tuple[list[tuple[CellRecord, Path]], list[str]]:
    return load_records_with_paths(results, with_failures=True)


def separate_test_sizes(frame: pd.DataFrame) -> pd.DataFrame:
    """Where one (dataset, scale, attack) was run on more than one test size, add ``n_test`` to those attack
    labels, so that a table never averages cells attacked on different examples into one number."""
    if frame.empty:
        return frame
    frame = frame.copy()
    for _, group in frame.groupby(["dataset", "scale_label", "attack_label"], sort=False, dropna=False):
        if group["n_test"].nunique(dropna=False) > 1:
            frame.loc[group.index, "attack_label"] = [
                with_variant(r.attack, [*r.attack_overrides, ("n_test", r.n_test)]) for r in group.itertuples()]
    return frame


def records_frame(results: Path) -> tuple[pd.DataFrame, list[str]]:
    """All valid records under ``results`` as a frame, plus one message per skipped (corrupt/foreign) file, per
    failed cell and per examples file left out (``examples_path`` None: no paired comparison, no examples page)."""
    loaded, problems = _load(results)
    rows = []
    for record, path in loaded:
        row = _row(record, path)
        examples = examples_path(path)
        lines, problem = checked_examples(record, examples)
        if not problem:
            typed = [ExampleLine.from_json(line) for line in lines]
            if record.metrics.n_unattackable is None:  # a record from before the metric: from its examples
                counts = attack_metrics(typed)
                row["accuracy_under_attack_attackable"] = counts.accuracy_under_attack_attackable
                row["unattackable_share"] = counts.n_unattackable / counts.n_examples if typed else None
            try:
                row["median_clean_margin"] = median_clean_margin(typed)
            except (IndexError, TypeError, ValueError) as exc:
                problem = f"{examples}: class probabilities that do not fit the labels ({exc})"
        if problem:
            problems.append(f"examples of cell {record.cell_id} left out of paired differences and example pages: "
                            f"{problem}")
            row["examples_path"] = None
        rows.append(row)
    return separate_test_sizes(pd.DataFrame(rows, columns=COLUMNS)), problems


def steps_frame(results: Path) -> pd.DataFrame:
    """One row per logged training step (``training.step_log``) per trained model (records sharing a model count once)."""
    loaded, _ = _load(results)
    rows, seen = [], set()
    for record, path in loaded:
        base = _row(record, path)
        training = record.training
        key = training.train_key or record.cell_id
        if key in seen:
            continue
        seen.add(key)
        for step in training.step_log or []:
            if "rel_weight_distance" in step and "step" in step:
                rows.append({**{k: base[k] for k in STEP_COLUMNS[:7]}, "train_key": key, "step": step["step"],
                             "epoch": step.get("epoch"), "rel_weight_distance": step["rel_weight_distance"]})
    return pd.DataFrame(rows, columns=STEP_COLUMNS)
