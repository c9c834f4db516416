"""Killing real runs at several points and resuming them; concurrent runners; executors.

Every run here is a real `bench run` subprocess on real SST-2 data with the embedded model, at a
tiny size so the file stays within the default test budget.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.store import load_records, read_jsonl

TINY = ["--datasets", "sst2", "--models", "minilm-l6", "--methods", "standard", "--attacks", "pwws",
        "--seeds", "0", "--set", "n_train=32", "--set", "n_dev=8", "--set", "n_test=8", "--set", "epochs=1",
        "--set", "max_length=32"]
TWO_CELLS = [*TINY, "--sweep", "attack.query_budget=0,100000"]  # one model, two attack cells
TIMING = {"seconds_per_example", "seconds", "wall_seconds"}


def bench(args, results, cache, **kwargs):
    env = {**os.environ, "CI": "1"}
    cmd = [sys.executable, "-m", "bench.cli", *args, "--results", str(results)]
    if args and args[0] == "run":
        cmd += ["--cache", str(cache)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def comparable(results: Path) -> dict:
    """Records and examples of a results folder without timings (which differ run to run)."""
    records, problems = load_records(results)
    assert not problems
    out = {}
    for r in records:
        rows = read_jsonl(next(results.rglob(f"{r['cell_id']}.examples.jsonl")))
        out[r["cell_id"]] = ({k: v for k, v in r["metrics"].items() if k not in TIMING},
                             [{k: v for k, v in row.items() if k not in TIMING} for row in rows])
    return out


def wait_for(predicate, proc, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def partial_lines(results: Path) -> int:
    return sum(max(0, p.read_text().count("\n") - 1) for p in results.rglob("*.partial.jsonl"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every interrupted one must reproduce."""
    base = tmp_path_factory.mktemp("reference")
    code, err = finish(bench(["run", *TWO_CELLS], base / "results", base / "cache"))
    assert code == 0, err
    return comparable(base / "results"), base / "cache"


def test_sigkill_at_several_points_then_resume(reference, tmp_path):
    expected, _ = reference
    results, cache = tmp_path / "results", tmp_path / "cache"
    # 1) during training (before any model is cached)
    proc = bench(["run", *TWO_CELLS], results, cache)
    assert wait_for(lambda: any(results.rglob("*.lock")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(results.rglob("*.json"))  # no record, let alone half of one
    assert not [p for p in (cache / "models").glob("*") if not p.name.startswith(".")]  # killed before a model was cached
    # 2) in the middle of the first cell's attack
    proc = bench(["run", *TWO_CELLS], results, cache)
    assert wait_for(lambda: partial_lines(results) >= 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # 3) right after the first cell's record was written
    proc = bench(["run", *TWO_CELLS], results, cache)
    assert wait_for(lambda: len(list(results.rglob("*.examples.jsonl"))) >= 1 and len(load_records(results)[0]) >= 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # resume to the end
    code, err = finish(bench(["run", *TWO_CELLS], results, cache))
    assert code == 0, err
    assert comparable(results) == expected
    assert not list(results.rglob("*.partial.jsonl")) and not list(results.rglob("*.lock"))
    resumed = [r["provenance"]["resumed_examples"] for r in load_records(results)[0]]
    assert max(resumed) >= 3  # the cell killed mid-attack resumed from its checkpoint


def test_sigint_prints_summary_and_resume_command(reference, tmp_path):
    results, cache = tmp_path / "results", reference[1]
    proc = bench(["run", *TWO_CELLS], results, cache)
    assert wait_for(lambda: partial_lines(results) >= 2, proc)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 130
    assert "interrupted:" in err and "in progress" in err and "resume with: bench run" in err
    status = subprocess.run([sys.executable, "-m", "bench.cli", "status", *TWO_CELLS[0:], "--results", str(results)],
                            capture_output=True, text=True, env={**os.environ, "CI": "1"})
    assert "interrupted" in status.stdout and "pending" in status.stdout, status.stdout + status.stderr


def test_two_concurrent_runners_finish_the_grid_exactly_once(reference, tmp_path):
    expected, _ = reference
    results, cache = tmp_path / "results", tmp_path / "cache"
    a = bench(["run", *TWO_CELLS], results, cache)
    b = bench(["run", *TWO_CELLS], results, cache)
    (code_a, err_a), (code_b, err_b) = finish(a), finish(b)
    assert code_a == code_b == 0, err_a + err_b
    both = err_a + err_b
    assert comparable(results) == expected
    for cell_id in expected:
        assert both.count(f"[{cell_id}]") == 1, both  # each cell was started by exactly one runner
    assert both.count("epoch 1/1") == 1, both  # and the model was trained once


def test_pool_executor_runs_model_groups_on_two_workers(reference, tmp_path):
    results, cache = tmp_path / "results", tmp_path / "cache"
    grid = [a for a in TINY if a not in ("--seeds", "0")]
    code, err = finish(bench(["run", *grid, "--seeds", "0", "1", "--executor", "pool", "--workers", "2"], results, cache))
    assert code == 0, err
    records, _ = load_records(results)
    assert sorted(r["cell"]["seed"] for r in records) == [0, 1]
    assert "[worker 0]" in err and "[worker 1]" in err and "peak memory per worker" in err
    seed0 = next(r for r in records if r["cell"]["seed"] == 0)
    assert {k: v for k, v in seed0["metrics"].items() if k not in TIMING} in [m for m, _ in reference[0].values()]


def test_ray_executor_on_a_local_runtime(reference, tmp_path):
    pytest.importorskip("ray")
    results = tmp_path / "results"
    code, err = finish(bench(["run", *TWO_CELLS, "--executor", "ray", "--workers", "1"], results, reference[1]))
    assert code == 0, err
    assert comparable(results) == reference[0]
