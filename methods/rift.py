"""RIFT (Dong et al., NeurIPS 2021): adversarial fine-tuning that keeps what the pre-trained model knows.

    L = CE(f(x), y) + β · KL(p(x) ‖ p(x̃)) + α · L_info,     L_info = −Î(S; T | Y),

S = pooled features of the model being tuned on the adversarial input x̃, T = pooled features of a
frozen copy of the pre-trained encoder on the clean input x (kept in eval mode: the paper code left
its dropout on, so T was noisy; ours is deterministic).

Lemma 1 (the per-class InfoNCE bound). For each class y take a critic
f_y(s, t) = ⟨ĝ_y(s), ĥ_y(t)⟩ / τ, ĝ_y and ĥ_y two projection MLPs followed by L2 normalisation. For
N pairs (s_i, t_i) drawn from p(s, t | y),

    I(S; T | Y = y) ≥ Î_y = log N + (1/N) Σ_i log [ exp f_y(s_i, t_i) / Σ_j exp f_y(s_j, t_i) ],

and I(S; T | Y) = E_y I(S; T | Y = y) ≥ E_y Î_y. Within a batch the examples of class y are the N
pairs (positive: same example; negatives: the other students of class y), and Î(S; T | Y) is the
average of Î_y over the classes in the batch. Each Î_y ≤ log N. Batches are class-balanced (one
stream per class), as in the paper code. The normalisation runs over the students s_j for a fixed
teacher t_i, the paper code's direction.

Projection MLPs: the paper's 768 → 512 → 256 (ReLU) scaled to the encoder width h: h → 2h/3 → h/3.
τ = 0.2. α defaults to None, resolved from the task: 0.7 for text-pair tasks (paper code, SNLI),
0.1 otherwise (IMDB); the training log records the resolved value.

``rift-ist`` (the paper's Table 3 ablation) maximises I(S; T) instead: one projection pair and
negatives from the whole batch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.core.classifier import Classifier
from bench.core.data import DatasetSpec
from bench.core.errors import ConfigError
from bench.core.registry import METHODS
from methods.adv_base import Adversarial, AdvBase, AdvHparams, task_default
from bench.core.method import Batch, TrainContext


def info_nce(s: torch.Tensor, t: torch.Tensor, tau: float) -> torch.Tensor:
    """Î_NCE(S; T) = log N + mean_i log softmax_j(⟨ŝ_j, t̂_i⟩/τ)[j = i] for projected features (N, d)."""
    s, t = F.normalize(s, dim=-1), F.normalize(t, dim=-1)
    scores = s @ t.T / tau  # scores[j, i] = f(s_j, t_i)
    return math.log(len(s)) + torch.log_softmax(scores, dim=0).diagonal().mean()


def projection(width: int) -> nn.Sequential:
    """The paper's 768 → 512 → 256 MLP, scaled to ``width``."""
    return nn.Sequential(nn.Linear(width, 2 * width // 3), nn.ReLU(), nn.Linear(2 * width // 3, width // 3))


def conditional_info_nce(s: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, g: nn.ModuleList,
                         h: nn.ModuleList, tau: float) -> torch.Tensor:
    """Î(S; T | Y): the InfoNCE bound with critic f_y = ⟨ĝ_y(s), ĥ_y(t)⟩/τ within each class, averaged over classes."""
    bounds = [info_nce(g[y](s[labels == y]), h[y](t[labels == y]), tau)
              for y in labels.unique(sorted=True).tolist()]
    return torch.stack(bounds).mean()


@dataclass(frozen=True)
class RIFTHparams(AdvHparams):
    alpha: float | None = None  # None: 0.1 (single text, paper's IMDB) or 0.7 (text pairs, paper's SNLI)
    tau: float = 0.2

    def validate(self) -> None:
        super().validate()
        if self.alpha is not None and self.alpha < 0:
            raise ConfigError("method.alpha must be ≥ 0")
        if self.tau <= 0:
            raise ConfigError("method.tau must be > 0")


@METHODS.register("rift", "Adv-Base + α·(−Î(S;T|Y)): per-class InfoNCE between the tuned (x̃) and frozen pre-trained (x) features",
                  display="RIFT", rank=4, ablation=True)
class RIFT(AdvBase):
    Hparams = RIFTHparams
    #: condition on the label (I(S;T|Y)); rift-ist sets False (I(S;T))
    conditional = True

    def __init__(self, hparams: RIFTHparams, model: Classifier, context: TrainContext) -> None:
        super().__init__(hparams, model, context)
        self.teacher = copy.deepcopy(model.encoder).eval().requires_grad_(False)
        pairs = context.spec.num_labels if self.conditional else 1
        # The heads are initialised from their own seed, so the global random stream (data order,
        # ASCC init, dropout) is the same as Adv-Base's: with α = 0 RIFT reproduces Adv-Base exactly.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed + 1)
            self.g = nn.ModuleList(projection(model.hidden_size) for _ in range(pairs))
            self.h = nn.ModuleList(projection(model.hidden_size) for _ in range(pairs))

    @classmethod
    def task_defaults(cls, spec: DatasetSpec) -> dict[str, Any]:
        return {**super().task_defaults(spec), "alpha": task_default(spec, "alpha")}

    @classmethod
    def check_config(cls, hparams: RIFTHparams, spec, batch_size: int) -> None:
        """Each InfoNCE softmax needs N ≥ 2 pairs: with N = 1 the bound is log 1 + log 1 = 0 and the method
        silently becomes Adv-Base. Batches are class-balanced: batch_size // C examples of each of C classes."""
        super().check_config(hparams, spec, batch_size)
        classes = spec.num_labels
        per_class = max(1, batch_size // classes)
        n = per_class if cls.conditional else per_class * classes
        if n < 2:
            need = 2 * classes if cls.conditional else 2
            what = "examples of each class" if cls.conditional else "examples"
            raise ConfigError(f"{'rift' if cls.conditional else 'rift-ist'} with batch_size={batch_size} on "
                              f"{spec.name} ({classes} classes) puts {n} {what} in each InfoNCE bound, which is then "
                              f"identically 0; use batch_size ≥ {need}")

    def inactive_terms(self) -> list[str]:
        return ["info_nce (alpha=0: the bound is computed and logged, not trained)"] if self.hparams.alpha == 0 else []

    def extra_modules(self) -> list[nn.Module]:
        return [self.g, self.h]

    def teacher_features(self, model: Classifier, batch: Batch) -> torch.Tensor:
        """T: the frozen pre-trained encoder's pooled features of the clean input (eval mode, no gradient)."""
        self.teacher.eval()
        with torch.no_grad():
            enc = batch.encoding
            out = self.teacher(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                               **({"token_type_ids": enc["token_type_ids"]} if "token_type_ids" in enc else {}))
            return model.pool(out, enc["attention_mask"])

    def information(self, s: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Î(S; T | Y) (Lemma 1)."""
        return conditional_info_nce(s, t, labels, self.g, self.h, self.hparams.tau)

    def extra_loss(self, model: Classifier, batch: Batch, adv: Adversarial) -> tuple[torch.Tensor | None, dict[str, float]]:
        bound = self.information(adv.adv.features, self.teacher_features(model, batch), batch.labels)
        parts = {"info_bound": float(bound.detach())}
        if self.hparams.alpha == 0:
            # Computed and logged, but not added: the heads then get no gradient at all (rather than
            # zeros, which would still enter the loop's gradient-norm clipping and could move the
            # result by a rounding error), so α = 0 is bit-for-bit Adv-Base.
            return None, parts
        return self.hparams.alpha * -bound, parts


@METHODS.register("rift-ist", "RIFT ablation: α·(−Î(S;T)) with one projection pair and negatives from the whole batch",
                  display="RIFT, I(S;T)", rank=5, ablation=True)
class RIFTIst(RIFT):
    conditional = False

    def information(self, s: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Î(S; T): one critic, the whole batch as negatives."""
        return info_nce(self.g[0](s), self.h[0](t), self.hparams.tau)
