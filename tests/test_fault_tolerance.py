"""Killing real runs at several points and resuming them; concurrent runners; executors.

Every run here is a real `bench run` subprocess on real SST-2 data with the embedded model, at a
tiny size so the file stays within the default test budget.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.core.store import load_records, read_jsonl

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
        rows = read_jsonl(next(results.rglob(f"{r.cell_id}.examples.jsonl")))
        out[r.cell_id] = ({k: v for k, v in r.metrics.to_json().items() if k not in TIMING},
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
    resumed = [r.provenance.resumed_examples for r in load_records(results)[0]]
    assert max(resumed) >= 3  # the cell killed mid-attack resumed from its checkpoint


def _start_with_sigint_ignored() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to a background job (`bench run … &`)


@pytest.mark.parametrize("background", [False, True], ids=["foreground", "started-with-SIGINT-ignored"])
def test_sigint_prints_summary_and_resume_command(reference, tmp_path, background):
    results, cache = tmp_path / "results", reference[1]
    proc = bench(["run", *TWO_CELLS], results, cache, **({"preexec_fn": _start_with_sigint_ignored} if background else {}))
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
    assert sorted(r.cell.seed for r in records) == [0, 1]
    assert "[worker 0]" in err and "[worker 1]" in err and "peak memory per worker" in err
    seed0 = next(r for r in records if r.cell.seed == 0)
    assert {k: v for k, v in seed0.metrics.to_json().items() if k not in TIMING} in [m for m, _ in reference[0].values()]


def test_pool_shares_one_model_between_workers_and_survives_losing_one(reference, tmp_path):
    """One model, two attack cells, two workers: both cells run at once. A worker SIGKILLed mid-attack costs
    only its cell (noted as failed, examples checkpointed); a rerun resumes it."""
    from bench.core.locks import read_owner

    results, cache = tmp_path / "results", reference[1]  # the model is cached: no training here
    longer = [*TWO_CELLS, "--set", "n_test=32"]
    proc = bench(["run", *longer, "--executor", "pool", "--workers", "2"], results, cache)
    assert wait_for(lambda: len(list(results.rglob("*.lock"))) == 2 and partial_lines(results) >= 2, proc)
    busy = max(results.rglob("*.partial.jsonl"), key=lambda p: p.read_text().count("\n"))
    owner = read_owner(busy.with_name(busy.name.replace(".partial.jsonl", ".lock")))
    assert owner and owner["pid"] != proc.pid  # a worker process holds the cell
    os.kill(owner["pid"], signal.SIGKILL)
    code, err = finish(proc)
    assert code == 1, err  # one cell failed, the other finished
    assert "died (exit code -9)" in err and "[worker 0]" in err and "[worker 1]" in err
    assert len(load_records(results)[0]) == 1 and len(list(results.rglob("*.failed.json"))) == 1
    code, err = finish(bench(["run", *longer], results, cache))
    assert code == 0, err
    records, problems = load_records(results)
    assert len(records) == 2 and not problems and not list(results.rglob("*.failed.json"))
    assert max(r.provenance.resumed_examples for r in records) >= 2
    assert records[0].metrics.n_examples == records[1].metrics.n_examples == 32
    same = [{k: v for k, v in r.metrics.to_json().items() if k not in TIMING} for r in records]
    assert same[0] == same[1]  # the budgets never bind: the resumed cell equals the uninterrupted one


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has finished; only its exit status is left


def test_pool_sigint_stops_every_worker_and_reports_what_was_running(reference, tmp_path):
    from bench.core.locks import read_owner

    results, cache = tmp_path / "results", reference[1]
    longer = [*TWO_CELLS, "--set", "n_test=32"]
    proc = bench(["run", *longer, "--executor", "pool", "--workers", "2"], results, cache)
    assert wait_for(lambda: len(list(results.rglob("*.lock"))) == 2 and partial_lines(results) >= 1, proc)
    workers = [owner["pid"] for owner in map(read_owner, results.rglob("*.lock")) if owner]
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 130, err
    assert err.count("in progress (its finished training epochs and attacked examples are checkpointed)") >= 1 and "resume with: bench run" in err
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)  # no worker outlives the run
    code, err = finish(bench(["run", *longer], results, cache))
    assert code == 0, err
    assert max(r.provenance.resumed_examples for r in load_records(results)[0]) >= 1


def test_examples_in_flight_killed_and_resumed_equal_one_at_a_time(reference, tmp_path):
    """Batching queries across examples finishes them out of order; a kill and resume still gives the records
    of the one-at-a-time run (probabilities up to float rounding: a batch pads to its longest text)."""
    cache = reference[1]
    grid = [*TINY, "--set", "n_test=12"]
    grid[grid.index("pwws")] = "pwws-wordnet"  # WordNet's larger candidate sets: more examples in flight at once
    code, err = finish(bench(["run", *grid], tmp_path / "one", cache))
    assert code == 0, err
    results = tmp_path / "batched"
    proc = bench(["run", *grid, "--examples-in-flight", "6"], results, cache)
    assert wait_for(lambda: partial_lines(results) >= 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    code, err = finish(bench(["run", *grid, "--examples-in-flight", "6"], results, cache))
    assert code == 0, err
    PROBS = ("original_probs", "final_probs")
    (batched_metrics, batched), = comparable(results).values()
    (one_metrics, one), = comparable(tmp_path / "one").values()
    assert batched_metrics == one_metrics
    assert [{k: v for k, v in r.items() if k not in PROBS} for r in batched] == \
           [{k: v for k, v in r.items() if k not in PROBS} for r in one]
    flat = lambda rows: [p for r in rows for k in PROBS for p in r[k]]  # noqa: E731
    assert flat(batched) == pytest.approx(flat(one), abs=1e-5)
    (record,), _ = load_records(results)
    assert record.provenance.resumed_examples >= 2 and record.provenance.examples_in_flight == 6


def test_ray_executor_on_a_local_runtime(reference, tmp_path):
    pytest.importorskip("ray")
    results = tmp_path / "results"
    code, err = finish(bench(["run", *TWO_CELLS, "--executor", "ray", "--workers", "1"], results, reference[1]))
    assert code == 0, err
    assert comparable(results) == reference[0]
