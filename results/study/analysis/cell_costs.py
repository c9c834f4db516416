"""Wall time per kind of cell in the study, read from the committed records and their logs (STUDY.md, "Sizing").

Two Markdown tables, grouped by the number of torch threads the run had (the records say that, not whether other
jobs shared the machine):
* training: median training seconds per model, by dataset and kind of method (standard or adversarial);
* attacks: median attack seconds per test example, by dataset, kind of method and attack.

The first cell of a model group trains the model and the others reuse it, yet every record keeps the model's
training time; the cell's log tells which trained (it has the per-epoch lines). A training cell's attack time is
its wall time less the training time.

    python results/study/analysis/cell_costs.py [--runs results/study/runs]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def trained_here(record_file: Path, record: dict) -> bool:
    """Whether this cell trained its model (its log has the per-epoch lines; a cached model was not trained)."""
    log = record_file.with_suffix(".log")
    if record["training"].get("from_cache") or not log.exists():
        return False
    return any(" epoch 1/" in line for line in log.read_text(encoding="utf-8").splitlines())


def costs(runs: Path) -> tuple[dict[tuple, list[float]], dict[tuple, list[float]]]:
    """(training seconds per (dataset, kind, threads), attack seconds per example per (dataset, kind, attack, threads))."""
    trains: dict[tuple, list[float]] = defaultdict(list)
    attacks: dict[tuple, list[float]] = defaultdict(list)
    for path in sorted(runs.rglob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if "cell" not in record or "provenance" not in record or not record["metrics"].get("n_examples"):
            continue
        cell, provenance = record["cell"], record["provenance"]
        kind = "standard" if cell["method"] == "standard" else "adversarial"
        threads = provenance["hardware"].get("torch_threads")
        attack_seconds = provenance["wall_seconds"]
        if trained_here(path, record):
            trains[(cell["dataset"], kind, threads)].append(record["training"]["train_seconds"])
            attack_seconds -= record["training"]["train_seconds"]
        attacks[(cell["dataset"], kind, cell["attack"], threads)].append(attack_seconds / record["metrics"]["n_examples"])
    return trains, attacks


def _sorted(keys) -> list[tuple]:
    return sorted(keys, key=lambda k: tuple(str(x) for x in k))


def cost_tables(runs: Path) -> str:
    trains, attacks = costs(runs)
    lines = ["| dataset | methods | threads | models trained | median training (s) |", "|---|---|---|---|---|"]
    lines += [f"| {d} | {k} | {t} | {len(trains[(d, k, t)])} | {statistics.median(trains[(d, k, t)]):.0f} |"
              for d, k, t in _sorted(trains)]
    lines += ["", "| dataset | methods | attack | threads | cells | median attack time (s / example) |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {d} | {k} | {a} | {t} | {len(attacks[(d, k, a, t)])} | {statistics.median(attacks[(d, k, a, t)]):.2f} |"
              for d, k, a, t in _sorted(attacks)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="results/study/runs")
    args = parser.parse_args(argv)
    print(cost_tables(Path(args.runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
