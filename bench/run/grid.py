"""Cells of the evaluation grid and their ids.

A cell is (dataset, model, method, seed, attack, scale + overrides). Resolving it applies the
overrides to the scale preset, the method's hyperparameters and the attack's settings; its id is a
hash of that full resolved configuration (settings added later, at the value earlier records had, left
out: :data:`bench.core.config.LATER_SETTINGS`), so two spellings of the same experiment share one id.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from bench.core.checks import check_scale_values, check_seed
from bench.core.config import (Scale, apply_overrides, get_scale, identity_config, resolve_batch_size, resolve_max_length,
                          split_overrides, training_settings, validate_scale)
from bench.core.errors import ConfigError
from bench.core.registry import ATTACKS, DATASETS, METHODS
from bench.core.store import config_hash

if TYPE_CHECKING:
    from bench.core.train import TrainSpec


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
        """One line naming the cell for people (logs, status): its names and, in brackets, its overrides."""
        settings = f" [{', '.join(f'{k}={v}' for k, v in self.overrides)}]" if self.overrides else ""
        return f"{self.dataset} · {self.model} · {self.method} · seed {self.seed} · {self.attack} · {self.scale}{settings}"


@dataclass(eq=False)
class ResolvedCell:
    """A cell with everything resolved: made once where a grid is read, then handed to the executor and the runner."""

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
    def attack_index(self) -> int:
        """Where the attacked text is in an example's inputs (:attr:`bench.core.data.DatasetSpec.attack_index`)."""
        return DATASETS.get(self.cell.dataset).attack_index

    def label(self) -> str:
        return self.cell.label()

    @property
    def train_group(self) -> str:
        """Cells with the same group share one fine-tuned model (:func:`train_group_of`)."""
        return train_group_of(self.config)

    def train_spec(self, model_fingerprint: str, pooling: str, provenance: dict[str, Any]) -> TrainSpec:
        """What names this cell's model in the model cache: its training configuration, as :attr:`train_group`
        reads it, plus what only the files tell, the pre-trained weights' ``model_fingerprint`` and the data's
        identity (from the task's ``provenance``). For the same files, two cells share a key exactly when they
        share a group (``tests/test_estimate.py`` checks it)."""
        from bench.core.train import TrainSpec

        data = {k: provenance[k] for k in ("train_split", "n_train", "n_dev", "data_seed", "identity")}
        return TrainSpec(self.cell.dataset, self.cell.model, model_fingerprint, pooling, self.cell.method,
                         asdict(self.hparams), self.cell.seed, self.scale, self.max_length, data)


def train_group_of(config: dict[str, Any], with_seed: bool = True) -> str:
    """The fine-tuned model a resolved configuration (a cell's, or a record's ``config``) uses: the configuration
    without the attack, its settings and the evaluation-only scale fields (:func:`bench.core.config.training_settings`).
    ``with_seed=False``: the kind of model, alike for every training seed."""
    drop = ("attack", "attack_settings") if with_seed else ("attack", "attack_settings", "seed")
    group = {k: v for k, v in identity_config(config).items() if k not in drop}
    group["scale_settings"] = training_settings(config.get("scale_settings") or {})
    return config_hash(group)


def resolve_cell(cell: Cell) -> ResolvedCell:
    from bench.core.models import spec_for

    DATASETS.get(cell.dataset)  # unknown names fail here, with "did you mean"
    spec_for(cell.model)
    if cell.seed < 0:
        raise ConfigError(f"seed must be ≥ 0, got {cell.seed}")
    check_seed("seed", cell.seed)
    groups = split_overrides(cell.overrides)
    scale = apply_overrides(get_scale(cell.scale), groups["scale"], f"scale {cell.scale!r}")
    validate_scale(scale)
    check_scale_values(scale)
    # the per-dataset batch size preset (batch_size=0) is resolved here, so records and the model key hold
    # the number actually used
    scale = replace(scale, batch_size=resolve_batch_size(cell.scale, scale, cell.dataset))
    method_cls = METHODS.get(cell.method)
    hparams = apply_overrides(method_cls.Hparams(), groups["method"], f"method {cell.method!r}")
    hparams = method_cls.resolve_hparams(hparams, DATASETS.get(cell.dataset))  # task defaults: once, here
    method_cls.check_config(hparams, DATASETS.get(cell.dataset), scale.batch_size)
    attack_cls = ATTACKS.get(cell.attack)
    dataset = DATASETS.get(cell.dataset)
    if dataset.pair_field and not getattr(attack_cls, "supports_pairs", True):
        raise ConfigError(f"attack {cell.attack!r} handles single texts only and does not fit the pair task "
                          f"{cell.dataset!r}; choose another attack for it")
    settings = apply_overrides(attack_cls.Settings(), groups["attack"], f"attack {cell.attack!r}")
    max_length = resolve_max_length(cell.scale, scale, cell.dataset)
    config = {
        "dataset": cell.dataset, "model": cell.model, "method": cell.method, "hparams": asdict(hparams),
        "attack": cell.attack, "attack_settings": asdict(settings), "seed": cell.seed, "scale": cell.scale,
        "scale_settings": asdict(scale), "max_length": max_length,
    }
    return ResolvedCell(cell, scale, max_length, method_cls, hparams, attack_cls, settings, config,
                        config_hash(identity_config(config)))


