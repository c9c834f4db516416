"""Adv-PTWD: Adv-Base plus a pull towards the pre-trained weights (pre-trained weight decay).

    L = CE(f(x), y) + β · KL(p(x) ‖ p(x̃)) + λ · ‖θ − θ₀‖₂,

the norm taken over all encoder parameters at once and *not* squared, as in the paper code (which
adds 1e-10 under the square root so the gradient exists at θ = θ₀; so do we). The head is not
pulled: it has no pre-trained value.

λ is not given in the paper or its code. The default 0.01 comes from a small sweep (docs/methods.md, "Adv-PTWD
λ"): SST-2, all-MiniLM-L6-v2, smoke scale (512 training examples, 2 epochs, lr 1e-4), seed 0, 200 dev
examples, λ ∈ {0, 0.01, 0.1, 1}, judged by this family's model-selection score (dev accuracy under
``ascc``). Robust dev accuracy 0.550 / 0.535 / 0.475 / 0.235 and final ‖θ−θ₀‖/‖θ₀‖ 0.0066 / 0.0057 /
0.0022 / 0.00003: λ = 1 pins the encoder to θ₀ (the penalty's gradient has norm λ however close θ
is to θ₀), λ = 0.1 costs 7.5 points, λ = 0.01 keeps the score within noise of Adv-Base (±3.5 points
standard error on 200 examples) while still shortening the distance. One seed at one small scale: sweep again for a new setting
(``--sweep method.lam=…``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.core.classifier import Classifier
from bench.core.errors import ConfigError
from bench.core.registry import METHODS
from methods.adv_base import Adversarial, AdvBase, AdvHparams
from bench.core.method import Batch


def weight_distance(params: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], eps: float = 1e-10) -> torch.Tensor:
    """‖θ − θ₀‖₂ = sqrt(Σ (θ − θ₀)² + eps) over every tensor of ``reference`` (differentiable in θ)."""
    total = None
    for name, ref in reference.items():
        term = (params[name] - ref.to(params[name].device)).pow(2).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("no parameters to measure")
    return torch.sqrt(total + eps)


@dataclass(frozen=True)
class PTWDHparams(AdvHparams):
    lam: float = 0.01  # λ of λ·‖θ − θ₀‖₂ (chosen by a small sweep; see the module docstring)

    def validate(self) -> None:
        super().validate()
        if self.lam < 0:
            raise ConfigError("method.lam must be ≥ 0")


@METHODS.register("adv-ptwd", "Adv-Base + λ·‖θ−θ₀‖₂ over the encoder (unsquared, as in the paper code)",
                  display="Adv-PTWD", rank=2)
class AdvPTWD(AdvBase):
    Hparams = PTWDHparams

    def extra_loss(self, model: Classifier, batch: Batch, adv: Adversarial) -> tuple[torch.Tensor, dict[str, float]]:
        distance = weight_distance(model.encoder_parameters(), self.context.pretrained_params)
        return self.hparams.lam * distance, {"weight_distance": float(distance.detach())}
