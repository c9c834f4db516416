import numpy as np
import pytest
import torch

from bench.core.config import Scale
from bench.core.models import fingerprint
from bench.core.model_cache import ModelCache
from bench.core.train import (TrainJob, TrainSpec, fine_tune, make_batches, make_schedule, param_groups, relative_distance,
                              squared_norm)
from bench.core.data import Example
from bench.core.victim import Victim
from methods.standard import Standard


def test_relative_distance_matches_numpy():
    rng = np.random.default_rng(0)
    ref = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    cur = {k: v + rng.normal(scale=0.1, size=v.shape) for k, v in ref.items()}
    expected = np.sqrt(sum(((cur[k] - ref[k]) ** 2).sum() for k in ref)) / np.sqrt(sum((v**2).sum() for v in ref.values()))
    cur_t, ref_t = {k: torch.tensor(v) for k, v in cur.items()}, {k: torch.tensor(v) for k, v in ref.items()}
    got = relative_distance(cur_t, ref_t)
    assert got == pytest.approx(expected, rel=1e-12)
    assert relative_distance(cur_t, ref_t, squared_norm(ref_t)) == got  # the denominator computed once, as training does


def test_class_balanced_batches():
    data = [Example(f"{y}:{i}", "t", y) for y, n in ((0, 10), (1, 30)) for i in range(n)]
    batches = make_batches(data, 8, torch.Generator().manual_seed(0), balanced=True)
    assert len(batches) == 2  # limited by the smaller class: 10 // 4
    assert all(sum(e.label for e in b) == 4 and len(b) == 8 for b in batches)
    plain = make_batches(data, 8, torch.Generator().manual_seed(0), balanced=False)
    assert sorted(e.uid for b in plain for e in b) == sorted(e.uid for e in data)


def _spec(encoder_dir, seed):
    """Training mechanics run on ``tiny_encoder_dir`` (a tiny random BERT): what they test does not depend on size."""
    scale = Scale(n_train=48, n_dev=16, n_test=4, epochs=1, batch_size=16, lr=1e-4, log_every=1)
    return TrainSpec("sst2", encoder_dir.name, fingerprint(encoder_dir), "mean", "standard", {}, seed, scale, 32, {})


@pytest.fixture(scope="module")
def small_task(sst2_task):
    from bench.core.data import TaskData

    return TaskData(sst2_task.spec, sst2_task.train[:48], sst2_task.dev[:16], sst2_task.test[:4])


def test_fine_tuning_is_deterministic_and_logs_distance(small_task, tiny_encoder_dir):
    a = fine_tune(TrainJob(_spec(tiny_encoder_dir, 0), Standard, small_task, tiny_encoder_dir), log=lambda m: None)
    b = fine_tune(TrainJob(_spec(tiny_encoder_dir, 0), Standard, small_task, tiny_encoder_dir), log=lambda m: None)
    c = fine_tune(TrainJob(_spec(tiny_encoder_dir, 1), Standard, small_task, tiny_encoder_dir), log=lambda m: None)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.training.epoch_log == b.training.epoch_log
    steps = a.training.step_log
    assert [s["step"] for s in steps] == [1, 2, 3]
    distances = [s["rel_weight_distance"] for s in steps]
    assert 0 < distances[0] < distances[-1] < 0.1  # fine-tuning moves the weights, a little


def test_model_cache_roundtrip(small_task, tiny_encoder_dir, tmp_path):
    spec = _spec(tiny_encoder_dir, 2)
    trained = fine_tune(TrainJob(spec, Standard, small_task, tiny_encoder_dir), log=lambda m: None)
    cache = ModelCache(tmp_path)
    assert cache.load(spec, 2, tiny_encoder_dir) is None
    cache.save(spec, trained)
    entry = cache.entry(spec.key)
    assert sorted(p.name for p in entry.iterdir()) == ["manifest.json", "model.safetensors", "train_log.json"]
    import hashlib, json  # noqa: E401
    manifest = json.loads((entry / "manifest.json").read_text())["sha256"]
    assert manifest == {n: hashlib.sha256((entry / n).read_bytes()).hexdigest() for n in ("model.safetensors", "train_log.json")}
    loaded = cache.load(spec, 2, tiny_encoder_dir)
    assert loaded is not None and loaded.cached and not trained.cached
    assert loaded.training.to_json() == {**trained.training.to_json(), "from_cache": True}
    texts = [ex.text for ex in small_task.test]
    p1 = Victim(trained.model, trained.tokenizer, 32).predict_proba(texts)
    p2 = Victim(loaded.model, loaded.tokenizer, 32).predict_proba(texts)
    np.testing.assert_array_equal(p1, p2)
    assert not list(tmp_path.glob(".*tmp*"))  # no half-written entries left behind