def resolve_cells(cells: Iterable[Cell]) -> list[ResolvedCell]:
    """Every cell resolved (a bad name or value fails before any work); done once, where a grid is read."""
    return [resolve_cell(cell) for cell in cells]


def _expand(names: Iterable[str], registry) -> list[str]:
    out: list[str] = []
    for name in names:
        out.extend(registry.names() if name == "all" else [name])
    return list(dict.fromkeys(out))


Sweep = tuple[str, tuple[Any, ...]]


def parse_sweep(text: str) -> Sweep:
    """``"method.beta=1,5,10"`` → ``("method.beta", (1, 5, 10))``; each value parsed like a ``--set`` value."""
    from bench.core.config import parse_override

    key, sep, raw = text.partition("=")
    values = [v.strip() for v in raw.split(",")] if sep else []
    if not key.strip() or not values or any(not v for v in values):
        raise ConfigError(f"sweep {text!r} is not of the form key=v1,v2,... (e.g. method.beta=1,5,10)")
    parsed = tuple(parse_override(f"{key}={v}")[1] for v in values)
    if len(set(map(repr, parsed))) != len(parsed):
        raise ConfigError(f"sweep {text!r} repeats a value")
    return key.strip(), parsed


def _field_names(cls: type | None) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(cls)} if cls is not None and dataclasses.is_dataclass(cls) else set()


def _applies(key: str, method: str, attack: str | None) -> bool:
    """A ``method.x`` sweep applies to methods with hyperparameter x, ``attack.x`` to attacks with setting x,
    a scale field to every cell."""
    prefix, dot, rest = key.partition(".")
    if dot and prefix == "method":
        return rest in _field_names(METHODS.get(method).Hparams)
    if dot and prefix == "attack":
        return attack is not None and rest in _field_names(ATTACKS.get(attack).Settings)
    return True


def _combos(sweeps: list[Sweep]) -> list[tuple[tuple[str, Any], ...]]:
    return list(itertools.product(*[[(key, v) for v in values] for key, values in sweeps]))


def expand_grid(datasets: Iterable[str], models: Iterable[str], methods: Iterable[str], attacks: Iterable[str],
                seeds: Iterable[int], scale: str, overrides: Iterable[tuple[str, Any]] = (),
                sweeps: Iterable[Sweep] = ()) -> list[Cell]:
    """The cross product, ordered so that cells sharing a trained model are adjacent (train once, attack many).

    ``sweeps`` (``--sweep method.beta=1,5,10``) multiply the cells by each value: a ``method.x`` sweep only
    for the methods that have hyperparameter x (others keep one cell), ``attack.x`` likewise for attacks.
    """
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("no seeds given (use e.g. --seeds 0 1 2)")
    ov = tuple(overrides)
    lists = [_expand(datasets, DATASETS), list(dict.fromkeys(models)), _expand(methods, METHODS), seeds,
             _expand(attacks, ATTACKS)]
    for what, values in zip(("datasets", "models", "methods", "seeds", "attacks"), lists):
        if not values:
            raise ConfigError(f"no {what} given")
    sweeps = list(sweeps)
    fixed = {k for k, _ in ov}
    for key, _ in sweeps:
        if key in fixed:
            raise ConfigError(f"{key} is both set and swept; drop one of them")
        prefix = key.partition(".")[0] if "." in key else "scale"
        if prefix == "method" and not any(_applies(key, m, None) for m in lists[2]):
            raise ConfigError(f"sweep {key}: none of the methods {', '.join(lists[2])} has hyperparameter "
                              f"{key.partition('.')[2]!r} (see `bench list methods`)")
        if prefix == "attack" and not any(_applies(key, lists[2][0], a) for a in lists[4]):
            raise ConfigError(f"sweep {key}: none of the attacks {', '.join(lists[4])} has setting "
                              f"{key.partition('.')[2]!r} (see `bench list attacks`)")
    if len({k for k, _ in sweeps}) != len(sweeps):
        raise ConfigError("the same key is swept twice")
    train_sweeps = [s for s in sweeps if not s[0].startswith("attack.")]
    attack_sweeps = [s for s in sweeps if s[0].startswith("attack.")]
    cells = []
    for d, m, me, s in itertools.product(*lists[:4]):
        for train_combo in _combos([sw for sw in train_sweeps if _applies(sw[0], me, None)]):
            for a in lists[4]:
                for attack_combo in _combos([sw for sw in attack_sweeps if _applies(sw[0], me, a)]):
                    cells.append(Cell(d, m, me, s, a, scale, ov + train_combo + attack_combo))
    return cells


