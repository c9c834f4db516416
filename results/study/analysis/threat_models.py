"""The study's paper claims under both threat models, side by side: subword input (the main grid, runs/) and whole
words (whole-word/runs/, the paper code's input).

For each claim (Adv-Base, Adv-PTWD and Adv-Mixout vs Standard; RIFT vs Adv-Base, Adv-PTWD and Adv-Mixout;
I(S;T|Y) vs I(S;T)) and each of the paper's attacks on SST-2 and SNLI: the paired difference in accuracy under
attack with its bootstrap and seed intervals (bench.report.paired, as the report computes them) under each threat
model, on the seeds both methods have under whole words, printed as STUDY.md quotes them (bold: both intervals
exclude 0). Then the clean accuracy of each method under both, and how many of the test words the whole-word input
makes unknown.

    RIFT_BENCH_ASSETS=../shared python results/study/analysis/threat_models.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.report.labels import ATTACK_NAMES, DATASET_NAMES, METHOD_NAMES

CLAIMS = [("adv-base", "standard"), ("adv-ptwd", "standard"), ("adv-mixout", "standard"), ("rift", "adv-base"),
          ("rift", "adv-ptwd"), ("rift", "adv-mixout"),
          ("rift", "rift-ist")]
ATTACKS = ["pwws", "genetic"]
DATASETS = ["sst2", "snli"]

#: the registries' display names; STUDY.md's tables name the I(S;T) ablation RIFT-IST
NAMES = {**METHOD_NAMES, "rift-ist": "RIFT-IST", **DATASET_NAMES, **ATTACK_NAMES}


def _signed(x: float) -> str:
    return f"{x:+.1f}".replace("-", "−")


def _seeds(seeds) -> str:
    """``(seed 0)``, ``(seeds 0–2)`` or ``(seeds 0, 2)``."""
    seeds = sorted(seeds)
    if len(seeds) == 1:
        return f"(seed {seeds[0]})"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"(seeds {seeds[0]}–{seeds[-1]})"
    return f"(seeds {', '.join(map(str, seeds))})"


def _fmt(d, seeds) -> str:
    """A paired difference as STUDY.md quotes it, in points: Δ [bootstrap] seeds [t], bold when both exclude 0."""
    if d is None:
        return "—"
    text = f"{_signed(100 * d.delta)} [{_signed(100 * d.low)}, {_signed(100 * d.high)}]"
    if d.seed_low is not None:
        text += f" seeds [{_signed(100 * d.seed_low)}, {_signed(100 * d.seed_high)}]"
    text = f"**{text}**" if d.resolved else text
    return f"{text} {_seeds(seeds)}"


def _claim(a: str, b: str) -> str:
    name = f"{NAMES[a]} − {NAMES[b]}"
    return f"{name} (I(S;T\\|Y) vs I(S;T))" if (a, b) == ("rift", "rift-ist") else name


def _groups(runs: Path):
    from bench.report.frame import records_frame

    frame, _ = records_frame(runs)
    frame = frame[frame["method_label"] == frame["method"]]
    return frame


def unknown_share(dataset: str, n: int = 500) -> float:
    """The share of the attacked field's words (letters) the whole-word input makes [UNK], on the study's test
    sample of the PWWS cells (500 examples)."""
    from bench.core.assets import AssetConfig
    from bench.core.classifier import load_tokenizer
    from bench.core.data import DataSizes, prepare_task
    from bench.core.models import resolve_model

    assets = AssetConfig.from_env()
    tokenizer = load_tokenizer(resolve_model("minilm-l6", assets).value, "whole-word")
    task = prepare_task(dataset, DataSizes(n_train=2000, n_dev=200, n_test=n, data_seed=0), assets)
    words = unknown = 0
    for ex in task.test:
        text = ex.text_pair if ex.text_pair is not None else ex.text
        ids, spans = tokenizer.encode_words(text)
        for token_id, (start, end) in zip(ids, spans):
            if any(c.isalpha() for c in text[start:end]):
                words += 1
                unknown += token_id == tokenizer.unk_token_id
    return unknown / words


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subword", default="results/study/runs")
    parser.add_argument("--whole-word", default="results/study/whole-word/runs")
    parser.add_argument("--no-unknown", action="store_true", help="skip the [UNK] count (needs the assets)")
    args = parser.parse_args(argv)
    from bench.report.paired import compare_methods

    frames = {"subword": _groups(Path(args.subword)), "whole-word": _groups(Path(args.whole_word))}
    print("| claim (A − B) | dataset | attack | subword | whole-word |")
    print("|---|---|---|---|---|")
    for a, b in CLAIMS:
        for dataset in DATASETS:
            for attack in ATTACKS:
                cells = {}
                ww = frames["whole-word"]
                ww = ww[(ww["dataset"] == dataset) & (ww["attack"] == attack)]
                # the seeds both methods have under whole words: the subword comparison is restricted to them too
                seeds = set(ww[ww["method"] == a]["seed"]) & set(ww[ww["method"] == b]["seed"])
                for name, frame in frames.items():
                    group = frame[(frame["dataset"] == dataset) & (frame["attack"] == attack) & frame["seed"].isin(seeds)]
                    cells[name] = compare_methods(group, a, b) if seeds else None
                if cells["whole-word"] is None:
                    continue
                print(f"| {_claim(a, b)} | {NAMES[dataset]} | {NAMES[attack]} | {_fmt(cells['subword'], seeds)} | "
                      f"{_fmt(cells['whole-word'], seeds)} |")
    print("\n| clean accuracy (mean over the whole-word seeds, PWWS cells) | subword | whole-word |")
    print("|---|---|---|")
    for dataset in DATASETS:
        for method in ["standard", "adv-base", "adv-ptwd", "adv-mixout", "rift", "rift-ist"]:
            rows = {}
            ww = frames["whole-word"]
            seeds = set(ww[(ww["dataset"] == dataset) & (ww["method"] == method) & (ww["attack"] == "pwws")]["seed"])
            if not seeds:
                continue
            for name, frame in frames.items():
                f = frame[(frame["dataset"] == dataset) & (frame["method"] == method) & (frame["attack"] == "pwws")
                          & frame["seed"].isin(seeds)]
                rows[name] = 100 * f["clean_accuracy"].mean()
            print(f"| {NAMES[dataset]}, {NAMES[method]} {_seeds(seeds)} | {rows['subword']:.1f} % | "
                  f"{rows['whole-word']:.1f} % |")
    if not args.no_unknown:
        print()
        for dataset in DATASETS:
            print(f"{dataset}: {100 * unknown_share(dataset):.1f} % of the attacked field's words of the 500 PWWS test "
                  "examples are [UNK] under whole-word input")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
