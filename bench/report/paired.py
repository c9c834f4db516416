"""Paired differences between two methods on the same attacked test examples, with a bootstrap interval.

Every method and seed of a (dataset, model, scale, attack) is attacked on the same test examples (the test
sample depends only on ``data_seed``), so two methods can be compared example by example: R_m[s, i] = 1 when
seed s of method m classifies example i correctly and the attack does not flip it (the paper's accuracy under
attack is the mean of R). The difference is

    Δ = mean over (s, i) of R_A[s, i] − R_B[s, i],

over the seeds both methods have and the examples both were attacked on. Its uncertainty comes from a two-way
bootstrap: seeds and examples are resampled independently (with replacement), Δ recomputed each time; the
interval is the 2.5–97.5 percentile of the resampled Δ and SE their standard deviation. The smallest difference
this design can resolve is reported as the minimum detectable effect at α = 0.05 (two-sided) and 80 % power,
MDE = (1.96 + 0.84) · SE. With one seed only examples are resampled (and the interval ignores seed variation;
the table says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.store import read_example_lines

Z_ALPHA, Z_POWER = 1.959964, 0.841621  # two-sided 5 %, 80 % power


@dataclass(frozen=True)
class PairedDifference:
    """Δ = accuracy under attack of A minus B (fractions), on ``n_seeds`` × ``n_examples`` shared results."""

    delta: float
    low: float
    high: float
    se: float
    n_seeds: int
    n_examples: int

    @property
    def mde(self) -> float:
        return (Z_ALPHA + Z_POWER) * self.se


def robust_matrix(examples: dict[int, dict[str, bool]], uids: list[str]) -> np.ndarray:
    """R[s, i] from {seed: {uid: robust}} over ``uids`` (seeds in sorted order)."""
    return np.array([[examples[s][u] for u in uids] for s in sorted(examples)], dtype=np.float64)


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> PairedDifference:
    """Δ = mean(a − b) over a (seeds × examples) grid, with the two-way bootstrap interval described above."""
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(f"paired results must be two equal, non-empty (seeds × examples) arrays, got {a.shape}, {b.shape}")
    diff = a - b
    n_seeds, n_examples = diff.shape
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds)) if n_seeds > 1 else np.zeros((n_boot, 1), dtype=int)
    examples = rng.integers(0, n_examples, size=(n_boot, n_examples))
    # mean over the resampled (seed, example) grid = mean over resampled seeds of the per-seed means over resampled
    # examples; computed per bootstrap draw without materialising the grid
    boot = np.empty(n_boot)
    for k in range(n_boot):
        boot[k] = diff[seeds[k]][:, examples[k]].mean()
    low, high = np.percentile(boot, [2.5, 97.5])
    return PairedDifference(float(diff.mean()), float(low), float(high), float(boot.std(ddof=1)), n_seeds, n_examples)


def read_robust(examples_file: str | Path) -> dict[str, bool]:
    """uid → robust (classified correctly and not flipped) from a cell's examples file."""
    return {row["uid"]: row["status"] not in ("skipped", "success") for row in read_example_lines(Path(examples_file))}


def compare_methods(group: pd.DataFrame, method_a: str, method_b: str, n_boot: int = 2000,
                    robust_cache: dict[str, dict[str, bool]] | None = None) -> PairedDifference | None:
    """Δ(A − B) for the records of one (dataset, model, scale, attack) ``group`` (``records_frame`` rows), using
    ``method_label`` values; None when the two share no seed with an examples file or no example.
    ``robust_cache`` (path → robust map) lets a caller comparing many pairs read each examples file once."""
    cache = {} if robust_cache is None else robust_cache
    per_method: dict[str, dict[int, dict[str, bool]]] = {}
    for label in (method_a, method_b):
        rows = group[(group["method_label"] == label) & group["examples_path"].notna()]
        per_method[label] = {}
        for r in rows.itertuples():
            if r.examples_path not in cache:
                cache[r.examples_path] = read_robust(r.examples_path)
            per_method[label][int(r.seed)] = cache[r.examples_path]
    seeds = sorted(set(per_method[method_a]) & set(per_method[method_b]))
    if not seeds:
        return None
    uids = sorted(set.intersection(*(set(per_method[m][s]) for m in (method_a, method_b) for s in seeds)))
    if not uids:
        return None
    a = robust_matrix({s: per_method[method_a][s] for s in seeds}, uids)
    b = robust_matrix({s: per_method[method_b][s] for s in seeds}, uids)
    return paired_difference(a, b, n_boot)


