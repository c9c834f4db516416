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
    assert (d.seed_low, d.seed_high) == (0.25, 0.25) and d.resolved
    d = paired_difference(a, b)
    assert d.delta == pytest.approx(0.8) and d.low < 0.8 < d.high


def test_the_bootstrap_agrees_with_a_grid_materialising_implementation():
    """An independent implementation of the same resampling: draw seed and example indices, build the resampled
    (seed, example) grid with np.ix_ and average it. Ours draws per-pattern counts instead, so the two agree in
    distribution, within Monte-Carlo error."""
    rng = np.random.default_rng(1)
    a, b = (rng.random((3, 40)) < p for p in (0.6, 0.5))
    a, b = a.astype(float), b.astype(float)
    ours = paired_difference(a, b, n_boot=20000, seed=7)
    draws = np.random.default_rng(8)
    seeds = draws.integers(0, 3, size=(20000, 3))
    examples = draws.integers(0, 40, size=(20000, 40))
    boot = np.array([(a - b)[np.ix_(seeds[k], examples[k])].mean() for k in range(20000)])
    assert ours.delta == pytest.approx((a - b).mean()) and ours.n_boot == 20000
    # each end's Monte-Carlo SE is about 0.002 here: 0.012 is more than four times that of the difference
    assert ours.low == pytest.approx(np.percentile(boot, 2.5), abs=0.012)
    assert ours.high == pytest.approx(np.percentile(boot, 97.5), abs=0.012)
    assert ours.se == pytest.approx(boot.std(ddof=1), rel=0.03)


def test_the_seed_interval_is_the_t_interval_of_the_per_seed_differences():
    rng = np.random.default_rng(4)
    a = (rng.random((3, 200)) < 0.5).astype(float)
    b = (rng.random((3, 200)) < 0.45).astype(float)
    d = paired_difference(a, b)
    per_seed = [(a[s] - b[s]).sum() / 200 for s in range(3)]  # written out per seed
    mean = sum(per_seed) / 3
    sd = (sum((x - mean) ** 2 for x in per_seed) / 2) ** 0.5
    t_975_df2 = 4.302652729911275  # Student's t, 97.5th percentile, 2 degrees of freedom (statistical tables)
    assert d.seed_low == pytest.approx(mean - t_975_df2 * sd / 3 ** 0.5)
    assert d.seed_high == pytest.approx(mean + t_975_df2 * sd / 3 ** 0.5)
    one = paired_difference(a[:1], b[:1])
    assert one.seed_low is None and one.seed_high is None and not one.resolved


def test_the_interval_ends_are_stable_to_a_tenth_of_a_point():
    """Different random draws give ends within 0.1 point: enough resamples for a noisy 100-example design."""
    rng = np.random.default_rng(5)
    a = (rng.random((3, 100)) < 0.4).astype(float)
    b = (rng.random((3, 100)) < 0.3).astype(float)
    runs = [paired_difference(a, b, seed=s) for s in range(4)]
    assert max(r.n_boot for r in runs) > 10_000  # the design needed more than the first batch
    for end in ("low", "high"):
        values = [100 * getattr(r, end) for r in runs]
        assert max(values) - min(values) <= 0.1, values


def test_resolved_needs_both_intervals_to_exclude_zero():
    from bench.report.paired import PairedDifference

    both = PairedDifference(0.02, 0.005, 0.035, 0.007, 3, 500, 0.001, 0.039)
    boot_only = PairedDifference(0.02, 0.005, 0.035, 0.007, 3, 500, -0.01, 0.05)
    below = PairedDifference(-0.02, -0.035, -0.005, 0.007, 3, 500, -0.04, -0.001)
    assert both.resolved and not boot_only.resolved and below.resolved


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


def example_line(uid: str, status: str) -> dict:
    """A complete example line (the contract of bench.core.record.ExampleLine) with the given outcome."""
    flipped = status == "success"
    return {"uid": uid, "label": 1, "status": status, "original": "a fine film", "adversarial": "a fine movie",
            "original_pred": 0 if status == "skipped" else 1, "original_probs": [0.3, 0.7],
            "final_pred": 0 if flipped or status == "skipped" else 1, "final_probs": [0.6, 0.4] if flipped else [0.3, 0.7],
            "n_words": 3, "words_changed": 1 if flipped else 0, "changes": [], "queries": 4, "forwards": 4,
            "seconds": 0.01}


def _examples(path, statuses):
    with open(path, "w") as handle:
        for i, status in enumerate(statuses):
            handle.write(json.dumps(example_line(f"test:{i}", status)) + "\n")
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


def test_compare_methods_reads_each_examples_file_once_with_a_shared_cache(tmp_path, monkeypatch):
    import bench.report.paired as paired

    rows = [{"method_label": m, "seed": 0, "examples_path": _examples(tmp_path / f"{m}.jsonl", statuses)}
            for m, statuses in (("rift", ["failed", "failed", "success"]), ("adv-base", ["failed", "success", "skipped"]),
                                ("standard", ["success", "success", "skipped"]))]
    reads = []
    original = paired.read_robust
    monkeypatch.setattr(paired, "read_robust", lambda path: reads.append(path) or original(path))
    frame, cache = pd.DataFrame(rows), {}
    with_cache = [paired.compare_methods(frame, a, b, 100, cache) for a, b in
                  (("rift", "adv-base"), ("rift", "standard"), ("adv-base", "standard"))]
    assert sorted(reads) == sorted(r["examples_path"] for r in rows)  # three files, three reads
    without = [paired.compare_methods(frame, a, b, 100) for a, b in
               (("rift", "adv-base"), ("rift", "standard"), ("adv-base", "standard"))]
    assert len(reads) == 3 + 6
    assert [d.delta for d in with_cache] == [d.delta for d in without] == pytest.approx([1 / 3, 2 / 3, 1 / 3])


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


