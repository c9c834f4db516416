"""Scale presets (``smoke``, ``small``, ``paper``) and ``key=value`` overrides.

A scale fixes data sizes and training settings. Every field can be overridden: plain keys set scale
fields (``epochs=2``), ``method.<name>=…`` sets a method hyperparameter and ``attack.<name>=…`` an
attack setting. Values are parsed as YAML scalars and checked against the field's type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, fields
from typing import Any

import yaml

from bench.core.errors import ConfigError


@dataclass(frozen=True)
class Scale:
    """Data sizes and training settings of one scale. ``max_length=0`` means the per-dataset preset."""

    n_train: int | None  # None: the whole training pool
    n_dev: int
    n_test: int | None
    epochs: int
    batch_size: int  # 0: the per-dataset preset (BATCH_SIZES)
    lr: float
    max_length: int = 0
    weight_decay: float = 0.01
    #: which parameters AdamW decays: "all", or "heads" (the classifier and any method heads, not the encoder;
    #: the paper code's choice)
    weight_decay_scope: str = "all"
    #: AdamW ε (torch's default 1e-8; the paper code's transformers.AdamW used 1e-6)
    adam_eps: float = 1e-8
    #: "linear": linear warm-up over warmup_ratio of the steps, then linear decay to 0 (per step);
    #: "constant": the same warm-up, then constant; "epoch-warmup-constant": the paper code's schedule, set per
    #: epoch: linear from 0.1× to 1× over warmup_epochs epochs, then constant
    lr_schedule: str = "linear"
    warmup_ratio: float = 0.1
    warmup_epochs: int = 2  # epoch-warmup-constant only
    #: clip the gradient's global L2 norm to this value; 0 = no clipping (the paper code)
    grad_clip: float = 1.0
    #: batches of similar length (fewer pad tokens) instead of uniformly random ones; the batches' content and
    #: order are still seeded (see bench.core.train.make_batches)
    group_by_length: bool = False
    eval_batch_size: int = 64
    log_every: int = 10
    data_seed: int = 0
    #: how text becomes model input (:mod:`bench.core.tokenization`): "subword", the model's own tokenizer, or
    #: "whole-word", the paper code's one token per word (unknown words → the unknown token)
    tokenizer: str = "subword"
    #: floating point of the forward passes (:mod:`bench.core.precision`): "fp32", or autocast to "bf16" / "fp16"
    #: (fp16: GPU only, with loss scaling); weights, optimizer state and losses stay fp32
    precision: str = "fp32"


# Token limits per dataset for each scale (the paper's code: IMDB 300, SNLI 80).
MAX_LENGTHS: dict[str, dict[str, int]] = {
    "smoke": {"imdb": 128, "default": 64},
    "small": {"imdb": 256, "snli": 80, "default": 128},
    "paper": {"imdb": 300, "snli": 80, "default": 128},
}

# Batch sizes per dataset for a scale whose batch_size is 0 (the paper's code: IMDB 32, SNLI 120, i.e. 16 and
# 40 examples per class in each class-balanced batch).
BATCH_SIZES: dict[str, dict[str, int]] = {
    "paper": {"snli": 120, "default": 32},
}

#: scale fields that do not change a fine-tuned model (the test sample and the evaluation batch size)
EVAL_ONLY_FIELDS = ("n_test", "eval_batch_size")


#: Settings added after records were made, with the value every earlier record implicitly had, per section of a
#: resolved configuration and per owner (None: every record; otherwise only the method or attack of that name).
#: At that value a setting is left out of the identities (cell id, model-cache key, model group), so earlier
#: records keep their ids and their models; a record still writes every setting it ran with, and an earlier
#: record that lacks one reads as having the implicit value (:func:`with_implicit`).
LATER_SETTINGS: dict[tuple[str, str | None], dict[str, Any]] = {
    ("scale_settings", None): {"tokenizer": "subword", "precision": "fp32"},
    ("attack_settings", "pwws"): {"substitutions": "all"},
    ("attack_settings", "pwws-wordnet"): {"lemmas": "letters"},
}

#: the section of a resolved configuration whose owner names a method or an attack
_OWNER_KEYS = {"hparams": "method", "attack_settings": "attack"}


def _later(section: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """The later-added settings of ``section`` that apply to ``config`` (all owners when ``config`` is None)."""
    owner = config.get(_OWNER_KEYS[section]) if config is not None and section in _OWNER_KEYS else None
    out: dict[str, Any] = {}
    for (where, who), values in LATER_SETTINGS.items():
        if where == section and (who is None or config is None or who == owner):
            out.update(values)
    return out


def without_implicit(section: str, values: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``values`` (one section of a configuration) without later-added settings at their implicit value."""
    later = _later(section, config)
    return {k: v for k, v in values.items() if not (k in later and later[k] == v)}


