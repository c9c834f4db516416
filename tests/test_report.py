"""`bench report`: tables (Tables 1–2 and 3 layouts, secondary metrics, side by side with the paper), formats,
figures and the HTML page, from real records.

The real records are the committed reference run (results/reference/records: SST-2, MiniLM, one seed; these tests
read its standard × PWWS slice, REFERENCE). Layout tests need methods and datasets that are not run there; ``derived_results``
writes *test-fixture* records derived from a real one (other method/dataset/model names and chosen metric
values, marked ``"test_fixture": true``). They exist only in a temporary folder and are never shipped as results.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report.build import build_report, render, write_html
from bench.report.figures import pareto_front, write_figures
from bench.report.frame import records_frame, steps_frame
from bench.report.paper import load_paper
from bench.report.render import latex_escape, to_latex
from bench.report.table import MISSING
from bench.core.store import atomic_write_json, config_hash, examples_path, load_records, record_path, safe_name

REPO = Path(__file__).resolve().parent.parent
REFERENCE_ROOT = REPO / "results" / "reference" / "records"
REFERENCE = REFERENCE_ROOT / "sst2" / "minilm-l6" / "standard" / "pwws"  # a results folder of its own


def _real_records() -> list[dict]:
    records, problems = load_records(REFERENCE)
    assert records and not problems, f"the committed reference records are missing or broken: {problems}"
    return sorted((r.to_json() for r in records), key=lambda r: r["cell"]["seed"])


def _scale_label() -> str:
    """The scale label of the real records (e.g. "smoke (n_train=128)"; test sizes are not part of it), which derived records share."""
    frame, _ = records_frame(REFERENCE)
    (label,) = set(frame["scale_label"])
    return label


def _real_record_file(record: dict) -> Path:
    return record_path(REFERENCE_ROOT, record["cell"], record["cell_id"])


def derive(base: dict, results: Path, *, clean: float, robust: float, seed: int, dataset: str | None = None,
           model: str | None = None, method: str | None = None, attack: str | None = None,
           train_split: str | None = None, method_overrides: dict | None = None, distance_scale: float = 1.0) -> dict:
    """A test-fixture record: a real record with other names and the given metric values (never shipped)."""
    r = copy.deepcopy(base)
    r["test_fixture"] = True
    for key, value in (("dataset", dataset), ("model", model), ("method", method), ("attack", attack)):
        if value is not None:
            r["cell"][key] = r["config"][key] = value
    r["cell"]["seed"] = r["config"]["seed"] = seed
    if method == "adv-base":  # the default adversarial weight of this fixture's pretend method
        r["config"]["hparams"] = {"beta": 2.0}
    if method_overrides:
        r["cell"]["overrides"] = r["cell"]["overrides"] + [[f"method.{k}", v] for k, v in method_overrides.items()]
        r["config"]["hparams"] = {**r["config"]["hparams"], **method_overrides}
    if train_split:
        r["data"]["train_split"] = train_split
    r["metrics"].update(clean_accuracy=clean, accuracy_under_attack=robust)
    r["training"]["train_key"] = config_hash([r["config"]["dataset"], r["config"]["model"], r["config"]["method"],
                                              r["config"]["hparams"], seed])
    for step in r["training"]["step_log"]:
        step["rel_weight_distance"] *= distance_scale
    r["cell_id"] = config_hash(r["config"])
    path = record_path(results, r["cell"], r["cell_id"])
    atomic_write_json(path, r)
    shutil.copy(examples_path(_real_record_file(base)), examples_path(path))
    return r


METHODS = ["rift", "standard", "adv-base"]  # deliberately not in the paper's order
CLEAN = {"standard": 0.80, "adv-base": 0.76, "rift": 0.78, "rift-ist": 0.77}
ROBUST = {"standard": 0.10, "adv-base": 0.40, "rift": 0.45, "rift-ist": 0.42}
DISTANCE = {"standard": 3.0, "adv-base": 1.6, "rift": 0.7, "rift-ist": 0.9}  # × the real run's step log


def expected_values(method: str, attack: str, seed: int) -> tuple[float, float]:
    clean = CLEAN[method] + 0.01 * seed
    robust = ROBUST[method] + 0.02 * seed + (0.05 if attack == "genetic" else 0.0)
    return clean, robust


@pytest.fixture(scope="module")
def derived_results(tmp_path_factory) -> Path:
    """IMDB: 2 models × {standard, adv-base, rift, rift-ist} × {pwws, genetic} × 3 seeds, with holes:
    adv-base has no genetic cell on BERT and only seed 0 on MiniLM; plus an adv-base β sweep and SNLI trained on dev."""
    results = tmp_path_factory.mktemp("derived")
    base = _real_records()[0]
    for model in ("minilm-l6", "bert-base-uncased"):
        for method in [*METHODS, "rift-ist"]:
            for attack in ("pwws", "genetic"):
                if method == "adv-base" and attack == "genetic" and model == "bert-base-uncased":
                    continue
                for seed in (0, 1, 2):
                    if method == "adv-base" and model == "minilm-l6" and seed > 0:
                        continue
                    clean, robust = expected_values(method, attack, seed)
                    derive(base, results, clean=clean, robust=robust, seed=seed, dataset="imdb", model=model,
                           method=method, attack=attack, distance_scale=DISTANCE[method])
    for beta, (clean, robust) in {1.0: (0.79, 0.30), 5.0: (0.74, 0.47), 10.0: (0.70, 0.46)}.items():
        for seed in (0, 1):
            derive(base, results, clean=clean + 0.01 * seed, robust=robust, seed=seed, dataset="imdb",
                   model="minilm-l6", method="adv-base", attack="pwws", method_overrides={"beta": beta})
    derive(base, results, clean=0.70, robust=0.20, seed=0, dataset="snli", method="standard", train_split="dev")
    return results


# ---------------------------------------------------------------- real records


def test_real_records_table_shows_the_records_numbers():
    real = _real_records()
    report = build_report(REFERENCE)
    (main,) = report.sections[0][1]
    assert main.columns == ["Clean", "PWWS"]
    (block,) = main.blocks
    assert block.title == "MiniLM-L6"
    (label, (clean, pwws)), = block.rows
    assert label == "Standard"
    cleans = [100 * r["metrics"]["clean_accuracy"] for r in real]
    robust = [100 * r["metrics"]["accuracy_under_attack"] for r in real]
    assert clean.n == pwws.n == len(real)
    assert clean.mean == pytest.approx(statistics.mean(cleans))
    assert pwws.mean == pytest.approx(statistics.mean(robust))
    if len(real) == 1:
        assert pwws.std is None and pwws.text == f"{robust[0]:.1f} (n=1)"
    else:
        assert pwws.text == f"{statistics.mean(robust):.1f} ± {statistics.stdev(robust):.1f} (n={len(real)})"
    assert any(f"{real[0]['data']['n_train']} examples of the 'train' split" in n for n in main.notes)


def test_the_report_never_imports_torch(derived_results, tmp_path):
    code = f"""
