"""Executors: where the cells of a grid run.

* ``local`` — in this process, in order (GPU if present).
* ``pool``  — N long-lived worker processes on this machine, each pinned to one GPU (``CUDA_VISIBLE_DEVICES``)
  and to a share of the CPU cores, fed cell by cell so no worker idles while cells are left.
* ``ray``   — Ray tasks with their resource needs, on a local Ray runtime or ``--ray-address``.

Cells are planned in groups that share one fine-tuned model (training before attacks: a group trains
its model once and then runs all of its attacks; in the pool, a worker keeps to its group's model and
idle workers join the largest group left). Workers write to the shared results folder; cell
and model locks (``bench.run.runner``) make concurrent runners safe, so the same grid may also be started
twice, on one machine or many.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any, TypeVar

from bench.core.errors import BenchError, ConfigError
from bench.run.grid import ResolvedCell
from bench.run.runner import GridSummary, Interrupted, RunOptions, format_duration, run_cells

EXECUTORS = ("local", "pool", "ray")

T = TypeVar("T")


def plan_groups(cells: list[ResolvedCell]) -> list[list[ResolvedCell]]:
    """The cells in groups that share one fine-tuned model (:attr:`ResolvedCell.train_group`), in first-seen order."""
    groups: dict[str, list[ResolvedCell]] = {}
    for cell in cells:
        groups.setdefault(cell.train_group, []).append(cell)
    return list(groups.values())


def split_groups(groups: list[list[T]], workers: int) -> list[list[T]]:
    """Task-sized parts for Ray: whole groups when there are at least as many groups as workers, else each
    group dealt into enough parts to keep every worker busy (each part loads the group's model from the
    cache once it is trained)."""
    per_group = max(1, -(-workers // max(len(groups), 1)))
    return [part for group in groups for part in (group[i::per_group] for i in range(min(per_group, len(group))))]


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no usable CUDA: CPU workers
        return 0


def default_threads(workers: int) -> int:
    """CPU threads per worker when not given: an equal share of the cores."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def _pin_worker(index: int, threads: int, gpus: int) -> None:
    """Give worker ``index`` one GPU, and ``threads`` CPU threads (set before torch starts its pools)."""
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


class _Prefixed:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, msg: str) -> None:
        import sys

        print(self.prefix + msg, flush=True, file=sys.stderr)


def _pool_worker(index: int, threads: int, gpus: int, options: RunOptions, inbox, outbox) -> None:
    """A long-lived worker: one Runner (so its model stays in memory between cells), cells from ``inbox``.

    Messages to the parent: ("ready"|"done"|"error"|"exit", worker index, payload). A worker whose parent
    is gone stops after its cell; one interrupted exits with 130 (the parent sees it as a lost worker).
    """
    import queue
    import resource
    import signal
    import sys
    import threading

    signal.signal(signal.SIGINT, signal.default_int_handler)  # inherited as ignored from a backgrounded parent
    _pin_worker(index, threads, gpus)  # before anything starts torch's thread pools
    from tqdm import tqdm

    from bench.run.runner import Runner

    # tqdm's default lock is a multiprocessing semaphore that a worker cannot release at exit (Python then
    # warns about a leaked semaphore); bars of separate worker processes cannot share a lock anyway.
    tqdm.set_lock(threading.RLock())
    parent = os.getppid()
    try:
        runner = Runner(replace(options, log=_Prefixed(f"[worker {index}] ")))
        outbox.put(("ready", index, None))
        while True:
            try:
                cell = inbox.get(timeout=2.0)
            except queue.Empty:
                if os.getppid() != parent:
                    return
                continue
            if cell is None:
                break
            try:
                status, _ = runner.run(cell)
            except BenchError as exc:  # the user must fix something: the whole grid stops, as in `local`
                outbox.put(("error", index, str(exc)))
                return
            outbox.put(("done", index, status))
    except KeyboardInterrupt:
        sys.exit(130)
    outbox.put(("exit", index, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))  # KiB on Linux


