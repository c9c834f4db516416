"""Display names and orders of methods, attacks, models and datasets.

Methods and attacks are named by their registration (``display=…, rank=…, beyond_paper=…, ablation=…``), read
from the source of ``methods/`` and ``attacks/`` without importing them (the report loads no torch). Names that
no registration displays (runtime ones such as ``ta:*``, or records of methods removed since) display as
themselves and sort after the known ones. Models and datasets are named by their registration too
(:mod:`bench.core.models`, :mod:`bench.core.data`, imported: they load no torch).
"""

from __future__ import annotations

from typing import Any, Iterable

from bench.core.registry import ATTACKS, DATASETS, METHODS, MODELS, UNRANKED


def _table_order(registry) -> list:
    """Ranked registrations in rank order, then the rest alphabetically."""
    return sorted(registry.catalog(), key=lambda info: (info.rank, "" if info.rank < UNRANKED else info.name))


_METHODS = _table_order(METHODS)
_ATTACKS = _table_order(ATTACKS)

METHOD_NAMES = {info.name: info.display for info in _METHODS}
ATTACK_NAMES = {info.name: info.display for info in _ATTACKS}
#: models and datasets by their registration (bench.core.models, bench.core.data: light modules, no torch)
MODEL_NAMES = {entry.name: entry.display for entry in MODELS.entries()}
DATASET_NAMES = {entry.name: entry.display for entry in DATASETS.entries()}
#: symbols of hyperparameter names in labels (the names are the methods' ``Hparams`` fields)
HPARAM_SYMBOLS = {"beta": "β", "alpha": "α", "gamma": "γ", "lam": "λ"}

#: methods and attacks not in the paper (Dong et al. 2021); the main tables mark them with BEYOND_MARK
BEYOND_PAPER_METHODS = tuple(info.name for info in _METHODS if info.beyond_paper)
BEYOND_PAPER_ATTACKS = tuple(info.name for info in _ATTACKS if info.beyond_paper)
BEYOND_MARK = "†"

#: where each method or attack beyond the paper comes from, and the footnotes registrations ask for
REFERENCES = {info.name: info.reference for info in (*_METHODS, *_ATTACKS) if info.reference}
ATTACK_NOTES = {info.name: info.note for info in _ATTACKS if info.note}

#: methods of the paper's Table 3 (the I(S;T|Y) vs I(S;T) ablation), kept out of the main tables
ABLATION_METHODS = tuple(info.name for info in _METHODS if info.ablation)


def display(name: str, names: dict[str, str]) -> str:
    return names.get(name, name)


def attack_display(attack_label: str) -> str:
    """An attack label (``pwws (substitutions=hull)``) with the attack's display name."""
    name, _, rest = attack_label.partition(" (")
    return display(name, ATTACK_NAMES) + (f" ({rest}" if rest else "")


def order_key(name: str, names: dict[str, str]) -> tuple[int, str]:
    """Known names in the paper's order first, then the rest alphabetically."""
    known = list(names)
    return (known.index(name), "") if name in known else (len(known), name)


def sort_names(names: Iterable[str], table: dict[str, str]) -> list[str]:
    return sorted(set(names), key=lambda n: order_key(n, table))


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)


def overrides_label(overrides: Iterable[tuple[str, Any]], symbols: bool = False) -> str:
    """``[("beta", 5.0)]`` → ``"beta=5"`` (or ``"β=5"`` with ``symbols``)."""
    parts = []
    for key, value in sorted(overrides):
        name = HPARAM_SYMBOLS.get(key, key) if symbols else key
        parts.append(f"{name}={format_value(value)}")
    return ", ".join(parts)


def with_variant(base: str, overrides: Iterable[tuple[str, Any]], symbols: bool = False) -> str:
    label = overrides_label(overrides, symbols)
    return f"{base} ({label})" if label else base


def split_cell_overrides(overrides: Iterable[Iterable[Any]]) -> dict[str, list[tuple[str, Any]]]:
    """A record's ``cell.overrides`` grouped as the grid groups them (:func:`bench.core.config.group_overrides`)."""
    from bench.core.config import group_overrides

    return group_overrides(overrides, strict=False)
