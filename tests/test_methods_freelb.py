"""FreeLB, FreeLB++ and InfoBERT against independent references.

* the gradient the loop applies (method loss → zero_grad → backward) equals a direct FreeLB step written
  out here (K forward/backward passes on E(x) + δ_k, gradients summed in ``.grad``);
* each ascent step stays in the Frobenius ball and increases the adversarial loss;
* InfoBERT's InfoNCE bound and its information-bottleneck term against direct loops;
* InfoBERT with α = β = 0 is FreeLB bit for bit, and with α, β > 0 it is not;
* one real training run of each method through ``bench.core.train.fine_tune``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from bench.core.classifier import Classifier
from bench.core.data import DatasetSpec
from bench.core.errors import ConfigError
from bench.core.method import Batch, TrainContext
from methods.freelb import FreeLB, FreeLBHparams, FreeLBPlus, FreeLBPlusHparams, ascent_step
from methods.infobert import Critic, InfoBERT, InfoBERTHparams, anchored_positions, bottleneck

SPEC = DatasetSpec("toy", ("neg", "pos"), "toy", {}, "toy", {})


def _tiny(dropout: float = 0.0, seed: int = 0) -> Classifier:
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=24, max_position_embeddings=16, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    return Classifier(BertModel(config), 2, "mean").double()


def _batch(seed: int = 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (4, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # padded examples
    mask[3, 3:] = 0
    ids = ids * mask
    return Batch({"input_ids": ids, "attention_mask": mask}, torch.tensor([0, 1, 1, 0]), [])


def _context() -> TrainContext:
    return TrainContext(SPEC, None, None, {}, 16)  # type: ignore[arg-type]


def _loop_gradient(method, model: Classifier, batch: Batch) -> dict[str, torch.Tensor]:
    """What bench.core.train does with a method's loss: zero_grad after the call, one backward."""
    loss, _ = method.loss(model, batch)
    model.zero_grad(set_to_none=True)
    for m in method.extra_modules():
        m.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _direct_freelb(model: Classifier, batch: Batch, k_steps: int, lr: float, mag: float, eps: float) -> dict[str, torch.Tensor]:
    """FreeLB's training step as published, written out without the method's code."""
    model.zero_grad(set_to_none=True)
    ids, mask = batch.encoding["input_ids"], batch.encoding["attention_mask"]
    emb = model.encoder.get_input_embeddings()
    e0 = emb(ids)
    lengths = mask.sum(1).double()
    delta = torch.zeros_like(e0).uniform_(-1, 1) * mask.unsqueeze(2).double()
    delta = (delta * (mag / torch.sqrt(lengths * e0.size(-1))).view(-1, 1, 1)).detach()
    for k in range(k_steps):
        delta.requires_grad_()
        out = model.encoder(inputs_embeds=emb(ids) + delta, attention_mask=mask)
        h = out.last_hidden_state
        m = mask.unsqueeze(-1).double()
        logits = model.head((h * m).sum(1) / m.sum(1))
        loss = nn.functional.cross_entropy(logits, batch.labels) / k_steps
        loss.backward()
        if k == k_steps - 1:
            break
        g = delta.grad.detach()
        new = []
        for b in range(len(ids)):  # one example at a time
            d = delta[b].detach() + lr * g[b] / max(float(g[b].norm()), 1e-8)
            if eps > 0 and float(d.norm()) > eps:
                d = d * (eps / d.norm())
            new.append(d)
        delta = torch.stack(new).detach()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("k,lr,mag,eps", [(3, 0.1, 1.0, 0.6), (4, 0.5, 0.05, 0.0), (2, 0.03, 0.0, 0.2)])
def test_the_loop_applies_freelbs_accumulated_gradient(k, lr, mag, eps):
    model, batch = _tiny(), _batch()
    model.train()
    hp = FreeLBHparams(adv_steps=k, adv_lr=lr, adv_init_mag=mag, adv_max_norm=eps, selection="clean")
    method = FreeLB(hp, model, _context())
    torch.manual_seed(5)
    got = _loop_gradient(method, model, batch)
    torch.manual_seed(5)
    expected = _direct_freelb(model, batch, k, lr, mag, eps)
    assert got.keys() == expected.keys() and len(got) > 10
    for name in expected:
        assert torch.allclose(got[name], expected[name], rtol=1e-10, atol=1e-13), name
    # the gradient is FreeLB's, not a clean-loss gradient: the embedding matrix got one
    assert float(got["encoder.embeddings.word_embeddings.weight"].abs().sum()) > 0


def test_the_returned_value_is_the_mean_adversarial_loss():
    model, batch = _tiny(), _batch()
    method = FreeLB(FreeLBHparams(adv_steps=3, selection="clean"), model, _context())
    loss, parts = method.loss(model, batch)
    assert float(loss.detach()) == pytest.approx(np.mean([t[0] for t in method.trace]), rel=1e-12)
    assert parts["ce"] == pytest.approx(float(loss.detach()), rel=1e-12)


