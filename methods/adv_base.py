"""Adv-Base: adversarial fine-tuning against the ASCC adversary (the RIFT paper's baseline).

    L = CE(f(x), y) + β · KL(p(x) ‖ p(x̃)),

x̃ the ASCC hull point found by ``ascc_steps`` inner steps maximising the KL (student in eval mode),
then run through the candidate embeddings in train mode. As in the paper code, the KL is averaged
over the batch and its gradient flows through both p(x) and p(x̃), and batches are class-balanced
(one stream per class) for every ASCC method, so Adv-Base and RIFT see the same batches.

β defaults to None, resolved from the task when a cell is resolved (:meth:`AdvBase.task_defaults`): 5 for
text-pair tasks (the paper code's SNLI setting), 10 otherwise (its IMDB setting). The record holds the resolved value.

Model selection: the epoch with the best robust accuracy on the dev split under the ``ascc`` attack
(CE objective, default settings) — not on the test set, as the paper code did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from bench.core.classifier import Classifier, ClassifierOutput
from bench.core.data import DatasetSpec, Example
from bench.core.errors import ConfigError
from bench.core.registry import METHODS
from bench.core import ascc
from bench.core.method import Batch, Method, TrainContext

PAIR_TASK_DEFAULTS = {"beta": 5.0, "alpha": 0.7}  # paper code, SNLI
SINGLE_TASK_DEFAULTS = {"beta": 10.0, "alpha": 0.1}  # paper code, IMDB


def task_default(spec: DatasetSpec, name: str) -> float:
    """The paper code's dataset-dependent weight: SNLI's for text-pair tasks, IMDB's otherwise."""
    table = PAIR_TASK_DEFAULTS if spec.pair_field is not None else SINGLE_TASK_DEFAULTS
    return table[name]


@dataclass(frozen=True)
class AdvHparams:
    beta: float | None = None  # None: 10 (single text, paper's IMDB) or 5 (text pairs, paper's SNLI)
    # the ASCC adversary's settings (``bench.core.ascc.ASCCSettings``) under their record names
    ascc_steps: int = ascc.DEFAULT.steps
    ascc_lr: float = ascc.DEFAULT.lr
    ascc_weight_decay: float = ascc.DEFAULT.weight_decay
    ascc_entropy: float = ascc.DEFAULT.entropy_weight
    ascc_candidates: int = ascc.DEFAULT.max_candidates

    def validate(self) -> None:
        if self.beta is not None and self.beta < 0:
            raise ConfigError("method.beta must be ≥ 0")
        if self.ascc_steps < 0 or self.ascc_candidates < 1 or self.ascc_lr <= 0:
            raise ConfigError("method.ascc_steps must be ≥ 0, ascc_candidates ≥ 1 and ascc_lr > 0")


@dataclass
class Adversarial:
    """One step's clean and adversarial passes (train mode), for the method's loss terms."""

    clean: ClassifierOutput
    adv: ClassifierOutput
    alignment: ascc.Alignment


def kl_div(clean_logits: torch.Tensor, adv_logits: torch.Tensor) -> torch.Tensor:
    """KL(p(x) ‖ p(x̃)) averaged over the batch."""
    logp = F.log_softmax(clean_logits, -1)
    return (logp.exp() * (logp - F.log_softmax(adv_logits, -1))).sum(-1).mean()


@METHODS.register("adv-base", "CE + β·KL(p(x)‖p(x̃)) against the ASCC synonym-hull adversary; dev selection by ascc robust acc.",
                  display="Adv-Base", rank=1)
class AdvBase(Method):
    Hparams = AdvHparams
    class_balanced_batches: ClassVar[bool] = True
    selection_metric: ClassVar[str] = ascc.DevSelection.metric

    def __init__(self, hparams: AdvHparams, model: Classifier, context: TrainContext) -> None:
        hparams = self.resolve_hparams(hparams, context.spec)  # already resolved in a cell; not always in a test
        super().__init__(hparams, model, context)
        self.synonyms = ascc.context_synonyms(context)
        self.config = ascc.ASCCSettings.from_hparams(hparams)
        self.aligner = ascc.aligner_for(context.tokenizer, self.synonyms, context.spec.attack_index,
                                        context.max_length, hparams.ascc_candidates)
        self.selection = ascc.DevSelection(context, self.synonyms)

    @classmethod
    def task_defaults(cls, spec: DatasetSpec) -> dict[str, Any]:
        return {"beta": task_default(spec, "beta")}

    @classmethod
    def check_config(cls, hparams: AdvHparams, spec: Any, batch_size: int) -> None:
        if hparams.beta == 0:
            raise ConfigError(f"method.beta=0 removes the adversarial term of {cls.__name__}: it would train as "
                              "standard fine-tuning at the cost of the ASCC search; use the method 'standard' instead")
        if hparams.ascc_steps == 0:
            raise ConfigError("method.ascc_steps=0 leaves the ASCC weights at their random start: there is no "
                              "adversary; use at least 1 step (the paper: 10)")

    def adversarial(self, model: Classifier, batch: Batch) -> Adversarial:
        """ASCC weights (model in eval mode, KL objective), then the clean and hull passes in train mode."""
        alignment = self.aligner.align(batch.examples).to(batch.labels.device)
        if not torch.equal(alignment.encoding["input_ids"], batch.encoding["input_ids"]):
            raise RuntimeError("ASCC alignment tokenised the batch differently from the training loop")
        model_was_training = model.training
        model.eval()
        with torch.no_grad():
            clean_eval = model(**batch.encoding).logits
        model.train(model_was_training)
        weights = ascc.search(model, alignment, ascc.kl_objective(clean_eval), self.config).weights
        clean = self.forward(model, batch)
        adv = ascc.forward_hull(model, alignment, weights)
        return Adversarial(clean, adv, alignment)

    def extra_loss(self, model: Classifier, batch: Batch, adv: Adversarial) -> tuple[torch.Tensor | None, dict[str, float]]:
        """Terms a subclass adds to CE + β·KL (default: none)."""
        return None, {}

    def loss(self, model: Classifier, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        adv = self.adversarial(model, batch)
        ce = F.cross_entropy(adv.clean.logits, batch.labels)
        kl = kl_div(adv.clean.logits, adv.adv.logits)
        loss = ce + self.hparams.beta * kl
        extra, parts = self.extra_loss(model, batch, adv)
        if extra is not None:
            loss = loss + extra
        adv_acc = (adv.adv.logits.argmax(-1) == batch.labels).float().mean()
        return loss, {"ce": float(ce.detach()), "kl": float(kl.detach()), "adv_train_acc": float(adv_acc),
                      **parts, **adv.alignment.stats()}

    def dev_score(self, victim: Any, dev: list[Example], clean_accuracy: float) -> float:
        """Robust accuracy on the dev split under the ``ascc`` attack (its default settings, seed 0)."""
        return self.selection.score(victim, dev)
