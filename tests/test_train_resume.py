"""Per-epoch training checkpoints: a fine-tuning killed after an epoch resumes there and ends with the same
model and log as a run that never stopped (bit for bit on CPU), for methods with extra modules, class-balanced
batches, an inner adversary and a random generator of their own. The encoder is a tiny random BERT
(``tiny_encoder_dir``): what a checkpoint must carry does not depend on the encoder's size."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from bench.core.config import Scale
from bench.core.models import fingerprint
from bench.core.registry import METHODS
from bench.core.model_cache import ModelCache, train_or_load
from bench.core.train import TrainJob, TrainSpec, fine_tune
import bench.core.train_checkpoint as checkpoint_module


class Killed(Exception):
    """Stands in for SIGKILL right after a checkpoint was written."""


@pytest.fixture(scope="module")
def tiny_task(sst2_task):
    from bench.core.data import TaskData

    return TaskData(sst2_task.spec, sst2_task.train[:32], sst2_task.dev[:8], sst2_task.test[:2])


def _spec(tiny_encoder_dir, method: str, hparams: dict, epochs: int = 3) -> TrainSpec:
    scale = Scale(n_train=32, n_dev=8, n_test=2, epochs=epochs, batch_size=8, lr=1e-4, log_every=1)
    return TrainSpec("sst2", "tiny-bert", fingerprint(tiny_encoder_dir), "mean", method, hparams, 0, scale, 24, {})


def _train(spec, tiny_task, tiny_encoder_dir, checkpoints=None, said=None):
    job = TrainJob(spec, METHODS.get(spec.method), tiny_task, tiny_encoder_dir)
    return fine_tune(job, log=(said.append if said is not None else lambda m: None), checkpoints=checkpoints)


def _same(a, b) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    strip = lambda training: {k: v for k, v in training.to_json().items() if k != "train_seconds"}  # noqa: E731
    assert strip(a.training) == strip(b.training)


def _kill_after_epoch(monkeypatch, epoch: int) -> None:
    original = checkpoint_module.EpochCheckpoints.save

    def save_then_die(self, n, snapshot):
        path = original(self, n, snapshot)
        if n == epoch:
            raise Killed
        return path

    monkeypatch.setattr(checkpoint_module.EpochCheckpoints, "save", save_then_die)


def _stateful(cls) -> bool:
    """Defines state of its own beyond the classifier (modules or tensors a checkpoint must carry); a subclass that
    only inherits it is covered by its parent's case."""
    return any(hook in vars(cls) for hook in ("extra_modules", "state_tensors"))


def _cheap(cls) -> dict:
    """Every inner-step count of the method's hyperparameters set to 1: what a checkpoint must carry is the same."""
    defaults = cls.Hparams()
    return {f.name: 1 for f in dataclasses.fields(defaults) if f.name.endswith("steps")
            and isinstance(getattr(defaults, f.name), int)}


#: standard, and every registered method with state of its own (today RIFT's projection heads, class-balanced batches
#: and ASCC; InfoBERT's shuffle generator): a new stateful method is tested here without an edit
METHOD_CASES = [pytest.param("standard", {}, id="standard")] + [
    pytest.param(entry.name, _cheap(entry.obj), id=entry.name) for entry in METHODS.entries() if _stateful(entry.obj)]


def test_the_stateful_methods_are_found():
    assert {case.id for case in METHOD_CASES} >= {"standard", "rift", "infobert"}


@pytest.mark.parametrize("method, hparams", METHOD_CASES)
def test_a_run_killed_after_an_epoch_resumes_to_the_same_model(method, hparams, tiny_task, tiny_encoder_dir, tmp_path,
                                                             monkeypatch):
    spec = _spec(tiny_encoder_dir, method, hparams)
    whole = _train(spec, tiny_task, tiny_encoder_dir)
    folder = tmp_path / "epochs"
    with monkeypatch.context() as patch:
        _kill_after_epoch(patch, 1)
        with pytest.raises(Killed):
            _train(spec, tiny_task, tiny_encoder_dir, folder)
    assert [p.name for p in folder.iterdir()] == ["epoch-0001"]
    said = []
    resumed = _train(spec, tiny_task, tiny_encoder_dir, folder, said)
    assert any("resuming training after epoch 1/3" in s for s in said)
    _same(whole, resumed)
    assert [p.name for p in folder.iterdir()] == ["epoch-0002"]  # the last epoch is never saved: the model is


def test_a_damaged_or_foreign_checkpoint_is_named_removed_and_training_starts_over(tiny_task, tiny_encoder_dir,
                                                                                    tmp_path, monkeypatch):
    spec = _spec(tiny_encoder_dir, "standard", {}, epochs=2)
    whole = _train(spec, tiny_task, tiny_encoder_dir)
    folder = tmp_path / "epochs"
    for damage in ("truncated", "foreign"):
        checkpoint_module.shutil.rmtree(folder, ignore_errors=True)
        with monkeypatch.context() as patch:
            _kill_after_epoch(patch, 1)
            with pytest.raises(Killed):
                _train(spec, tiny_task, tiny_encoder_dir, folder)
        saved = folder / "epoch-0001"
        if damage == "truncated":
            data = (saved / "tensors.safetensors").read_bytes()
            (saved / "tensors.safetensors").write_bytes(data[: len(data) // 2])
        else:  # a checkpoint of another training configuration, with a manifest that matches it
            state = json.loads((saved / "state.json").read_text())
            state["train_key"] = "0" * 16
            (saved / "state.json").write_text(json.dumps(state))
            manifest = json.loads((saved / "manifest.json").read_text())
            manifest["sha256"]["state.json"] = checkpoint_module.sha256_of(saved / "state.json")
            (saved / "manifest.json").write_text(json.dumps(manifest))
        said = []
        again = _train(spec, tiny_task, tiny_encoder_dir, folder, said)
        (warning,) = [s for s in said if "unusable" in s]
        assert str(saved) in warning and ("manifest" in warning if damage == "truncated" else "0" * 16 in warning)
        assert not any("resuming" in s for s in said)
        _same(whole, again)


def test_the_cache_removes_the_checkpoints_once_the_model_is_saved(tiny_task, tiny_encoder_dir, tmp_path, monkeypatch):
    spec = _spec(tiny_encoder_dir, "standard", {}, epochs=2)
    cache = ModelCache(tmp_path / "cache", log=lambda m: None)
    cls = METHODS.get("standard")
    with monkeypatch.context() as patch:
        _kill_after_epoch(patch, 1)
        with pytest.raises(Killed):
            train_or_load(TrainJob(spec, cls, tiny_task, tiny_encoder_dir), cache, log=lambda m: None)
    assert (cache.checkpoints(spec.key) / "epoch-0001").is_dir()
    said = []
    trained = train_or_load(TrainJob(spec, cls, tiny_task, tiny_encoder_dir), cache, log=said.append)
    assert any("resuming training after epoch 1/2" in s for s in said)
    assert not cache.checkpoints(spec.key).exists() and cache.entry(spec.key).is_dir()
    assert trained.training.epoch_log[-1]["step"] == 2 * 4
