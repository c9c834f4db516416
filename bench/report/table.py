"""A format-neutral table: titled blocks of labelled rows of cells. Renderers live in :mod:`bench.report.render`."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

MISSING = "—"


@dataclass
class Cell:
    """One table cell. ``mean`` (and ``std``, ``n`` when known) are set for numbers; ``text`` is always set."""

    text: str = MISSING
    mean: float | None = None
    std: float | None = None
    n: int | None = None  # the number of seeds behind a mean (None: not ours / unknown)
    digits: int = 1
    bold: bool = False
    #: an estimate with a confidence interval (paired differences): (low, high) and the minimum detectable effect,
    #: shown instead of ± std
    interval: tuple[float, float] | None = None
    mde: float | None = None
    #: a second interval of the same estimate (paired differences: the t interval over seeds)
    seed_interval: tuple[float, float] | None = None

    @property
    def is_stat(self) -> bool:
        return self.mean is not None


@dataclass
class Block:
    title: str | None
    rows: list[tuple[str, list[Cell]]] = field(default_factory=list)


@dataclass
class Table:
    key: str  # a file-name-safe id, e.g. "main-sst2-smoke"
    title: str
    columns: list[str]  # the headers of the value columns
    blocks: list[Block]
    row_header: str = "Method"
    notes: list[str] = field(default_factory=list)
    #: header groups above the value columns: (label, span) pairs covering every column (optional)
    column_groups: list[tuple[str, int]] = field(default_factory=list)


def stat(values: pd.Series | list, scale: float = 1.0, digits: int = 1) -> Cell:
    """Mean ± sample std over seeds, with the count; "—" when there is no value."""
    series = pd.Series(values, dtype="float64").dropna() * scale
    if series.empty:
        return Cell()
    mean = float(series.mean())
    if len(series) == 1:
        return Cell(f"{mean:.{digits}f} (n=1)", mean, None, 1, digits)
    std = float(series.std(ddof=1))
    return Cell(f"{mean:.{digits}f} ± {std:.{digits}f} (n={len(series)})", mean, std, len(series), digits)


def text(value: str) -> Cell:
    return Cell(text=value)


def bold_best(block: Block, columns: list[int] | None = None) -> None:
    """Bold the highest mean of each column within the block (ties at display precision all bold).

    A column with fewer than two values, or with all values equal, has no best and stays plain.
    """
    if not block.rows:
        return
    n_cols = len(block.rows[0][1])
    for c in columns if columns is not None else range(n_cols):
        cells = [cells[c] for _, cells in block.rows if cells[c].is_stat]
        if len(cells) < 2:
            continue
        shown = [round(x.mean, x.digits) for x in cells]
        best = max(shown)
        if min(shown) == best:
            continue
        for x in cells:
            x.bold = round(x.mean, x.digits) == best
