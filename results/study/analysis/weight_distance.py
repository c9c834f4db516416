"""How far does each method move the encoder from its pre-trained weights, epoch by epoch?

For each (dataset, training settings, method) under results/study/runs: the relative L2 distance ‖θ−θ₀‖/‖θ₀‖ of the encoder at the
end of every training epoch (the records' ``training.epoch_log``), as mean ± std over the trained models (one per
seed; the attacks of one model share its training, so each model counts once). The paper's motivation is that
adversarial fine-tuning moves further than standard fine-tuning and keeps moving. Used in STUDY.md ("Weight
distance").

    python results/study/analysis/weight_distance.py [--runs results/study/runs] [--model minilm-l6]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from bench.report.frame import records_frame
from bench.report.labels import METHOD_NAMES, sort_names


def per_model_distances(runs: Path, model: str) -> dict[tuple[str, str, str], dict[str, list[float]]]:
    """(dataset, scale label, method) → train key → distance after each epoch, grouped with the report's own labels
    (``records_frame``): sweep variants (overridden β or α) are left out; other training settings (e.g. more epochs)
    get their own scale label."""
    frame, _ = records_frame(runs)
    frame = frame[(frame["model"] == model) & (frame["method_label"] == frame["method"])]
    found: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for row in frame.drop_duplicates("train_key").itertuples():
        epoch_log = (json.loads(Path(row.record_path).read_text()).get("training") or {}).get("epoch_log")
        if epoch_log:
            found.setdefault((row.dataset, row.scale_label, row.method), {})[row.train_key] = [
                float(epoch["rel_weight_distance"]) for epoch in epoch_log]
    return found


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="results/study/runs")
    parser.add_argument("--model", default="minilm-l6")
    args = parser.parse_args(argv)
    found = per_model_distances(Path(args.runs), args.model)
    if not found:
        raise SystemExit(f"no trained models with an epoch log under {args.runs} for model {args.model}")
    for dataset, scale in sorted({(d, s) for d, s, _ in found}):
        epochs = max(len(v) for (d, s, _), models in found.items() if (d, s) == (dataset, scale) for v in models.values())
        print(f"\n{dataset}, {scale}: ‖θ−θ₀‖/‖θ₀‖ at the end of each epoch, mean ± std over trained models (n)")
        print("| method | n | " + " | ".join(f"epoch {e + 1}" for e in range(epochs)) + " | growth in the last epoch |")
        print("|---|---|" + "---|" * (epochs + 1))
        methods = sort_names((m for d, s, m in found if (d, s) == (dataset, scale)), METHOD_NAMES)
        for method in methods:
            runs = list(found[(dataset, scale, method)].values())
            cells = [mean_std([r[e] for r in runs if len(r) > e]) if any(len(r) > e for r in runs) else "—"
                     for e in range(epochs)]
            growth = [r[-1] / r[-2] - 1 for r in runs if len(r) >= 2]
            grown = f"{100 * statistics.fmean(growth):+.1f} %" if growth else "—"
            print(f"| {method} | {len(runs)} | " + " | ".join(cells) + f" | {grown} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
