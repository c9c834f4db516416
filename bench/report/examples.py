"""A cell's adversarial examples as a page: original vs adversarial text with the changed words marked, the
model's probabilities before and after, the USE similarity when recorded; ``report.js`` filters and sorts them.

Every piece of text from a record is HTML-escaped: adversarial text may contain markup."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pandas as pd

from bench.report.labels import DATASET_NAMES, MODEL_NAMES, display
from bench.report.tables import attack_display, method_display
from bench.core.record import CellRecord
from bench.core.store import read_example_lines

# The attacks' word definition (bench/core/text.py: runs of ASCII letters with inner apostrophes); a change's
# "index" counts these words in the attacked field.
WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
STATUS_ORDER = {"success": 0, "failed": 1, "unattackable": 2, "skipped": 3}
STATUS_HELP = {"success": "the attack flipped the prediction", "failed": "the prediction held",
               "unattackable": "the recipe had no edit it may make (not attacked)",
               "skipped": "misclassified before the attack (not attacked)"}


def rel(target: Path, start: Path) -> str:
    """``target`` relative to the folder ``start``, as a URL path."""
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def _marked(text: str, indices: set[int], tag: str) -> str:
    """``text`` escaped, with its words at ``indices`` wrapped in ``<tag>``."""
    out, last = [], 0
    for i, m in enumerate(WORD_RE.finditer(text)):
        if i in indices:
            out.append(html.escape(text[last:m.start()]) + f"<{tag}>{html.escape(m.group())}</{tag}>")
            last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _aligned(original: str, adversarial: str, changes: list[dict]) -> bool:
    """Whether every change is a word substitution at its index in both texts (so both can be marked in place)."""
    before, after = WORD_RE.findall(original), WORD_RE.findall(adversarial)
    return len(before) == len(after) and all(
        isinstance(c.get("index"), int) and 0 <= c["index"] < len(before) and "substitute" in c
        and before[c["index"]].lower() == str(c.get("original", "")).lower()
        and after[c["index"]].lower() == str(c["substitute"]).lower() for c in changes)


def _field(value, index: int) -> str:
    return value[index] if isinstance(value, list) else value


def _label(index, labels: tuple[str, ...]) -> str:
    if isinstance(index, int) and 0 <= index < len(labels):
        return f"{index} ({labels[index]})"
    return str(index)


def _probabilities(row: dict, labels: tuple[str, ...]) -> str:
    """A small table: per class, the probability before and after the attack, with bars."""
    before, after = row.get("original_probs"), row.get("final_probs")
    if not isinstance(before, list):
        return ""
    after = after if isinstance(after, list) and len(after) == len(before) else None
    rows = []
    for k, p in enumerate(before):
        name = html.escape(_label(k, labels))
        gold = " class=gold" if k == row.get("label") else ""
        cells = [f"<th{gold}>{name}</th>", _bar(p)]
        if after is not None:
            cells.append(_bar(after[k]))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "<tr><th>class</th><th>before</th>" + ("<th>after</th>" if after is not None else "") + "</tr>"
    return f"<table class=probs><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _bar(p) -> str:
    if not isinstance(p, (int, float)):
        return "<td>—</td>"
    return f'<td><span class=bar><span style="width:{100 * p:.1f}%"></span></span> {p:.3f}</td>'


def _number(value) -> str:
    """A ``data-*`` value for sorting ("" when unknown, which sorts last)."""
    return f"{value:.6g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def example_html(row: dict, field_index: int, labels: tuple[str, ...] = ()) -> str:
    """One attacked example: status, predictions and probabilities, the original with removed words and the
    adversarial text with the substitutes marked (other kinds of edit: the stored texts as they are)."""
    original, adversarial = _field(row["original"], field_index), _field(row["adversarial"], field_index)
    changes = row.get("changes") or []
    status = str(row.get("status", "?"))
    uid = html.escape(str(row.get("uid")))
    similarity = row.get("similarity")
    data = (f'data-status="{html.escape(status)}" data-words="{_number(row.get("words_changed"))}" '
            f'data-queries="{_number(row.get("queries"))}" data-similarity="{_number(similarity)}"')
    meta = [f"<b>{uid}</b>", f"gold {html.escape(_label(row.get('label'), labels))}",
            f'<span class="status status-{html.escape(status)}" title="{html.escape(STATUS_HELP.get(status, ""))}">'
            f"{html.escape(status)}</span>",
            f"prediction {html.escape(_label(row.get('original_pred'), labels))} → "
            f"{html.escape(_label(row.get('final_pred'), labels))}",
            f"{row.get('words_changed', 0)} of {row.get('n_words', 0)} words changed", f"{row.get('queries', 0)} queries"]
    if isinstance(similarity, (int, float)):
        meta.append(f"USE similarity {similarity:.3f}")
    if row.get("reason"):
        meta.append(html.escape(str(row["reason"])))
    parts = [f'<div class=ex id="{uid}" {data}>', "<div class=meta>" + " · ".join(meta) + "</div>",
             "<div class=exbody><div class=texts>"]
    if isinstance(row["original"], list) and len(row["original"]) > 1:
        other = 1 - field_index
        parts.append(f"<div><i>{'premise' if other == 0 else 'other field'} (unchanged):</i> "
                     f"{html.escape(str(row['original'][other]))}</div>")
    if changes and status != "skipped":
        # substitutions that line up with both texts' words are marked in place (the adversarial text is shown as
        # stored, with its own spelling and case); any other kind of edit (e.g. an inserted sentence) shows the
        # stored texts as they are
        if _aligned(original, adversarial, changes):
            indices = {int(c["index"]) for c in changes}
            parts.append(f"<div class=orig><i>original:</i> {_marked(original, indices, 'del')}</div>")
            parts.append(f"<div class=adv><i>adversarial:</i> {_marked(adversarial, indices, 'ins')}</div>")
            listed = ", ".join(f"{html.escape(str(c['original']))} → {html.escape(str(c['substitute']))}"
                               for c in changes)
            parts.append(f"<div class=meta>substitutions: {listed}</div>")
        else:
            parts.append(f"<div class=orig><i>original:</i> {html.escape(original)}</div>")
            parts.append(f"<div class=adv><i>adversarial:</i> {html.escape(adversarial)}</div>")
            parts.append(f"<div class=meta>changes: {html.escape(json.dumps(changes, ensure_ascii=False))}</div>")
    else:
        parts.append(f"<div class=orig><i>text:</i> {html.escape(original)}</div>")
    parts.append("</div>" + _probabilities(row, labels) + "</div></div>")
    return "\n".join(parts)


def _dataset_labels(dataset: str) -> tuple[str, ...]:
    """The dataset's class names for display (empty for a dataset this installation does not know)."""
    from bench.core.registry import DATASETS  # specs registered by bench.core.data, which imports no torch

    return tuple(DATASETS.get(dataset).labels) if dataset in DATASETS else ()


