"""Grid throughput with 1 vs 2 workers on the same attack-dominated grid, and peak memory per worker.

    python benchmarks/bench_grid.py [--n-test 40] [--workers 2]

Both runs use the same pre-trained models (trained once beforehand, not timed) and fresh results
folders, so the timed work is the attacks. Target: ≥ 1.6× with 2 workers on 2 cores.
"""

from __future__ import annotations

import argparse
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
                          env={**__import__("os").environ, "CI": "1"})
    if proc.returncode != 0:
        sys.exit(f"bench run failed:\n{proc.stderr}")
    return time.perf_counter() - start, proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cells = grid(args.n_test)
        cache = ["--cache", str(root / "cache")]
        bench([*cells, "--results", str(root / "warmup"), *cache])  # trains both models once (not timed)
        one, _ = bench([*cells, "--results", str(root / "one"), *cache])
        two, log = bench([*cells, "--results", str(root / "two"), *cache, "--executor", "pool",
                          "--workers", str(args.workers)])
    memory = next((line for line in log.splitlines() if line.startswith("peak memory")), "peak memory: n/a")
    print(f"grid: 2 models × 2 attack cells × {args.n_test} examples (PWWS, sst2, minilm-l6)")
    print(f"local, 1 worker : {one:7.1f} s")
    print(f"pool, {args.workers} workers: {two:7.1f} s")
    print(f"speed-up        : {one / two:.2f}× (target ≥ 1.6× on 2 cores)")
    print(memory)


if __name__ == "__main__":
    main()
