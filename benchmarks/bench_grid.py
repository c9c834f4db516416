"""Grid throughput with 1 vs 2 workers on the same attack-dominated grid, and peak memory per worker.

    python benchmarks/bench_grid.py [--n-test 100] [--workers 2]

The grid: 2 fine-tuned models (seeds 0, 1) × 2 PWWS cells each × ``--n-test`` SST-2 examples. The
models are trained once beforehand (not timed) and every timed run gets a fresh results folder, so
the timed work is the attacks. Three runs:

* ``pool``, 1 worker with 1 thread;
* ``pool``, ``--workers`` workers with 1 thread each: the executor's scale-out (target ≥ 1.6× on 2 cores);
* ``local``, one process with torch's intra-op threads on all cores: what a single process already gets
  from the same cores, for comparison.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def grid(n_test: int) -> list[str]:
    return ["--datasets", "sst2", "--models", "minilm-l6", "--methods", "standard", "--attacks", "pwws",
            "--seeds", "0", "1", "--set", "n_train=64", "--set", "n_dev=16", "--set", f"n_test={n_test}",
            "--set", "epochs=1", "--sweep", "attack.query_budget=0,1000000"]


def bench(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "run", *args], capture_output=True, text=True,
                          env={**os.environ, "CI": "1"})
    if proc.returncode != 0:
        sys.exit(f"bench run failed:\n{proc.stderr}")
    return time.perf_counter() - start, proc.stderr


def peak_memory(log: str) -> str:
    match = re.search(r"peak memory per worker \(MiB\): (.*)", log)
    return match.group(1) if match else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cells = grid(args.n_test)
        cache = ["--cache", str(root / "cache")]
        bench([*cells, "--results", str(root / "warmup"), "--set", "n_test=2", *cache])  # trains both models (not timed)
        one, log_one = bench([*cells, "--results", str(root / "one"), *cache, "--executor", "pool", "--workers", "1",
                              "--threads", "1"])
        many, log_many = bench([*cells, "--results", str(root / "many"), *cache, "--executor", "pool",
                                "--workers", str(args.workers), "--threads", "1"])
        local, _ = bench([*cells, "--results", str(root / "local"), *cache])
    print(f"grid: 2 models × 2 PWWS cells × {args.n_test} SST-2 examples (minilm-l6), {cores} CPU cores")
    print(f"pool, 1 worker × 1 thread   : {one:7.1f} s   peak MiB per worker: {peak_memory(log_one)}")
    print(f"pool, {args.workers} workers × 1 thread  : {many:7.1f} s   peak MiB per worker: {peak_memory(log_many)}")
    print(f"local, 1 process × {cores} threads: {local:7.1f} s")
    print(f"scale-out, {args.workers} workers vs 1 : {one / many:.2f}× (target ≥ 1.6× on 2 cores)")
    print(f"{args.workers} workers vs 1 process on all cores: {local / many:.2f}×")


if __name__ == "__main__":
    main()
