"""The hull diagnostic (issue 23, item 2): did the retrained seed-0 SST-2 models reproduce the main study's records,
and how much of the missing Adv-Base − Standard gap under PWWS do ASCC's hull substitutions explain?

Reads results/study/hull-diagnostic/runs (PWWS as in the study, and PWWS with attack.substitutions=hull, on the
models retrained from the main grid's configuration) and the main study's records of the same cells. Prints:

1. reproduction, per method: the record's metrics then and now, how many of the 500 examples changed outcome, the
   largest change of a clean class probability, and the package versions that differ;
2. the paired Adv-Base − Standard difference in accuracy under attack, unrestricted and restricted to hull
   substitutions, on the same 500 examples (one seed: a bootstrap over examples).

    python results/study/analysis/hull_diagnostic.py [--diagnostic results/study/hull-diagnostic/runs]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _records(folder: Path) -> dict[tuple[str, str], dict]:
    """(method, substitutions) → record, for the PWWS cells under ``folder``."""
    out = {}
    for path in folder.glob("sst2/*/*/pwws/*.json"):
        record = json.loads(path.read_text())
        if record["cell"]["seed"] != 0:
            continue
        settings = {**{"substitutions": "all"}, **record["config"]["attack_settings"]}
        record["_examples"] = path.with_name(path.stem + ".examples.jsonl")
        out[(record["cell"]["method"], settings["substitutions"])] = record
    return out


def _lines(record: dict) -> list[dict]:
    return [json.loads(line) for line in record["_examples"].read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diagnostic", default="results/study/hull-diagnostic/runs")
    parser.add_argument("--study", default="results/study/runs")
    args = parser.parse_args(argv)
    from bench.report.paired import paired_difference, read_robust

    now, then = _records(Path(args.diagnostic)), _records(Path(args.study))
    print("Reproduction of the main study's seed-0 SST-2 PWWS cells (same cell ids):\n")
    print("| method | clean acc then / now | acc under PWWS then / now | outcomes changed | max clean-probability change | packages that differ |")
    print("|---|---|---|---|---|---|")
    for method in ("standard", "adv-base"):
        old, new = then[(method, "all")], now[(method, "all")]
        assert old["cell_id"] == new["cell_id"], "not the same cell"
        a, b = _lines(old), _lines(new)
        changed = sum(x["status"] != y["status"] for x, y in zip(a, b))
        drift = max(abs(p - q) for x, y in zip(a, b) for p, q in zip(x["original_probs"], y["original_probs"]))
        packages = [f"{k} {v} → {new['provenance']['packages'].get(k)}" for k, v in old["provenance"]["packages"].items()
                    if new["provenance"]["packages"].get(k) != v]
        m0, m1 = old["metrics"], new["metrics"]
        print(f"| {method} | {m0['clean_accuracy']:.3f} / {m1['clean_accuracy']:.3f} | "
              f"{m0['accuracy_under_attack']:.3f} / {m1['accuracy_under_attack']:.3f} | {changed} of {len(a)} | "
              f"{drift:.2g} | {', '.join(packages) or 'none'} |")
    print("\nAdv-Base − Standard, accuracy under PWWS (points), paired on the same 500 examples, one seed:\n")
    print("| substitutions | Standard | Adv-Base | Δ [95 % bootstrap interval] | MDE |")
    print("|---|---|---|---|---|")
    for substitutions in ("all", "hull"):
        robust = {m: read_robust(now[(m, substitutions)]["_examples"]) for m in ("adv-base", "standard")}
        uids = sorted(robust["standard"])
        adv, std = (np.array([[robust[m][u] for u in uids]], dtype=float) for m in ("adv-base", "standard"))
        d = paired_difference(adv, std)
        print(f"| {substitutions} | {100 * std.mean():.1f} | {100 * adv.mean():.1f} | "
              f"{100 * d.delta:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}] | {100 * d.mde:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
