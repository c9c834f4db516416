"""Datasets → :class:`Example` lists, and the seeded, stratified splits a cell trains and attacks on.

Every dataset is read from a local JSONL file (the ``shared/data`` layout: ``{"text", "label"}`` or
``{"premise", "hypothesis", "label"}``) when an assets folder has it, otherwise from the Hugging Face
hub with ``datasets``. Text pairs (SNLI) keep both fields; attacks perturb the field named by
``DatasetSpec.attack_field`` (SNLI: the hypothesis, as in the paper).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from bench.core.assets import HOW_TO_PROVIDE, AssetConfig, Resolved
from bench.core.errors import AssetError, BenchError, ConfigError, CorruptAssetError
from bench.core.registry import DATASETS

if TYPE_CHECKING:
    from bench.core.record import CellRecord

TextInput = str | tuple[str, str]


@dataclass(frozen=True)
class Example:
    """One labelled input. ``text_pair`` is set for pair tasks (SNLI: text = premise, text_pair = hypothesis)."""

    uid: str
    text: str
    label: int
    text_pair: str | None = None

    @property
    def inputs(self) -> TextInput:
        return self.text if self.text_pair is None else (self.text, self.text_pair)


@dataclass(frozen=True)
class DatasetSpec:
    """How to find a dataset locally and on the hub, and what its fields mean."""

    name: str
    labels: tuple[str, ...]
    local_dir: str
    local_splits: dict[str, str]  # our split name → local file stem
    hub_id: str
    hub_splits: dict[str, str]  # our split name → hub split name
    text_field: str = "text"
    pair_field: str | None = None
    hub_text_field: str | None = None
    attack_field: str = "text"  # which field attacks perturb: "text" or "text_pair"
    description: str = ""
    display: str = ""  # the name tables and figures use (default: the name)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def attack_index(self) -> int:
        """Where :attr:`attack_field` is in an example's inputs ``(text, text_pair)``: 0 or 1 (how the victim, the
        recipes and ASCC's alignment address the attacked text)."""
        return 1 if self.attack_field == "text_pair" else 0

    @property
    def splits(self) -> list[str]:
        return sorted(set(self.local_splits) | set(self.hub_splits))


def _register(spec: DatasetSpec) -> None:
    DATASETS.register(spec.name, spec.description, display=spec.display or spec.name)(spec)


_register(DatasetSpec(
    "imdb", ("negative", "positive"), "imdb", {"train": "train", "test": "test"},
    "stanfordnlp/imdb", {"train": "train", "test": "test"},
    description="IMDB movie reviews (Maas et al. 2011), binary sentiment; 25k train / 25k test",
    display="IMDB",
))
_register(DatasetSpec(
    "snli", ("entailment", "neutral", "contradiction"), "snli", {"dev": "dev", "test": "test"},
    "stanfordnlp/snli", {"train": "train", "dev": "validation", "test": "test"},
    text_field="premise", pair_field="hypothesis", attack_field="text_pair",
    description="SNLI 1.0 natural language inference (premise, hypothesis); attacks perturb the hypothesis",
    display="SNLI",
))
_register(DatasetSpec(
    "sst2", ("negative", "positive"), "sst2", {"train": "train", "test": "dev"},
    "stanfordnlp/sst2", {"train": "train", "test": "validation"}, hub_text_field="sentence",
    description="SST-2 (GLUE) sentence sentiment; its labelled dev set serves as test",
    display="SST-2",
))
_register(DatasetSpec(
    "mr", ("negative", "positive"), "mr", {"train": "train", "dev": "validation", "test": "test"},
    "cornell-movie-review-data/rotten_tomatoes", {"train": "train", "dev": "validation", "test": "test"},
    description="MR / Rotten Tomatoes sentence polarity (Pang & Lee 2005)",
    display="MR",
))
_register(DatasetSpec(
    "ag_news", ("world", "sports", "business", "sci/tech"), "ag_news", {"test": "test"},
    "fancyzhx/ag_news", {"train": "train", "test": "test"},
    description="AG News topic classification, 4 classes",
    display="AG News",
))


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {json.dumps(value)[:40]}")
    return value


