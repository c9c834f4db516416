"""FreeLB (Zhu et al., ICLR 2020) and FreeLB++ (Li et al., EMNLP 2021, TextDefender): adversarial training
in the space of the input word embeddings, with the parameter gradient accumulated over the ascent steps.

For a batch with word embeddings E(x) and one perturbation δ per example (over its whole sequence):

    δ₀ = U(−1, 1) · m / √(n·d) on the n non-padding positions (m = ``adv_init_mag``; m = 0: δ₀ = 0),
    for k = 0 … K−1:
        g_θ += ∇_θ L(E(x) + δ_k, y) / K                               ("free": every ascent step trains θ)
        δ_{k+1} = Π_ε( δ_k + η · ∇_δ L / ‖∇_δ L‖_F )                 (per example; no step after the last)

with L the batch-mean cross-entropy, ‖·‖_F the Frobenius norm of an example's (n × d) perturbation and Π_ε
the rescaling onto the ball ‖δ‖_F ≤ ε (ε = ``adv_max_norm``; 0: no bound). θ is updated once per batch
with g_θ, the gradient of the mean of the K adversarial losses — there is no separate clean loss.

The loop (``bench.core.train``) backpropagates a method's loss once per step, so the method runs the K backward
passes itself (each needs ∇_δ for the next δ) and returns a *gradient carrier*: Σ_p ⟨p, g_p⟩ with g_p the
accumulated gradients (detached), shifted to the value of the mean adversarial loss. Its gradient with
respect to each parameter is exactly g_p, so the loop's backward, clipping and optimiser step act on
FreeLB's accumulated gradient (``tests/test_methods_freelb.py`` checks it against a direct FreeLB step).

Defaults: ``freelb`` takes the FreeLB code's SST-2 setting for BERT-style models (K = 3, η = 0.1, m = 1,
ε = 0.6); ``freelb++`` takes TextDefender's FreeLB trainer defaults (η = 0.03, m = 0.05, no norm bound)
with K = 10 steps, so the perturbation can grow further than FreeLB's. Dropout draws fresh masks at each
ascent step (FreeLB's Hugging Face code re-used the first step's masks; TextDefender's does not).

Model selection: by default the epoch with the best robust dev accuracy under the ``ascc`` attack, the
criterion of every robust method in this suite, so that the table compares methods and not selection
rules; ``method.selection=clean`` selects on clean dev accuracy as the FreeLB, InfoBERT and TextDefender
code do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from bench.core.classifier import Classifier
from bench.core.data import Example
from bench.core.errors import ConfigError
from bench.core.registry import METHODS
from bench.core import ascc
from bench.core.method import Batch, Method, TrainContext

SELECTIONS = ("ascc", "clean")


@dataclass(frozen=True)
class FreeLBHparams:
    adv_steps: int = 3  # K
    adv_lr: float = 0.1  # η, the ascent step (Frobenius norm of one step)
    adv_init_mag: float = 1.0  # m, magnitude of the random start
    adv_max_norm: float = 0.6  # ε, the Frobenius-ball radius (0 = unbounded)
    selection: str = "ascc"  # dev score: "ascc" (robust dev accuracy, the suite's) or "clean" (the papers')

    def validate(self) -> None:
        if self.adv_steps < 1:
            raise ConfigError("method.adv_steps must be ≥ 1")
        if self.adv_lr < 0 or self.adv_init_mag < 0 or self.adv_max_norm < 0:
            raise ConfigError("method.adv_lr, adv_init_mag and adv_max_norm must be ≥ 0")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"method.selection must be one of {', '.join(SELECTIONS)}")


def ascent_preset(name: str, module: str, **defaults: Any) -> type:
    """:class:`FreeLBHparams` with other ascent defaults (K, η, m, ε): the hyperparameter class of a FreeLB-family
    method (same fields, so the same record keys)."""
    types = {f.name: f.type for f in dataclasses.fields(FreeLBHparams)}
    cls = dataclasses.make_dataclass(name, [(k, types[k], dataclasses.field(default=v)) for k, v in defaults.items()],
                                     bases=(FreeLBHparams,), frozen=True)
    cls.__module__ = module  # importable by name (pickled with a resolved cell)
    return cls


#: TextDefender's trainer defaults with K raised (see the module docstring)
FreeLBPlusHparams = ascent_preset("FreeLBPlusHparams", __name__, adv_steps=10, adv_lr=0.03, adv_init_mag=0.05,
                                  adv_max_norm=0.0)


def init_delta(mask: torch.Tensor, dim: int, magnitude: float, dtype: torch.dtype) -> torch.Tensor:
    """FreeLB's random start: U(−1, 1) on non-padding positions, scaled by m / √(n·d) per example."""
    shape = (*mask.shape, dim)
    if magnitude <= 0:
        return torch.zeros(shape, dtype=dtype, device=mask.device)
    m = mask.to(dtype)
    delta = torch.zeros(shape, dtype=dtype, device=mask.device).uniform_(-1, 1) * m.unsqueeze(2)
    scale = magnitude / torch.sqrt(m.sum(1) * dim)
    return delta * scale.view(-1, 1, 1)