import sys
from pathlib import Path
from bench.report.build import build_report, render, write_html
report = build_report(Path({str(derived_results)!r}), compare="paper")
for fmt in ("markdown", "latex", "csv"):
    render(report, fmt)
write_html(report, Path({str(tmp_path / 'html')!r}))
assert "torch" not in sys.modules, "bench.report imported torch"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


# ---------------------------------------------------------------- Tables 1–2 layout


def _table(report, key):
    return next(t for t in report.tables if t.key == key)


def _stats(values: list[float]) -> tuple[float, float | None]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def test_main_table_layout_and_values(derived_results):
    report = build_report(derived_results)
    table = next(t for t in report.tables if t.key.startswith("main-imdb"))
    assert table.columns == ["Clean", "Genetic", "PWWS"]  # the paper's attack order
    assert [b.title for b in table.blocks] == ["BERT-base", "MiniLM-L6"]
    bert = table.blocks[0]
    # the paper's method order; the β sweep only exists for MiniLM, so it shows as "—" rows for BERT; no rift-ist
    assert [label for label, _ in bert.rows] == ["Standard", "Adv-Base", "Adv-Base (β=1)", "Adv-Base (β=5)",
                                                 "Adv-Base (β=10)", "RIFT"]
    rows = dict(bert.rows)
    for method, label in (("standard", "Standard"), ("rift", "RIFT")):
        for col, attack in ((2, "pwws"), (1, "genetic")):
            mean, std = _stats([100 * expected_values(method, attack, s)[1] for s in (0, 1, 2)])
            cell = rows[label][col]
            assert (cell.mean, cell.std, cell.n) == (pytest.approx(mean), pytest.approx(std), 3)
        mean, std = _stats([100 * expected_values(method, "pwws", s)[0] for s in (0, 1, 2)])
        assert rows[label][0].mean == pytest.approx(mean) and rows[label][0].n == 3  # clean: one value per seed
    assert rows["Adv-Base"][1].text == MISSING and rows["Adv-Base"][1].mean is None  # not run: never a number
    assert all(c.text == MISSING for c in rows["Adv-Base (β=5)"])
    # best per column and block in bold: clean → Standard, attacks → RIFT
    assert rows["Standard"][0].bold and not rows["RIFT"][0].bold
    assert rows["RIFT"][1].bold and rows["RIFT"][2].bold and not rows["Adv-Base"][2].bold
    minilm = dict(table.blocks[1].rows)
    assert minilm["Adv-Base"][2].n == 1 and minilm["Adv-Base"][2].text.endswith("(n=1)")
    # β=5 (47.0 over 2 seeds) ties RIFT (45 + 0/2/4 → 47.0) at display precision: both bold
    assert minilm["Adv-Base (β=5)"][2].bold and minilm["RIFT"][2].bold and not minilm["Standard"][2].bold


