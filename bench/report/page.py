"""The HTML report: a leaderboard first, then every table and figure, and a page per cell with its adversarial
examples. Self-contained: one stylesheet and one script (``static/``) are copied next to the pages; nothing is
fetched from the network, so the folder works from ``file://`` and from any static file server."""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from bench.report.examples import example_title, examples_body, rel
from bench.report.labels import ATTACK_NAMES, DATASET_NAMES, METHOD_NAMES, MODEL_NAMES, display, order_key
from bench.report.leaderboard import leaderboard, leaderboard_html, scale_html
from bench.report.render import to_html
from bench.report.table import Table
from bench.report.tables import attack_display, method_display
from bench.core.store import atomic_write_text, load_record

if TYPE_CHECKING:
    from bench.report.figures import FigureFile
    from bench.report.paper import Paper

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = ("report.css", "report.js")


def _page(title: str, body: str, prefix: str = "", kind: str = "index") -> str:
    """A page linking the stylesheet and script at ``prefix`` (relative to the page); ``kind``: its body's class."""
    return (f"<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
            f"<meta name=viewport content=\"width=device-width, initial-scale=1\">\n"
            # no icon file: keeps a browser from asking the server (or the file system) for /favicon.ico
            f"<link rel=icon href=\"data:,\">\n<title>{html.escape(title)}</title>\n"
            f'<link rel=stylesheet href="{prefix}report.css">\n<script src="{prefix}report.js" defer></script>\n'
            f"</head>\n<body class={kind}>\n{body}\n</body>\n</html>\n")


def _pct(value) -> str:
    return "—" if pd.isna(value) else f"{100 * value:.1f}"


def _metrics_line(row: pd.Series) -> str:
    parts = [f"clean {_pct(row['clean_accuracy'])} %", f"under attack {_pct(row['accuracy_under_attack'])} %",
             f"attack success {_pct(row['attack_success_rate'])} %"]
    if pd.notna(row["mean_similarity"]):
        parts.append(f"mean USE similarity {row['mean_similarity']:.3f}")
    return " · ".join(html.escape(p) for p in parts)


def write_examples_page(row: pd.Series, out: Path) -> Path | None:
    """``out/examples/<cell_id>.html`` for one record (None when its examples file is missing)."""
    if pd.isna(row["examples_path"]) or not row["examples_path"]:
        return None
    record = load_record(Path(row["record_path"]))
    path = out / "examples" / f"{row['cell_id']}.html"
    body = examples_body(row, record, path.parent, "../index.html", _metrics_line(row))
    atomic_write_text(path, _page(example_title(row), body, "../", "examples"))
    return path


def _cells_table(frame: pd.DataFrame, pages: dict[str, Path], out: Path) -> str:
    heads = [("Dataset", "text"), ("Model", "text"), ("Method", "text"), ("Attack", "text"), ("Seed", "num"),
             ("Scale", "text"), ("Clean (%)", "num"), ("Under attack (%)", "num"), ("Examples", "text"),
             ("Record", "text")]
    rows = ["<div class=wide><table id=cells class=sortable><caption>Every cell (one record each)</caption><thead><tr>"
            + "".join(f"<th data-type={t}>{h}</th>" for h, t in heads) + "</tr></thead><tbody>"]
    ordered = frame.assign(_d=[order_key(d, DATASET_NAMES) for d in frame["dataset"]],
                           _m=[order_key(m, METHOD_NAMES) for m in frame["method"]],
                           _a=[order_key(a, ATTACK_NAMES) for a in frame["attack"]])
    ordered = ordered.sort_values(["_d", "model", "scale_label", "_m", "method_label", "_a", "attack_label", "seed"])
    for _, r in ordered.iterrows():
        page = pages.get(r["cell_id"])
        if page:
            link = f'<a href="{html.escape(rel(page, out))}">examples</a>'
        elif isinstance(r["examples_path"], str) and r["examples_path"]:
            link = f'<a href="{html.escape(rel(Path(r["examples_path"]), out))}">JSONL</a>'
        else:
            link = "—"
        record = f'<a href="{html.escape(rel(Path(r["record_path"]), out))}">{html.escape(r["cell_id"])}</a>'
        texts = (display(r["dataset"], DATASET_NAMES), display(r["model"], MODEL_NAMES),
                 method_display(r["method"], r["method_overrides"]), attack_display(r["attack_label"]))
        nums = [(r["clean_accuracy"]), (r["accuracy_under_attack"])]
        rows.append(f'<tr id="cell-{html.escape(r["cell_id"])}">' + "".join(f"<td class=t>{html.escape(str(v))}</td>" for v in texts)
                    + f'<td data-value="{int(r["seed"])}">{int(r["seed"])}</td>'
                    + f"<td class='t scale'>{scale_html(r['scale_label'])}</td>"
                    + "".join("<td>—</td>" if pd.isna(v) else f'<td data-value="{v:.6g}">{_pct(v)}</td>' for v in nums)
                    + f"<td class=t>{link}</td><td class=t>{record}</td></tr>")
    rows.append("</tbody></table></div>")
    return "\n".join(rows)


