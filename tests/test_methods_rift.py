"""RIFT: the InfoNCE bound against NumPy, its log N ceiling, and α = 0 reproducing Adv-Base."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from methods.rift import conditional_info_nce, info_nce, projection


def _np_info_nce(s: np.ndarray, t: np.ndarray, tau: float) -> float:
    """log N + mean_i log( exp(f(s_i,t_i)) / Σ_j exp(f(s_j,t_i)) ), f = cosine / τ; written out in NumPy."""
    s = s / np.linalg.norm(s, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    n = len(s)
    total = 0.0
    for i in range(n):
        f = np.array([s[j] @ t[i] / tau for j in range(n)])
        total += f[i] - (f.max() + np.log(np.exp(f - f.max()).sum()))
    return math.log(n) + total / n


@pytest.mark.parametrize("n,d,tau", [(2, 3, 0.2), (7, 16, 0.2), (12, 5, 0.05), (5, 8, 1.0)])
def test_info_nce_equals_numpy(n, d, tau):
    rng = np.random.default_rng(n * 100 + d)
    s, t = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    got = float(info_nce(torch.tensor(s), torch.tensor(t), tau))
    assert got == pytest.approx(_np_info_nce(s, t, tau), rel=1e-10, abs=1e-10)


def test_info_nce_is_not_symmetric_in_its_direction():
    """The bound normalises over students for a fixed teacher (the paper code's direction)."""
    rng = np.random.default_rng(1)
    s, t = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    forward = float(info_nce(torch.tensor(s), torch.tensor(t), 0.2))
    swapped = float(info_nce(torch.tensor(t), torch.tensor(s), 0.2))
    assert forward == pytest.approx(_np_info_nce(s, t, 0.2), rel=1e-10)
    assert forward != pytest.approx(swapped, rel=1e-6)


def test_bound_never_exceeds_log_n_and_approaches_it():
    rng = np.random.default_rng(2)
    for n in (2, 5, 16):
        for scale in (0.0, 1.0, 10.0):
            s = rng.normal(size=(n, 8))
            t = s * scale + rng.normal(size=(n, 8))
            bound = float(info_nce(torch.tensor(s), torch.tensor(t), 0.2))
            assert bound <= math.log(n) + 1e-12  # −L_info = Î ≤ log N
    # perfectly matched, well separated pairs and a small τ: the bound is close to log N
    s = torch.eye(8, dtype=torch.float64)
    assert float(info_nce(s, s, 0.01)) == pytest.approx(math.log(8), abs=1e-6)


def test_conditional_bound_is_the_class_average_of_per_class_bounds():
    rng = np.random.default_rng(3)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    s, t = rng.normal(size=(10, 6)), rng.normal(size=(10, 6))
    identity = nn.ModuleList([nn.Identity(), nn.Identity(), nn.Identity()])
    got = float(conditional_info_nce(torch.tensor(s), torch.tensor(t), torch.tensor(labels), identity, identity, 0.2))
    expected = np.mean([_np_info_nce(s[labels == y], t[labels == y], 0.2) for y in range(3)])
    assert got == pytest.approx(expected, rel=1e-10)
    assert got <= np.mean([math.log((labels == y).sum()) for y in range(3)])
    # each class uses its own critic: a head that scales class 1's students changes only class 1's term
    scaled = nn.ModuleList([nn.Identity(), _Scale(-1.0), nn.Identity()])
    moved = float(conditional_info_nce(torch.tensor(s), torch.tensor(t), torch.tensor(labels), scaled, identity, 0.2))
    expected_moved = np.mean([_np_info_nce(s[labels == y] * (-1.0 if y == 1 else 1.0), t[labels == y], 0.2)
                              for y in range(3)])
    assert moved == pytest.approx(expected_moved, rel=1e-10)


class _Scale(nn.Module):
    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, x):
        return x * self.c


def test_projection_scales_the_paper_widths():
    sizes = [m.out_features for m in projection(768) if isinstance(m, nn.Linear)]
    assert sizes == [512, 256]
    assert [m.out_features for m in projection(384) if isinstance(m, nn.Linear)] == [256, 128]


# ---- α = 0 reproduces Adv-Base through the real training loop ----

def _spec(encoder_dir, method: str, hparams: dict):
    from bench.core.config import Scale
    from bench.core.models import fingerprint
    from bench.core.train import TrainSpec

    scale = Scale(n_train=16, n_dev=8, n_test=4, epochs=1, batch_size=8, lr=1e-4, log_every=1)
    return TrainSpec("sst2", "tiny-bert", fingerprint(encoder_dir), "mean", method, hparams, 0, scale, 32, {})


@pytest.fixture(scope="module")
def tiny_task(sst2_task):
    from bench.core.data import TaskData

    train = [ex for y in (0, 1) for ex in [e for e in sst2_task.train if e.label == y][:8]]  # 2 balanced batches
    return TaskData(sst2_task.spec, train, sst2_task.dev[:8], sst2_task.test[:4])