def test_train_key_depends_on_what_changes_the_model(minilm_dir):
    import dataclasses

    base = _spec(minilm_dir, 0)
    other_seed = _spec(minilm_dir, 1)
    other_lr = dataclasses.replace(base, scale=dataclasses.replace(base.scale, lr=2e-4))
    other_test_size = dataclasses.replace(base, scale=dataclasses.replace(base.scale, n_test=99))
    assert len({base.key, other_seed.key, other_lr.key}) == 3
    assert other_test_size.key == base.key  # the attacked test sample does not change the trained model
    # Adv-Base's β at SST-2's default names the model cached when β was resolved at training time (None)
    adv = dataclasses.replace(base, method="adv-base", hparams={"beta": None})
    assert dataclasses.replace(adv, hparams={"beta": 10.0}).key == adv.key
    assert dataclasses.replace(adv, hparams={"beta": 5.0}).key != adv.key


def test_a_half_precision_checkpoint_is_fine_tuned_in_float32(minilm_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from bench.core.classifier import load_pretrained

    half = tmp_path / "half"
    shutil.copytree(minilm_dir, half, ignore=shutil.ignore_patterns("model.safetensors"))
    weights = load_file(str(minilm_dir / "model.safetensors"))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, str(half / "model.safetensors"),
              metadata={"format": "pt"})
    model, _ = load_pretrained(half, 2, "mean", seed=0)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def _lengths_padding(batches) -> int:
    return sum(len(b) * max(len(e.text) for e in b) for b in batches)


@pytest.mark.parametrize("balanced", [True, False])
def test_length_grouped_batches_keep_the_examples_and_cut_padding(sst2_task, balanced):
    data = sst2_task.train[:400]
    plain = make_batches(data, 16, torch.Generator().manual_seed(3), balanced)
    grouped = make_batches(data, 16, torch.Generator().manual_seed(3), balanced, group_by_length=True)
    again = make_batches(data, 16, torch.Generator().manual_seed(3), balanced, group_by_length=True)
    assert [[e.uid for e in b] for b in grouped] == [[e.uid for e in b] for b in again]  # seeded
    assert sorted(e.uid for b in grouped for e in b) == sorted(e.uid for b in plain for e in b)
    assert [len(b) for b in grouped] == [len(b) for b in plain]
    if balanced:  # every batch still holds each class equally
        assert all(sum(e.label for e in b) == len(b) // 2 for b in grouped)
    # padded characters (a batch pads to its longest text): grouping must cut them clearly
    assert _lengths_padding(grouped) < 0.8 * _lengths_padding(plain)
    # and the batches are not in length order (the order over the epoch stays random)
    longest = [max(len(e.text) for e in b) for b in grouped]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)


def _lr_trace(scale: Scale, steps_per_epoch: int) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=scale.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, make_schedule(scale, steps_per_epoch))
    trace = []
    for _ in range(steps_per_epoch * scale.epochs):
        trace.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return trace


