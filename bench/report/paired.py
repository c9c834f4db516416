"""Paired differences between two methods on the same attacked test examples, with two intervals.

Every method and seed of a (dataset, model, scale, attack) is attacked on the same test examples (the test
sample depends only on ``data_seed``), so two methods can be compared example by example: R_m[s, i] = 1 when
seed s of method m classifies example i correctly and the attack does not flip it (the paper's accuracy under
attack is the mean of R). The difference is

    Δ = mean over (s, i) of R_A[s, i] − R_B[s, i],

over the seeds both methods have and the examples both were attacked on. Two 95 % intervals describe it:

* **bootstrap**: seeds and examples resampled independently (with replacement), Δ recomputed each time; the
  interval is the 2.5–97.5 percentile of the resampled Δ and SE their standard deviation. Enough resamples are
  drawn that the Monte-Carlo error of each end is at most 0.025 points (:data:`MC_TARGET`), so the ends as reported
  (one decimal) do not move with the random draws. With few seeds this interval understates seed variance: three
  seeds have only 10 distinct resampled multisets.
* **seeds**: a t interval over the per-seed paired differences dₛ = mean over i of R_A[s, i] − R_B[s, i]:
  Δ ± t₀.₉₇₅,ₛ₋₁ · sd(dₛ) / √S. It needs two seeds or more.

A difference counts as resolved (bold in the tables) only when both intervals exclude 0. The smallest difference
the design can resolve is the minimum detectable effect at α = 0.05 (two-sided) and 80 % power, MDE = (1.96 +
0.84) · SE (bootstrap SE). With one seed only examples are resampled, there is no seed interval, and nothing is
marked resolved (the table says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.store import read_example_lines

Z_ALPHA, Z_POWER = 1.959964, 0.841621  # two-sided 5 %, 80 % power

#: the largest Monte-Carlo standard error allowed at each bootstrap interval end (a fraction: 0.025 points)
MC_TARGET = 0.00025
#: resamples: MIN_BOOT first, then as many more as the Monte-Carlo error of those says MC_TARGET needs, at most
#: MAX_BOOT
MIN_BOOT, MAX_BOOT = 10_000, 400_000
_CHUNK = 20_000  # resamples evaluated at once


@dataclass(frozen=True)
class PairedDifference:
    """Δ = accuracy under attack of A minus B (fractions), on ``n_seeds`` × ``n_examples`` shared results."""

    delta: float
    low: float
    high: float
    se: float
    n_seeds: int
    n_examples: int
    #: the t interval over the per-seed differences (None with one seed)
    seed_low: float | None = None
    seed_high: float | None = None
    n_boot: int = 0

    @property
    def mde(self) -> float:
        return (Z_ALPHA + Z_POWER) * self.se

    @property
    def resolved(self) -> bool:
        """Both intervals exclude 0 (never with one seed: there is no seed interval)."""
        if self.seed_low is None or self.seed_high is None:
            return False
        return (self.low > 0 and self.seed_low > 0) or (self.high < 0 and self.seed_high < 0)


def robust_matrix(examples: dict[int, dict[str, bool]], uids: list[str]) -> np.ndarray:
    """R[s, i] from {seed: {uid: robust}} over ``uids`` (seeds in sorted order)."""
    return np.array([[examples[s][u] for u in uids] for s in sorted(examples)], dtype=np.float64)


def _draws(diff: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` bootstrap replicates of mean(diff): per replicate, seeds and examples drawn with replacement.

    Resampling examples only matters through how often each distinct column of ``diff`` (an example's differences
    across seeds; at most 3^seeds of them for 0/1 results) is drawn, so a replicate draws those counts from the
    multinomial of the columns' frequencies instead of drawing every example."""
    n_seeds, n_examples = diff.shape
    patterns, counts = np.unique(diff.T, axis=0, return_counts=True)  # (P, seeds), (P,)
    freq = counts / n_examples
    out = np.empty(n)
    for start in range(0, n, _CHUNK):
        k = min(_CHUNK, n - start)
        seeds = rng.integers(0, n_seeds, size=(k, n_seeds)) if n_seeds > 1 else np.zeros((k, 1), dtype=int)
        drawn = rng.multinomial(n_examples, freq, size=k)  # (k, P): how often each pattern was drawn
        per_seed = drawn @ patterns / n_examples  # (k, seeds): each seed's mean over the resampled examples
        # the mean over the resampled (seed, example) grid = the mean over resampled seeds of those means
        out[start:start + k] = np.take_along_axis(per_seed, seeds, axis=1).mean(axis=1)
    return out


