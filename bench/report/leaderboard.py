"""The leaderboard: one row per (dataset, model, scale, method) with clean accuracy and accuracy under each
attack as mean ± std over seeds, every number linked to the cells behind it, and optionally the paper's numbers.

:func:`leaderboard` computes the rows from the results frame (no HTML); :func:`leaderboard_html` writes the
table that ``report.js`` sorts and filters.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import pandas as pd

from bench.report.labels import ATTACK_NAMES, DATASET_NAMES, METHOD_NAMES, MODEL_NAMES, display, order_key
from bench.report.table import MISSING, Cell, stat
from bench.report.tables import attack_display, clean_per_seed, method_display

if TYPE_CHECKING:
    from bench.report.paper import Paper


@dataclass
class Value:
    """One leaderboard number: the statistic over seeds and the cells behind it as (seed, cell_id) pairs."""

    cell: Cell
    cells: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Entry:
    dataset: str
    model: str
    scale_label: str
    method: str
    method_label: str
    method_shown: str
    train_splits: list[str]
    seeds: list[int]
    clean: Value
    attacks: dict[str, Value]  # attack_label → accuracy under that attack
    paper: dict[str, Cell] = field(default_factory=dict)  # attack_label → the paper's number (default configs only)
    paper_model: str | None = None


def _attack_order(frame: pd.DataFrame) -> list[str]:
    pairs = frame[["attack", "attack_label"]].drop_duplicates().itertuples(index=False)
    return [label for _, label in sorted(pairs, key=lambda p: (order_key(p[0], ATTACK_NAMES), p[1]))]


def _cells(group: pd.DataFrame) -> list[tuple[int, str]]:
    return sorted((int(s), str(c)) for s, c in zip(group["seed"], group["cell_id"]))


def _paper_numbers(paper: "Paper", dataset: str, model: str, method: str) -> tuple[str, dict[str, Cell]]:
    """The paper's accuracy under attack for our (dataset, model, method), keyed by attack name (its model: ours
    when the paper ran it, else the setting's nearest model, as in :func:`bench.report.paper.compare_tables`)."""
    paper_model = model if model in paper.setting["models"] else paper.setting["nearest_model"]
    numbers = paper.numbers
    hits = numbers[(numbers["dataset"] == dataset) & (numbers["model"] == paper_model) & (numbers["method"] == method)]
    out = {}
    for _, row in hits.iterrows():
        std = None if pd.isna(row["std"]) else float(row["std"])
        label = f"{row['mean']:.1f}" + (f" ± {std:.1f}" if std is not None else "")
        out[str(row["attack"])] = Cell(label, float(row["mean"]), std, None, 1)
    return paper_model, out


def leaderboard(frame: pd.DataFrame, paper: "Paper | None" = None) -> tuple[list[str], list[Entry]]:
    """The attack columns (attack labels, in the paper's order) and one entry per (dataset, model, scale, method)."""
    frame = frame[frame["accuracy_under_attack"].notna()] if not frame.empty else frame
    if frame.empty:
        return [], []
    attacks = _attack_order(frame)
    entries = []
    for (dataset, model, scale, label), g in frame.groupby(["dataset", "model", "scale_label", "method_label"]):
        first = g.iloc[0]
        clean_cells = [(int(s), str(c)) for s, c in g.sort_values("attack_label").groupby("seed")["cell_id"].first().items()]
        values = {a: Value(stat(g.loc[g["attack_label"] == a, "accuracy_under_attack"], 100.0),
                           _cells(g[g["attack_label"] == a])) for a in attacks}
        entry = Entry(dataset, model, scale, first["method"], label, method_display(first["method"], first["method_overrides"]),
                      sorted(set(g["train_split"].dropna())), sorted(int(s) for s in g["seed"].unique()),
                      Value(stat(clean_per_seed(g), 100.0), clean_cells), values)
        if paper is not None and label == first["method"]:  # only a method's default configuration is the paper's
            entry.paper_model, by_attack = _paper_numbers(paper, dataset, model, first["method"])
            # an attack label with overrides is a variant, not the paper's attack
            entry.paper = {a: by_attack[a] for a in attacks if a in by_attack}
        entries.append(entry)
    entries.sort(key=lambda e: (order_key(e.dataset, DATASET_NAMES), order_key(e.model, MODEL_NAMES), e.scale_label,
                                order_key(e.method, METHOD_NAMES), e.method_label != e.method, e.method_label))
    return attacks, entries


# ---------------------------------------------------------------- HTML

def _number(cell: Cell) -> str:
    if not cell.is_stat:
        return MISSING
    return f"{cell.mean:.{cell.digits}f}" + (f" ± {cell.std:.{cell.digits}f}" if cell.std is not None else "")


def _value_td(value: Value, href: Callable[[str], str], attrs: str = "") -> str:
    cell = value.cell
    if not cell.is_stat:
        return f"<td class=missing{attrs}>{MISSING}</td>"
    links = " ".join(f'<a href="{html.escape(href(cid))}" title="seed {seed}: cell {html.escape(cid)}">s{seed}</a>'
                     for seed, cid in value.cells)
    n = f'<span title="number of seeds">n={cell.n}</span>' if cell.n else ""
    return (f'<td data-value="{cell.mean:.6g}"{attrs}><span class=num>{html.escape(_number(cell))}</span>'
            f"<span class=cells>{n} {links}</span></td>")


