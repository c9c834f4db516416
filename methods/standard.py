"""Standard fine-tuning: cross-entropy on clean inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.core.classifier import Classifier
from bench.core.registry import METHODS
from bench.core.method import Batch, Method


@METHODS.register("standard", "cross-entropy on clean inputs (no adversary)", display="Standard", rank=0)
class Standard(Method):
    def loss(self, model: Classifier, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        loss = F.cross_entropy(self.forward(model, batch).logits, batch.labels)
        return loss, {"ce": float(loss.detach())}