def ascent_step(delta: torch.Tensor, grad: torch.Tensor, lr: float, max_norm: float) -> torch.Tensor:
    """δ + η·g/‖g‖_F per example, then rescaled onto the ball ‖δ‖_F ≤ ε where it left it (ε = 0: unbounded)."""
    b = delta.size(0)
    norm = grad.reshape(b, -1).norm(dim=1).clamp_min(1e-8).view(-1, 1, 1)
    delta = delta + lr * grad / norm
    if max_norm > 0:
        size = delta.reshape(b, -1).norm(dim=1)
        factor = torch.where(size > max_norm, max_norm / size, torch.ones_like(size))
        delta = delta * factor.view(-1, 1, 1)
    return delta.detach()


def gradient_carrier(params: list[torch.Tensor], value: float) -> torch.Tensor:
    """Move the gradients accumulated in ``params`` into a scalar whose gradient is exactly them.

    Returns Σ_p ⟨p, g_p⟩ − (the same, detached) + ``value``: its value is ``value`` and its backward
    writes g_p into each ``p.grad`` (which this function clears, so the loop's zero_grad loses nothing).
    """
    pairs = [(p, p.grad.detach().clone()) for p in params if p.grad is not None]
    if not pairs:
        raise RuntimeError("the adversarial steps produced no parameter gradient")
    for p in params:
        p.grad = None
    carrier = torch.stack([(p * g).sum() for p, g in pairs]).sum()
    return carrier - carrier.detach() + value


@dataclass
class Pass:
    """One forward pass on perturbed embeddings: logits, pooled features, and the embedding-layer output."""

    logits: torch.Tensor
    features: torch.Tensor
    embedding_output: torch.Tensor | None


def forward_embeds(model: Classifier, batch: Batch, embeds: torch.Tensor, hidden: bool = False) -> Pass:
    """The classifier on ``embeds`` (instead of the token ids), optionally with the embedding layer's output."""
    enc = batch.encoding
    kwargs: dict[str, Any] = {"attention_mask": enc["attention_mask"]}
    if "token_type_ids" in enc:
        kwargs["token_type_ids"] = enc["token_type_ids"]
    out = model.encoder(inputs_embeds=embeds, output_hidden_states=hidden, **kwargs)
    features = model.pool(out, enc["attention_mask"])
    return Pass(model.head(features), features, out.hidden_states[0] if hidden else None)


@METHODS.register("freelb", "FreeLB: K-step PGD on the input embeddings in a Frobenius ball, gradients accumulated over the steps",
                  display="FreeLB", rank=6, beyond_paper=True,
                  reference="Zhu et al. 2020")
