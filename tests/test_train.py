import numpy as np
import pytest
import torch

from bench.config import Scale
from bench.models import fingerprint
from bench.train import ModelCache, TrainSpec, _batches, fine_tune, relative_distance
from bench.data import Example
from bench.victim import Victim
from methods.base import NoHparams
from methods.standard import Standard


def test_relative_distance_matches_numpy():
    rng = np.random.default_rng(0)
    ref = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    cur = {k: v + rng.normal(scale=0.1, size=v.shape) for k, v in ref.items()}
    expected = np.sqrt(sum(((cur[k] - ref[k]) ** 2).sum() for k in ref)) / np.sqrt(sum((v**2).sum() for v in ref.values()))
    got = relative_distance({k: torch.tensor(v) for k, v in cur.items()}, {k: torch.tensor(v) for k, v in ref.items()})
    assert got == pytest.approx(expected, rel=1e-12)


def test_class_balanced_batches():
    data = [Example(f"{y}:{i}", "t", y) for y, n in ((0, 10), (1, 30)) for i in range(n)]
    batches = _batches(data, 8, torch.Generator().manual_seed(0), balanced=True)
    assert len(batches) == 2  # limited by the smaller class: 10 // 4
    assert all(sum(e.label for e in b) == 4 and len(b) == 8 for b in batches)
    plain = _batches(data, 8, torch.Generator().manual_seed(0), balanced=False)
    assert sorted(e.uid for b in plain for e in b) == sorted(e.uid for e in data)


def _spec(minilm_dir, seed):
    scale = Scale(n_train=48, n_dev=16, n_test=4, epochs=1, batch_size=16, lr=1e-4, log_every=1)
    return TrainSpec("sst2", "minilm-l6", fingerprint(minilm_dir), "mean", "standard", {}, seed, scale, 32, {})


@pytest.fixture(scope="module")
def small_task(sst2_task):
    from bench.data import TaskData

    return TaskData(sst2_task.spec, sst2_task.train[:48], sst2_task.dev[:16], sst2_task.test[:4])


def test_fine_tuning_is_deterministic_and_logs_distance(small_task, minilm_dir):
    a = fine_tune(_spec(minilm_dir, 0), Standard, NoHparams(), small_task, minilm_dir, log=lambda m: None)
    b = fine_tune(_spec(minilm_dir, 0), Standard, NoHparams(), small_task, minilm_dir, log=lambda m: None)
    c = fine_tune(_spec(minilm_dir, 1), Standard, NoHparams(), small_task, minilm_dir, log=lambda m: None)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.log["epochs"] == b.log["epochs"]
    steps = a.log["steps"]
    assert [s["step"] for s in steps] == [1, 2, 3]
    distances = [s["rel_weight_distance"] for s in steps]
    assert 0 < distances[0] < distances[-1] < 0.1  # fine-tuning moves the weights, a little


def test_model_cache_roundtrip(small_task, minilm_dir, tmp_path):
    spec = _spec(minilm_dir, 2)
    trained = fine_tune(spec, Standard, NoHparams(), small_task, minilm_dir, log=lambda m: None)
    cache = ModelCache(tmp_path)
    assert cache.load(spec, 2, minilm_dir) is None
    cache.save(trained)
    entry = cache.entry(spec.key)
    assert sorted(p.name for p in entry.iterdir()) == ["manifest.json", "model.safetensors", "train_log.json"]
    import hashlib, json  # noqa: E401
    manifest = json.loads((entry / "manifest.json").read_text())["sha256"]
    assert manifest == {n: hashlib.sha256((entry / n).read_bytes()).hexdigest() for n in ("model.safetensors", "train_log.json")}
    loaded = cache.load(spec, 2, minilm_dir)
    assert loaded is not None and loaded.cached and loaded.log == trained.log
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


def test_a_half_precision_checkpoint_is_fine_tuned_in_float32(minilm_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from bench.classifier import load_pretrained

    half = tmp_path / "half"
    shutil.copytree(minilm_dir, half, ignore=shutil.ignore_patterns("model.safetensors"))
    weights = load_file(str(minilm_dir / "model.safetensors"))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, str(half / "model.safetensors"),
              metadata={"format": "pt"})
    model, _ = load_pretrained(half, 2, "mean", seed=0)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