def _with_test_size(record: dict, results: Path, n_test: int) -> None:
    """Rewrite a derived record as if its cell had been attacked on ``n_test`` examples (override and data)."""
    old = record_path(results, record["cell"], record["cell_id"])
    old.unlink()
    examples_path(old).unlink()
    record["cell"]["overrides"] = [o for o in record["cell"]["overrides"] if o[0] != "n_test"] + [["n_test", n_test]]
    record["data"]["n_test"] = record["config"]["scale_settings"]["n_test"] = n_test
    record["cell_id"] = config_hash(record["config"])
    path = record_path(results, record["cell"], record["cell_id"])
    atomic_write_json(path, record)
    shutil.copy(examples_path(_real_record_file(_real_records()[0])), examples_path(path))


def test_cells_attacked_on_different_test_sizes_share_a_table(tmp_path):
    """One model's attacks on different numbers of examples (the study: PWWS 500, Genetic 100) are one table;
    the same attack on two sizes stays apart, labelled with its size, never averaged into one cell."""
    base = _real_records()[0]
    sizes = {("pwws", 0): 500, ("pwws", 1): 500, ("genetic", 0): 100, ("genetic", 1): 100}
    for (attack, seed), n in sizes.items():
        clean, robust = 0.80 + 0.01 * seed + (0.05 if n == 100 else 0.0), 0.30 + 0.1 * seed
        _with_test_size(derive(base, tmp_path, clean=clean, robust=robust, seed=seed, dataset="sst2",
                               method="standard", attack=attack), tmp_path, n)
    report = build_report(tmp_path)
    (table,) = [t for t in report.tables if t.key.startswith("main-")]
    assert table.columns == ["Clean", "Genetic", "PWWS"]
    (block,) = table.blocks
    cells = dict(block.rows)["Standard"]
    assert (cells[2].mean, cells[2].n) == (pytest.approx(35.0), 2)
    # clean accuracy per seed comes from the larger test set (PWWS's 500), not an average with Genetic's 100
    assert cells[0].mean == pytest.approx(100 * statistics.mean([0.80, 0.81]))

    extra = derive(base, tmp_path, clean=0.9, robust=0.9, seed=2, dataset="sst2", method="standard", attack="pwws")
    _with_test_size(extra, tmp_path, 100)
    (table,) = [t for t in build_report(tmp_path).tables if t.key.startswith("main-")]
    assert table.columns == ["Clean", "Genetic", "PWWS (n_test=100)", "PWWS (n_test=500)"]
    cells = dict(table.blocks[0].rows)["Standard"]
    assert (cells[2].mean, cells[2].n) == (pytest.approx(90.0), 1)
    assert (cells[3].mean, cells[3].n) == (pytest.approx(35.0), 2)


