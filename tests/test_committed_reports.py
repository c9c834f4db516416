"""The committed study reports are what `bench report` renders from the committed records (issue 11: a clean
clone renders the same tables as committed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report.build import build_report, render

ROOT = Path(__file__).resolve().parents[1]
REPORTS = sorted(p for p in (ROOT / "results" / "study").rglob("report/report.md") if (p.parent.parent / "runs").is_dir())


def test_there_is_a_committed_study_report():
    assert REPORTS, "no committed study report (results/study/**/report/report.md beside a runs/ folder)"


FORMATS = (("markdown", ".md"), ("latex", ".tex"))


def test_the_study_report_has_its_latex_tables():
    assert (ROOT / "results" / "study" / "report" / "report.tex").exists()


@pytest.mark.parametrize("report_md", REPORTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_report_matches_its_records(report_md: Path, monkeypatch):
    """Each committed format (Markdown, LaTeX) of the report, rendered from one build of its records: building is
    the expensive part (15 s for the main study's 180 records), rendering takes milliseconds."""
    monkeypatch.chdir(ROOT)  # the report names its results folder as given on the command line
    runs = (report_md.parent.parent / "runs").relative_to(ROOT)
    report = build_report(runs, "paper", None)
    assert not [m for m in report.messages if "skipped" in m.lower() or "left out" in m], report.messages
    for fmt, suffix in FORMATS:
        committed = report_md.with_suffix(suffix)
        if not committed.exists():
            continue
        text = render(report, fmt, False, [], report_md.parent.relative_to(ROOT))
        assert text == committed.read_text(encoding="utf-8"), (
            f"{committed.relative_to(ROOT)} differs from what its records render; re-render it with "
            f"bench report --results {runs} --format {fmt} --compare paper --out {committed.relative_to(ROOT)}")


def test_no_committed_checkpoint_outlives_its_finished_cell():
    """A `.partial.jsonl` checkpoint is only for a cell in progress: beside a finished record it is stale."""
    stale = [p.relative_to(ROOT) for p in (ROOT / "results").rglob("*.partial.jsonl")
             if p.with_name(p.name.removesuffix(".partial.jsonl") + ".json").exists()]
    assert not stale, f"checkpoints of cells that finished (remove them): {stale}"


def test_studys_threat_model_tables_are_what_the_analysis_prints(capsys, monkeypatch):
    """STUDY.md's two-threat-model tables (the paired claims and the clean accuracy) are copied from
    `analysis/threat_models.py` over the committed records: every row it prints stands in STUDY.md as printed."""
    import importlib.util

    monkeypatch.chdir(ROOT)
    path = ROOT / "results" / "study" / "analysis" / "threat_models.py"
    spec = importlib.util.spec_from_file_location("threat_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--no-unknown"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    study = (ROOT / "results" / "study" / "STUDY.md").read_text(encoding="utf-8").splitlines()
    assert len(rows) > 10
    missing = [row for row in rows if row not in study]
    assert not missing, ("STUDY.md's threat-model tables differ from what the records give (rerun "
                         f"results/study/analysis/threat_models.py and copy its tables): {missing}")
