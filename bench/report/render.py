"""Render :class:`~bench.report.table.Table` as LaTeX (booktabs), Markdown, CSV (tidy, one value per line) or HTML."""

from __future__ import annotations

import csv
import html
import io
import re

from bench.report.table import MISSING, Cell, Table

# ---------------------------------------------------------------- LaTeX

LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "|": r"\textbar{}", "<": r"\textless{}", ">": r"\textgreater{}"}
LATEX_UNICODE = {"—": "---", "–": "--", "±": r"$\pm$", "Δ": r"$\Delta$", "θ": r"$\theta$", "‖": r"$\|$",
                 "·": r"$\cdot$", "≤": r"$\le$", "≥": r"$\ge$", "×": r"$\times$", "→": r"$\to$", "₀": r"$_0$",
                 "β": r"$\beta$", "α": r"$\alpha$", "γ": r"$\gamma$", "λ": r"$\lambda$", "−": "-", "’": "'",
                 "“": "``", "”": "''", "…": r"\dots{}", "≈": r"$\approx$"}

LATEX_PREAMBLE = "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n" \
                 "\\usepackage[margin=2cm,landscape]{geometry}\n\\begin{document}\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and spell non-ASCII characters as LaTeX, so the output is plain ASCII."""
    out = []
    for ch in text:
        if ch in LATEX_SPECIAL:
            out.append(LATEX_SPECIAL[ch])
        elif ch in LATEX_UNICODE:
            out.append(LATEX_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")  # never emit a character pdflatex may not know
    return "".join(out)


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}"


def _latex_cell(cell: Cell) -> str:
    if cell.is_stat and cell.interval is not None:
        d, (low, high) = cell.digits, cell.interval
        number = rf"\mathbf{{{_signed(cell.mean, d)}}}" if cell.bold else _signed(cell.mean, d)
        mde = rf", MDE ${cell.mde:.{d}f}$" if cell.mde is not None else ""
        seeds = (rf", seeds $[{_signed(cell.seed_interval[0], d)}, {_signed(cell.seed_interval[1], d)}]$"
                 if cell.seed_interval is not None else "")
        return rf"${number}$\,{{\scriptsize$[{_signed(low, d)}, {_signed(high, d)}]${seeds}{mde}}}"
    if not cell.is_stat:
        body = latex_escape(cell.text) if cell.text != MISSING else "---"
        if re.fullmatch(r"[+-]\d+(\.\d+)?", cell.text):  # a signed difference: a real minus sign
            body = f"${cell.text}$"
        return rf"\textbf{{{body}}}" if cell.bold else body
    d = cell.digits
    number = f"{cell.mean:.{d}f}" + (rf" \pm {cell.std:.{d}f}" if cell.std is not None else "")
    number = rf"\mathbf{{{number}}}" if cell.bold else number
    count = rf"\,{{\scriptsize({cell.n})}}" if cell.n is not None else ""
    return rf"${number}${count}"


