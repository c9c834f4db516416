"""Executors: where the cells of a grid run.

* ``local`` — in this process, in order (GPU if present).
* ``pool``  — N worker processes on this machine, each pinned to one GPU (``CUDA_VISIBLE_DEVICES``) or,
  without GPUs, to an equal share of the CPU cores.
* ``ray``   — Ray tasks with their resource needs, on a local Ray runtime or ``--ray-address``.

Cells are planned in groups that share one fine-tuned model (training before attacks: a group trains
its model once and then runs all of its attacks). Workers write to the shared results folder; cell
and model locks (``bench.runner``) make concurrent runners safe, so the same grid may also be started
twice, on one machine or many.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from bench.errors import ConfigError
from bench.grid import Cell, resolve_cell
from bench.runner import GridSummary, Interrupted, RunOptions, run_cells, validate_cells
from bench.store import config_hash

EXECUTORS = ("local", "pool", "ray")


def train_group(cell: Cell) -> str:
    """Cells with the same group share one fine-tuned model (everything but the attack and the test sample)."""
    config = dict(resolve_cell(cell).config)
    for key in ("attack", "attack_settings"):
        config.pop(key)
    config["scale_settings"] = {k: v for k, v in config["scale_settings"].items() if k not in ("n_test", "eval_batch_size")}
    return config_hash(config)


def plan_groups(cells: list[Cell]) -> list[list[Cell]]:
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(train_group(cell), []).append(cell)
    return list(groups.values())


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no usable CUDA: CPU workers
        return 0


def _pin_worker(index: int, workers: int, gpus: int) -> None:
    """Give worker ``index`` one GPU, or its share of the CPU cores (set before torch starts its pools)."""
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _pool_worker(args: tuple[int, int, int, list[Cell], RunOptions]) -> tuple[GridSummary, int]:
    index, workers, gpus, cells, options = args
    _pin_worker(index, workers, gpus)
    import resource

    prefix = f"[worker {index}] "
    opts = replace(options, log=lambda msg: print(prefix + msg, flush=True, file=__import__("sys").stderr))
    summary = run_cells(cells, opts)
    return summary, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def run_grid(cells: list[Cell], options: RunOptions, executor: str = "local", workers: int = 1,
             ray_address: str | None = None) -> tuple[GridSummary, dict[str, Any]]:
    """Run ``cells``; returns the summary and executor facts (workers, peak memory per worker in MiB)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers < 1:
        raise ConfigError(f"--workers must be ≥ 1, got {workers}")
    validate_cells(cells)
    if executor == "local":
        return run_cells(cells, options), {"executor": "local", "workers": 1}
    groups = plan_groups(cells)
    if executor == "pool":
        return _run_pool(groups, options, workers)
    return _run_ray(groups, options, workers, ray_address)


def _run_pool(groups: list[list[Cell]], options: RunOptions, workers: int) -> tuple[GridSummary, dict[str, Any]]:
    import multiprocessing as mp

    gpus = _gpu_count()
    workers = min(workers, len(groups)) or 1
    # Deal groups round-robin so each worker trains its own models and runs their attacks.
    shares = [[cell for g in groups[i::workers] for cell in g] for i in range(workers)]
    options.log(f"{sum(len(s) for s in shares)} cell(s) in {len(groups)} model group(s) on {workers} worker(s)"
                + (f" over {gpus} GPU(s)" if gpus else " (CPU)"))
    summary = GridSummary()
    peaks = []
    context = mp.get_context("spawn")
    pool = context.Pool(workers)
    try:
        for part, peak in pool.imap_unordered(_pool_worker, [(i, workers, gpus, s, options) for i, s in enumerate(shares)]):
            summary.merge(part)
            peaks.append(peak / 1024)
        pool.close()
    except KeyboardInterrupt:
        pool.terminate()
        raise Interrupted(summary, None, [c for s in shares for c in s if c not in summary.done + summary.skipped]) from None
    finally:
        pool.join()
    return summary, {"executor": "pool", "workers": workers, "gpus": gpus, "peak_rss_mib_per_worker": peaks}


def _run_ray(groups: list[list[Cell]], options: RunOptions, workers: int,
             address: str | None) -> tuple[GridSummary, dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray: pip install 'rift-bench[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": max(workers, 1)}
        ray.init(log_to_driver=True, include_dashboard=False, **kwargs)
    try:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        cpus_per_task = 1 if gpus else max(1, int(ray.cluster_resources().get("CPU", 1)) // max(workers, 1))
        task = ray.remote(num_cpus=cpus_per_task, num_gpus=1 if gpus else 0)(_ray_group)
        options.log(f"{sum(len(g) for g in groups)} cell(s) in {len(groups)} model group(s) as Ray tasks "
                    f"({cpus_per_task} CPU{' + 1 GPU' if gpus else ''} each)")
        futures = [task.remote(group, replace(options, log=_stderr_log), cpus_per_task) for group in groups]
        summary = GridSummary()
        peaks = []
        for part, peak in ray.get(futures):
            summary.merge(part)
            peaks.append(peak / 1024)
        return summary, {"executor": "ray", "tasks": len(groups), "gpus": gpus, "peak_rss_mib_per_worker": peaks}
    finally:
        if started_here:
            ray.shutdown()


def _stderr_log(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr, flush=True)


def _ray_group(cells: list[Cell], options: RunOptions, threads: int) -> tuple[GridSummary, int]:
    import resource

    import torch

    torch.set_num_threads(threads)
    summary = run_cells(cells, options)
    return summary, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
