"""Mixout: eval mode uses the learned weights untouched; training mode mixes, with the right expectation."""

from __future__ import annotations

import torch
from torch import nn

from methods.mixout import MixoutLinear, apply_mixout, mixout


def _pair(seed: int = 0, shape=(5, 7)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)


def test_eval_mode_returns_the_learned_weight_itself():
    w, u = _pair()
    assert mixout(w, u, 0.9, training=False) is w
    layer = nn.Linear(7, 5).double()
    before = layer.weight.detach().clone()
    mixed = MixoutLinear(layer, u, 0.9).eval()
    x = torch.randn(3, 7, dtype=torch.float64)
    torch.testing.assert_close(mixed(x), x @ before.T + layer.bias, rtol=0, atol=0)
    assert torch.equal(mixed.weight, before)


def test_training_mode_mixes_whole_input_neurons():
    w, u = _pair()
    torch.manual_seed(0)
    for p in (0.3, 0.9):
        m = mixout(w, u, p, training=True)
        from_target = torch.isclose(m, u, rtol=0, atol=1e-12).all(0)
        from_learned = torch.isclose(m, (w - p * u) / (1 - p), rtol=0, atol=1e-12).all(0)
        assert bool((from_target ^ from_learned).all())  # every column is one or the other, never a blend
    # over many draws a column takes the pre-trained weights with probability p
    draws = torch.stack([torch.isclose(mixout(w, u, 0.7, True), u, rtol=0, atol=1e-12).all(0) for _ in range(4000)])
    assert abs(draws.double().mean().item() - 0.7) < 0.02


def test_training_mode_equals_the_learned_weight_in_expectation():
    w, u = _pair(1)
    torch.manual_seed(1)
    mean = torch.stack([mixout(w, u, 0.5, training=True) for _ in range(20000)]).mean(0)
    # the per-column standard error is |w − u|·sqrt(p/(1−p))/sqrt(n) ≲ 0.03 here
    torch.testing.assert_close(mean, w, rtol=0, atol=0.06)
    assert not torch.allclose(mixout(w, u, 0.5, training=True), w)  # a single draw really mixes


def test_gradient_flows_to_the_kept_columns_only():
    w, u = _pair(2)
    w.requires_grad_(True)
    torch.manual_seed(2)
    mixout(w, u, 0.5, training=True).sum().backward()
    grad = w.grad
    kept = grad[0] != 0
    torch.testing.assert_close(grad[:, kept], torch.full_like(grad[:, kept], 2.0))  # 1/(1−p)
    assert kept.any() and (~kept).any()


def test_apply_mixout_on_the_real_encoder(minilm_dir):
    from bench.core.classifier import load_pretrained

    model, tok = load_pretrained(minilm_dir, 2, "mean", 0)
    n_linear = sum(type(m) is nn.Linear for m in model.encoder.modules())
    names_before = [n for n, _ in model.named_parameters()]
    params_before = list(model.parameters())
    keys_before = list(model.state_dict())
    enc = tok(["a quiet, moving film", "dull"], padding=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        reference = model(**enc).logits
    theta0 = {k: v.detach().clone() for k, v in model.encoder_parameters().items()}
    assert apply_mixout(model.encoder, 0.9, theta0) == n_linear == 37  # 6 layers × (q, k, v, o, up, down) + pooler
    assert not any(type(m) is nn.Linear for m in model.encoder.modules())
    assert [n for n, _ in model.named_parameters()] == names_before
    assert all(a is b for a, b in zip(model.parameters(), params_before))  # the optimiser sees the same tensors
    assert list(model.state_dict()) == keys_before  # the pre-trained copies are not saved
    with torch.no_grad():
        torch.testing.assert_close(model(**enc).logits, reference, rtol=0, atol=0)
        # move the learned weights away from θ₀: training mode now mixes them back in part of the time
        for m in model.encoder.modules():
            if isinstance(m, MixoutLinear):
                m.weight.add_(0.05)
        moved = model(**enc).logits
        model.train()
        torch.manual_seed(0)
        mixed = model(**enc).logits
    assert not torch.allclose(mixed, moved)
