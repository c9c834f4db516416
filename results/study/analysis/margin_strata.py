"""Is a method's attack success explained by how confident its clean predictions were?

For each (dataset, attack, method) under results/study/runs: the attacked examples (clean prediction right) split
by their clean margin p(y) − max over the other classes into strata, and the attack's success rate within each
stratum, pooled over the seeds present. If two methods have equal success rates within every stratum, the
difference in their overall success comes from their margins alone (how many examples sit in each stratum),
not from what the attack can do to an example of a given confidence. Used in STUDY.md ("AddSent and the margins").

    python results/study/analysis/margin_strata.py [--runs results/study/runs] [--attacks addsent,pwws]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from bench.core.metrics import clean_margin
from bench.core.record import ExampleLine

EDGES = (0.2, 0.5, 0.8)  # margin strata: [0, 0.2), [0.2, 0.5), [0.5, 0.8), [0.8, 1]


def stratum(value: float) -> int:
    return sum(value >= edge for edge in EDGES)


def stratum_names() -> list[str]:
    bounds = (0.0, *EDGES, 1.0)
    return [f"[{bounds[i]:.1f}, {bounds[i + 1]:.1f}{']' if i == len(EDGES) else ')'}" for i in range(len(EDGES) + 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="results/study/runs")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--attacks", default="addsent,pwws")
    args = parser.parse_args(argv)
    cells: dict[tuple[str, str, str], dict] = defaultdict(lambda: {"seeds": set(), "margins": [],
                                                                   "strata": defaultdict(lambda: [0, 0])})
    for attack in args.attacks.split(","):
        for path in sorted(Path(args.runs).glob(f"*/{args.model}/*/{attack}/*.examples.jsonl")):
            record = json.loads(path.with_name(path.name.replace(".examples.jsonl", ".json")).read_text())
            cell = record["cell"]
            if any(key.startswith("method.") for key, _ in cell["overrides"]):
                continue  # sweep variants are not the method as the main grid runs it
            entry = cells[(cell["dataset"], attack, cell["method"])]
            entry["seeds"].add(cell["seed"])
            for line in path.read_text().splitlines():
                row = json.loads(line)
                if row["status"] == "skipped":
                    continue
                m = clean_margin(ExampleLine.from_json(row))
                entry["margins"].append(m)
                counts = entry["strata"][stratum(m)]
                counts[0] += row["status"] == "success"
                counts[1] += 1
    names = stratum_names()
    print("| dataset | attack | method | seeds | attacked | success | median margin | "
          + " | ".join(f"success, margin {n}" for n in names) + " |")
    print("|---|---|---|---|---|---|---|" + "---|" * len(names))
    for (dataset, attack, method), entry in sorted(cells.items()):
        strata = entry["strata"]
        hits = sum(s for s, _ in strata.values())
        total = sum(n for _, n in strata.values())
        parts = [f"{100 * strata[k][0] / strata[k][1]:.0f} % of {strata[k][1]}" if strata[k][1] else "—"
                 for k in range(len(names))]
        print(f"| {dataset} | {attack} | {method} | {','.join(map(str, sorted(entry['seeds'])))} | {total} | "
              f"{100 * hits / total:.1f} % | {statistics.median(entry['margins']):.3f} | " + " | ".join(parts) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
