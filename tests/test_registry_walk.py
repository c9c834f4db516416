"""Nothing registered goes untested: every method trains (a micro run) and every attack attacks a tiny real
victim; the report's view of the registrations (read from the source) is the registry's; and a new method and
a new attack, each one file, are listed, run in a grid and reported with no other file touched."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.core.registry import ATTACKS, METHODS

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "docs" / "examples"


@pytest.mark.parametrize("registry", [METHODS, ATTACKS], ids=["methods", "attacks"])
def test_the_source_catalog_is_the_registry(registry):
    """What the report reads without importing (``catalog``) is what registration made; only runtime
    registrations (``ta:*``, ``oa:*``) are missing from it."""
    static = {info.name: info for info in registry.catalog()}
    live = {entry.name: entry.info for entry in registry.entries()}
    assert static == {name: info for name, info in live.items() if name in static}
    assert all(":" in name for name in set(live) - set(static))


@pytest.mark.parametrize("registry", [METHODS, ATTACKS], ids=["methods", "attacks"])
def test_every_entry_has_what_the_suite_shows(registry):
    for entry in registry.entries():
        assert entry.description and entry.display
        settings = getattr(entry.obj, "Hparams", None) or getattr(entry.obj, "Settings", None)
        assert dataclasses.is_dataclass(settings), entry.name
        settings()  # every setting has a default


def _tiny(values: dict, cls: type) -> object:
    """``cls()`` with the given fields set where it has them (cheap inner loops for a micro run)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return dataclasses.replace(cls(), **{k: v for k, v in values.items() if k in names})


@pytest.fixture(scope="module")
def micro_task(assets):
    from bench.core.data import DataSizes, prepare_task

    return prepare_task("sst2", DataSizes(n_train=8, n_dev=4, n_test=2, data_seed=0), assets)


@pytest.mark.parametrize("name", METHODS.names())
def test_every_registered_method_trains(name, micro_task, tiny_encoder_dir, assets):
    """Through the real training loop, on a tiny random BERT (the mechanics, not what is learned)."""
    from bench.core.config import Scale
    from bench.core.models import fingerprint
    from bench.core.registry import DATASETS
    from bench.core.train import TrainJob, TrainSpec, fine_tune

    cls = METHODS.get(name)
    hparams = _tiny({"ascc_steps": 1, "adv_steps": 2}, cls.Hparams)
    scale = Scale(n_train=8, n_dev=4, n_test=2, epochs=1, batch_size=4, lr=1e-4, log_every=1)
    cls.check_config(hparams, DATASETS.get("sst2"), scale.batch_size)
    spec = TrainSpec("sst2", "tiny-bert", fingerprint(tiny_encoder_dir), "mean", name, dataclasses.asdict(hparams), 0,
                     scale, 32, {"n_train": 8})
    trained = fine_tune(TrainJob(spec, cls, micro_task, tiny_encoder_dir, assets), log=lambda m: None)
    steps = trained.training.step_log
    assert steps and all(math.isfinite(s["loss"]) for s in steps)
    assert trained.training.selected_epoch == 1 and trained.training.selection_metric


@pytest.mark.parametrize("name", ATTACKS.names())
def test_every_registered_attack_runs_on_a_real_victim(name, victim, sst2_task, assets):
    from bench.core.record import ExampleLine

    cls = ATTACKS.get(name)
    settings = _tiny({"query_budget": 40, "steps": 2, "pop_size": 4, "generations": 2, "max_candidates": 4},
                     cls.Settings)
    recipe = cls(settings, assets)
    examples = sst2_task.test[:2]
    results = recipe.attack_all(victim, examples, 0)
    assert [r.uid for r in results] == [ex.uid for ex in examples]
    for result in results:
        assert result.status in ("success", "failed", "skipped")
        line = result.to_json()
        assert ExampleLine.from_json(line).to_json() == line and not ExampleLine.from_json(line).extra
        if result.status != "skipped" and "query_budget" in {f.name for f in dataclasses.fields(cls.Settings)}:
            assert result.queries <= settings.query_budget + 1  # the budget, plus the final prediction


def test_a_new_method_and_attack_are_one_file_each(tmp_path, shared):
    """docs/examples' method and attack, copied into a copy of the packages: listed, run in a grid, reported."""
    tree = tmp_path / "tree"
    for package in ("bench", "methods", "attacks"):
        shutil.copytree(REPO / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(EXAMPLES / "label_smoothing.py", tree / "methods" / "label_smoothing.py")
    shutil.copy(EXAMPLES / "drop_word.py", tree / "attacks" / "drop_word.py")
    env = {**os.environ, "PYTHONPATH": str(tree), "CI": "1"}

    def bench(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=tree, env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    listed = bench("list", "methods") + bench("list", "attacks")
    assert "label-smoothing" in listed and "Label smoothing" in listed and "smoothing=0.1" in listed
    assert "drop-word" in listed and "Drop-word" in listed
    results = tmp_path / "results"
    bench("run", "--datasets", "sst2", "--methods", "standard", "label-smoothing", "--attacks", "drop-word", "pwws",
          "--set", "n_train=16", "--set", "n_dev=8", "--set", "n_test=3", "--set", "epochs=1", "--set", "batch_size=8",
          "--set", "max_length=32", "--results", str(results), "--cache", str(tmp_path / "cache"), "--offline")
    assert len(list(results.rglob("*.examples.jsonl"))) == 4
    report = bench("report", "--results", str(results))
    assert "Label smoothing" in report and "Drop-word" in report