def _train(encoder_dir, task, assets, method_cls, **hparams):
    from bench.core.train import TrainJob, fine_tune

    hp = method_cls.Hparams(ascc_steps=2, **hparams)
    spec = _spec(encoder_dir, "x", dataclasses.asdict(hp))
    return fine_tune(TrainJob(spec, method_cls, task, encoder_dir, assets), log=lambda m: None)


def test_rift_with_alpha_zero_reproduces_adv_base(tiny_encoder_dir, tiny_task, assets):
    from methods.adv_base import AdvBase
    from methods.rift import RIFT

    base = _train(tiny_encoder_dir, tiny_task, assets, AdvBase, beta=10.0)
    rift0 = _train(tiny_encoder_dir, tiny_task, assets, RIFT, beta=10.0, alpha=0.0)
    rift = _train(tiny_encoder_dir, tiny_task, assets, RIFT, beta=10.0, alpha=1.0)
    sb, s0, s1 = base.model.state_dict(), rift0.model.state_dict(), rift.model.state_dict()
    assert all(torch.equal(sb[k], s0[k]) for k in sb)
    assert [s["loss"] for s in base.training.step_log] == [s["loss"] for s in rift0.training.step_log]
    assert base.training.epoch_log[0]["dev_ascc_robust_accuracy"] == rift0.training.epoch_log[0]["dev_ascc_robust_accuracy"]
    # the information term is real: with α > 0 the same seed gives a different model
    assert not all(torch.equal(sb[k], s1[k]) for k in sb)
    bounds = [s["info_bound"] for s in rift.training.step_log]
    assert all(np.isfinite(bounds)) and all(b <= math.log(4) + 1e-6 for b in bounds)  # 4 examples per class
    assert rift.training.resolved_hparams is None  # trained with exactly the spec's hyperparameters


def test_alpha_and_beta_defaults_follow_the_task(minilm_dir, sst2_task, assets):
    from bench.core.classifier import load_pretrained
    from bench.core.data import DatasetSpec
    from bench.core.method import TrainContext
    from methods.rift import RIFT, RIFTHparams

    model, tok = load_pretrained(minilm_dir, 3, "mean", 0)
    pair = DatasetSpec("p", ("a", "b", "c"), "p", {}, "p", {}, pair_field="hypothesis", attack_field="text_pair")
    theta0 = dict(model.encoder_parameters())
    for spec, beta, alpha in ((sst2_task.spec, 10.0, 0.1), (pair, 5.0, 0.7)):
        method = RIFT(RIFTHparams(), model, TrainContext(spec, tok, minilm_dir, theta0, 32, assets=assets))
        assert (method.hparams.beta, method.hparams.alpha) == (beta, alpha)
        assert not method.teacher.training and not any(p.requires_grad for p in method.teacher.parameters())
    explicit = RIFT(RIFTHparams(beta=2.0, alpha=0.3), model, TrainContext(pair, tok, minilm_dir, theta0, 32, assets=assets))
    assert (explicit.hparams.beta, explicit.hparams.alpha) == (2.0, 0.3)


def test_task_defaults_are_resolved_with_the_cell_and_keep_the_ids():
    """β and α are filled in where a cell is resolved, so its configuration (and record) holds one set of
    hyperparameters; a value at its task default hashes as the declared None, so records made before keep their
    ids and an explicit default names the same cell and model."""
    from bench.core.config import hparams_identity, identity_config
    from bench.core.store import config_hash
    from bench.run.grid import Cell, resolve_cell, train_group_of

    def resolved(dataset, *overrides):
        return resolve_cell(Cell(dataset, "minilm-l6", "rift", 0, "pwws", "smoke", tuple(overrides)))

    sst2, snli = resolved("sst2"), resolved("snli")
    assert (sst2.config["hparams"]["beta"], sst2.config["hparams"]["alpha"]) == (10.0, 0.1)
    assert (snli.config["hparams"]["beta"], snli.config["hparams"]["alpha"]) == (5.0, 0.7)
    assert (sst2.hparams.beta, sst2.hparams.alpha) == (10.0, 0.1)  # what the method is built with
    # the id is the hash of the configuration as it was written before, with None for the task's values
    before = {**sst2.config, "hparams": {**sst2.config["hparams"], "beta": None, "alpha": None}}
    assert sst2.cell_id == config_hash(identity_config(before)) == config_hash(identity_config(sst2.config))
    assert sst2.cell_id == resolved("sst2", ("method.beta", 10.0), ("method.alpha", 0.1)).cell_id
    other = resolved("sst2", ("method.beta", 5.0))
    assert other.cell_id != sst2.cell_id and other.train_group != sst2.train_group
    assert train_group_of(before) == sst2.train_group
    # SNLI's default β is not SST-2's: 5 on SST-2 is a setting of its own, 5 on SNLI the default
    assert hparams_identity("rift", "snli", {"beta": 5.0, "alpha": 0.7, "tau": 0.2}) == {"beta": None, "alpha": None,
                                                                                      "tau": 0.2}
    assert hparams_identity("rift", "sst2", {"beta": 5.0, "alpha": 0.7})["beta"] == 5.0
    assert hparams_identity("not-a-method", "sst2", {"beta": 10.0}) == {"beta": 10.0}
