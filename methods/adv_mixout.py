"""Adv-Mixout: Adv-Base with Mixout(p) towards the pre-trained weights on every Linear of the encoder.

The mixing happens in every training-mode forward pass (the clean and the adversarial one each draw
their own masks); the inner ASCC search runs in eval mode and so sees the learned weights. Unlike
the paper code, whose wrapper was a no-op on a BERT model (see ``methods/mixout.py``), this mixes.
Dropout is left as it is. p defaults to 0.9, the value in the Hugging Face example of Lee et al.'s
repository (which also sets dropout to 0; we do not); the RIFT paper does not state the p it used.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.classifier import Classifier
from bench.core.errors import ConfigError
from bench.core.registry import METHODS
from methods.adv_base import AdvBase, AdvHparams
from bench.core.method import TrainContext
from methods.mixout import apply_mixout


@dataclass(frozen=True)
class MixoutHparams(AdvHparams):
    mixout_p: float = 0.9

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.mixout_p < 1.0:
            raise ConfigError("method.mixout_p must be in [0, 1)")


@METHODS.register("adv-mixout", "Adv-Base + Mixout(p) towards the pre-trained weights on every encoder Linear", display="Adv-Mixout",
                  rank=3)
class AdvMixout(AdvBase):
    Hparams = MixoutHparams

    def __init__(self, hparams: MixoutHparams, model: Classifier, context: TrainContext) -> None:
        super().__init__(hparams, model, context)
        targets = {name: value for name, value in context.pretrained_params.items()}
        self.n_mixout_layers = apply_mixout(model.encoder, hparams.mixout_p, targets)
        if self.n_mixout_layers == 0:
            raise ValueError("the encoder has no nn.Linear layer to apply Mixout to")
