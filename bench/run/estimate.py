"""How long the cells left will take, from the wall times of finished cells like them (their records).

A cell left to run costs its model's training, once per model (cells that differ only in the attack share one,
:func:`bench.run.grid.train_group_of`), nothing when a finished cell already trained that model (it is in the model
cache, on the machine that ran it), plus its attack. Training costs the median ``training.train_seconds`` of the
finished models of the same kind (same configuration but the seed); an attack costs its test size × the median
seconds per example of finished cells of the same dataset, model, method and attack (else of any method). Where
nothing that close has finished (a new grid after its first cell), a cell is estimated from less similar ones and
counted as ``rough``: its attack at the median seconds per example of any attack on the same dataset and model,
its training at the median of any finished model of the same dataset, model and method, else of any method. A cell
with no finished cell of its dataset and model is counted as not estimated, never guessed. The times are those of
the machine and threads the finished cells ran on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from statistics import median
from typing import Iterable

from bench.run.grid import ResolvedCell, train_group_of
from bench.core.record import CellRecord


#: the `bench status` states of cells `bench run` would still run (a cell running elsewhere is not counted)
LEFT_STATES = ("pending", "interrupted", "failed", "stale", "corrupt")


@dataclass
class Estimate:
    seconds: float = 0.0  # for the cells that could be estimated
    models: int = 0  # models those cells still have to train
    cells: int = 0  # cells estimated
    unknown: int = 0  # cells with no finished cell like them
    basis: int = 0  # finished records the estimate comes from
    rough: int = 0  # cells estimated from less similar finished cells (another attack or method)

    def line(self, format_duration) -> str:
        """One line for people, e.g. "about 5.8h for 110 cells (20 models to train), from 65 finished cells"."""
        if not self.cells and not self.unknown:
            return "nothing left to run"
        text = (f"about {format_duration(self.seconds)} for {self.cells} cell(s) ({self.models} model(s) to train), "
                f"from the wall times of the {self.basis} finished cell(s)") if self.cells else "no estimate"
        if self.rough:
            text += f"; {self.rough} of them from less similar cells (another attack or method)"
        if self.unknown:
            text += f"; {self.unknown} cell(s) have no finished cell like them and are not counted"
        return text


def _attack_keys(config: dict) -> list[tuple]:
    """From the closest to the roughest: same attack and kind of model, same attack, any attack (same data and
    model)."""
    base = (config["dataset"], config["model"])
    return [(*base, config["attack"], train_group_of(config, with_seed=False)), (*base, config["attack"], "*"),
            (*base, "*", "*")]


def _train_keys(config: dict) -> list[tuple]:
    """From the closest to the roughest: the same kind of model, the same method, any method (same data, model)."""
    return [(train_group_of(config, with_seed=False),), (config["dataset"], config["model"], config["method"]),
            (config["dataset"], config["model"])]


def _lookup(table: dict[tuple, list[float]], keys: list[tuple]) -> tuple[float | None, bool]:
    """The median at the first key with times, and whether that was a rough (not the closest) key."""
    for rank, key in enumerate(keys):
        if table.get(key):
            return median(table[key]), rank > 0
    return None, False


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
            for key in _train_keys(config):
                train_times[key].append(float(seconds))
        if isinstance(record.metrics.seconds_per_example, (int, float)):
            for key in _attack_keys(config):
                per_example[key].append(record.metrics.seconds_per_example)
    result = Estimate(basis=basis)
    to_train: set[str] = set()
    for cell in pending:
        config = cell.config
        group = cell.train_group
        n_test = config["scale_settings"].get("n_test") or 0
        attack, rough = _lookup(per_example, _attack_keys(config))
        if attack is None:
            result.unknown += 1
            continue
        training = 0.0
        if group not in trained and group not in to_train:
            times, rough_training = _lookup(train_times, _train_keys(config))
            if times is None:
                result.unknown += 1
                continue
            training, rough = times, rough or rough_training
            to_train.add(group)
        result.seconds += training + n_test * attack
        result.cells += 1
        result.rough += rough
    result.models = len(to_train)
    return result

