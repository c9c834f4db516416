"""How long the cells left will take, from the wall times of finished cells like them (their records).

A cell left to run costs its model's training, once per model (cells that differ only in the attack share one,
:func:`bench.grid.train_group_of`), nothing when a finished cell already trained that model (it is in the model
cache, on the machine that ran it), plus its attack. Training costs the median ``training.train_seconds`` of the
finished models of the same kind (same configuration but the seed); an attack costs its test size × the median
seconds per example of finished cells of the same dataset, model, method and attack (else of any method). A cell
with no finished cell like it is counted as not estimated, never guessed. The times are those of the machine and
threads the finished cells ran on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from statistics import median
from typing import Iterable

from bench.grid import ResolvedCell, train_group_of
from bench.record import CellRecord


#: the `bench status` states of cells `bench run` would still run (a cell running elsewhere is not counted)
LEFT_STATES = ("pending", "interrupted", "failed", "stale", "corrupt")


@dataclass
class Estimate:
    seconds: float = 0.0  # for the cells that could be estimated
    models: int = 0  # models those cells still have to train
    cells: int = 0  # cells estimated
    unknown: int = 0  # cells with no finished cell like them
    basis: int = 0  # finished records the estimate comes from

    def line(self, format_duration) -> str:
        """One line for people, e.g. "about 5.8h for 110 cells (20 models to train), from 65 finished cells"."""
        if not self.cells and not self.unknown:
            return "nothing left to run"
        text = (f"about {format_duration(self.seconds)} for {self.cells} cell(s) ({self.models} model(s) to train), "
                f"from the wall times of the {self.basis} finished cell(s)") if self.cells else "no estimate"
        if self.unknown:
            text += f"; {self.unknown} cell(s) have no finished cell like them and are not counted"
        return text


def _attack_key(config: dict, any_method: bool) -> tuple:
    return (config["dataset"], config["model"], config["attack"], train_group_of(config, with_seed=False)
            if not any_method else "*")


def estimate(pending: Iterable[ResolvedCell], finished: Iterable[CellRecord]) -> Estimate:
    """The :class:`Estimate` for the ``pending`` cells from the ``finished`` records."""
    train_times: dict[str, list[float]] = defaultdict(list)
    trained: set[str] = set()
    per_example: dict[tuple, list[float]] = defaultdict(list)
    basis = 0
    seen_models: set[str] = set()
    for record in finished:
        config = record.config.to_json()
        try:
            group = train_group_of(config)
        except (KeyError, TypeError):  # a record without a resolved configuration: nothing to learn from
            continue
        basis += 1
        trained.add(group)
        seconds = record.training.train_seconds  # of the run that trained the model, also in cells that loaded it
        if group not in seen_models and isinstance(seconds, (int, float)):
            seen_models.add(group)
            train_times[train_group_of(config, with_seed=False)].append(float(seconds))
        if isinstance(record.metrics.seconds_per_example, (int, float)):
            for any_method in (False, True):
                per_example[_attack_key(config, any_method)].append(record.metrics.seconds_per_example)
    result = Estimate(basis=basis)
    to_train: set[str] = set()
    for cell in pending:
        config = cell.config
        group = cell.train_group
        n_test = config["scale_settings"].get("n_test") or 0
        attack = per_example.get(_attack_key(config, False)) or per_example.get(_attack_key(config, True))
        training = 0.0
        if group not in trained and group not in to_train:
            times = train_times.get(train_group_of(config, with_seed=False))
            if not times:
                result.unknown += 1
                continue
            training = median(times)
        if not attack:
            result.unknown += 1
            continue
        if training:
            to_train.add(group)
        result.seconds += training + n_test * median(attack)
        result.cells += 1
    result.models = len(to_train)
    return result