def _break(path, how: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if how == "not json":
        lines[2] = '{"uid": "test:2", "status": \n'
    elif how == "missing key":
        row = json.loads(lines[2])
        del row["status"]
        lines[2] = json.dumps(row) + "\n"
    else:  # a line lost: the counts no longer match the record's metrics, computed from the full file
        del lines[2]
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize("how, expected", [("not json", ":3: not JSON"), ("missing key", ":3: an example row without status"),
                                           ("lost line", "n_examples")])
def test_a_broken_examples_file_is_named_and_left_out(how, expected, tmp_path):
    """A cell whose examples file is unreadable or disagrees with its record keeps its table numbers (the
    record's), but is left out of the paired differences and gets no examples page; the report says which file."""
    import shutil
    from pathlib import Path

    from bench.report.build import build_report, write_html

    results = tmp_path / "records"
    shutil.copytree(Path(__file__).resolve().parents[1] / "results" / "reference" / "records", results)
    broken = next(results.rglob("rift/pwws/*.examples.jsonl"))
    cell_id = broken.name.split(".")[0]
    intact = build_report(results)
    assert not [m for m in intact.messages if "examples" in m]
    _break(broken, how)

    report = build_report(results)
    (message,) = [m for m in report.messages if cell_id in m]
    assert str(broken) in message and expected in message
    row = report.frame.set_index("cell_id").loc[cell_id]
    assert pd.isna(row["examples_path"]) and row["accuracy_under_attack"] == intact.frame.set_index("cell_id").loc[
        cell_id, "accuracy_under_attack"]
    (table,) = paired_tables(report.frame)
    rows = dict(table.blocks[0].rows)
    pwws = table.columns.index("PWWS")
    assert rows["RIFT − Adv-Base"][pwws].mean is None and rows["Adv-Base − Standard"][pwws].mean is not None
    out = write_html(report, tmp_path / "html")
    assert not (out.parent / "examples" / f"{cell_id}.html").exists()
    assert (out.parent / "examples").is_dir() and any((out.parent / "examples").iterdir())


def _three_seed_frame(tmp_path) -> pd.DataFrame:
    """Two methods × three seeds × two attacks on 60 examples: A far ahead under one attack, level under the other."""
    rng = np.random.default_rng(9)
    rows = []
    for attack, gain in (("pwws", 0.45), ("genetic", 0.0)):
        for method, p in (("rift", 0.3 + gain), ("adv-base", 0.3)):
            for seed in range(3):
                statuses = ["failed" if x < p else "success" for x in rng.random(60)]
                path = _examples(tmp_path / f"{attack}-{method}-{seed}.jsonl", statuses)
                rows.append({"dataset": "sst2", "scale_label": "small", "model": "minilm-l6", "method": method,
                             "method_label": method, "attack_label": attack, "seed": seed, "examples_path": path,
                             "accuracy_under_attack": statuses.count("failed") / 60})
    return pd.DataFrame(rows)


def test_paired_cells_show_their_intervals_in_every_format(tmp_path):
    """LaTeX, HTML and CSV show Δ with its bootstrap and seed intervals and MDE (as Markdown does), never
    "Δ ± SE"; a cell is bold exactly when both intervals exclude 0."""
    import csv
    import io

    from bench.report.render import to_csv, to_html, to_latex

    (table,) = paired_tables(_three_seed_frame(tmp_path))
    cells = [c for _, row in table.blocks[0].rows for c in row if c.is_stat]
    assert cells and all(c.bold == ((c.interval[0] > 0 and c.seed_interval[0] > 0) or
                                    (c.interval[1] < 0 and c.seed_interval[1] < 0)) for c in cells)
    assert {c.bold for c in cells} == {True, False}, "the frame should hold both kinds of cell"
    latex, page = to_latex(table), to_html(table)
    assert r"\pm" not in latex and "±" not in page
    rows = [r for r in csv.DictReader(io.StringIO(to_csv([table]))) if r["mean"]]
    assert len(rows) == len(cells)
    for cell, row in zip(cells, rows):
        (low, high), (s_low, s_high) = cell.interval, cell.seed_interval
        assert f"[{low:+.1f}, {high:+.1f}] seeds [{s_low:+.1f}, {s_high:+.1f}] (MDE {cell.mde:.1f})" in cell.text
        assert rf"$[{low:+.1f}, {high:+.1f}]$, seeds $[{s_low:+.1f}, {s_high:+.1f}]$, MDE ${cell.mde:.1f}$" in latex
        assert cell.text in page
        assert (float(row["low"]), float(row["high"]), float(row["mde"]), float(row["seed_low"]),
                float(row["seed_high"])) == pytest.approx((low, high, cell.mde, s_low, s_high), abs=1e-4)
        assert row["std"] == "" and int(row["bold"]) == cell.bold


def test_one_seed_cells_are_never_marked_resolved():
    """The committed reference has one seed: no seed interval, nothing bold, and the note says why."""
    from pathlib import Path

    from bench.report.build import build_report

    report = build_report(Path(__file__).resolve().parents[1] / "results" / "reference" / "records")
    (table,) = paired_tables(report.frame)
    cells = [c for _, row in table.blocks[0].rows for c in row if c.is_stat]
    assert cells and not any(c.bold or c.seed_interval for c in cells)
    assert any(c.interval[0] > 0 or c.interval[1] < 0 for c in cells)  # the bootstrap alone would have bolded one
    assert "no difference is marked resolved" in table.notes[0]