def to_latex(table: Table) -> str:
    """One ``table`` float with booktabs rules; block titles as italic spanning rows."""
    width = 1 + len(table.columns)
    lines = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(table.title)}}}",
             rf"\label{{tab:{table.key}}}", rf"\begin{{tabular}}{{l{'c' * len(table.columns)}}}", r"\toprule"]
    if table.column_groups:
        heads, rules, col = [""], [], 2
        for label, span in table.column_groups:
            heads.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}" if span > 1 else latex_escape(label))
            if label:
                rules.append(rf"\cmidrule(lr){{{col}-{col + span - 1}}}")
            col += span
        lines.append(" & ".join(heads) + r" \\")
        lines.append(" ".join(rules))
    lines.append(" & ".join(latex_escape(h) for h in [table.row_header, *table.columns]) + r" \\")
    for i, block in enumerate(table.blocks):
        lines.append(r"\midrule")
        if block.title:
            lines.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{{latex_escape(block.title)}}}}} \\")
        for label, cells in block.rows:
            lines.append(" & ".join([latex_escape(label), *(_latex_cell(c) for c in cells)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.notes:
        lines.append(r"\par\smallskip{\footnotesize " + " ".join(latex_escape(n) for n in table.notes) + r"\par}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def latex_document(tables: list[Table], extra: str = "") -> str:
    """A standalone, compilable document holding ``tables`` (and ``extra`` LaTeX after them)."""
    body = "\n".join(to_latex(t) for t in tables)
    return LATEX_PREAMBLE + body + extra + "\\end{document}\n"


# ---------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    return text.replace("|", r"\|")


def _md_cell(cell: Cell) -> str:
    return f"**{_md(cell.text)}**" if cell.bold and cell.text != MISSING else _md(cell.text)


def _headers(table: Table) -> list[str]:
    if not table.column_groups:
        return list(table.columns)
    groups = [label for label, span in table.column_groups for _ in range(span)]
    return [f"{g}: {c}" if g else c for g, c in zip(groups, table.columns)]


def to_markdown(table: Table) -> str:
    head = ["", table.row_header, *_headers(table)]
    lines = [f"### {_md(table.title)}", "", "| " + " | ".join(_md(h) for h in head) + " |",
             "|" + "|".join([":--", ":--"] + ["--:"] * len(table.columns)) + "|"]
    for block in table.blocks:
        for i, (label, cells) in enumerate(block.rows):
            first = f"*{_md(block.title)}*" if i == 0 and block.title else ""
            lines.append("| " + " | ".join([first, _md(label), *(_md_cell(c) for c in cells)]) + " |")
    if table.notes:
        lines += [""] + [f"_{_md(n)}_  " for n in table.notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- CSV

CSV_FIELDS = ["table", "title", "block", "row", "column", "text", "mean", "std", "n", "bold", "low", "high", "mde",
              "seed_low", "seed_high"]


def _g(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def to_csv(tables: list[Table]) -> str:
    """Tidy CSV: one line per table cell, with the numbers apart from their display text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for table in tables:
        headers = _headers(table)
        for block in table.blocks:
            for label, cells in block.rows:
                for header, cell in zip(headers, cells):
                    writer.writerow({"table": table.key, "title": table.title, "block": block.title or "", "row": label,
                                     "column": header, "text": cell.text,
                                     "mean": _g(cell.mean), "std": _g(cell.std),
                                     "n": "" if cell.n is None else cell.n, "bold": int(cell.bold),
                                     "low": _g(cell.interval[0]) if cell.interval else "",
                                     "high": _g(cell.interval[1]) if cell.interval else "", "mde": _g(cell.mde),
                                     "seed_low": _g(cell.seed_interval[0]) if cell.seed_interval else "",
                                     "seed_high": _g(cell.seed_interval[1]) if cell.seed_interval else ""})
    return buffer.getvalue()


# ---------------------------------------------------------------- HTML


def _html_cell(cell: Cell) -> str:
    body = html.escape(cell.text)
    if cell.is_stat and cell.interval is None:
        d = cell.digits
        number = f"{cell.mean:.{d}f}" + (f" ± {cell.std:.{d}f}" if cell.std is not None else "")
        body = html.escape(number) + (f" <span class=n>({cell.n})</span>" if cell.n is not None else "")
    cls = " class=missing" if cell.text == MISSING else ""
    return f"<td{cls}><strong>{body}</strong></td>" if cell.bold else f"<td{cls}>{body}</td>"


def to_html(table: Table) -> str:
    width = 1 + len(table.columns)
    out = [f'<table id="{html.escape(table.key)}">', f"<caption>{html.escape(table.title)}</caption>", "<thead>"]
    if table.column_groups:
        out.append("<tr><th></th>" + "".join(f'<th colspan="{span}">{html.escape(label)}</th>'
                                              for label, span in table.column_groups) + "</tr>")
    out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in [table.row_header, *table.columns]) + "</tr>")
    out.append("</thead>")
    for block in table.blocks:
        out.append("<tbody>")
        if block.title:
            out.append(f'<tr class=block><th colspan="{width}">{html.escape(block.title)}</th></tr>')
        for label, cells in block.rows:
            out.append(f"<tr><th>{html.escape(label)}</th>" + "".join(_html_cell(c) for c in cells) + "</tr>")
        out.append("</tbody>")
    out.append("</table>")
    if table.notes:
        out.append('<p class="notes">' + "<br>".join(html.escape(n) for n in table.notes) + "</p>")
    return "\n".join(out) + "\n"