def test_ascent_stays_in_the_ball_and_increases_the_loss():
    model, batch = _tiny(), _batch()
    model.eval()  # no dropout: the loss along the ascent is a deterministic function of δ
    for eps in (0.05, 0.2):
        hp = FreeLBHparams(adv_steps=6, adv_lr=0.02, adv_init_mag=0.05, adv_max_norm=eps, selection="clean")
        method = FreeLB(hp, model, _context())
        torch.manual_seed(0)
        method.loss(model, batch)
        losses = [t[0] for t in method.trace]
        norms = torch.stack([t[1] for t in method.trace])
        assert (norms <= eps * (1 + 1e-12)).all()
        assert all(b > a for a, b in zip(losses, losses[1:])), losses
        if eps == 0.05:  # ‖δ₀‖ ≈ 0.03, plus five steps of 0.02: the bound is reached and held
            assert float(norms[-1].max()) == pytest.approx(eps, rel=1e-9)
        else:  # ≈ 0.03 + 5·0.02 < 0.2: never projected
            assert float(norms[-1].max()) < eps


def test_ascent_step_is_a_normalised_step_then_a_projection():
    rng = np.random.default_rng(0)
    delta, grad = torch.tensor(rng.normal(size=(3, 4, 5))), torch.tensor(rng.normal(size=(3, 4, 5)))
    delta[1] *= 1e-3
    out = ascent_step(delta, grad, 0.5, 1.0)
    for b in range(3):
        step = delta[b].numpy() + 0.5 * grad[b].numpy() / np.linalg.norm(grad[b].numpy())
        n = np.linalg.norm(step)
        np.testing.assert_allclose(out[b].numpy(), step * (1.0 / n if n > 1.0 else 1.0), rtol=1e-12)
    unbounded = ascent_step(delta, grad, 0.5, 0.0)
    assert float(unbounded[0].norm()) > 1.0


def test_freelb_plus_plus_settings_and_refusals():
    hp = FreeLBPlusHparams()
    assert (hp.adv_steps, hp.adv_lr, hp.adv_init_mag, hp.adv_max_norm) == (10, 0.03, 0.05, 0.0)
    assert FreeLBPlus.Hparams is FreeLBPlusHparams
    with pytest.raises(ConfigError):
        FreeLB.check_config(FreeLBHparams(adv_steps=1, adv_init_mag=0.0), SPEC, 8)
    with pytest.raises(ConfigError):
        FreeLBHparams(adv_steps=0).validate()
    with pytest.raises(ConfigError):
        FreeLBHparams(selection="test").validate()
    with pytest.raises(ConfigError):
        InfoBERTHparams(cl=0.9, ch=0.5).validate()


# ---- InfoBERT's estimators against direct computations ----

def test_infonce_bound_equals_a_direct_loop():
    torch.manual_seed(0)
    critic = Critic(5, 3, 7).double()
    x, z = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    f = lambda a, b: float(critic.net(torch.cat([a, b]).unsqueeze(0)).detach())  # noqa: E731
    n = len(x)
    direct = np.mean([f(x[i], z[i]) for i in range(n)]) - np.mean(
        [math.log(sum(math.exp(f(x[j], z[i])) for j in range(n))) for i in range(n)]) + math.log(n)
    assert float(critic.bound(x, z).detach()) == pytest.approx(direct, rel=1e-10)
    assert float(critic.bound(x, z).detach()) <= math.log(n)


def test_bottleneck_is_the_expectation_of_the_random_pair_club_estimate():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(9, 4))
    pairwise = 0.5 * np.mean([np.sum((t[j] - t[k]) ** 2) for j in range(9) for k in range(9)])
    assert float(bottleneck(torch.tensor(t))) == pytest.approx(pairwise, rel=1e-12)
    # InfoBERT's code: ½‖t_j − t_r(j)‖² with r(j) uniform, averaged over j — its mean over many draws
    draws = [0.5 * np.mean(np.sum((t - t[rng.integers(0, 9, 9)]) ** 2, axis=1)) for _ in range(20000)]
    assert np.mean(draws) == pytest.approx(pairwise, rel=0.02)


def test_anchored_positions_take_the_middle_ranks():
    norms = torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 1.0])  # 10 tokens
    # ascending ranks 5..8 (⌈10·0.5⌉ = 5 to ⌈10·0.9⌉ = 9): values 0.6, 0.7, 0.8, 0.9
    assert sorted(anchored_positions(norms, 0.5, 0.9).tolist()) == [0, 4, 6, 8]
    assert anchored_positions(torch.tensor([0.3, 0.1]), 0.5, 0.9).tolist() == [0]