def test_training_split_other_than_train_is_stated(derived_results):
    report = build_report(derived_results)
    snli = next(t for t in report.tables if t.key.startswith("main-snli"))
    assert any("'dev' split" in n for n in snli.notes)
    assert any("not available offline" in n for n in snli.notes)


def test_ablation_table_rift_vs_rift_ist(derived_results):
    report = build_report(derived_results)
    table = _table(report, "ablation-ist")
    assert [b.title for b in table.blocks] == [f"IMDB · BERT-base · {_scale_label()}", f"IMDB · MiniLM-L6 · {_scale_label()}"]
    rows = dict(table.blocks[0].rows)
    assert list(rows) == ["RIFT, I(S;T|Y)", "RIFT, I(S;T)"]
    mean, _ = _stats([100 * expected_values("rift-ist", "pwws", s)[1] for s in (0, 1, 2)])
    assert rows["RIFT, I(S;T)"][2].mean == pytest.approx(mean)
    assert rows["RIFT, I(S;T|Y)"][2].bold
    assert not any(t.key == "ablation-ist" for t in build_report(REFERENCE).tables)  # no rift-ist → no Table 3


def test_secondary_table(derived_results):
    real = _real_records()
    table = _table(build_report(REFERENCE), next(t.key for t in build_report(REFERENCE).tables
                                                   if t.key.startswith("secondary-")))
    assert table.columns == ["Attack success (%)", "Words perturbed (%)", "Clean margin", "Queries", "Seconds / example"]
    (label, cells), = table.blocks[0].rows
    assert label == "Standard · PWWS"
    margin = cells.pop(2)
    for cell, key, scale in zip(cells, ("attack_success_rate", "mean_perturbed_pct", "mean_queries",
                                        "seconds_per_example"), (100, 1, 1, 1)):
        assert cell.mean == pytest.approx(statistics.mean(scale * r["metrics"][key] for r in real))
    # the clean margin, computed here with numpy from the examples files: p(gold) − max over the other classes
    import numpy as np

    medians = []
    for r in real:
        lines = [json.loads(x) for x in examples_path(_real_record_file(r)).read_text().splitlines() if x.strip()]
        attacked = [x for x in lines if x["status"] != "skipped"]
        probs = np.array([x["original_probs"] for x in attacked])
        gold = np.array([x["label"] for x in attacked])
        others = np.where(np.eye(probs.shape[1], dtype=bool)[gold], -np.inf, probs).max(axis=1)
        medians.append(float(np.median(probs[np.arange(len(gold)), gold] - others)))
    assert margin.mean == pytest.approx(statistics.mean(medians)) and margin.n == len(real)


# ---------------------------------------------------------------- the paper


def test_paper_numbers_are_complete_data():
    paper = load_paper()
    n = paper.numbers
    assert len(n) == 48 and not n.duplicated(["dataset", "model", "method", "attack"]).any()
    main = n[n["table"] == "1-2"]
    assert len(main) == 40 and main["std"].notna().all()
    assert n[n["table"] == "3"]["std"].isna().all() and set(n[n["table"] == "3"]["method"]) == {"rift-ist"}
    row = n[(n.dataset == "snli") & (n.model == "roberta-base") & (n.method == "rift") & (n.attack == "pwws")].iloc[0]
    assert (row["mean"], row["std"]) == (81.1, 0.4)


