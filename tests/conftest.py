"""Shared fixtures: offline assets, a temporary cache, and one small real fine-tuned model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RIFT_BENCH_ASSETS") or REPO.parent / "shared")


def pytest_configure(config) -> None:
    os.environ.setdefault("RIFT_BENCH_ASSETS", str(SHARED))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("CI", os.environ.get("CI", ""))
    # One intra-op thread per process: several tests run two bench processes at once, and OpenMP threads
    # spin-wait when cores are oversubscribed (measured: a training step 7 s with 2 threads vs 0.6 s with 1).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.fail(f"offline assets not found at {SHARED}: set RIFT_BENCH_ASSETS to the shared/ folder")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RIFT_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def assets(shared):
    from bench.core.assets import AssetConfig

    return AssetConfig(root=shared, offline=True)


@pytest.fixture(scope="session")
def sst2_task(assets):
    from bench.core.data import DataSizes, prepare_task

    return prepare_task("sst2", DataSizes(n_train=192, n_dev=32, n_test=12, data_seed=0), assets)


@pytest.fixture(scope="session")
def minilm_dir(assets):
    from bench.core.models import resolve_model

    return resolve_model("minilm-l6", assets).value


@pytest.fixture(scope="session")
def tiny_encoder_dir(minilm_dir, tmp_path_factory) -> Path:
    """A two-layer BERT of width 32 with all-MiniLM-L6-v2's vocabulary and tokenizer and random weights (seed 0),
    saved as a local model folder: for tests of training mechanics (resuming, checkpoints, equivalences), where
    what the model learns does not matter and the embedded model's 22.7M parameters only cost time."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModel

    out = tmp_path_factory.mktemp("tiny-encoder")
    config = AutoConfig.from_pretrained(str(minilm_dir))
    config.update({"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64})
    with torch.random.fork_rng():
        torch.manual_seed(0)
        AutoModel.from_config(config).save_pretrained(str(out), safe_serialization=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_dir / name, out / name)
    return out


def shared_root(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this test session sees (the session's own temporary root)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def tiny_model(sst2_task, minilm_dir, tmp_path_factory):
    """all-MiniLM-L6-v2 fine-tuned (standard) on 192 real SST-2 sentences for two epochs: trained once per test
    session and shared by the workers through a model cache (bit for bit the model trained in-process)."""
    from bench.core.config import Scale
    from bench.core.locks import Claim
    from bench.core.model_cache import ModelCache, train_or_load
    from bench.core.models import fingerprint
    from bench.core.train import TrainJob, TrainSpec
    from methods.standard import Standard

    scale = Scale(n_train=192, n_dev=32, n_test=12, epochs=2, batch_size=16, lr=1e-4)
    spec = TrainSpec("sst2", "minilm-l6", fingerprint(minilm_dir), "mean", "standard", {}, 0, scale, 64,
                     {"n_train": 192})
    root = shared_root(tmp_path_factory) / "shared-models"
    root.mkdir(parents=True, exist_ok=True)
    claim = Claim(root / f".{spec.key}.lock")
    claim.acquire()  # one worker trains it, the others wait and load it
    try:
        return train_or_load(TrainJob(spec, Standard, sst2_task, minilm_dir), ModelCache(root, log=lambda m: None),
                             log=lambda m: None)
    finally:
        claim.release()


@pytest.fixture()
def victim(tiny_model):
    from bench.core.victim import Victim

    v = Victim(tiny_model.model, tiny_model.tokenizer, max_length=64, batch_size=8)
    return v