def end_error(boot: np.ndarray) -> float:
    """The Monte-Carlo standard error of the 2.5 and 97.5 percentiles of ``len(boot)`` replicates of a near-normal
    statistic: sd · √(q(1−q)/B) / φ(z_q) with q = 0.025 (the asymptotic variance of a sample quantile)."""
    q, z = 0.025, Z_ALPHA
    density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return float(boot.std(ddof=1)) * math.sqrt(q * (1 - q) / len(boot)) / density


def seed_interval(diff: np.ndarray) -> tuple[float, float] | tuple[None, None]:
    """The 95 % t interval over the per-seed paired differences (None, None with one seed)."""
    per_seed = diff.mean(axis=1)
    n = len(per_seed)
    if n < 2:
        return None, None
    from scipy.stats import t

    half = float(t.ppf(0.975, n - 1)) * float(per_seed.std(ddof=1)) / math.sqrt(n)
    return float(per_seed.mean()) - half, float(per_seed.mean()) + half


_MEMO: dict[tuple, PairedDifference] = {}


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int | None = None, seed: int = 0) -> PairedDifference:
    """Δ = mean(a − b) over a (seeds × examples) grid, with the bootstrap and seed intervals described above.
    ``n_boot``: exactly that many resamples (default: as many as :data:`MC_TARGET` needs). The same inputs give the
    same result, remembered for the process (a report renders each table in several formats)."""
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(f"paired results must be two equal, non-empty (seeds × examples) arrays, got {a.shape}, {b.shape}")
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    key = (diff.shape, diff.tobytes(), n_boot, seed)
    if key not in _MEMO:
        if len(_MEMO) > 4096:
            _MEMO.clear()
        _MEMO[key] = _estimate(diff, n_boot, seed)
    return _MEMO[key]


def _estimate(diff: np.ndarray, n_boot: int | None, seed: int) -> PairedDifference:
    n_seeds, n_examples = diff.shape
    rng = np.random.default_rng(seed)
    boot = _draws(diff, n_boot or MIN_BOOT, rng)
    if n_boot is None and end_error(boot) > MC_TARGET:  # the error shrinks as 1/√B: draw what the target needs
        needed = min(MAX_BOOT, math.ceil(len(boot) * (end_error(boot) / MC_TARGET) ** 2))
        boot = np.concatenate([boot, _draws(diff, needed - len(boot), rng)])
    low, high = np.percentile(boot, [2.5, 97.5])
    seed_low, seed_high = seed_interval(diff)
    return PairedDifference(float(diff.mean()), float(low), float(high), float(boot.std(ddof=1)), n_seeds, n_examples,
                            seed_low, seed_high, len(boot))


def read_robust(examples_file: str | Path) -> dict[str, bool]:
    """uid → robust (classified correctly and not flipped) from a cell's examples file."""
    return {row["uid"]: row["status"] not in ("skipped", "success") for row in read_example_lines(Path(examples_file))}


def compare_methods(group: pd.DataFrame, method_a: str, method_b: str, n_boot: int | None = None,
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

    seeds = (100 * d.seed_low, 100 * d.seed_high) if d.seed_low is not None and d.seed_high is not None else None
    text = f"{100 * d.delta:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]"
    text += f" seeds [{seeds[0]:+.1f}, {seeds[1]:+.1f}]" if seeds else ""
    return Cell(f"{text} (MDE {100 * d.mde:.1f})", 100 * d.delta, None, d.n_seeds, bold=d.resolved,
                interval=(100 * d.low, 100 * d.high), mde=100 * d.mde, seed_interval=seeds)


def paired_tables(frame: pd.DataFrame, pairs: list[tuple[str, str]] = CLAIM_PAIRS, n_boot: int | None = None) -> list:
    """Per (dataset, scale): a block per model, a row per method pair present, a column per attack; each cell
    Δ accuracy under attack in points with its 95 % bootstrap interval and MDE. Sweep variants are left out."""
    from bench.report.labels import (ATTACK_NAMES, DATASET_NAMES, METHOD_NAMES, MODEL_NAMES, attack_display, display,
                                     order_key, sort_names)
    from bench.report.table import Block, Cell, Table
    from bench.core.store import safe_name

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
            columns=[attack_display(a) for a in attacks], blocks=blocks, row_header="A − B",
            notes=["Δ = accuracy under attack of A minus B over the same attacked test examples and the seeds both "
                   "have. [95 % interval] from a two-way bootstrap over seeds and examples (resamples drawn until "
                   "each end's Monte-Carlo error is at most 0.025 points); seeds [95 % interval]: a t interval over "
                   "the per-seed differences, which the bootstrap understates with few seeds. MDE = the smallest "
                   "difference this design detects at α = 0.05 with 80 % power, 2.8 × the bootstrap SE. Bold: both "
                   "intervals exclude 0; otherwise the methods are not separated."
                   + (" One seed only: the interval covers example sampling, not seed variation, and no difference "
                      "is marked resolved." if one_seed else "")]))
    return tables