def _parse_row(spec: DatasetSpec, row: object, uid: str, text_key: str) -> Example | None:
    """One row as an :class:`Example`; ``ValueError`` says what is wrong with it (None: SNLI without gold label)."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    for key in (text_key, "label", *([spec.pair_field] if spec.pair_field else [])):
        if key not in row:
            raise ValueError(f"no {key!r} field")
    label = row["label"]
    if not isinstance(label, int) or isinstance(label, bool):
        raise ValueError(f"label must be an integer, got {json.dumps(label)[:40]}")
    if label == -1 and spec.pair_field:  # SNLI pairs without a gold label
        return None
    if not 0 <= label < spec.num_labels:
        raise ValueError(f"label {label} is outside {spec.name}'s classes 0..{spec.num_labels - 1} "
                         f"({', '.join(spec.labels)})")
    pair = _text(row[spec.pair_field], spec.pair_field) if spec.pair_field else None
    return Example(uid, _text(row[text_key], text_key), label, pair)


def read_jsonl_examples(spec: DatasetSpec, path: Path, split: str) -> list[Example]:
    """Every row of a local JSONL split. A file that exists but does not parse is a :class:`CorruptAssetError`
    naming the file and line (never a reason to try another source)."""
    examples: list[Example] = []
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise CorruptAssetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with handle:
        for i, raw in enumerate(handle):
            try:
                line = raw.decode("utf-8")
                if not line.strip():
                    continue
                ex = _parse_row(spec, json.loads(line), f"{split}:{i}", spec.text_field)
            except UnicodeDecodeError as exc:
                raise CorruptAssetError(f"{path}:{i + 1}: not UTF-8 (byte {exc.object[exc.start]:#04x} at "
                                        f"column {exc.start + 1})") from None
            except (json.JSONDecodeError, ValueError) as exc:
                raise CorruptAssetError(f"{path}:{i + 1}: not a valid {spec.name} row ({exc})") from None
            if ex is not None:
                examples.append(ex)
    if not examples:
        raise CorruptAssetError(f"{path}: no {spec.name} rows")
    return examples


def _hub_examples(spec: DatasetSpec, split: str) -> list[Example] | None:
    if split not in spec.hub_splits:
        return None
    import datasets

    rows = datasets.load_dataset(spec.hub_id, split=spec.hub_splits[split])
    key = spec.hub_text_field or spec.text_field
    parsed = (_parse_row(spec, row, f"{split}:{i}", key) for i, row in enumerate(rows))
    return [ex for ex in parsed if ex is not None]


@dataclass(frozen=True)
class SplitSource:
    """Where one split is read from: a local file (``path``) or the hub (``path`` None)."""

    split: str
    label: str  # e.g. "$RIFT_BENCH_ASSETS:/x/shared/data/sst2/train.jsonl" or "hub:stanfordnlp/sst2[train]"
    path: Path | None = None

    def fingerprint(self) -> str:
        """``sha256:<hex>`` of a local file (cached by path, size and mtime), the hub label otherwise."""
        return f"sha256:{file_sha256(self.path)}" if self.path is not None else self.label


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The sha256 of a file, computed once per (path, size, mtime) in a process."""
    from bench.core.store import sha256_of

    try:
        stat = path.stat()
    except OSError as exc:
        raise CorruptAssetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        try:
            _SHA_CACHE[key] = sha256_of(path)
        except OSError as exc:
            raise CorruptAssetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return _SHA_CACHE[key]


def locate_split(spec: DatasetSpec, split: str, config: AssetConfig) -> SplitSource | None:
    """The source a split would be read from, without reading it.

    A split the dataset has locally must be found in an assets folder (the first that has the file wins)
    or, online, on the hub; otherwise an :class:`AssetError`. None only for a split that no source can
    provide by design (SNLI's and AG News' train split offline): the documented fallbacks.
    """
    tried: list[str] = []
    if split in spec.local_splits:
        rel = f"data/{spec.local_dir}/{spec.local_splits[split]}.jsonl"
        for label, root in config.local_roots():
            path = root / rel
            if path.is_dir():
                raise CorruptAssetError(f"{path}: is a folder, not a {spec.name} JSONL file")
            if path.exists():
                return SplitSource(split, f"{label}:{path}", path)
            tried.append(f"{label}:{path} not found")
    if split in spec.hub_splits:
        hub = f"hub:{spec.hub_id}[{spec.hub_splits[split]}]"
        if not config.offline:
            return SplitSource(split, hub)
        tried.append(f"{hub} skipped (offline mode)")
    if split not in spec.local_splits:
        return None
    raise AssetError(f"dataset {spec.name!r} split {split!r} is missing (tried: {'; '.join(tried) or 'no source'}). "
                     f"{HOW_TO_PROVIDE}")