def run_grid(cells: list[ResolvedCell], options: RunOptions, executor: str = "local", workers: int = 1,
             ray_address: str | None = None, threads: int | None = None) -> tuple[GridSummary, dict[str, Any]]:
    """Run the resolved ``cells``; returns the summary and executor facts (workers, threads, peak memory per worker in MiB).

    ``threads`` is the CPU threads per worker (``local``: of this process); default: the cores ÷ workers.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers < 1:
        raise ConfigError(f"--workers must be ≥ 1, got {workers}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be ≥ 1, got {threads}")
    if executor == "local":
        if threads:
            import torch

            torch.set_num_threads(threads)
        # in model groups (a grid file's parts, or a second attack on fewer examples, share the models)
        return run_cells([c for g in plan_groups(cells) for c in g], options), {"executor": "local", "workers": 1}
    groups = plan_groups(cells)
    if executor == "pool":
        return _run_pool(groups, options, workers, threads)
    return _run_ray(groups, options, workers, ray_address, threads)


def _run_pool(groups: list[list[ResolvedCell]], options: RunOptions, workers: int,
              threads: int | None) -> tuple[GridSummary, dict[str, Any]]:
    """Long-lived worker processes fed cell by cell (:class:`bench.run.scheduler.GroupScheduler` picks which).

    A worker that dies (killed, out of memory) costs only its cell in progress: the cell is noted as failed
    (its finished examples stay checkpointed), a replacement worker starts, and the grid goes on.
    """
    import multiprocessing as mp
    import queue

    from bench.run.scheduler import GroupScheduler

    gpus = _gpu_count()
    workers = max(1, min(workers, sum(len(g) for g in groups)))
    threads = threads or default_threads(workers)
    plan: GroupScheduler[ResolvedCell] = GroupScheduler(groups)
    options.log(f"{sum(len(g) for g in groups)} cell(s) in {len(groups)} model group(s) on {workers} worker(s), "
                f"{threads} thread(s) each" + (f", over {gpus} GPU(s)" if gpus else " (CPU)"))
    context = mp.get_context("spawn")
    outbox = context.Queue()
    inboxes: dict[int, Any] = {}
    procs: dict[int, Any] = {}

    def start(index: int) -> None:
        inboxes[index] = context.Queue()
        procs[index] = context.Process(target=_pool_worker, name=f"bench-worker-{index}", daemon=True,
                                       args=(index, threads, gpus, options, inboxes[index], outbox))
        procs[index].start()

    summary = GridSummary()
    peaks: dict[int, float] = {}
    replacements = 0
    total, finished, started = sum(len(g) for g in groups), 0, time.perf_counter()
    handed_out: dict[int, float] = {}  # worker → when it was given its current cell
    durations: list[float] = []
    for index in range(workers):
        start(index)
    active = set(range(workers))
    try:
        while active:
            try:
                kind, index, payload = outbox.get(timeout=1.0)
            except queue.Empty:
                for index in sorted(active):
                    code = procs[index].exitcode
                    if code is None or code == 0:
                        continue  # running, or exited cleanly with its last message still on the way
                    active.discard(index)
                    cell = plan.lost(index)
                    why = f"worker {index} died (exit code {code})"
                    if cell is not None:
                        summary.add("failed", cell.cell)
                        _note_lost_cell(cell, options, why)
                        why += f" while running {cell.label()}; rerun to resume it from its checkpoint"
                    options.log(why)
                    if plan.pending() and replacements < 2 * workers:
                        replacements += 1
                        start(index)
                        active.add(index)
                continue
            if kind == "error":
                raise BenchError(payload)
            if kind == "exit":
                peaks[index] = payload / 1024
                active.discard(index)
                continue
            if kind == "done":
                cell = plan.running(index)
                summary.add(payload, cell.cell)
                finished += 1
                if payload in ("done", "failed"):
                    durations.append(time.perf_counter() - handed_out[index])
                left = total - finished
                # cells left × mean cell time ÷ workers (skipped and busy cells take no time)
                eta = (f", ETA ≈ {format_duration(left * sum(durations) / len(durations) / len(active))} for {left} more"
                       if left and durations else "")
                options.log(f"[{finished}/{total}] {payload} after {format_duration(time.perf_counter() - started)}"
                            f"{eta}: {cell.label()}")
            handed_out[index] = time.perf_counter()
            inboxes[index].put(plan.next_for(index))
        for cell in plan.pending():  # every worker died and could not be replaced
            summary.add("failed", cell.cell)
    except KeyboardInterrupt:
        raise Interrupted(summary, [rc.cell for rc in plan.in_progress()], [rc.cell for rc in plan.pending()]) from None
    finally:
        for proc in procs.values():
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=10)
        for q in [outbox, *inboxes.values()]:
            q.close()
            q.join_thread()
    return summary, {"executor": "pool", "workers": workers, "threads_per_worker": threads, "gpus": gpus,
                     "peak_rss_mib_per_worker": [peaks[i] for i in sorted(peaks)]}


def _note_lost_cell(rc: ResolvedCell, options: RunOptions, error: str) -> None:
    """A ``.failed.json`` for a cell whose worker died, so ``bench status`` shows it (the worker could not write it)."""
    from bench.core.store import CellFiles

    files = CellFiles.of(options.results_dir, rc.config, rc.cell_id)
    if files.record.parent.exists():
        files.write_failure(error)


def _run_ray(groups: list[list[ResolvedCell]], options: RunOptions, workers: int, address: str | None,
             threads: int | None) -> tuple[GridSummary, dict[str, Any]]:
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
        cpus_per_task = threads or (1 if gpus else max(1, int(ray.cluster_resources().get("CPU", 1)) // max(workers, 1)))
        task = ray.remote(num_cpus=cpus_per_task, num_gpus=1 if gpus else 0)(_ray_group)
        options.log(f"{sum(len(g) for g in groups)} cell(s) in {len(groups)} model group(s) as Ray tasks "
                    f"({cpus_per_task} CPU{' + 1 GPU' if gpus else ''} each)")
        futures = [task.remote(part, replace(options, log=_stderr_log), cpus_per_task)
                   for part in split_groups(groups, workers)]
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


def _ray_group(cells: list[ResolvedCell], options: RunOptions, threads: int) -> tuple[GridSummary, int]:
    import resource

    import torch

    torch.set_num_threads(threads)
    summary = run_cells(cells, options)
    return summary, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
