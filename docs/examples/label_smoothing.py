"""Label smoothing: cross-entropy against targets smoothed towards the uniform distribution.

An example of a new method (docs/extending.md): copy this file into ``methods/`` and it is registered,
listed by ``bench list methods``, runnable with ``--methods label-smoothing`` and shown in the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.core.classifier import Classifier
from bench.core.errors import ConfigError
from bench.core.method import Batch, Method
from bench.core.registry import METHODS


@dataclass(frozen=True)
class LabelSmoothingHparams:
    smoothing: float = 0.1  # ε: the target puts 1 − ε on the gold class and spreads ε over all classes

    def validate(self) -> None:
        if not 0 <= self.smoothing < 1:
            raise ConfigError("method.smoothing must be in [0, 1)")


@METHODS.register("label-smoothing", "cross-entropy against targets smoothed by ε (no adversary)",
                  display="Label smoothing")
class LabelSmoothing(Method):
    Hparams = LabelSmoothingHparams

    def loss(self, model: Classifier, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.forward(model, batch).logits
        loss = F.cross_entropy(logits, batch.labels, label_smoothing=self.hparams.smoothing)
        return loss, {"ce": float(loss.detach())}
