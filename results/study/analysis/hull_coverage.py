"""Where PWWS's successful substitutions fall relative to the ASCC hull, and how confident the victims were.

For each (method, dataset) with committed PWWS examples under results/study/runs: of the words PWWS changed in
its successful attacks, the share that ASCC training could have perturbed (the word and its substitute are each
one token of the model's tokenizer, the condition of `bench/core/ascc.py`'s alignment); the median clean margin
p(y) − max over the other classes, over the attacked examples; and the mean number of
words changed per success. Used in STUDY.md ("Why Adv-Base is not more robust under PWWS").

    RIFT_BENCH_ASSETS=../shared python results/study/analysis/hull_coverage.py [--runs results/study/runs]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="results/study/runs")
    parser.add_argument("--model", default="minilm-l6")
    args = parser.parse_args(argv)
    from transformers import AutoTokenizer

    from bench.core.assets import AssetConfig
    from bench.core.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(args.model, AssetConfig.from_env()).value)
    single = lambda w: len(tokenizer(" " + w, add_special_tokens=False)["input_ids"]) == 1  # noqa: E731
    print("| dataset | method | seed | attacked | successes | substitutions inside the ASCC hull | median clean margin | words changed per success |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(Path(args.runs).glob(f"*/{args.model}/*/pwws/*.examples.jsonl")):
        record = json.loads(path.with_name(path.name.replace(".examples.jsonl", ".json")).read_text())
        dataset, method, seed = record["cell"]["dataset"], record["cell"]["method"], record["cell"]["seed"]
        inside = total = successes = 0
        margins, changed = [], []
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["status"] == "skipped":
                continue
            probs, y = row["original_probs"], row["label"]
            margins.append(probs[y] - max(p for k, p in enumerate(probs) if k != y))
            if row["status"] == "success":
                successes += 1
                changed.append(len(row["changes"]))
                for change in row["changes"]:
                    total += 1
                    inside += single(change["original"]) and single(change["substitute"])
        print(f"| {dataset} | {method} | {seed} | {len(margins)} | {successes} | "
              f"{inside / total if total else float('nan'):.3f} | {statistics.median(margins):.3f} | "
              f"{statistics.mean(changed) if changed else float('nan'):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
