"""Assemble a report — sections of tables, messages, figures — and write it in one format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from bench.report.frame import records_frame, steps_frame
from bench.report.paired import paired_tables
from bench.report.paper import Paper, compare_tables, load_paper, paper_tables
from bench.report.render import latex_document, latex_escape, to_csv, to_latex, to_markdown
from bench.report.table import Table
from bench.report.tables import ablation_table, main_tables, secondary_tables, training_tables

if TYPE_CHECKING:
    from bench.report.figures import FigureFile

FORMATS = ("markdown", "latex", "csv", "html")


@dataclass
class Report:
    results: Path
    frame: pd.DataFrame
    sections: list[tuple[str, list[Table]]]
    messages: list[str] = field(default_factory=list)
    paper: Paper | None = None  # the paper's numbers, when the report compares with them

    @property
    def tables(self) -> list[Table]:
        return [t for _, tables in self.sections for t in tables]


def build_report(results: Path, compare: str | None = None, paper_dir: Path | None = None) -> Report:
    """Every table for the records under ``results`` (``compare="paper"`` adds the side-by-side section)."""
    frame, problems = records_frame(results)
    messages = list(problems) + model_warnings(frame)
    if frame.empty:
        messages.append(f"no result records under {results} (run `bench run` first)")
    sections = [("Accuracy under attack (the paper's Tables 1–2 layout)", main_tables(frame))]
    ablation = ablation_table(frame)
    if ablation is not None:
        sections.append(("RIFT: I(S;T|Y) vs I(S;T) (the paper's Table 3 layout)", [ablation]))
    elif not frame.empty:
        messages.append("Table 3 layout (rift vs rift-ist): no rift-ist records yet.")
    paired = paired_tables(frame)
    if paired:
        sections.append(("Paired differences between methods (same examples, bootstrap intervals)", paired))
    paper = None
    if compare == "paper":
        paper = load_paper(paper_dir)
        tables, notes = compare_tables(frame, paper)
        messages += notes
        sections.append(("Ours vs the paper", tables + paper_tables(paper)))
    sections.append(("Attack statistics", secondary_tables(frame)))
    training = training_tables(frame)
    if training:
        sections.append(("Training", training))
    return Report(results, frame, sections, messages, paper)


def model_warnings(frame: pd.DataFrame) -> list[str]:
    """One message per fine-tuned model with warnings in its record (``training.notes``), naming its cells' model."""
    from bench.report.labels import DATASET_NAMES, display
    from bench.report.tables import method_display

    if frame.empty:
        return []
    out = []
    noted = frame[frame["training_notes"].map(bool)]
    for _, rows in noted.groupby("train_key", sort=False, dropna=False):
        r = rows.iloc[0]
        out.append(f"{display(r['dataset'], DATASET_NAMES)} · {r['model']} · "
                   f"{method_display(r['method'], r['method_overrides'])} · seed {r['seed']} · {r['scale_label']}: "
                   + "; ".join(f"warning: {n}" for n in r["training_notes"]))
    return out


def render_markdown(report: Report) -> str:
    parts = [f"# rift-bench report\n\n{len(report.frame)} record(s) from `{report.results}`.\n"]
    parts += [f"> {m}\n" for m in report.messages]
    for title, tables in report.sections:
        parts.append(f"## {title}\n")
        parts += [to_markdown(t) for t in tables] or ["_no results_\n"]
    return "\n".join(parts)


def _latex_figures(figures: list["FigureFile"], relative_to: Path | None) -> str:
    out = []
    for f in figures:
        path = f.pdf.resolve()
        if relative_to is not None:
            import os

            path = Path(os.path.relpath(path, relative_to.resolve()))
        out.append("\\begin{figure}[htbp]\n\\centering\n"
                   f"\\includegraphics[width=0.7\\linewidth]{{{path.as_posix()}}}\n"
                   f"\\caption{{{latex_escape(f.title)}}}\n\\end{{figure}}\n")
    return "\n".join(out)


def render_latex(report: Report, standalone: bool = False, figures: list["FigureFile"] = (),
                 out_dir: Path | None = None) -> str:
    """Table floats (``\\usepackage{booktabs}``); ``standalone``: a compilable document, with the figures."""
    if standalone:
        return latex_document(report.tables, _latex_figures(list(figures), out_dir))
    header = "% rift-bench report: tables need \\usepackage{booktabs}\n"
    notes = "".join(f"% note: {m}\n" for m in report.messages)
    return header + notes + "\n".join(to_latex(t) for t in report.tables)


def render(report: Report, fmt: str, standalone: bool = False, figures: list["FigureFile"] = (),
           out_dir: Path | None = None) -> str:
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "latex":
        return render_latex(report, standalone, figures, out_dir)
    if fmt == "csv":
        return to_csv(report.tables)
    raise ValueError(f"render() does not write {fmt!r}; use write_html for html")


def write_figures(frame: pd.DataFrame, steps: pd.DataFrame, out: Path) -> list["FigureFile"]:
    """Every figure as PDF + PNG under ``out`` (matplotlib is imported only here)."""
    from bench.report.figures import write_figures as _write

    return _write(frame, steps, out)


def write_html(report: Report, out: Path, example_pages: bool = True) -> Path:
    from bench.report.page import write_html_report

    figures = write_figures(report.frame, steps_frame(report.results), out / "figures")
    return write_html_report(report.sections, report.messages, figures, report.frame, report.results, out,
                             report.paper, example_pages)

