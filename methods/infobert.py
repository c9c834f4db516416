"""InfoBERT (Wang et al., ICLR 2021): two information-theoretic regularisers on FreeLB's adversarial loop.

At every ascent step k of FreeLB (``methods.freelb``), on the perturbed input:

    L_k = CE + β · IB + α · AF,         the parameter gradient accumulated over k as in FreeLB (÷ K),

* **IB, the information-bottleneck regulariser** (an upper bound on Σᵢ I(Xᵢ; Tᵢ), Tᵢ the embedding-layer
  output of token i). InfoBERT's code estimates it with CLUB under a unit-variance Gaussian q(t | x) centred
  on t itself, so the positive term is 0 and the estimate is ½‖t_j − t_r(j)‖² averaged over the batch's
  non-padding tokens j, r(j) a random token. We use its expectation over r, computed exactly:

      IB = ½ · mean_{j,k} ‖t_j − t_k‖² = mean_j ‖t_j − t̄‖²       (t̄ the mean token representation),

  which draws no random numbers (so β = 0 leaves the random stream, and the result, FreeLB's).
* **AF, the anchored-feature regulariser** = −Î_NCE(T_local; Z): the step's δ-gradient (of CE + β·IB) ranks
  each example's n non-padding tokens by ‖∇_δ‖; those ranked in [⌈n·c_l⌉, ⌈n·c_h⌉) (ascending) are the
  "local anchored features" — robust enough (not the most vulnerable 1 − c_h) yet useful (not the least
  vulnerable c_l). Their embedding-layer outputs are paired with their sentence's representation Z, the
  pairs shuffled and cut into chunks of the batch size, and for each chunk of N pairs

      Î_NCE = (1/N) Σᵢ f(xᵢ, zᵢ) − (1/N) Σᵢ log Σⱼ exp f(xⱼ, zᵢ) + log N,   f = softplus(MLP([x; z])),

  (an MLP with one hidden layer of 300, trained with the model) is averaged over the chunks.

The δ-ascent uses the gradient of CE + β·IB, as in InfoBERT's code. Defaults: InfoBERT's and TextDefender's
(K = 3, η = 0.04, m = 0.08, no norm bound, α = β = 5·10⁻³, c_l = 0.5, c_h = 0.9).

Departures: Z is the pooled feature the classifier's head reads (InfoBERT: the last layer's first token;
the same for ``cls`` pooling, the masked mean for sentence encoders); IB is the exact expectation of the
code's one-sample estimate (above); the pairs are shuffled with a generator of the method's own (seeded
from the training seed) rather than the same fixed permutation at every step. With α = β = 0 InfoBERT is
FreeLB with the same adversarial settings, bit for bit (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from bench.core.classifier import Classifier
from bench.core.errors import ConfigError
from bench.core.registry import METHODS
from bench.core.method import Batch, TrainContext
from methods.freelb import FreeLB, Pass, ascent_preset


@dataclass(frozen=True)
class InfoBERTHparams(ascent_preset("InfoBERTAscent", __name__, adv_steps=3, adv_lr=0.04, adv_init_mag=0.08,
                                    adv_max_norm=0.0)):
    beta: float = 5e-3  # weight of the information-bottleneck regulariser
    alpha: float = 5e-3  # weight of the anchored-feature regulariser
    cl: float = 0.5  # lower rank threshold of the anchored features
    ch: float = 0.9  # upper rank threshold
    critic_hidden: int = 300

    def validate(self) -> None:
        super().validate()
        if self.alpha < 0 or self.beta < 0:
            raise ConfigError("method.alpha and method.beta must be ≥ 0")
        if not 0 <= self.cl < self.ch <= 1:
            raise ConfigError("method.cl and method.ch must satisfy 0 ≤ cl < ch ≤ 1")
        if self.critic_hidden < 1:
            raise ConfigError("method.critic_hidden must be ≥ 1")


class Critic(nn.Module):
    """InfoBERT's InfoNCE critic f(x, z) = softplus(W₂ ReLU(W₁ [x; z])), and the bound it gives."""

    def __init__(self, x_dim: int, z_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(x_dim + z_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Softplus())

    def scores(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """scores[i, j] = f(x_j, z_i) for (N, d) inputs."""
        n = len(x)
        pairs = torch.cat([x.unsqueeze(0).expand(n, n, -1), z.unsqueeze(1).expand(n, n, -1)], dim=-1)
        return self.net(pairs).squeeze(-1)

    def bound(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Î_NCE = mean_i f(x_i, z_i) − mean_i logsumexp_j f(x_j, z_i) + log N (≤ log N)."""
        s = self.scores(x, z)
        return s.diagonal().mean() - torch.logsumexp(s, dim=1).mean() + math.log(len(x))


def bottleneck(tokens: torch.Tensor) -> torch.Tensor:
    """IB = mean_j ‖t_j − t̄‖² over token representations (N, d) — ½·mean_{j,k}‖t_j − t_k‖²."""
    return (tokens - tokens.mean(0, keepdim=True)).pow(2).sum(-1).mean()


def anchored_positions(grad_norms: torch.Tensor, cl: float, ch: float) -> torch.Tensor:
    """Indices into ``grad_norms`` (one example's n tokens) ranked in [⌈n·cl⌉, ⌈n·ch⌉) in ascending order."""
    n = len(grad_norms)
    order = torch.sort(grad_norms, stable=True).indices
    return order[math.ceil(n * cl):math.ceil(n * ch)]


@METHODS.register("infobert", "InfoBERT: FreeLB + β·information bottleneck + α·anchored-feature InfoNCE",
                  display="InfoBERT", rank=8, beyond_paper=True,
                  reference="Wang et al. 2021")
class InfoBERT(FreeLB):
    Hparams = InfoBERTHparams

    def setup(self, model: Classifier, context: TrainContext) -> None:
        hparams = self.hparams
        width = model.input_embeddings().embedding_dim
        # Seeded apart from the global stream, so that with α = β = 0 the run is FreeLB's exactly.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed + 2)
            self.critic = Critic(width, model.hidden_size, hparams.critic_hidden).to(model.input_embeddings().weight.dtype)
        self.shuffle = torch.Generator().manual_seed(context.seed + 3)
        self.wants_hidden = hparams.alpha > 0 or hparams.beta > 0
        self.keeps_graph = hparams.alpha > 0  # the anchored term backpropagates through the step's graph again

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"shuffle": self.shuffle.get_state()}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        self.shuffle.set_state(state["shuffle"])

    def inactive_terms(self) -> list[str]:
        off = []
        if self.hparams.beta == 0:
            off.append("information bottleneck (beta=0)")
        if self.hparams.alpha == 0:
            off.append("anchored features (alpha=0)")
        return off

    def extra_modules(self) -> list[nn.Module]:
        return [self.critic] if self.hparams.alpha > 0 else []

    @staticmethod
    def _tokens(out: Pass, batch: Batch) -> torch.Tensor:
        assert out.embedding_output is not None
        return out.embedding_output[batch.encoding["attention_mask"].bool()]

    def step_loss(self, batch: Batch, out: Pass) -> tuple[torch.Tensor, dict[str, float]]:
        ce, parts = super().step_loss(batch, out)
        if self.hparams.beta == 0:
            return ce, parts
        ib = bottleneck(self._tokens(out, batch))
        return ce + self.hparams.beta * ib, {**parts, "ib": float(ib.detach())}

    def anchored_bound(self, batch: Batch, out: Pass, delta_grad: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The mean Î_NCE over chunks of (anchored token, sentence) pairs, and the number of pairs."""
        assert out.embedding_output is not None
        mask = batch.encoding["attention_mask"].bool()
        norms = delta_grad.norm(dim=-1)
        rows, cols = [], []
        for b in range(len(mask)):
            tokens = mask[b].nonzero().squeeze(1)
            pos = tokens[anchored_positions(norms[b, tokens], self.hparams.cl, self.hparams.ch)]
            rows += [b] * len(pos)
            cols += pos.tolist()
        order = torch.randperm(len(rows), generator=self.shuffle).tolist()
        rows_t = torch.tensor([rows[i] for i in order], device=norms.device, dtype=torch.long)
        cols_t = torch.tensor([cols[i] for i in order], device=norms.device, dtype=torch.long)
        local, sentence = out.embedding_output[rows_t, cols_t], out.features[rows_t]
        size = len(batch.labels)
        bounds = [self.critic.bound(local[s:s + size], sentence[s:s + size]) for s in range(0, len(rows), size)]
        return torch.stack(bounds).mean(), len(rows)

    def after_grad(self, batch: Batch, out: Pass, delta_grad: torch.Tensor) -> tuple[torch.Tensor | None, dict[str, float]]:
        if self.hparams.alpha == 0:
            return None, {}
        bound, pairs = self.anchored_bound(batch, out, delta_grad)
        if pairs == 0:
            return None, {"anchored_bound": 0.0, "anchored_pairs": 0.0}
        return self.hparams.alpha * -bound, {"anchored_bound": float(bound.detach()), "anchored_pairs": float(pairs)}
