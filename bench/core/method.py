"""What a fine-tuning method is: hyperparameters, optional extra modules, and a loss.

The one training loop (``bench.core.train``) owns everything else — data order, optimiser, schedule,
logging, model selection, caching — so a method file reads like its equation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from bench.core.classifier import Classifier, ClassifierOutput
from bench.core.data import DatasetSpec, Example


@dataclass
class Batch:
    """A tokenised training batch."""

    encoding: dict[str, torch.Tensor]
    labels: torch.Tensor
    examples: list[Example]


@dataclass
class TrainContext:
    """What a method may need beyond the batch: the task, the tokenizer, the pre-trained weights θ₀."""

    spec: DatasetSpec
    tokenizer: Any
    pretrained_dir: Path
    pretrained_params: dict[str, torch.Tensor]  # θ₀ of the encoder (detached copies)
    max_length: int
    assets: Any = None  # bench.core.assets.AssetConfig of the run (e.g. the synonym set for ASCC methods)
    extra: dict[str, Any] = field(default_factory=dict)
    seed: int = 0  # the training seed (for a method's own seeded initialisations)


@dataclass(frozen=True)
class NoHparams:
    """A method without hyperparameters."""


class Method:
    """Base class. Subclasses set ``Hparams`` (a frozen dataclass) and implement :meth:`loss`."""

    Hparams: ClassVar[type] = NoHparams
    #: one loader per class, so every batch holds each class equally often (RIFT's per-class InfoNCE)
    class_balanced_batches: ClassVar[bool] = False

    def __init__(self, hparams: Any, model: Classifier, context: TrainContext) -> None:
        self.hparams = hparams
        self.context = context

    #: name of the score :meth:`dev_score` returns; the epoch with the highest one is kept
    selection_metric: ClassVar[str] = "dev_accuracy"

    def dev_score(self, victim: Any, dev: list[Example], clean_accuracy: float) -> float:
        """Model-selection score on the dev split after each epoch (default: clean accuracy)."""
        return clean_accuracy

    @classmethod
    def task_defaults(cls, spec: DatasetSpec) -> dict[str, Any]:
        """Values of the hyperparameters the method leaves to the task (declared ``None``), for ``spec``'s task
        (e.g. Adv-Base's β: one for single texts, one for text pairs)."""
        return {}

    @classmethod
    def resolve_hparams(cls, hparams: Any, spec: DatasetSpec) -> Any:
        """``hparams`` with every value left to the task filled in: done once, where a cell is resolved, so a
        record holds one set of hyperparameters and the method trains with exactly those."""
        return replace(hparams, **{k: v for k, v in cls.task_defaults(spec).items() if getattr(hparams, k) is None})

    @classmethod
    def check_config(cls, hparams: Any, spec: DatasetSpec, batch_size: int) -> None:
        """Refuse (``ConfigError``) a configuration under which a loss term of the method could not work
        (e.g. a contrastive bound with too few examples per batch). Called when a cell is resolved."""

    def inactive_terms(self) -> list[str]:
        """Loss terms that the resolved hyperparameters switch off (e.g. a weight of 0), for the record."""
        return []

    def extra_modules(self) -> list[nn.Module]:
        """Trainable modules beyond the classifier (e.g. RIFT's projection heads)."""
        return []

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """State the method keeps across steps outside its modules (e.g. a random generator of its own), saved
        in per-epoch training checkpoints; a method with such state overrides this and :meth:`load_state_tensors`."""
        return {}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Put back what :meth:`state_tensors` returned."""

    def loss(self, model: Classifier, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    @staticmethod
    def forward(model: Classifier, batch: Batch) -> ClassifierOutput:
        return model(**batch.encoding)