def scale_html(label: str) -> str:
    """A scale label as its preset name over its overrides in small print (``smoke (n_test=32)``)."""
    name, _, rest = label.partition(" (")
    return html.escape(name) + (f"<br><span class=n>{html.escape(rest.rstrip(')'))}</span>" if rest else "")


def _options(name: str, label: str, values: list[tuple[str, str]]) -> str:
    opts = "".join(f'<option value="{html.escape(v)}">{html.escape(shown)}</option>' for v, shown in values)
    return (f'<label>{html.escape(label)} <select data-filter="{name}"><option value="">all</option>{opts}'
            "</select></label>")


def leaderboard_html(attacks: list[str], entries: list[Entry], example_href: Callable[[str], str],
                     cell_href: Callable[[str], str], with_paper: bool) -> str:
    """The leaderboard table with its filters (and the paper toggle when ``with_paper``).

    ``example_href`` maps a cell id to its examples page, ``cell_href`` to its row in the list of cells.
    """
    if not entries:
        return "<p>No results yet.</p>"
    def uniq(key, names):
        return sorted({(getattr(e, key), display(getattr(e, key), names)) for e in entries},
                      key=lambda p: order_key(p[0], names))
    methods = sorted({(e.method_label, e.method_shown, e.method) for e in entries},
                     key=lambda p: (order_key(p[2], METHOD_NAMES), p[0]))
    controls = [_options("dataset", "Dataset", uniq("dataset", DATASET_NAMES)),
                _options("model", "Model", uniq("model", MODEL_NAMES)),
                _options("method", "Method", [(m[0], m[1]) for m in methods]),
                _options("attack", "Attack", [(a, attack_display(a)) for a in attacks])]
    # a paper column only for the attacks the paper reports for some entry
    paper_attacks = {a for e in entries for a in e.paper} if with_paper else set()
    if with_paper:
        controls.append("<label><input type=checkbox data-toggle=paper> show the paper's numbers</label>")
    controls.append('<span class=count data-count=leaderboard></span>')
    head = ['<th data-type=text>Dataset</th>', '<th data-type=text>Model</th>', '<th data-type=text>Scale</th>',
            '<th data-type=text>Method</th>', '<th data-type=num title="training seeds">Seeds</th>',
            '<th data-type=num>Clean (%)</th>']
    for a in attacks:
        head.append(f'<th data-type=num data-attack="{html.escape(a)}">{html.escape(attack_display(a))} (%)</th>')
        if a in paper_attacks:
            head.append(f'<th data-type=num class=paper data-attack="{html.escape(a)}">'
                        f'{html.escape(attack_display(a))}, paper (%)</th>')
    rows = []
    for e in entries:
        split = "" if e.train_splits in ([], ["train"]) else \
            f' <span class=n title="the train split was not available offline">trained on {html.escape(", ".join(e.train_splits))}</span>'
        tds = [f"<td class=t>{html.escape(display(e.dataset, DATASET_NAMES))}{split}</td>",
               f"<td class=t>{html.escape(display(e.model, MODEL_NAMES))}</td>",
               f"<td class='t scale'>{scale_html(e.scale_label)}</td>", f"<td class=t>{html.escape(e.method_shown)}</td>",
               f'<td data-value="{len(e.seeds)}" title="seeds {", ".join(map(str, e.seeds))}">{len(e.seeds)}</td>',
               _value_td(e.clean, cell_href)]
        for a in attacks:
            attr = f' data-attack="{html.escape(a)}"'
            tds.append(_value_td(e.attacks[a], example_href, attr))
            if a in paper_attacks:
                p = e.paper.get(a)
                if p is None:
                    tds.append(f"<td class='paper missing'{attr}>{MISSING}</td>")
                else:
                    tds.append(f"<td class=paper{attr} data-value=\"{p.mean:.6g}\" title=\"the paper's "
                               f"{html.escape(display(e.paper_model or '', MODEL_NAMES))}\">{html.escape(p.text)}</td>")
        rows.append(f'<tr data-dataset="{html.escape(e.dataset)}" data-model="{html.escape(e.model)}" '
                    f'data-method="{html.escape(e.method_label)}">' + "".join(tds) + "</tr>")
    notes = ["Mean ± sample std over training seeds (n = seeds). Click a column header to sort (again to reverse). "
             "Each number links to the cells behind it: s0, s1, … open a seed's adversarial examples "
             "(clean accuracy: the seed's cells in the list below). — = not run."]
    if with_paper:
        notes.append("The paper's numbers (accuracy under attack, its models: the nearest to ours where it did not run "
                     "ours) are shown for a method's default configuration only. Not the paper's setting: see "
                     "“Ours vs the paper” for what differs.")
    return ("<div class=controls>" + " ".join(controls) + "</div>\n"
            "<div class=wide><table id=leaderboard class=sortable><thead><tr>" + "".join(head)
            + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>\n"
            + "".join(f"<p class=notes>{html.escape(n)}</p>" for n in notes))