def test_infobert_with_zero_weights_is_freelb_exactly():
    batch = _batch()
    adv = dict(adv_steps=3, adv_lr=0.04, adv_init_mag=0.08, adv_max_norm=0.0, selection="clean")
    grads = {}
    for name, cls, hp in (("freelb", FreeLB, FreeLBHparams(**adv)),
                          ("info0", InfoBERT, InfoBERTHparams(alpha=0.0, beta=0.0, **adv)),
                          ("info", InfoBERT, InfoBERTHparams(alpha=0.5, beta=0.5, **adv))):
        model = _tiny(dropout=0.1)
        model.train()
        method = cls(hp, model, _context())
        torch.manual_seed(7)
        grads[name] = _loop_gradient(method, model, batch)
    assert all(torch.equal(grads["freelb"][n], grads["info0"][n]) for n in grads["freelb"])
    assert not all(torch.equal(grads["freelb"][n], grads["info"][n]) for n in grads["freelb"])
    assert InfoBERT(InfoBERTHparams(alpha=0.0, beta=0.0, selection="clean"), _tiny(), _context()).inactive_terms()


def test_infobert_trains_its_critic_and_logs_its_terms():
    model, batch = _tiny(), _batch()
    method = InfoBERT(InfoBERTHparams(selection="clean", alpha=1.0, beta=1.0), model, _context())
    loss, parts = method.loss(model, batch)
    loss.backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in method.critic.parameters())
    assert {"ce", "ib", "anchored_bound", "anchored_pairs"} <= set(parts)
    assert parts["anchored_pairs"] > 0 and parts["anchored_bound"] <= math.log(len(batch.labels)) + 1e-9


# ---- through the real training loop ----

@pytest.mark.parametrize("method", ["freelb", "freelb++", "infobert"])
def test_trains_through_the_loop(method, minilm_dir, sst2_task, assets):
    from bench.core.config import Scale
    from bench.core.data import TaskData
    from bench.core.models import fingerprint
    from bench.core.registry import METHODS
    from bench.core.train import TrainJob, TrainSpec, fine_tune

    cls = METHODS.get(method)
    hp = dataclasses.replace(cls.Hparams(), adv_steps=2, selection="ascc" if method == "freelb" else "clean")
    task = TaskData(sst2_task.spec, sst2_task.train[:16], sst2_task.dev[:6], sst2_task.test[:2])
    scale = Scale(n_train=16, n_dev=6, n_test=2, epochs=1, batch_size=8, lr=1e-4, log_every=1)
    spec = TrainSpec("sst2", "minilm-l6", fingerprint(minilm_dir), "mean", method, dataclasses.asdict(hp), 0, scale, 32, {})
    trained = fine_tune(TrainJob(spec, cls, task, minilm_dir, assets), log=lambda m: None)
    epoch = trained.training.epoch_log[0]
    assert epoch["step"] == 2 and epoch["rel_weight_distance"] > 0
    assert {"ce", "delta_norm", "adv_loss_gain"} <= set(epoch["terms"])
    expected_metric = "dev_ascc_robust_accuracy" if method == "freelb" else "dev_accuracy"
    assert trained.training.selection_metric == expected_metric and expected_metric in epoch
    if method == "infobert":
        assert {"ib", "anchored_bound"} <= set(epoch["terms"])


def test_without_a_perturbation_freelb_trains_exactly_as_standard(minilm_dir, sst2_task, assets):
    """K = 1 and no random start: FreeLB's loss is the clean CE, so through the real loop (carrier, clipping,
    AdamW, dropout) it must give the standard model bit for bit."""
    from bench.core.config import Scale
    from bench.core.data import TaskData
    from bench.core.models import fingerprint
    from bench.core.train import TrainJob, TrainSpec, fine_tune
    from methods.standard import Standard

    task = TaskData(sst2_task.spec, sst2_task.train[:16], sst2_task.dev[:6], sst2_task.test[:2])
    scale = Scale(n_train=16, n_dev=6, n_test=2, epochs=1, batch_size=8, lr=1e-4, log_every=1, grad_clip=1.0)
    hp = FreeLBHparams(adv_steps=1, adv_init_mag=0.0, selection="clean")
    spec = TrainSpec("sst2", "minilm-l6", fingerprint(minilm_dir), "mean", "x", dataclasses.asdict(hp), 0, scale, 32, {})
    free = fine_tune(TrainJob(spec, FreeLB, task, minilm_dir, assets), log=lambda m: None)
    std = fine_tune(TrainJob(dataclasses.replace(spec, hparams={}), Standard, task, minilm_dir, assets), log=lambda m: None)
    a, b = free.model.state_dict(), std.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s["loss"] for s in free.training.step_log] == [s["loss"] for s in std.training.step_log]