def test_paper_schedule_is_the_official_per_epoch_warmup_then_constant():
    # The official code: WarmupMultiStepLR(milestones (50, 80), gamma 0.1, warmup_factor 1/10, warmup_iters 2,
    # "linear"), stepped once per epoch. Its factor for epoch e is written out here independently.
    def official(e: int) -> float:
        factor = 1.0
        if e < 2:
            factor = 0.1 * (1 - e / 2) + e / 2
        return factor * 0.1 ** sum(e >= m for m in (50, 80))

    scale = Scale(n_train=None, n_dev=1, n_test=1, epochs=5, batch_size=32, lr=2e-5,
                  lr_schedule="epoch-warmup-constant", warmup_epochs=2)
    trace = _lr_trace(scale, steps_per_epoch=3)
    expected = [2e-5 * official(step // 3) for step in range(15)]
    assert trace == pytest.approx(expected, rel=1e-12)
    assert trace[0] == pytest.approx(2e-6) and trace[3] == pytest.approx(1.1e-5) and trace[-1] == pytest.approx(2e-5)


def test_linear_and_constant_schedules():
    linear = _lr_trace(Scale(n_train=1, n_dev=1, n_test=1, epochs=2, batch_size=1, lr=1.0, warmup_ratio=0.2), 5)
    # 2 warm-up steps (1/2, 2/2), then (total − step) / (total − warm-up) for steps 2..9
    assert linear == pytest.approx([0.5, 1.0] + [(10 - s) / 8 for s in range(2, 10)])
    constant = _lr_trace(Scale(n_train=1, n_dev=1, n_test=1, epochs=2, batch_size=1, lr=1.0, warmup_ratio=0.2,
                               lr_schedule="constant"), 5)
    assert constant == pytest.approx([0.5] + [1.0] * 9)


def test_weight_decay_scope_heads_spares_the_encoder(minilm_dir):
    from bench.core.classifier import load_pretrained

    model, _ = load_pretrained(minilm_dir, 2, "mean", seed=0)
    extra = [torch.nn.Linear(4, 4)]
    encoder = {id(p) for p in model.encoder_parameters().values()}
    every = [p for p in model.parameters()] + list(extra[0].parameters())
    (all_group,) = param_groups(model, extra, Scale(1, 1, 1, 1, 1, 1.0, weight_decay=0.5))
    assert all_group["weight_decay"] == 0.5 and len(all_group["params"]) == len(every)
    decayed, spared = param_groups(model, extra, Scale(1, 1, 1, 1, 1, 1.0, weight_decay=0.5, weight_decay_scope="heads"))
    assert decayed["weight_decay"] == 0.5 and spared["weight_decay"] == 0.0
    assert {id(p) for p in spared["params"]} == encoder
    assert {id(p) for p in decayed["params"]} == {id(p) for p in every} - encoder
    assert len(decayed["params"]) == 4 + 2  # the head's two Linear layers and the extra module


def test_loop_settings_reach_the_optimiser(small_task, tiny_encoder_dir, monkeypatch):
    import dataclasses

    seen: dict = {"clipped": 0}
    real_adamw = torch.optim.AdamW

    def adamw(groups, **kwargs):
        seen.update(kwargs)
        return real_adamw(groups, **kwargs)

    def clip(params, max_norm):
        seen["clipped"] += 1
        seen["max_norm"] = max_norm

    monkeypatch.setattr(torch.optim, "AdamW", adamw)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    spec = _spec(tiny_encoder_dir, 0)
    spec = dataclasses.replace(spec, scale=dataclasses.replace(spec.scale, adam_eps=1e-6, grad_clip=0.0))
    trained = fine_tune(TrainJob(spec, Standard, small_task, tiny_encoder_dir), log=lambda m: None)
    assert seen["eps"] == 1e-6 and seen["clipped"] == 0  # grad_clip=0: never clipped
    assert trained.training.epoch_log[0]["terms"]["ce"] > 0  # per-epoch mean of each loss term
    spec = dataclasses.replace(spec, scale=dataclasses.replace(spec.scale, grad_clip=0.5))
    fine_tune(TrainJob(spec, Standard, small_task, tiny_encoder_dir), log=lambda m: None)
    assert seen["clipped"] == 3 and seen["max_norm"] == 0.5


def test_model_notes_by_hand():
    """Near chance: dev accuracy less than 5 points above the majority-class rate; near-constant: one class predicted
    for ≥ 95 % of the dev examples (what selecting by robust dev accuracy can keep)."""
    from bench.core.config import SCALES
    from bench.core.data import Example
    from bench.core.train import model_notes

    dev = [Example(str(i), "x", label) for i, label in enumerate([0] * 12 + [1] * 8)]  # majority rate 0.6
    scale = SCALES["smoke"]
    assert model_notes([ex.label for ex in dev], dev, scale) == []  # perfect
    chance = model_notes([0] * 12 + [1, 1, 0, 0, 0, 0, 0, 1], dev, scale)  # accuracy 0.75: 15 points above
    assert chance == []
    close = model_notes([0] * 10 + [1, 1] + [1, 0, 0, 0, 0, 0, 0, 0], dev, scale)  # 0.55 < 0.6 + 0.05
    assert len(close) == 1 and close[0].startswith("near chance: clean dev accuracy 0.550")
    assert "raise epochs (now 2), n_train (now 512) or lr (now 0.0001)" in close[0]
    constant = model_notes([0] * 20, dev, scale)  # 0.6 accuracy, class 0 for 100 %
    assert [n.split(":")[0] for n in constant] == ["near chance", "near-constant"] and "100 %" in constant[1]


def test_a_cache_entry_written_before_the_typed_log_reads_as_the_same_training():
    """Entries cached before ``train_log.json`` held the Training section (a flat log) still load, with the
    record fields they always gave; an entry without ``resolved_hparams`` records the configuration's."""
    from bench.core.model_cache import LOG_FORMAT, training_of
    from bench.core.record import Training

    epochs = [{"epoch": 1, "step": 3, "dev_accuracy": 0.5, "rel_weight_distance": 0.01},
              {"epoch": 2, "step": 6, "dev_accuracy": 0.75, "rel_weight_distance": 0.02}]
    flat = {"train_key": "k", "config": {"hparams": {"beta": 1.0}, "train": {"epochs": 2}}, "steps": [{"step": 3}],
            "epochs": epochs, "selected_epoch": 2, "selection_metric": "dev_accuracy", "selected_dev_score": 0.75,
            "selected_dev_accuracy": 0.75, "final_rel_weight_distance": 0.02, "selected_rel_weight_distance": 0.02,
            "train_seconds": 9.5, "steps_total": 6}
    training = training_of(flat)
    assert training == Training(train_key="k", from_cache=False, epochs=2, selected_epoch=2,
                                selection_metric="dev_accuracy", selected_dev_accuracy=0.75,
                                final_rel_weight_distance=0.02, selected_rel_weight_distance=0.02, train_seconds=9.5,
                                epoch_log=epochs, resolved_hparams={"beta": 1.0}, inactive_terms=[],
                                step_log=[{"step": 3}], notes=[])
    assert training_of({**flat, "resolved_hparams": {"beta": 2.0}}).resolved_hparams == {"beta": 2.0}
    assert training_of({"format": LOG_FORMAT, "config": {}, "training": training.to_json()}) == training