class FreeLB(Method):
    Hparams = FreeLBHparams

    def __init__(self, hparams: FreeLBHparams, model: Classifier, context: TrainContext) -> None:
        super().__init__(hparams, model, context)
        self.model = model
        #: per call of :meth:`loss`: the adversarial loss and each example's ‖δ‖_F at every ascent step
        self.trace: list[tuple[float, torch.Tensor]] = []
        if hparams.selection == "ascc":
            self.selection_metric = ascc.DevSelection.metric
            self.selection = ascc.DevSelection(context)
        self.setup(model, context)

    def setup(self, model: Classifier, context: TrainContext) -> None:
        """What a FreeLB-family method adds to FreeLB's state (InfoBERT: its critic); FreeLB adds nothing."""

    @classmethod
    def check_config(cls, hparams: FreeLBHparams, spec: Any, batch_size: int) -> None:
        if hparams.adv_steps == 1 and hparams.adv_init_mag == 0:
            raise ConfigError(f"{cls.__name__} with adv_steps=1 and adv_init_mag=0 never perturbs the input: it "
                              "would train as standard fine-tuning; use the method 'standard' instead")
        if hparams.adv_steps > 1 and hparams.adv_lr == 0 and hparams.adv_init_mag == 0:
            raise ConfigError(f"{cls.__name__} with adv_lr=0 and adv_init_mag=0 never perturbs the input")

    def trainable(self) -> list[torch.Tensor]:
        return [p for p in self.model.parameters() if p.requires_grad] + \
            [p for m in self.extra_modules() for p in m.parameters() if p.requires_grad]

    # ---- the hooks InfoBERT overrides ----
    wants_hidden: bool = False  # the step needs the embedding layer's output
    keeps_graph: bool = False  # :meth:`after_grad` backpropagates through the step's graph

    def step_loss(self, batch: Batch, out: Pass) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one ascent step whose δ-gradient drives the ascent (FreeLB: cross-entropy)."""
        ce = F.cross_entropy(out.logits, batch.labels)
        return ce, {"ce": float(ce.detach())}

    def after_grad(self, batch: Batch, out: Pass, delta_grad: torch.Tensor) -> tuple[torch.Tensor | None, dict[str, float]]:
        """A term that needs the step's δ-gradient (InfoBERT's anchored features); FreeLB: none."""
        return None, {}

    def loss(self, model: Classifier, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        hp = self.hparams
        params = self.trainable()
        for p in params:  # stale gradients of the previous step (the loop zeroes them only after this call)
            p.grad = None
        ids, mask = batch.encoding["input_ids"], batch.encoding["attention_mask"]
        embedding = model.input_embeddings()
        delta = init_delta(mask, embedding.embedding_dim, hp.adv_init_mag, embedding.weight.dtype)
        steps = hp.adv_steps
        total = 0.0
        terms: dict[str, float] = {}
        self.trace = []
        first_acc = last_acc = 0.0
        for k in range(steps):
            delta.requires_grad_()
            out = forward_embeds(model, batch, embedding(ids) + delta, self.wants_hidden)
            step, parts = self.step_loss(batch, out)
            (step / steps).backward(retain_graph=self.keeps_graph)
            delta_grad = delta.grad.detach()
            extra, extra_parts = self.after_grad(batch, out, delta_grad)
            if extra is not None:
                (extra / steps).backward()
                step = step.detach() + extra.detach()
            total += float(step.detach()) / steps
            for name, value in {**parts, **extra_parts}.items():
                terms[name] = terms.get(name, 0.0) + value / steps
            self.trace.append((float(step.detach()), delta.detach().reshape(len(ids), -1).norm(dim=1)))
            last_acc = float((out.logits.detach().argmax(-1) == batch.labels).float().mean())
            first_acc = last_acc if k == 0 else first_acc
            if k == steps - 1:
                break
            delta = ascent_step(delta.detach(), delta_grad, hp.adv_lr, hp.adv_max_norm)
        first_loss, last_loss = self.trace[0][0], self.trace[-1][0]
        terms.update({"adv_loss_gain": last_loss - first_loss, "delta_norm": float(self.trace[-1][1].mean()),
                      "adv_train_acc_first": first_acc, "adv_train_acc": last_acc})
        return gradient_carrier(params, total), terms

    def dev_score(self, victim: Any, dev: list[Example], clean_accuracy: float) -> float:
        """Robust dev accuracy under the ``ascc`` attack (``selection=ascc``) or the clean dev accuracy."""
        if self.hparams.selection == "clean":
            return clean_accuracy
        return self.selection.score(victim, dev)


@METHODS.register("freelb++", "FreeLB++ (TextDefender): FreeLB with 10 ascent steps and no norm bound",
                  display="FreeLB++", rank=7, beyond_paper=True,
                  reference="Li et al. 2021, the TextDefender benchmark")
class FreeLBPlus(FreeLB):
    Hparams = FreeLBPlusHparams

