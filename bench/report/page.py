"""The HTML report: every table and figure on one page, and a page per cell with its adversarial examples."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from bench.report.labels import ATTACK_NAMES, DATASET_NAMES, METHOD_NAMES, MODEL_NAMES, display, order_key
from bench.report.render import to_html
from bench.report.table import Table
from bench.store import atomic_write_text, read_jsonl

if TYPE_CHECKING:
    from bench.report.figures import FigureFile

# The attacks' word definition (attacks/text.py: runs of ASCII letters with inner apostrophes); a change's
# "index" counts these words in the attacked field.
WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; color: #222; line-height: 1.4; }
h1, h2, h3 { font-weight: 600; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0 .3em; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: .4em; }
th, td { padding: .25em .7em; text-align: right; } thead th { border-bottom: 2px solid #444; }
tbody th { text-align: left; font-weight: normal; } table { border-top: 2px solid #444; border-bottom: 2px solid #444; }
tr.block th { text-align: left; font-style: italic; border-top: 1px solid #999; background: #f4f4f4; }
td.missing { color: #999; } .n { color: #777; font-size: 85%; } .notes { color: #555; font-size: 90%; max-width: 60em; }
figure { display: inline-block; margin: 1em 1em 1em 0; } figure img { width: 34em; border: 1px solid #ddd; }
figcaption { font-size: 90%; color: #444; max-width: 38em; }
del { background: #fdd; text-decoration: line-through; } ins { background: #cfc; text-decoration: none; font-weight: 600; }
.ex { border-top: 1px solid #ddd; padding: .6em 0; } .status-success { color: #b00; } .status-failed { color: #070; }
.status-skipped { color: #777; } .meta { color: #555; font-size: 90%; } .msg { background: #fff8dc; padding: .5em; }
"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n<title>{html.escape(title)}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def _marked(text: str, changes: list[dict], tag: str, key: str) -> str:
    """``text`` with the words at the changes' indices wrapped in ``<tag>`` (showing ``change[key]``)."""
    spans = [m.span() for m in WORD_RE.finditer(text)]
    by_index = {int(c["index"]): c for c in changes}
    out, last = [], 0
    for i, (start, end) in enumerate(spans):
        if i in by_index:
            out.append(html.escape(text[last:start]))
            word = text[start:end] if tag == "del" else _match_case(text[start:end], str(by_index[i][key]))
            out.append(f"<{tag}>{html.escape(word)}</{tag}>")
            last = end
    out.append(html.escape(text[last:]))
    return "".join(out)


def _match_case(template: str, word: str) -> str:
    if len(template) > 1 and template.isupper():
        return word.upper()
    return word[:1].upper() + word[1:] if template[:1].isupper() else word


def _field(value, index: int) -> str:
    return value[index] if isinstance(value, list) else value


def example_html(row: dict, field_index: int) -> str:
    """One attacked example: status, predictions, the original with removed words and the adversarial text."""
    original, adversarial = _field(row["original"], field_index), _field(row["adversarial"], field_index)
    changes = row.get("changes") or []
    status = row.get("status", "?")
    parts = [f'<div class=ex id="{html.escape(str(row.get("uid")))}">',
             f'<div class=meta><b>{html.escape(str(row.get("uid")))}</b> · label {row.get("label")} · '
             f'<span class="status-{html.escape(status)}">{html.escape(status)}</span> · prediction '
             f'{row.get("original_pred")} → {row.get("final_pred")} · {row.get("words_changed", 0)} of '
             f'{row.get("n_words", 0)} words changed · {row.get("queries", 0)} queries'
             + (f' · {html.escape(row["reason"])}' if row.get("reason") else "") + "</div>"]
    if isinstance(row["original"], list) and len(row["original"]) > 1:
        other = 1 - field_index
        parts.append(f"<div><i>{'premise' if other == 0 else 'other field'} (unchanged):</i> "
                     f"{html.escape(str(row['original'][other]))}</div>")
    if changes and status != "skipped":
        words = WORD_RE.findall(original)
        # word substitutions that line up with the original's words are marked in place; any other kind of edit
        # (e.g. an inserted sentence) shows the stored texts as they are
        in_place = all(isinstance(c.get("index"), int) and 0 <= c["index"] < len(words)
                       and words[c["index"]].lower() == str(c.get("original", "")).lower()
                       and "substitute" in c for c in changes)
        if in_place:
            parts.append(f"<div><i>original:</i> {_marked(original, changes, 'del', 'original')}</div>")
            parts.append(f"<div><i>adversarial:</i> {_marked(original, changes, 'ins', 'substitute')}</div>")
            listed = ", ".join(f"{html.escape(str(c['original']))} → {html.escape(str(c['substitute']))}"
                               for c in changes)
            parts.append(f"<div class=meta>substitutions: {listed}</div>")
        else:
            parts.append(f"<div><i>original:</i> {html.escape(original)}</div>")
            parts.append(f"<div><i>adversarial:</i> {html.escape(adversarial)}</div>")
            parts.append(f"<div class=meta>changes: {html.escape(json.dumps(changes, ensure_ascii=False))}</div>")
    else:
        parts.append(f"<div><i>text:</i> {html.escape(original)}</div>")
    parts.append("</div>")
    return "\n".join(parts)