def test_compare_with_the_paper(derived_results):
    report = build_report(derived_results, compare="paper")
    minilm = _table(report, next(t.key for t in report.tables if t.key.startswith("paper-imdb-minilm-l6")))
    assert minilm.column_groups == [("Genetic", 3), ("PWWS", 3)]
    assert minilm.columns == ["Ours", "Paper", "Δ"] * 2
    rows = dict(minilm.blocks[0].rows)
    assert list(rows) == ["Standard", "Adv-Base", "Adv-PTWD", "Adv-Mixout", "RIFT", "RIFT, I(S;T)"]
    ours, paper, delta = rows["RIFT"][3:6]
    mean, _ = _stats([100 * expected_values("rift", "pwws", s)[1] for s in (0, 1, 2)])
    assert ours.mean == pytest.approx(mean)
    assert (paper.mean, paper.std) == (70.1, 0.5)  # MiniLM is compared with the paper's BERT-base
    assert delta.text == f"{mean - 70.1:+.1f}"
    assert rows["Adv-PTWD"][0].text == MISSING and rows["Adv-PTWD"][1].mean == 73.9 and rows["Adv-PTWD"][2].text == MISSING
    assert rows["RIFT, I(S;T)"][1].text == "76.1"  # Table 3: the paper gives no std
    differs = minilm.notes[0]
    assert differs.startswith("Not a reproduction of the paper's setting. What differs:")
    n_train = _real_records()[0]["data"]["n_train"]
    for fragment in ("Model: ours MiniLM-L6", "paper BERT-base", f"Training data: ours {n_train} examples of the 'train' split",
                     "full train split (25,000 reviews)", "Settings that differ from the paper code's (ours vs paper): ",
                     "epochs 2 vs 20", "grad_clip 1 vs 0", "lr_schedule linear vs epoch-warmup-constant",
                     "max_length 64 vs 300", "method.beta 2 vs 10", "n_train 128 vs all"):
        assert fragment in differs, differs
    bert = _table(report, next(t.key for t in report.tables if t.key.startswith("paper-imdb-bert")))
    assert "Model:" not in bert.notes[0]  # same model as the paper: not listed as a difference
    assert dict(bert.blocks[0].rows)["Standard"][1].mean == 38.1
    assert any("SST-2" in m for m in build_report(REFERENCE, compare="paper").messages)


def test_compare_states_a_different_training_split(derived_results):
    report = build_report(derived_results, compare="paper")
    snli = _table(report, next(t.key for t in report.tables if t.key.startswith("paper-snli-minilm")))
    assert "Training split: ours 'dev', paper 'train'" in snli.notes[0]


def test_failed_cells_and_corrupt_files_are_reported_not_hidden(tmp_path):
    shutil.copytree(REFERENCE_ROOT, tmp_path / "r")
    real = _real_records()[0]
    folder = record_path(tmp_path / "r", real["cell"], real["cell_id"]).parent
    (folder / "0123456789abcdef.failed.json").write_text(json.dumps(
        {"cell_id": "0123456789abcdef", "cell": real["config"], "error": "RuntimeError: boom"}))
    (folder / "fedcba9876543210.json").write_text("{not json")
    report = build_report(tmp_path / "r")
    assert len(report.frame) == len(load_records(REFERENCE_ROOT)[0])
    assert any("0123456789abcdef" in m and "failed: RuntimeError: boom" in m for m in report.messages)
    assert any(m.startswith("skipped ") and "fedcba9876543210" in m for m in report.messages)
    assert "failed: RuntimeError: boom" in render(report, "markdown")


def test_missing_paper_data_is_a_clear_error(tmp_path, derived_results):
    from bench.core.errors import BenchError

    with pytest.raises(BenchError, match="paper's numbers are missing"):
        build_report(derived_results, compare="paper", paper_dir=tmp_path)


# ---------------------------------------------------------------- formats


