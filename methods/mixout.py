"""Mixout (Lee et al., ICLR 2020): dropout towards the pre-trained weights instead of towards zero.

In training, each input neuron of a Linear layer keeps its learned outgoing weights with probability
1 − p and takes the pre-trained ones u with probability p; the result is rescaled like dropout so
that its expectation is the learned weight w::

    W̃ = (M ⊙ w + (1 − M) ⊙ u − p · u) / (1 − p),   M[:, j] ~ Bernoulli(1 − p) per input neuron j,

i.e. a column with M = 0 equals u exactly and one with M = 1 equals (w − p·u)/(1 − p). The bias is
not mixed (as in Lee et al.'s MixLinear). In eval mode the layer uses w itself.

:func:`apply_mixout` swaps every ``nn.Linear`` under a module for a :class:`MixoutLinear` that holds
the *same* weight and bias parameters, so parameter names, the optimiser's parameters and the saved
state dict are unchanged (u is a non-persistent buffer). The RIFT paper code's wrapper looked only
at the top module's direct parameters — none for a BERT model — and so never mixed anything.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mixout(weight: torch.Tensor, target: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """The mixed weight (training) or ``weight`` itself (eval, or p = 0)."""
    if not training or p == 0.0:
        return weight
    if p == 1.0:
        return target
    n_in = weight.shape[-1]
    keep = torch.bernoulli(torch.full((n_in,), 1.0 - p, device=weight.device, dtype=weight.dtype))
    return (keep * weight + (1.0 - keep) * target - p * target) / (1.0 - p)


class MixoutLinear(nn.Module):
    """A Linear layer whose weight is mixed towards ``target`` in training (same parameter names as nn.Linear)."""

    def __init__(self, linear: nn.Linear, target: torch.Tensor, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"mixout probability must be in [0, 1], got {p}")
        if target.shape != linear.weight.shape:
            raise ValueError("mixout target must have the weight's shape")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.register_buffer("target", target.detach().clone().to(linear.weight.device), persistent=False)
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, mixout(self.weight, self.target, self.p, self.training), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, mixout={self.p}"


def apply_mixout(module: nn.Module, p: float, targets: dict[str, torch.Tensor] | None = None) -> int:
    """Replace every nn.Linear under ``module`` by a MixoutLinear towards ``targets[<name>.weight]``
    (default: its current weight). Returns the number of layers replaced."""
    linears = [(name, m) for name, m in module.named_modules() if type(m) is nn.Linear]
    for name, linear in linears:
        target = targets[f"{name}.weight"] if targets is not None else linear.weight
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, MixoutLinear(linear, target, p).train(linear.training))
    return len(linears)