def read_split(spec: DatasetSpec, source: SplitSource) -> Resolved[list[Example]]:
    """All examples of a located split. Local files must parse; a failing hub download is an AssetError."""
    if source.path is not None:
        return Resolved(read_jsonl_examples(spec, source.path, source.split), source.label)
    try:
        rows = _hub_examples(spec, source.split)
    except ValueError as exc:
        raise CorruptAssetError(f"{source.label}: not a valid {spec.name} row ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - network down, hub refused
        raise AssetError(f"dataset {spec.name!r} split {source.split!r} could not be downloaded from "
                         f"{source.label}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}. "
                         f"{HOW_TO_PROVIDE}") from None
    if not rows:
        raise AssetError(f"{source.label}: no rows")
    return Resolved(rows, source.label)


def load_split(spec: DatasetSpec, split: str, config: AssetConfig) -> Resolved[list[Example]] | None:
    """All examples of one split, or None when no source can have it by design (e.g. SNLI train offline)."""
    source = locate_split(spec, split, config)
    return None if source is None else read_split(spec, source)


def data_plan(name: str, config: AssetConfig) -> tuple[str, dict[str, SplitSource]]:
    """The split rule (``train``, ``dev`` or ``test[half]``: where the training pool comes from) and the
    source of each split read, located but not read."""
    spec: DatasetSpec = DATASETS.get(name)
    test = locate_split(spec, "test", config)
    if test is None:
        raise AssetError(f"dataset {name!r} has no test split")
    train = locate_split(spec, "train", config)
    if train is not None:
        return "train", {"train": train, "test": test}
    dev = locate_split(spec, "dev", config) if "dev" in spec.splits else None
    if dev is not None:
        return "dev", {"dev": dev, "test": test}
    return "test[half]", {"test": test}


def data_identity(name: str, config: AssetConfig) -> dict[str, Any]:
    """What a cell's data is made of, cheaply (files hashed, not parsed): the split rule and the sha256 of
    each file read (the hub label for hub splits). Two runs with equal identities use the same examples
    for equal sizes and ``data_seed``; a record is only taken as done for data with its identity."""
    return _identity(*data_plan(name, config))


class DataIdentities:
    """:func:`data_identity` of each dataset, computed once; callable as ``identities(dataset)``.

    ``strict`` (``bench run``): a dataset whose files are missing raises. Otherwise (``bench status``) it gives
    None, so its records are not checked against the data, and :attr:`notes` says why."""

    def __init__(self, config: AssetConfig, strict: bool = True) -> None:
        self.config, self.strict = config, strict
        self.notes: list[str] = []
        self._known: dict[str, dict[str, Any] | None] = {}

    def __call__(self, dataset: str) -> dict[str, Any] | None:
        if dataset not in self._known:
            try:
                self._known[dataset] = data_identity(dataset, self.config)
            except BenchError as exc:
                if self.strict:
                    raise
                self._known[dataset] = None
                self.notes.append(f"note: {dataset} records not checked against the data ({exc})")
        return self._known[dataset]


def data_mismatch(record: CellRecord, identity: dict | None) -> str:
    """Why a record was not made from the data a cell would use now ("" when it was, or when unknown).

    Records store the data's identity (split rule, sha256 of each file read); older records only their
    split rule, which is compared alone."""
    if identity is None:
        return ""
    data = record.data
    stored = data.identity
    if isinstance(stored, dict):
        if stored == identity:
            return ""
        if stored.get("split_rule") != identity["split_rule"]:
            return f"its training pool came from {stored.get('split_rule')!r}, now {identity['split_rule']!r}"
        before, now = stored.get("files") or {}, identity["files"]
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        return "; ".join(f"{k}: {_source_text(before.get(k))} then, {_source_text(now.get(k))} now" for k in changed)
    if data.to_json().get("train_split", identity["split_rule"]) != identity["split_rule"]:
        return f"its training pool came from {data.train_split!r}, now {identity['split_rule']!r}"
    return ""


def _source_text(fingerprint: str | None) -> str:
    """A split's fingerprint for people: a local file by the start of its sha256, a hub split by its label."""
    if fingerprint is None:
        return "not read"
    if fingerprint.startswith("sha256:"):
        return f"a file with sha256 {fingerprint.removeprefix('sha256:')[:12]}…"
    return fingerprint


def _identity(rule: str, sources: dict[str, SplitSource]) -> dict[str, Any]:
    return {"split_rule": rule, "files": {split: src.fingerprint() for split, src in sorted(sources.items())}}


def stratified_sample(examples: Sequence[Example], n: int | None, seed: int) -> list[Example]:
    """A seeded sample of ``n`` examples keeping label proportions (largest-remainder allocation).

    ``n=None`` or ``n >= len(examples)`` returns all examples in a seeded shuffled order.
    """
    rng = np.random.default_rng(seed)
    if n is None or n >= len(examples):
        order = rng.permutation(len(examples))
        return [examples[i] for i in order]
    if n <= 0:
        raise ConfigError(f"sample size must be positive, got {n}")
    by_label: dict[int, list[int]] = {}
    for i, ex in enumerate(examples):
        by_label.setdefault(ex.label, []).append(i)
    labels = sorted(by_label)
    quotas = np.array([len(by_label[y]) * n / len(examples) for y in labels])
    counts = np.floor(quotas).astype(int)
    for j in np.argsort(-(quotas - counts), kind="stable")[: n - counts.sum()]:
        counts[j] += 1
    chosen: list[int] = []
    for y, k in zip(labels, counts):
        chosen.extend(rng.choice(by_label[y], size=int(k), replace=False).tolist())
    chosen = [chosen[i] for i in rng.permutation(len(chosen))]
    return [examples[i] for i in chosen]


@dataclass(frozen=True)
class DataSizes:
    n_train: int | None
    n_dev: int
    n_test: int | None
    data_seed: int = 0


@dataclass
class TaskData:
    """The three disjoint example lists a cell uses, and where each came from."""

    spec: DatasetSpec
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    provenance: dict = field(default_factory=dict)


def prepare_task(name: str, sizes: DataSizes, config: AssetConfig) -> TaskData:
    """Load a dataset and carve train / dev (for model selection, from train) / test samples.

    When the dataset has no train split offline (SNLI), the ``dev`` split becomes the training pool
    and ``provenance["train_split"]`` says so; with neither (AG News offline), the test split is
    divided into disjoint training and test pools, also recorded. These are the only fallbacks: a split
    that should be there and is not, or a file that does not parse, is an error.
    """
    spec: DatasetSpec = DATASETS.get(name)
    train_split, sources = data_plan(name, config)
    notes: list[str] = []
    test = read_split(spec, sources["test"])
    test_pool = test.value
    if train_split == "test[half]":
        half = stratified_sample(test_pool, None, sizes.data_seed + 7919)
        cut = len(half) // 2
        train = Resolved(half[:cut], test.source)
        test_pool = half[cut:]
        notes.append("no train or dev split available: the test split was divided into disjoint train/test halves")
    else:
        train = read_split(spec, sources[train_split])
        if train_split == "dev":
            notes.append(f"no train split available: trained on the '{spec.name}' dev split")
    pool = stratified_sample(train.value, None, sizes.data_seed)
    if not pool or not test_pool:
        raise BenchError(f"dataset {name!r} is empty after loading")
    dev_sample = stratified_sample(pool, min(sizes.n_dev, len(pool) // 5 or 1), sizes.data_seed + 1)
    dev_ids = {ex.uid for ex in dev_sample}
    remaining = [ex for ex in pool if ex.uid not in dev_ids]
    train_sample = stratified_sample(remaining, sizes.n_train, sizes.data_seed + 2)
    test_sample = stratified_sample(test_pool, sizes.n_test, sizes.data_seed + 3)
    provenance = {
        "train_split": train_split,
        "train_source": train.source,
        "test_source": test.source,
        "train_pool_size": len(train.value),
        "test_pool_size": len(test_pool),
        "n_train": len(train_sample),
        "n_dev": len(dev_sample),
        "n_test": len(test_sample),
        "data_seed": sizes.data_seed,
        "notes": notes,
        "identity": _identity(train_split, sources),
    }
    return TaskData(spec, train_sample, dev_sample, test_sample, provenance)