#: the paper's claims as method pairs (A, B): A should beat B under attack
CLAIM_PAIRS = [("rift", "adv-base"), ("rift", "adv-ptwd"), ("rift", "adv-mixout"), ("rift", "rift-ist"),
               ("rift", "standard"), ("adv-base", "standard"), ("adv-ptwd", "standard"), ("adv-mixout", "standard")]


def _cell(d: PairedDifference):
    from bench.report.table import Cell

    text = f"{100 * d.delta:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}] (MDE {100 * d.mde:.1f})"
    return Cell(text, 100 * d.delta, None, d.n_seeds, bold=d.low > 0 or d.high < 0,
                interval=(100 * d.low, 100 * d.high), mde=100 * d.mde)


def paired_tables(frame: pd.DataFrame, pairs: list[tuple[str, str]] = CLAIM_PAIRS, n_boot: int = 2000) -> list:
    """Per (dataset, scale): a block per model, a row per method pair present, a column per attack; each cell
    Δ accuracy under attack in points with its 95 % bootstrap interval and MDE. Sweep variants are left out."""
    from bench.report.labels import ATTACK_NAMES, DATASET_NAMES, METHOD_NAMES, MODEL_NAMES, display, order_key, sort_names
    from bench.report.table import Block, Cell, Table
    from bench.store import safe_name

    if frame.empty or "examples_path" not in frame:
        return []
    frame = frame[frame["accuracy_under_attack"].notna() & (frame["method_label"] == frame["method"])]
    tables, robust_cache = [], {}
    keyed = sorted(frame.groupby(["dataset", "scale_label"], sort=False),
                   key=lambda kv: (order_key(kv[0][0], DATASET_NAMES), kv[0][1]))
    for (dataset, scale), group in keyed:
        attacks = sort_names(group["attack_label"], ATTACK_NAMES)
        blocks, seeds_seen = [], set()
        for model in sort_names(group["model"], MODEL_NAMES):
            g = group[group["model"] == model]
            present = set(g["method"])
            block = Block(display(model, MODEL_NAMES))
            for a, b in pairs:
                if a not in present or b not in present:
                    continue
                cells = []
                for attack in attacks:
                    result = compare_methods(g[g["attack_label"] == attack], a, b, n_boot, robust_cache)
                    cells.append(_cell(result) if result is not None else Cell())
                    if result is not None:
                        seeds_seen.add(result.n_seeds)
                block.rows.append((f"{display(a, METHOD_NAMES)} − {display(b, METHOD_NAMES)}", cells))
            if block.rows:
                blocks.append(block)
        if not blocks:
            continue
        one_seed = seeds_seen == {1}
        tables.append(Table(
            key=f"paired-{safe_name(dataset)}-{safe_name(scale)}",
            title=(f"Paired differences in accuracy under attack (points) on {display(dataset, DATASET_NAMES)}, "
                   f"scale {scale}"),
            columns=[display(a, ATTACK_NAMES) for a in attacks], blocks=blocks, row_header="A − B",
            notes=["Δ = accuracy under attack of A minus B over the same attacked test examples and the seeds both "
                   "have; [95 % interval] from a two-way bootstrap over seeds and examples (2,000 resamples); "
                   "MDE = the smallest difference this design detects at α = 0.05 with 80 % power, 2.8 × SE. "
                   "An interval that contains 0 does not separate the methods; bold: the interval excludes 0."
                   + (" One seed only: the interval covers example sampling, not seed variation." if one_seed else "")]))
    return tables