def test_latex_is_strict_booktabs(derived_results):
    report = build_report(derived_results, compare="paper")
    for table in report.tables:
        tex = to_latex(table)
        assert tex.isascii(), table.key
        assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 1
        assert tex.count(r"\midrule") == len(table.blocks)
        assert r"\hline" not in tex
        assert tex.count("{") == tex.count("}") + tex.count(r"\{") - tex.count(r"\}")
        assert tex.count("$") % 2 == 0
        width = 1 + len(table.columns)
        body = tex.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
        for line in body.splitlines():
            if line.startswith(r"\multicolumn") or line.startswith(r"\midrule") or not line.strip():
                continue
            assert line.endswith(r"\\") and line.count(" & ") == width - 1, line
        assert f"{{l{'c' * len(table.columns)}}}" in tex
    assert latex_escape("a_b & 5% ± θ₀ — x") == r"a\_b \& 5\% $\pm$ $\theta$$_0$ --- x"
    main = next(t for t in report.tables if t.key.startswith("main-imdb"))
    assert r"$\mathbf{" in to_latex(main)  # bold best


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex (apt-get install texlive-latex-recommended)")
def test_latex_compiles(derived_results, tmp_path):
    report = build_report(derived_results, compare="paper")
    figures = write_figures(report.frame, steps_frame(derived_results), tmp_path / "figs")
    tex = tmp_path / "report.tex"
    tex.write_text(render(report, "latex", standalone=True, figures=figures[:2], out_dir=tmp_path))
    out = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]
    assert (tmp_path / "report.pdf").stat().st_size > 10_000
    log = (tmp_path / "report.log").read_text(errors="replace")
    assert "Missing character" not in log and "Undefined control sequence" not in log


