"""Cells of the evaluation grid and their ids.

A cell is (dataset, model, method, seed, attack, scale + overrides). Resolving it applies the
overrides to the scale preset, the method's hyperparameters and the attack's settings; its id is a
hash of that full resolved configuration, so two spellings of the same experiment share one id.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from bench.config import Scale, apply_overrides, get_scale, resolve_max_length, split_overrides, validate_scale
from bench.errors import ConfigError
from bench.registry import ATTACKS, DATASETS, METHODS
from bench.store import config_hash


@dataclass(frozen=True)
class Cell:
    dataset: str
    model: str
    method: str
    seed: int
    attack: str
    scale: str = "smoke"
    overrides: tuple[tuple[str, Any], ...] = ()

    def label(self) -> str:
        return f"{self.dataset} · {self.model} · {self.method} · seed {self.seed} · {self.attack} · {self.scale}"


@dataclass
class ResolvedCell:
    cell: Cell
    scale: Scale
    max_length: int
    method_cls: type
    hparams: Any
    attack_cls: type
    settings: Any
    config: dict[str, Any]
    cell_id: str

    @property
    def attack_field(self) -> int:
        return 1 if DATASETS.get(self.cell.dataset).attack_field == "text_pair" else 0


def resolve_cell(cell: Cell) -> ResolvedCell:
    from bench.models import spec_for

    DATASETS.get(cell.dataset)  # unknown names fail here, with "did you mean"
    spec_for(cell.model)
    if cell.seed < 0:
        raise ConfigError(f"seed must be ≥ 0, got {cell.seed}")
    groups = split_overrides(cell.overrides)
    scale = apply_overrides(get_scale(cell.scale), groups["scale"], f"scale {cell.scale!r}")
    validate_scale(scale)
    method_cls = METHODS.get(cell.method)
    hparams = apply_overrides(method_cls.Hparams(), groups["method"], f"method {cell.method!r}")
    attack_cls = ATTACKS.get(cell.attack)
    settings = apply_overrides(attack_cls.Settings(), groups["attack"], f"attack {cell.attack!r}")
    max_length = resolve_max_length(cell.scale, scale, cell.dataset)
    config = {
        "dataset": cell.dataset, "model": cell.model, "method": cell.method, "hparams": asdict(hparams),
        "attack": cell.attack, "attack_settings": asdict(settings), "seed": cell.seed, "scale": cell.scale,
        "scale_settings": asdict(scale), "max_length": max_length,
    }
    return ResolvedCell(cell, scale, max_length, method_cls, hparams, attack_cls, settings, config, config_hash(config))


def _expand(names: Iterable[str], registry) -> list[str]:
    out: list[str] = []
    for name in names:
        out.extend(registry.names() if name == "all" else [name])
    return list(dict.fromkeys(out))


def expand_grid(datasets: Iterable[str], models: Iterable[str], methods: Iterable[str], attacks: Iterable[str],
                seeds: Iterable[int], scale: str, overrides: Iterable[tuple[str, Any]] = ()) -> list[Cell]:
    """The cross product, ordered so that cells sharing a trained model are adjacent (train once, attack many)."""
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("no seeds given (use e.g. --seeds 0 1 2)")
    ov = tuple(overrides)
    lists = [_expand(datasets, DATASETS), list(dict.fromkeys(models)), _expand(methods, METHODS), seeds,
             _expand(attacks, ATTACKS)]
    for what, values in zip(("datasets", "models", "methods", "seeds", "attacks"), lists):
        if not values:
            raise ConfigError(f"no {what} given")
    return [Cell(d, m, me, s, a, scale, ov) for d, m, me, s, a in itertools.product(*lists)]
