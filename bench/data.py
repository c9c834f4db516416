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
from typing import Sequence

import numpy as np

from bench.assets import HOW_TO_PROVIDE, AssetConfig, Resolved, Resolver, Source, local_file_sources
from bench.errors import BenchError, ConfigError
from bench.registry import DATASETS

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

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def splits(self) -> list[str]:
        return sorted(set(self.local_splits) | set(self.hub_splits))


def _register(spec: DatasetSpec) -> None:
    DATASETS.register(spec.name, spec.description)(spec)


_register(DatasetSpec(
    "imdb", ("negative", "positive"), "imdb", {"train": "train", "test": "test"},
    "stanfordnlp/imdb", {"train": "train", "test": "test"},
    description="IMDB movie reviews (Maas et al. 2011), binary sentiment; 25k train / 25k test",
))
_register(DatasetSpec(
    "snli", ("entailment", "neutral", "contradiction"), "snli", {"dev": "dev", "test": "test"},
    "stanfordnlp/snli", {"train": "train", "dev": "validation", "test": "test"},
    text_field="premise", pair_field="hypothesis", attack_field="text_pair",
    description="SNLI 1.0 natural language inference (premise, hypothesis); attacks perturb the hypothesis",
))
_register(DatasetSpec(
    "sst2", ("negative", "positive"), "sst2", {"train": "train", "test": "dev"},
    "stanfordnlp/sst2", {"train": "train", "test": "validation"}, hub_text_field="sentence",
    description="SST-2 (GLUE) sentence sentiment; its labelled dev set serves as test",
))
_register(DatasetSpec(
    "mr", ("negative", "positive"), "mr", {"train": "train", "dev": "validation", "test": "test"},
    "cornell-movie-review-data/rotten_tomatoes", {"train": "train", "dev": "validation", "test": "test"},
    description="MR / Rotten Tomatoes sentence polarity (Pang & Lee 2005)",
))
_register(DatasetSpec(
    "ag_news", ("world", "sports", "business", "sci/tech"), "ag_news", {"test": "test"},
    "fancyzhx/ag_news", {"train": "train", "test": "test"},
    description="AG News topic classification, 4 classes",
))


def _parse_row(spec: DatasetSpec, row: dict, uid: str, text_key: str) -> Example | None:
    label = int(row["label"])
    if label < 0:  # SNLI pairs without a gold label
        return None
    pair = row[spec.pair_field] if spec.pair_field else None
    return Example(uid, str(row[text_key]), label, None if pair is None else str(pair))


def read_jsonl_examples(spec: DatasetSpec, path: Path, split: str) -> list[Example]:
    examples: list[Example] = []
    with open(path, encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                ex = _parse_row(spec, json.loads(line), f"{split}:{i}", spec.text_field)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise BenchError(f"{path}:{i + 1}: not a valid {spec.name} row ({exc})") from None
            if ex is not None:
                examples.append(ex)
    return examples


def _hub_examples(spec: DatasetSpec, split: str) -> list[Example] | None:
    if split not in spec.hub_splits:
        return None
    import datasets

    rows = datasets.load_dataset(spec.hub_id, split=spec.hub_splits[split])
    key = spec.hub_text_field or spec.text_field
    parsed = (_parse_row(spec, row, f"{split}:{i}", key) for i, row in enumerate(rows))
    return [ex for ex in parsed if ex is not None]


def load_split(spec: DatasetSpec, split: str, config: AssetConfig) -> Resolved[list[Example]] | None:
    """All examples of one split, or None when no source could have it (e.g. SNLI train offline)."""
    sources: list[Source[list[Example]]] = []
    if split in spec.local_splits:
        rel = f"data/{spec.local_dir}/{spec.local_splits[split]}.jsonl"
        for src in local_file_sources(config, rel):
            sources.append(Source(src.label, lambda f=src.fetch: (lambda p: None if p is None else read_jsonl_examples(spec, p, split))(f())))
    if split in spec.hub_splits:
        sources.append(Source(f"hub:{spec.hub_id}[{spec.hub_splits[split]}]", lambda: _hub_examples(spec, split), online=True))
    if not sources:
        return None
    try:
        return Resolver(f"dataset {spec.name!r} split {split!r}", HOW_TO_PROVIDE, sources).resolve(config)
    except BenchError:
        if split == "train" or (split == "dev" and "dev" not in spec.local_splits):
            return None  # optional splits: the caller falls back and records it
        raise


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

    When no train split is available (SNLI offline), the ``dev`` split becomes the training pool
    and ``provenance["train_split"]`` says so; with neither (AG News offline), the test split is
    divided into disjoint training and test pools, also recorded.
    """
    spec: DatasetSpec = DATASETS.get(name)
    test = load_split(spec, "test", config)
    if test is None:
        raise BenchError(f"dataset {name!r} has no test split")
    notes: list[str] = []
    test_pool = test.value
    train = load_split(spec, "train", config)
    train_split = "train"
    if train is None:
        dev = load_split(spec, "dev", config)
        if dev is not None:
            train, train_split = dev, "dev"
            notes.append(f"no train split available: trained on the '{spec.name}' dev split")
        else:
            half = stratified_sample(test_pool, None, sizes.data_seed + 7919)
            cut = len(half) // 2
            train = Resolved(half[:cut], test.source)
            test_pool = half[cut:]
            train_split = "test[half]"
            notes.append("no train or dev split available: the test split was divided into disjoint train/test halves")
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
    }
    return TaskData(spec, train_sample, dev_sample, test_sample, provenance)
