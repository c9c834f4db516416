"""Adv-PTWD's penalty λ·‖θ − θ₀‖₂: its value and its gradient against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.adv_ptwd import weight_distance


def _params(seed: int):
    rng = np.random.default_rng(seed)
    ref = {"a.weight": rng.normal(size=(3, 4)), "a.bias": rng.normal(size=4), "b.weight": rng.normal(size=(2, 2))}
    cur = {k: v + rng.normal(scale=0.3, size=v.shape) for k, v in ref.items()}
    return cur, ref


def test_value_is_the_unsquared_norm_over_all_tensors():
    cur, ref = _params(0)
    expected = np.sqrt(sum(((cur[k] - ref[k]) ** 2).sum() for k in ref) + 1e-10)
    got = weight_distance({k: torch.tensor(v) for k, v in cur.items()}, {k: torch.tensor(v) for k, v in ref.items()})
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_gradient_matches_finite_differences():
    cur, ref = _params(1)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in cur.items()}
    reference = {k: torch.tensor(v) for k, v in ref.items()}
    weight_distance(params, reference).backward()

    def value(arrays: dict[str, np.ndarray]) -> float:  # the penalty in plain NumPy, no autograd
        return float(np.sqrt(sum(((arrays[k] - ref[k]) ** 2).sum() for k in ref) + 1e-10))

    h = 1e-6
    for name, array in cur.items():
        numeric = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            up = {k: v.copy() for k, v in cur.items()}
            down = {k: v.copy() for k, v in cur.items()}
            up[name][idx] += h
            down[name][idx] -= h
            numeric[idx] = (value(up) - value(down)) / (2 * h)
        np.testing.assert_allclose(params[name].grad.numpy(), numeric, rtol=1e-6, atol=1e-9)
    # an unsquared norm: the gradient over all tensors has unit length
    total = np.sqrt(sum((p.grad.numpy() ** 2).sum() for p in params.values()))
    assert total == pytest.approx(1.0, rel=1e-8)


def test_gradient_exists_at_the_pretrained_weights():
    ref = {"w": torch.randn(3, dtype=torch.float64)}
    params = {"w": ref["w"].clone().requires_grad_(True)}
    weight_distance(params, ref).backward()
    assert torch.isfinite(params["w"].grad).all() and torch.equal(params["w"].grad, torch.zeros(3, dtype=torch.float64))
