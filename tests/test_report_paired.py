"""Paired differences between methods: the estimate against a direct count, the bootstrap against an independent
implementation and against the analytic standard error."""

import json

import numpy as np
import pandas as pd
import pytest

from bench.report.paired import compare_methods, paired_difference, paired_tables


def test_a_constant_difference_has_a_degenerate_interval():
    a = np.ones((3, 50))
    b = np.zeros((3, 50))
    b[:, :10] = 1  # a − b = 1 on 40 examples, 0 on 10, the same for every seed
    b = b[:, np.random.default_rng(0).permutation(50)]
    d = paired_difference(a, a - 0.25)
    assert (d.delta, d.low, d.high, d.se) == (0.25, 0.25, 0.25, 0.0)
    d = paired_difference(a, b)
    assert d.delta == pytest.approx(0.8) and d.low < 0.8 < d.high


def test_the_bootstrap_equals_a_grid_materialising_implementation():
    """The same resampling, written out directly: build the resampled (seed, example) grid with np.ix_."""
    rng = np.random.default_rng(1)
    a, b = (rng.random((3, 40)) < p for p in (0.6, 0.5))
    a, b = a.astype(float), b.astype(float)
    ours = paired_difference(a, b, n_boot=300, seed=7)
    draws = np.random.default_rng(7)
    seeds = draws.integers(0, 3, size=(300, 3))
    examples = draws.integers(0, 40, size=(300, 40))
    boot = np.array([(a - b)[np.ix_(seeds[k], examples[k])].mean() for k in range(300)])
    assert ours.delta == pytest.approx((a - b).mean())
    assert (ours.low, ours.high) == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])))
    assert ours.se == pytest.approx(boot.std(ddof=1))


def test_with_one_seed_the_se_is_the_analytic_one():
    rng = np.random.default_rng(2)
    a = (rng.random((1, 800)) < 0.55).astype(float)
    b = (rng.random((1, 800)) < 0.45).astype(float)
    d = paired_difference(a, b, n_boot=4000)
    analytic = (a - b).std(ddof=1) / np.sqrt(800)
    assert d.se == pytest.approx(analytic, rel=0.08)
    assert d.mde == pytest.approx(2.801585 * d.se)


def test_seed_variation_widens_the_interval():
    rng = np.random.default_rng(3)
    base = (rng.random((1, 300)) < 0.5).astype(float)
    same = np.repeat(base, 3, axis=0)
    shifted = same.copy()
    for s, flips in enumerate((0, 30, 60)):  # method A gains 0, 10 or 20 points depending on the seed
        idx = np.flatnonzero(same[s] == 0)[:flips]
        shifted[s, idx] = 1
    d = paired_difference(shifted, same, n_boot=2000)
    examples_only = paired_difference(shifted.mean(0, keepdims=True), same.mean(0, keepdims=True), n_boot=2000)
    assert d.delta == pytest.approx(0.1) and d.se > 1.5 * examples_only.se


def _examples(path, statuses):
    with open(path, "w") as handle:
        for i, status in enumerate(statuses):
            handle.write(json.dumps({"uid": f"test:{i}", "status": status}) + "\n")
    return str(path)


def test_compare_methods_counts_robust_examples_from_the_files(tmp_path):
    rows = []
    # A robust on examples 0-5 of 8, B on 0-2; example 7 is misclassified by both (skipped), seeds 0 and 1
    for seed in (0, 1):
        rows.append({"method_label": "rift", "seed": seed, "examples_path": _examples(
            tmp_path / f"a{seed}.jsonl", ["failed"] * 6 + ["success", "skipped"])})
        rows.append({"method_label": "adv-base", "seed": seed, "examples_path": _examples(
            tmp_path / f"b{seed}.jsonl", ["failed"] * 3 + ["success"] * 4 + ["skipped"])})
    rows.append({"method_label": "adv-base", "seed": 2, "examples_path": _examples(tmp_path / "b2.jsonl", ["failed"] * 8)})
    d = compare_methods(pd.DataFrame(rows), "rift", "adv-base", n_boot=200)
    assert (d.n_seeds, d.n_examples) == (2, 8)  # seed 2 has no rift result: left out
    assert d.delta == pytest.approx((6 - 3) / 8)
    assert compare_methods(pd.DataFrame(rows), "rift", "standard") is None


def test_the_report_has_a_paired_section_for_real_records():
    """The committed reference (standard, adv-base, rift under PWWS and DeepWordBug, one seed)."""
    from pathlib import Path

    from bench.report.build import build_report, render

    reference = Path(__file__).resolve().parents[1] / "results" / "reference" / "records"
    report = build_report(reference)
    (table,) = paired_tables(report.frame)
    rows = dict(table.blocks[0].rows)
    assert list(rows) == ["RIFT − Adv-Base", "RIFT − Standard", "Adv-Base − Standard"]
    assert table.columns == ["PWWS", "DeepWordBug"]
    frame = report.frame.set_index(["method", "attack"])
    for attack, cell in zip(("pwws", "deepwordbug"), rows["RIFT − Adv-Base"]):
        direct = frame.loc[("rift", attack), "accuracy_under_attack"] - frame.loc[("adv-base", attack), "accuracy_under_attack"]
        assert cell.mean == pytest.approx(100 * direct)  # same examples, one seed: Δ is the difference of the metrics
    assert "One seed only" in table.notes[0]
    assert "Paired differences" in render(report, "markdown")