def _controls(counts: dict[str, int], has_similarity: bool) -> str:
    statuses = "".join(f'<option value="{s}">{s} ({counts[s]})</option>'
                       for s in sorted(counts, key=lambda s: STATUS_ORDER.get(s, 3)))
    keys = [("", "status, then id"), ("words", "words changed"), ("queries", "queries")]
    if has_similarity:
        keys.append(("similarity", "USE similarity"))
    sorts = "".join(f'<option value="{k}">{v}</option>' for k, v in keys)
    return ("<div class=controls>"
            f'<label>Show <select data-filter=status><option value="">all ({sum(counts.values())})</option>{statuses}'
            "</select></label> "
            f"<label>Sort by <select data-sort-key>{sorts}</select></label> "
            "<label><input type=checkbox data-sort-descending> descending</label> "
            "<span class=count data-count=examples></span></div>")


def examples_body(row: pd.Series, record: CellRecord, page_dir: Path, index_href: str, metrics_line: str) -> str:
    """The body of one cell's examples page (``row``: the cell's row in the results frame)."""
    field_index = 1 if record.attack.field == "text_pair" else 0
    labels = _dataset_labels(row["dataset"])
    rows = read_example_lines(Path(row["examples_path"]))
    rows.sort(key=lambda r: (STATUS_ORDER.get(r.get("status"), 3), str(r.get("uid"))))
    counts = pd.Series([str(r.get("status")) for r in rows], dtype=object).value_counts().to_dict()
    has_similarity = any(isinstance(r.get("similarity"), (int, float)) for r in rows)
    title = example_title(row)
    links = (f'<a href="{html.escape(rel(Path(row["record_path"]), page_dir))}">record (JSON)</a> · '
             f'<a href="{html.escape(rel(Path(row["examples_path"]), page_dir))}">examples (JSONL)</a>')
    body = [f'<p><a href="{html.escape(index_href)}">← leaderboard</a></p><h1>{html.escape(title)}</h1>',
            f"<p class=meta>cell {html.escape(str(row['cell_id']))} · {metrics_line} · {links}</p>",
            "<p class=meta>Removed words are <del>struck out</del>, their substitutes <ins>marked</ins>. "
            + " ".join(f"<b>{s}</b>: {h}." for s, h in STATUS_HELP.items())
            + " Class probabilities before and after the attack; the gold class in bold.</p>",
            _controls(counts, has_similarity), "<div id=examples>"]
    body += [example_html(r, field_index, labels) for r in rows]
    body.append("</div>")
    return "\n".join(body)


def example_title(row: pd.Series) -> str:
    return (f"{display(row['dataset'], DATASET_NAMES)} · {display(row['model'], MODEL_NAMES)} · "
            f"{method_display(row['method'], row['method_overrides'])} · seed {row['seed']} · {attack_display(row['attack_label'])} · {row['scale_label']}")