def test_markdown_and_csv(derived_results):
    report = build_report(derived_results)
    md = render(report, "markdown")
    main = next(t for t in report.tables if t.key.startswith("main-imdb"))
    section = md.split(f"### {main.title}")[1].split("###")[0]
    table_lines = [line for line in section.splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 + sum(len(b.rows) for b in main.blocks)
    assert all(line.count("|") == len(main.columns) + 3 for line in table_lines)
    assert "| *BERT-base* | Standard |" in section and "**" in section
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert sum(len(b.rows) * len(t.columns) for t in report.tables for b in t.blocks) == len(rows)
    rift = next(r for r in rows if r["table"] == main.key and r["block"] == "BERT-base" and r["row"] == "RIFT"
                and r["column"] == "PWWS")
    mean, std = _stats([100 * expected_values("rift", "pwws", s)[1] for s in (0, 1, 2)])
    assert float(rift["mean"]) == pytest.approx(mean, abs=1e-4) and float(rift["std"]) == pytest.approx(std, abs=1e-4)
    assert rift["n"] == "3" and rift["bold"] == "1"


def test_cli_formats_and_out(derived_results, tmp_path, capsys):
    from bench.cli import main

    assert main(["report", "--results", str(derived_results), "--format", "latex", "--out", str(tmp_path / "t.tex")]) == 0
    assert r"\toprule" in (tmp_path / "t.tex").read_text()
    assert main(["report", "--results", str(derived_results), "--format", "csv", "--compare", "paper"]) == 0
    assert "Ours vs the paper" in capsys.readouterr().out
    assert main(["report", "--results", str(tmp_path / "nothing")]) == 0
    assert "no result records" in capsys.readouterr().out


# ---------------------------------------------------------------- figures and HTML


def test_pareto_front():
    points = [(80, 10), (76, 40), (78, 45), (70, 46), (70, 40), (79, 30)]
    assert pareto_front(points) == [(70, 46), (78, 45), (79, 30), (80, 10)]


def test_figures_are_written(derived_results, tmp_path):
    frame, _ = records_frame(derived_results)
    files = write_figures(frame, steps_frame(derived_results), tmp_path)
    kinds = {(f.kind, f.pdf.stem) for f in files}
    scale = safe_name(_scale_label())
    assert ("tradeoff", f"tradeoff-imdb-minilm-l6-{scale}-pwws") in kinds
    assert ("distance", f"distance-imdb-minilm-l6-{scale}") in kinds
    for f in files:
        assert f.pdf.read_bytes().startswith(b"%PDF") and f.png.read_bytes().startswith(b"\x89PNG")
        assert f.png.stat().st_size > 20_000


def test_steps_frame_counts_each_trained_model_once():
    real = _real_records()
    steps = steps_frame(REFERENCE)
    assert steps["train_key"].nunique() == len({r["training"]["train_key"] for r in real})
    first = real[0]["training"]["step_log"]
    mine = steps[steps["train_key"] == real[0]["training"]["train_key"]].sort_values("step")
    assert list(mine["rel_weight_distance"]) == [s["rel_weight_distance"] for s in first]


def test_html_page_with_tables_figures_and_examples(derived_results, tmp_path):
    report = build_report(derived_results, compare="paper")
    index = write_html(report, tmp_path / "site")
    page = index.read_text()
    assert page.count("<table") == len(report.tables) + 2  # + the leaderboard and the list of cells
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images and all((index.parent / src).exists() for src in images)
    links = re.findall(r'<a href="(examples/[^"]+)">examples</a>', page)
    assert len(links) == len(report.frame)
    example_page = (index.parent / links[0]).read_text()
    rows = [json.loads(line) for line in examples_path(_real_record_file(_real_records()[0])).read_text().splitlines()]
    success = next(r for r in rows if r["status"] == "success")
    assert f"<ins>{success['changes'][0]['substitute']}" in example_page.lower() or \
        f"<ins>{success['changes'][0]['substitute'].capitalize()}" in example_page
    record_links = re.findall(r'href="([^"]+\.json)"', example_page)
    assert record_links and (index.parent / "examples" / record_links[0]).resolve().exists()


def test_html_without_example_pages_links_each_examples_file(derived_results, tmp_path, capsys):
    from bench.cli import main

    out = tmp_path / "site"
    assert main(["report", "--results", str(derived_results), "--format", "html", "--no-example-pages",
                 "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert not (out / "examples").exists() and 'href="examples/' not in page
    links = re.findall(r'<a href="([^"]+\.examples\.jsonl)">JSONL</a>', page)
    assert len(links) == len(build_report(derived_results).frame) and all((out / link).resolve().exists() for link in links)
    assert main(["report", "--results", str(derived_results), "--no-example-pages"]) == 2
    assert "--no-example-pages is for --format html" in capsys.readouterr().err


def test_leaderboard_rows_values_and_the_papers_numbers(derived_results):
    from bench.report.leaderboard import leaderboard

    report = build_report(derived_results, compare="paper")
    attacks, entries = leaderboard(report.frame, report.paper)
    assert attacks == ["genetic", "pwws"]  # the paper's order
    by_key = {(e.dataset, e.model, e.method_label): e for e in entries}
    # one entry per (dataset, model, scale, method variant): 2 models × 4 methods + 3 β variants on IMDB, 1 on SNLI
    assert len(entries) == 2 * 4 + 3 + 1
    rift = by_key[("imdb", "bert-base-uncased", "rift")]
    robust = [100 * expected_values("rift", "pwws", s)[1] for s in (0, 1, 2)]
    assert rift.attacks["pwws"].cell.mean == pytest.approx(statistics.mean(robust))
    assert rift.attacks["pwws"].cell.std == pytest.approx(statistics.stdev(robust))
    assert [seed for seed, _ in rift.attacks["pwws"].cells] == [0, 1, 2]
    clean = [100 * expected_values("rift", "pwws", s)[0] for s in (0, 1, 2)]
    assert rift.clean.cell.mean == pytest.approx(statistics.mean(clean)) and rift.seeds == [0, 1, 2]
    # holes stay holes; one seed has no std
    assert not by_key[("imdb", "bert-base-uncased", "adv-base")].attacks["genetic"].cell.is_stat
    assert by_key[("imdb", "minilm-l6", "adv-base")].attacks["pwws"].cell.std is None
    # the paper's numbers: its row for the model (BERT itself; BERT as the nearest model for MiniLM), from the CSV
    with (REPO / "results" / "paper" / "dong2021_accuracy_under_attack.csv").open() as f:
        paper = {(r["dataset"], r["model"], r["method"], r["attack"]): float(r["mean"]) for r in csv.DictReader(f)}
    for model in ("bert-base-uncased", "minilm-l6"):
        entry = by_key[("imdb", model, "rift")]
        assert entry.paper["pwws"].mean == paper[("imdb", "bert-base-uncased", "rift", "pwws")]
    # a sweep variant is not the paper's method; SNLI trained on dev says so
    assert by_key[("imdb", "minilm-l6", "adv-base (beta=5)")].paper == {}
    assert by_key[("snli", "minilm-l6", "standard")].train_splits == ["dev"]
    # without --compare paper there is no paper column
    _, plain = leaderboard(report.frame)
    assert all(e.paper == {} for e in plain)


def test_example_html_marks_substitutions_and_shows_other_edits_as_stored():
    from bench.report.examples import example_html

    row = {"uid": "u1", "label": 1, "status": "success", "original": ["A man sleeps.", "The Man is asleep."],
           "adversarial": ["A man sleeps.", "The Guy is asleep."], "original_pred": 0, "final_pred": 2,
           "n_words": 4, "words_changed": 1, "queries": 9,
           "changes": [{"index": 1, "original": "Man", "substitute": "guy"}]}
    out = example_html(row, field_index=1)
    assert "<del>Man</del>" in out and "<ins>Guy</ins>" in out  # the hypothesis, case matched
    assert "A man sleeps." in out  # the unchanged premise is shown too
    inserted = dict(row, adversarial=["A man sleeps.", "The Man is asleep. Nobody owns a cat."],
                    changes=[{"inserted": "Nobody owns a cat."}])
    out = example_html(inserted, field_index=1)
    assert "<ins>" not in out and "Nobody owns a cat." in out and "changes:" in out


def test_bold_marks_the_best_only_when_there_is_one():
    from bench.report.table import Block, bold_best, stat

    block = Block("m", [("a", [stat([0.5, 0.6], 100), stat([0.2])]), ("b", [stat([0.6], 100), stat([0.2])]),
                        ("c", [stat([], 100), stat([0.2])])])
    bold_best(block)
    assert [cells[0].bold for _, cells in block.rows] == [False, True, False]  # 55.0 < 60.0; "—" is never bold
    assert not any(cells[1].bold for _, cells in block.rows)  # all equal: no best


def test_methods_and_attacks_beyond_the_paper_are_marked(tmp_path):
    """FreeLB++/InfoBERT and TextFooler appear in the Table 1 layout after the paper's rows and columns, with a
    dagger and a note; tables without them carry neither."""
    base = _real_records()[0]
    for method, clean, robust in (("rift", 0.78, 0.45), ("freelb++", 0.80, 0.30), ("infobert", 0.79, 0.25)):
        for attack in ("pwws", "textfooler"):
            derive(base, tmp_path, clean=clean, robust=robust, seed=0, dataset="mr", method=method, attack=attack)
    table = next(t for t in build_report(tmp_path).tables if t.key.startswith("main-mr"))
    assert table.columns == ["Clean", "PWWS", "TextFooler†"]
    assert [label for label, _ in table.blocks[0].rows] == ["RIFT", "FreeLB++†", "InfoBERT†"]
    assert dict(table.blocks[0].rows)["FreeLB++†"][1].mean == pytest.approx(30.0)
    beyond = next(n for n in table.notes if n.startswith("† Beyond the paper"))
    # each entry with the reference its registration gives, in table order
    assert beyond == ("† Beyond the paper (not in Dong et al. 2021): FreeLB++ (Li et al. 2021, the TextDefender "
                      "benchmark); InfoBERT (Wang et al. 2021); TextFooler (Jin et al. 2020).")
    plain = next(t for t in build_report(REFERENCE).tables if t.key.startswith("main-"))
    assert not any("†" in c for c in plain.columns) and not any(n.startswith("†") for n in plain.notes)


def test_training_table_lists_the_epoch_each_seed_kept(tmp_path):
    """Epoch kept: the selected epoch of each seed's model, in seed order (written out of order here)."""
    base = _real_records()[0]
    kept = {2: 1, 0: 2, 1: 3}
    for seed, epoch in kept.items():
        record = copy.deepcopy(base)
        record["training"]["selected_epoch"] = epoch
        derive(record, tmp_path, clean=0.8, robust=0.2, seed=seed)
    report = build_report(tmp_path)
    (table,) = [t for t in report.tables if t.key.startswith("training-")]
    (block,) = table.blocks
    (label, cells), = block.rows
    epochs = base["config"]["scale_settings"]["epochs"]
    assert cells[table.columns.index("Epoch kept")].text == f"2 · 3 · 1 of {epochs}"