def hparams_identity(method: str, dataset: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """What the identities (cell id, model group, model-cache key) hash of a method's resolved hyperparameters: a
    value the task fills in (``Method.task_defaults``), where it equals that default, as ``None``, its declared
    value. Records made when methods filled these in at training time wrote ``None`` there, so they keep their ids
    and their cached models; and ``method.beta=10`` on a single-text task names the same cell as the default.
    A method or dataset the registries do not know (a test's own) is hashed as given."""
    from bench.core.registry import DATASETS, METHODS

    if method not in METHODS or dataset not in DATASETS:
        return hparams
    defaults = METHODS.get(method).task_defaults(DATASETS.get(dataset))
    return {k: None if k in defaults and v == defaults[k] else v for k, v in hparams.items()}


def identity_config(config: dict[str, Any]) -> dict[str, Any]:
    """What a configuration's identities hash: the configuration without later-added settings at their implicit
    value (:data:`LATER_SETTINGS`), and with the hyperparameters the task filled in at their declared value
    (:func:`hparams_identity`)."""
    out = dict(config)
    for section, _ in LATER_SETTINGS:
        if isinstance(out.get(section), dict):
            out[section] = without_implicit(section, out[section], config)
    if isinstance(out.get("hparams"), dict) and "method" in out and "dataset" in out:
        out["hparams"] = hparams_identity(out["method"], out["dataset"], out["hparams"])
    return out


def with_implicit(config: dict[str, Any]) -> dict[str, Any]:
    """A record's configuration with every later-added setting it lacks filled in at its implicit value."""
    out = dict(config)
    for section, _ in LATER_SETTINGS:
        if isinstance(out.get(section), dict):
            out[section] = {**_later(section, config), **out[section]}
    return out


def training_settings(scale: Scale | dict[str, Any]) -> dict[str, Any]:
    """The scale settings that determine a fine-tuned model: the one rule behind the model-cache key
    (``bench.core.train.TrainSpec``) and the executors' model groups (``ResolvedCell.train_group``). Later-added
    settings at their implicit value are left out (:data:`LATER_SETTINGS`)."""
    values = scale if isinstance(scale, dict) else to_dict(scale)
    return without_implicit("scale_settings", {k: v for k, v in values.items() if k not in EVAL_ONLY_FIELDS})


LR_SCHEDULES = ("linear", "constant", "epoch-warmup-constant")
TOKENIZERS = ("subword", "whole-word")  # bench.core.tokenization
PRECISIONS = ("fp32", "bf16", "fp16")  # bench.core.precision
WEIGHT_DECAY_SCOPES = ("all", "heads")

SCALES: dict[str, Scale] = {
    # CI: the whole smoke grid runs in minutes on 2 CPU cores.
    "smoke": Scale(n_train=512, n_dev=64, n_test=24, epochs=2, batch_size=16, lr=1e-4),
    # A CPU study: a grid per dataset in about an hour.
    "small": Scale(n_train=2000, n_dev=200, n_test=100, epochs=2, batch_size=32, lr=3e-5),
    # The paper code's training protocol (rift_train.py / rift_train.sh / opts.py): the full training set, 20
    # epochs, transformers' AdamW (ε 1e-6) at lr 2e-5 with weight decay 2e-4 on the heads only, the per-epoch
    # warm-up-then-constant schedule, no gradient clipping, batch 32 (IMDB) / 120 (SNLI); 300 attacked
    # examples, whole words as model input (the paper code's tokenizer). A GPU job. `bench report --compare paper`
    # lists what a record still differs in.
    "paper": Scale(n_train=None, n_dev=1000, n_test=300, epochs=20, batch_size=0, lr=2e-5, weight_decay=2e-4,
                   weight_decay_scope="heads", adam_eps=1e-6, lr_schedule="epoch-warmup-constant",
                   warmup_ratio=0.0, warmup_epochs=2, grad_clip=0.0, tokenizer="whole-word"),
}


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        import difflib

        close = difflib.get_close_matches(name, list(SCALES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown scale {name!r}.{hint} Known: {', '.join(SCALES)}.")
    return SCALES[name]


def resolve_max_length(scale_name: str, scale: Scale, dataset: str) -> int:
    if scale.max_length:
        return scale.max_length
    table = MAX_LENGTHS.get(scale_name, MAX_LENGTHS["small"])
    return table.get(dataset, table["default"])


def resolve_batch_size(scale_name: str, scale: Scale, dataset: str) -> int:
    """The batch size a cell trains with: the scale's, or (when it is 0) the scale's per-dataset preset."""
    if scale.batch_size:
        return scale.batch_size
    table = BATCH_SIZES.get(scale_name)
    if table is None:
        raise ConfigError(f"batch_size=0 (the per-dataset preset) but scale {scale_name!r} has no preset; "
                          f"set batch_size to a positive number")
    return table.get(dataset, table["default"])


def parse_override(text: str) -> tuple[str, Any]:
    """``"method.beta=5"`` → ``("method.beta", 5)``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. epochs=2 or method.beta=5)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            value = float(value)
        except ValueError:
            pass
    return key, value


def group_overrides(overrides: typing.Iterable[typing.Iterable[Any]],
                    strict: bool = True) -> dict[str, list[tuple[str, Any]]]:
    """Overrides by target, in order: ``{"scale": [(name, value), ...], "method": [...], "attack": [...]}``.
    ``strict``: a prefix other than ``method.``/``attack.`` is an error (else it counts as a scale field)."""
    groups: dict[str, list[tuple[str, Any]]] = {"scale": [], "method": [], "attack": []}
    for key, value in overrides:
        prefix, dot, rest = str(key).partition(".")
        if dot and prefix in ("method", "attack"):
            groups[prefix].append((rest, value))
        elif dot and strict:
            raise ConfigError(f"override {key!r}: prefix must be 'method.' or 'attack.' (or none for scale fields)")
        else:
            groups["scale"].append((str(key), value))
    return groups


def split_overrides(overrides: typing.Iterable[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    """Group overrides by target: ``{"scale": {...}, "method": {...}, "attack": {...}}`` (:func:`group_overrides`)."""
    return {target: dict(items) for target, items in group_overrides(overrides).items()}


def _check_type(owner: str, name: str, annotation: Any, value: Any) -> Any:
    if isinstance(annotation, str):
        annotation = eval(annotation, {"typing": typing})  # noqa: S307 (our own dataclass annotations)
    origin = typing.get_origin(annotation)
    options = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else (annotation,)
    for option in options:
        if option is type(None) and value is None:
            return None
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option in (str, bool) and isinstance(value, option):
            return value
        if typing.get_origin(option) is tuple and isinstance(value, (list, tuple)):
            return tuple(value)
    raise ConfigError(f"{owner}: {name}={value!r} has the wrong type (expected {annotation})")


def apply_overrides(obj: Any, values: dict[str, Any], owner: str) -> Any:
    """A copy of dataclass ``obj`` with ``values`` set, each checked by name and type (and ``validate()``)."""
    known = {f.name: f for f in fields(obj)}
    changes = {}
    for name, value in values.items():
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            listing = ", ".join(known) or "none"
            raise ConfigError(f"{owner} has no setting {name!r}.{hint} Settings: {listing}.")
        changes[name] = _check_type(owner, name, known[name].type, value)
    result = dataclasses.replace(obj, **changes)
    validate = getattr(result, "validate", None)
    if callable(validate):
        validate()
    return result


def validate_scale(scale: Scale) -> None:
    checks = [
        (scale.n_train is None or scale.n_train > 0, "n_train must be positive (or null for all)"),
        (scale.n_dev > 0, "n_dev must be positive"),
        (scale.n_test is None or scale.n_test > 0, "n_test must be positive (or null for all)"),
        (scale.epochs > 0, "epochs must be positive"),
        (scale.batch_size >= 0, "batch_size must be ≥ 0 (0 = the per-dataset preset)"),
        (scale.lr > 0, "lr must be positive"),
        (scale.adam_eps > 0, "adam_eps must be positive"),
        (scale.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}"),
        (scale.weight_decay_scope in WEIGHT_DECAY_SCOPES,
         f"weight_decay_scope must be one of {', '.join(WEIGHT_DECAY_SCOPES)}"),
        (scale.warmup_epochs >= 0, "warmup_epochs must be ≥ 0"),
        (scale.grad_clip >= 0, "grad_clip must be ≥ 0 (0 = no clipping)"),
        (scale.max_length >= 0, "max_length must be ≥ 0 (0 = the per-dataset preset)"),
        (0 <= scale.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
        (scale.eval_batch_size > 0, "eval_batch_size must be positive"),
        (scale.tokenizer in TOKENIZERS, f"tokenizer must be one of {', '.join(TOKENIZERS)}"),
        (scale.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
        (scale.log_every > 0, "log_every must be positive"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"bad scale setting: {message}")


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj)
