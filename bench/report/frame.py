"""Result records → one pandas DataFrame (a row per cell), the input of every table and figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.store import load_records

COLUMNS = ["dataset", "model", "method", "attack", "seed", "scale", "train_split", "n_examples",
           "clean_accuracy", "accuracy_under_attack", "attack_success_rate", "mean_perturbed_pct", "mean_queries",
           "seconds_per_example", "rel_weight_distance", "cell_id"]


def records_frame(results: Path) -> tuple[pd.DataFrame, list[str]]:
    """All valid records under ``results`` as a frame, plus one message per skipped (corrupt/foreign) file."""
    records, problems = load_records(results)
    rows = []
    for r in records:
        cell, m = r["cell"], r["metrics"]
        rows.append({
            "dataset": cell["dataset"], "model": cell["model"], "method": cell["method"], "attack": cell["attack"],
            "seed": cell["seed"], "scale": cell["scale"], "train_split": r.get("data", {}).get("train_split"),
            **{k: m.get(k) for k in COLUMNS if k in m},
            "rel_weight_distance": r.get("training", {}).get("selected_rel_weight_distance"),
            "cell_id": r["cell_id"],
        })
    return pd.DataFrame(rows, columns=COLUMNS), problems