def write_examples_page(row: pd.Series, out: Path) -> Path | None:
    """``out/examples/<cell_id>.html`` for one record (None when its examples file is missing)."""
    if not row["examples_path"]:
        return None
    record = json.loads(Path(row["record_path"]).read_text(encoding="utf-8"))
    field_index = 1 if record.get("attack", {}).get("field") == "text_pair" else 0
    rows = read_jsonl(Path(row["examples_path"]))
    order = {"success": 0, "failed": 1, "skipped": 2}
    rows.sort(key=lambda r: (order.get(r.get("status"), 3), str(r.get("uid"))))
    path = out / "examples" / f"{row['cell_id']}.html"
    title = (f"{display(row['dataset'], DATASET_NAMES)} · {display(row['model'], MODEL_NAMES)} · "
             f"{row['method_label']} · seed {row['seed']} · {row['attack_label']} · {row['scale_label']}")
    counts = pd.Series([r.get("status") for r in rows]).value_counts().to_dict()
    body = [f"<p><a href=../index.html>← report</a></p><h1>{html.escape(title)}</h1>",
            f"<p class=meta>cell {html.escape(row['cell_id'])} · "
            + " · ".join(f"{v} {html.escape(str(k))}" for k, v in sorted(counts.items()))
            + f" · <a href=\"{html.escape(_rel(Path(row['record_path']), path.parent))}\">record (JSON)</a>"
            + f" · <a href=\"{html.escape(_rel(Path(row['examples_path']), path.parent))}\">examples (JSONL)</a></p>"]
    body += [example_html(r, field_index) for r in rows]
    atomic_write_text(path, _page(title, "\n".join(body)))
    return path


def _cells_table(frame: pd.DataFrame, pages: dict[str, Path], out: Path) -> str:
    rows = ["<table id=cells><caption>Every cell (one record each)</caption><thead><tr>"
            + "".join(f"<th>{h}</th>" for h in ("Dataset", "Model", "Method", "Attack", "Seed", "Scale", "Clean (%)",
                                                  "Under attack (%)", "Examples", "Record"))
            + "</tr></thead><tbody>"]
    ordered = frame.assign(_d=[order_key(d, DATASET_NAMES) for d in frame["dataset"]],
                           _m=[order_key(m, METHOD_NAMES) for m in frame["method"]],
                           _a=[order_key(a, ATTACK_NAMES) for a in frame["attack"]])
    ordered = ordered.sort_values(["_d", "model", "scale_label", "_m", "method_label", "_a", "attack_label", "seed"])
    for _, r in ordered.iterrows():
        def pct(v):
            return "—" if pd.isna(v) else f"{100 * v:.1f}"
        page = pages.get(r["cell_id"])
        link = f'<a href="{html.escape(_rel(page, out))}">adversarial examples</a>' if page else "—"
        record = f'<a href="{html.escape(_rel(Path(r["record_path"]), out))}">{html.escape(r["cell_id"])}</a>'
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            display(r["dataset"], DATASET_NAMES), display(r["model"], MODEL_NAMES), r["method_label"],
            r["attack_label"], r["seed"], r["scale_label"], pct(r["clean_accuracy"]), pct(r["accuracy_under_attack"])))
            + f"<td>{link}</td><td>{record}</td></tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def write_html_report(sections: list[tuple[str, list[Table]]], messages: list[str], figures: list["FigureFile"],
                      frame: pd.DataFrame, results: Path, out: Path) -> Path:
    """``out/index.html`` with all tables and figures, and ``out/examples/`` pages linked from the cell list."""
    out.mkdir(parents=True, exist_ok=True)
    pages = {}
    for _, row in frame.iterrows():
        page = write_examples_page(row, out)
        if page:
            pages[row["cell_id"]] = page
    body = ["<h1>rift-bench report</h1>",
            f"<p class=meta>{len(frame)} record(s) from <code>{html.escape(str(results))}</code>. Every number below "
            "comes from these records; — marks a cell that was not run.</p>"]
    toc = [f'<li><a href="#s{i}">{html.escape(title)}</a></li>' for i, (title, _) in enumerate(sections)]
    toc += ['<li><a href="#figures">Figures</a></li>', '<li><a href="#cells">Cells and adversarial examples</a></li>']
    body.append("<ul>" + "".join(toc) + "</ul>")
    body += [f"<p class=msg>{html.escape(m)}</p>" for m in messages]
    for i, (title, tables) in enumerate(sections):
        body.append(f'<h2 id="s{i}">{html.escape(title)}</h2>')
        body += [to_html(t) for t in tables] or ["<p>No results for this section.</p>"]
    body.append('<h2 id="figures">Figures</h2>')
    if not figures:
        body.append("<p>No figures: no records.</p>")
    for f in figures:
        body.append(f'<figure><a href="{html.escape(_rel(f.pdf, out))}"><img src="{html.escape(_rel(f.png, out))}" '
                    f'alt="{html.escape(f.title)}"></a><figcaption>{html.escape(f.title)} '
                    f'(<a href="{html.escape(_rel(f.pdf, out))}">PDF</a>)</figcaption></figure>')
    body.append('<h2 id="cells">Cells and adversarial examples</h2>')
    body.append(_cells_table(frame, pages, out) if not frame.empty else "<p>No records.</p>")
    index = out / "index.html"
    atomic_write_text(index, _page("rift-bench report", "\n".join(body)))
    return index