def copy_assets(out: Path) -> None:
    """The stylesheet and script next to ``index.html``."""
    for name in ASSETS:
        shutil.copyfile(STATIC / name, out / name)


def write_html_report(sections: list[tuple[str, list[Table]]], messages: list[str], figures: list["FigureFile"],
                      frame: pd.DataFrame, results: Path, out: Path, paper: "Paper | None" = None,
                      example_pages: bool = True) -> Path:
    """``out/index.html`` (leaderboard, tables, figures, cells) and, with ``example_pages``, ``out/examples/``
    pages (without, the cells table links each examples JSONL); ``paper``: the paper's numbers, offered beside
    ours in the leaderboard."""
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    pages = {}
    for _, row in frame.iterrows() if example_pages else ():
        page = write_examples_page(row, out)
        if page:
            pages[row["cell_id"]] = page
    attacks, entries = leaderboard(frame, paper)
    board = leaderboard_html(attacks, entries,
                             lambda cid: rel(pages[cid], out) if cid in pages else f"#cell-{cid}",
                             lambda cid: f"#cell-{cid}", with_paper=paper is not None)
    body = ["<h1>rift-bench report</h1>",
            f"<p class=meta>{len(frame)} record(s) from <code>{html.escape(str(results))}</code>. Every number below "
            "comes from these records; — marks a cell that was not run.</p>"]
    body += ['<h2 id="leaderboard-section">Leaderboard: accuracy under attack</h2>', board]
    if messages:
        body.append('<h2 id="notes">Notes on these records</h2>')
        body += [f"<p class=msg>{html.escape(m)}</p>" for m in messages]
    toc = ['<li><a href="#leaderboard-section">Leaderboard</a></li>']
    toc += ['<li><a href="#notes">Notes on these records</a></li>'] if messages else []
    toc += [f'<li><a href="#s{i}">{html.escape(title)}</a></li>' for i, (title, _) in enumerate(sections)]
    toc += ['<li><a href="#figures">Figures</a></li>', '<li><a href="#cells-section">Cells and adversarial examples</a></li>']
    body.insert(2, "<nav><ul>" + "".join(toc) + "</ul></nav>")
    for i, (title, tables) in enumerate(sections):
        body.append(f'<h2 id="s{i}">{html.escape(title)}</h2>')
        body += [to_html(t) for t in tables] or ["<p>No results for this section.</p>"]
    body.append('<h2 id="figures">Figures</h2>')
    if not figures:
        body.append("<p>No figures: no records.</p>")
    for f in figures:
        body.append(f'<figure><a href="{html.escape(rel(f.pdf, out))}"><img src="{html.escape(rel(f.png, out))}" '
                    f'alt="{html.escape(f.title)}"></a><figcaption>{html.escape(f.title)} '
                    f'(<a href="{html.escape(rel(f.pdf, out))}">PDF</a>)</figcaption></figure>')
    body.append('<h2 id="cells-section">Cells and adversarial examples</h2>')
    body.append(_cells_table(frame, pages, out) if not frame.empty else "<p>No records.</p>")
    index = out / "index.html"
    atomic_write_text(index, _page("rift-bench report", "\n".join(body)))
    return index