def parse_seeds(values: Iterable[Any]) -> list[int]:
    """Seeds as a grid file or the command line gives them (``[0, "1"]``) → ``[0, 1]``."""
    try:
        return [int(s) for s in values]
    except (TypeError, ValueError):
        raise ConfigError(f"seeds must be integers, got {values!r}") from None


GRID_KEYS = ("datasets", "models", "methods", "attacks", "seeds", "scale", "set", "sweep")


def cells_of_grids(grids: Iterable[dict[str, Any]], extra_set: Iterable[str] = (),
                   extra_sweeps: Iterable[str] = ()) -> list[ResolvedCell]:
    """The resolved cells of complete grid mappings (:data:`GRID_KEYS`), united in order: the one way a grid
    becomes cells, for ``bench run`` (after it fills in its defaults and command-line options) and ``bench regress``.
    ``extra_set`` / ``extra_sweeps``: ``--set`` / ``--sweep`` strings applied to every grid."""
    from bench.core.config import parse_override

    extra_set, extra_sweeps = list(extra_set), list(extra_sweeps)
    cells: list[Cell] = []
    for grid in grids:
        overrides = [parse_override(str(o)) for o in [*grid.get("set", []), *extra_set]]
        seeds = parse_seeds(grid["seeds"])
        sweeps = [parse_sweep(str(s)) for s in [*grid.get("sweep", []), *extra_sweeps]]
        cells += expand_grid(grid["datasets"], grid["models"], grid["methods"], grid["attacks"], seeds,
                             str(grid["scale"]), overrides, sweeps)
    return resolve_cells(dict.fromkeys(cells))


SELECT_KEYS = {"datasets": "dataset", "models": "model", "methods": "method", "attacks": "attack", "seeds": "seed",
               "scale": "scale"}
_SELECT_REGISTRIES = ("datasets", "methods", "attacks")  # the options that take `all`


def select_cells(cells: list[ResolvedCell], chosen: dict[str, list[Any] | str | None], source: str) -> list[ResolvedCell]:
    """The cells of a grid file that the command line names: ``--datasets snli --seeds 1 2`` keeps the grid's
    SNLI cells of seeds 1 and 2, each with the settings its part of the grid gives it; options left out (None)
    and ``all`` keep every value. A value no cell of the grid has is an error: these options select a grid's
    cells, they never add cells the grid does not list (a part's 100-example Genetic cells must not become
    100-example PWWS cells because ``--attacks pwws`` was given)."""
    for key, values in chosen.items():
        wanted = [values] if isinstance(values, str) else values
        if wanted is None or (key in _SELECT_REGISTRIES and "all" in wanted):
            continue
        field = SELECT_KEYS[key]
        if key == "seeds":
            wanted = parse_seeds(wanted)
        present = list(dict.fromkeys(getattr(rc.cell, field) for rc in cells))
        missing = [w for w in wanted if w not in present]
        if missing:
            raise ConfigError(f"--{key} {' '.join(map(str, missing))}: {source} has no such cells (its {key}: "
                              f"{', '.join(map(str, present))}). With --grid these options select the grid's cells; "
                              "to run others, edit the grid file or leave out --grid")
        cells = [rc for rc in cells if getattr(rc.cell, field) in wanted]
    return cells


def _grid_part(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) - set(GRID_KEYS):
        extra = sorted(set(data) - set(GRID_KEYS)) if isinstance(data, dict) else []
        raise ConfigError(f"{where}: expected a mapping with keys {sorted(GRID_KEYS)}"
                          + (f"; unknown keys {extra}" if extra else ""))
    data = dict(data)
    for key in ("datasets", "models", "methods", "attacks", "seeds", "set", "sweep"):
        if key in data and not isinstance(data[key], list):
            data[key] = [data[key]]
    if isinstance(data.get("set"), list) and data["set"] and isinstance(data["set"][0], dict):
        data["set"] = [f"{k}={v}" for item in data["set"] for k, v in item.items()]
    sweeps = []
    for item in data.get("sweep", []):  # "method.beta=1,5,10" or a mapping {method.beta: [1, 5, 10]}
        if isinstance(item, dict):
            sweeps += [f"{k}={','.join(map(str, v if isinstance(v, list) else [v]))}" for k, v in item.items()]
        else:
            sweeps.append(item)
    if sweeps:
        data["sweep"] = sweeps
    return data


def read_grid_file(path: str | Path) -> list[dict[str, Any]]:
    """The grids of a ``bench run --grid`` file: one mapping (keys ``GRID_KEYS``), or — YAML only — a list of
    mappings whose cells are united (e.g. one attack on fewer test examples than the others)."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"grid file {path} does not exist")
    if file.is_dir():
        raise ConfigError(f"grid file {path} is a folder; give a YAML or TOML file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"grid file {path} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        if file.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise ConfigError(f"grid file {path} is not valid {file.suffix.lstrip('.') or 'YAML'}: {str(exc).splitlines()[0]}")
    if isinstance(data, list) and data:
        return [_grid_part(part, f"grid file {path}, grid {i + 1}") for i, part in enumerate(data)]
    return [_grid_part(data, f"grid file {path}")]
