"""The effect of bf16 autocast on the results (issue 25): Standard, Adv-Base and RIFT on SST-2 at the study's
settings, trained and attacked (PWWS, the study's 500 examples) in fp32 and in bf16 on one GPU, two seeds.

Reads results/study/precision/runs (grid: results/study/precision/grid.yaml) and, for the seed-to-seed spread the
effect is compared with, the main study's records of the same cells (results/study/runs, CPU, fp32). Prints:

1. per method and seed: clean accuracy, accuracy under PWWS, the selected epoch, and how many of the 500 examples
   end differently (robust in one precision, not in the other);
2. per method: the paired bf16 − fp32 difference in accuracy under PWWS over both seeds (bootstrap over seeds ×
   examples, and the t interval over the per-seed differences), beside the seed-to-seed spread of the same
   method: the study's three CPU seeds and the two GPU fp32 seeds;
3. per method and seed: the per-epoch loss terms in both precisions.

    python results/study/analysis/precision_effect.py [--runs results/study/precision/runs]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

METHODS = ("standard", "adv-base", "rift")
STUDY_SETTINGS = {"group_by_length": True, "lr": 1e-4, "epochs": 3}


def _records(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("sst2/minilm-l6/*/pwws/*.json")):
        record = json.loads(path.read_text())
        record["_examples"] = path.with_name(path.stem + ".examples.jsonl")
        out.append(record)
    return out


def _precision(record: dict) -> str:
    return record["config"]["scale_settings"].get("precision", "fp32")


def _study_accuracies(folder: Path, method: str) -> list[float]:
    """Accuracy under PWWS of the main study's seeds of ``method`` (SST-2, 500 examples)."""
    values = []
    for record in _records(folder):
        settings = record["config"]["scale_settings"]
        if (record["cell"]["method"] == method and settings.get("n_test") == 500
                and all(settings.get(k) == v for k, v in STUDY_SETTINGS.items())
                and settings.get("tokenizer", "subword") == "subword"):
            values.append(record["metrics"]["accuracy_under_attack"])
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="results/study/precision/runs")
    parser.add_argument("--study", default="results/study/runs")
    args = parser.parse_args(argv)
    from bench.report.paired import paired_difference, read_robust

    cells = {(r["cell"]["method"], r["cell"]["seed"], _precision(r)): r for r in _records(Path(args.runs))}
    seeds = sorted({seed for (_, seed, _) in cells})
    hardware = {r["provenance"]["hardware"].get("gpu") for r in cells.values()}
    print(f"bf16 vs fp32 on {', '.join(sorted(map(str, hardware)))}: SST-2, PWWS, seeds {seeds}\n")
    print("| method | seed | clean acc fp32 / bf16 | acc under PWWS fp32 / bf16 | selected epoch fp32 / bf16 | outcomes that differ |")
    print("|---|---|---|---|---|---|")
    for method in METHODS:
        for seed in seeds:
            a, b = cells[(method, seed, "fp32")], cells[(method, seed, "bf16")]
            ra, rb = read_robust(a["_examples"]), read_robust(b["_examples"])
            differ = sum(ra[u] != rb[u] for u in ra)
            print(f"| {method} | {seed} | {a['metrics']['clean_accuracy']:.3f} / {b['metrics']['clean_accuracy']:.3f} | "
                  f"{a['metrics']['accuracy_under_attack']:.3f} / {b['metrics']['accuracy_under_attack']:.3f} | "
                  f"{a['training']['selected_epoch']} / {b['training']['selected_epoch']} | {differ} of {len(ra)} |")

    print("\nbf16 − fp32, accuracy under PWWS (points), paired on the same examples, both seeds; beside it the "
          "seed-to-seed spread of the method in fp32:\n")
    print("| method | Δ bf16 − fp32 [95 % bootstrap] | seed t interval | study CPU seeds (fp32): values, range | "
          "GPU fp32 seeds: values, range |")
    print("|---|---|---|---|---|")
    for method in METHODS:
        robust = {p: [read_robust(cells[(method, s, p)]["_examples"]) for s in seeds] for p in ("fp32", "bf16")}
        uids = sorted(robust["fp32"][0])
        grid = {p: np.array([[m[u] for u in uids] for m in robust[p]], dtype=float) for p in robust}
        d = paired_difference(grid["bf16"], grid["fp32"])
        seed_interval = ("–" if d.seed_low is None else f"[{100 * d.seed_low:+.1f}, {100 * d.seed_high:+.1f}]")
        study = _study_accuracies(Path(args.study), method)
        gpu = [cells[(method, s, "fp32")]["metrics"]["accuracy_under_attack"] for s in seeds]

        def spread(values: list[float]) -> str:
            if not values:
                return "–"
            shown = ", ".join(f"{100 * v:.1f}" for v in values)
            sd = f", sd {100 * statistics.stdev(values):.1f}" if len(values) > 1 else ""
            return f"{shown}: {100 * (max(values) - min(values)):.1f}{sd}"

        print(f"| {method} | {100 * d.delta:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}] | {seed_interval} | "
              f"{spread(study)} | {spread(gpu)} |")

    print("\nPer-epoch loss terms (the training means of each epoch), fp32 → bf16:\n")
    print("| method | seed | epoch | train loss | ce | kl | info_bound | adv_train_acc | dev acc | dev ASCC acc |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for method in METHODS:
        for seed in seeds:
            logs = [cells[(method, seed, p)]["training"]["epoch_log"] for p in ("fp32", "bf16")]
            for ea, eb in zip(*logs):
                def pair(key: str, source: str = "terms") -> str:
                    va = (ea.get(source) or {}).get(key) if source == "terms" else ea.get(key)
                    vb = (eb.get(source) or {}).get(key) if source == "terms" else eb.get(key)
                    return "–" if va is None or vb is None else f"{va:.4f} → {vb:.4f}"
                print(f"| {method} | {seed} | {ea['epoch']} | {pair('train_loss', 'epoch')} | {pair('ce')} | "
                      f"{pair('kl')} | {pair('info_bound')} | {pair('adv_train_acc')} | "
                      f"{pair('dev_accuracy', 'epoch')} | {pair('dev_ascc_robust_accuracy', 'epoch')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
