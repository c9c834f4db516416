"""The ``bench`` command: argument parsing only; the work happens in ``bench.run.runner`` and ``bench.report``.

Errors a user can fix (unknown names, bad values, missing assets) print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from bench.core.errors import BenchError

DEFAULT_GRID = {"datasets": ["sst2"], "models": ["minilm-l6"], "methods": ["standard"], "attacks": ["pwws"], "seeds": [0]}
RESULTS_ENV = "RIFT_BENCH_RESULTS"


def default_results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or Path("results") / "runs")


def _add_asset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assets", metavar="DIR", help="local assets folder (shared/ layout); default $RIFT_BENCH_ASSETS")
    p.add_argument("--offline", action="store_true", default=None,
                   help="never try online sources (also set by RIFT_BENCH_OFFLINE=1 or HF_HUB_OFFLINE=1)")


def _add_grid_args(p: argparse.ArgumentParser) -> None:
    """The options that name a grid of cells (shared by run and status)."""
    # Each list takes space- or comma-separated items (or both): --attacks genetic,pwws == --attacks genetic pwws
    p.add_argument("--methods", nargs="+", help="method names, or 'all' (default: standard)")
    p.add_argument("--attacks", nargs="+", help="attack names, or 'all' (default: pwws)")
    p.add_argument("--datasets", nargs="+", help="dataset names, or 'all' (default: sst2)")
    p.add_argument("--models", nargs="+", help="model names, hub ids or local folders (default: minilm-l6)")
    p.add_argument("--seeds", nargs="+", help="training seeds (default: 0)")
    p.add_argument("--scale", default=None, help="smoke | small | paper (default: smoke)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scale field (epochs=2), method.<hparam>=… or attack.<setting>=…; repeatable")
    p.add_argument("--sweep", dest="sweeps", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="run every value of a setting, e.g. method.beta=1,5,10 (the adversarial weight), "
                   "as separate cells; applies to the methods/attacks that have it; repeatable")
    p.add_argument("--grid", metavar="FILE", help="YAML or TOML grid file (keys: datasets, models, methods, "
                   "attacks, seeds, scale, set, sweep; a YAML list of such grids unites their cells); "
                   "--datasets, --models, --methods, --attacks, --seeds and --scale then select among the grid's "
                   "cells, --set and --sweep apply to all of them")
    p.add_argument("--results", metavar="DIR", help=f"results folder (default: ${RESULTS_ENV} or results/runs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="rift-bench: robustness of fine-tuned language models")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list registered methods, attacks, datasets, models or scales")
    p_list.add_argument("what", nargs="?", default="all", choices=["all", "methods", "attacks", "datasets", "models", "scales"])

    p_run = sub.add_parser("run", help="run the evaluation grid (skips finished cells)")
    _add_grid_args(p_run)
    p_run.add_argument("--cache", metavar="DIR", help="cache folder for fine-tuned models (default: $RIFT_BENCH_CACHE or ~/.cache/rift-bench)")
    p_run.add_argument("--overwrite", default="never", choices=["never", "always", "missing"],
                       help="never: skip cells with a record; missing: also redo invalid/incomplete ones; always: redo all")
    p_run.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda[:N]")
    p_run.add_argument("--examples-in-flight", type=int, metavar="N",
                       help="examples attacked at once, their model queries batched together (default: 32 on a "
                       "GPU, 1 on a CPU; recipes on the shared engine: `bench list attacks` marks the others); "
                       "results are the same, timing and the last float bits of probabilities aside")
    p_run.add_argument("--similarity", action="store_true",
                       help="also score each successful attack by the USE similarity of adversarial to original text "
                       "(needs the similarity extra); adds mean_similarity to the metrics")
    p_run.add_argument("--executor", default="local", choices=["local", "pool", "ray"],
                       help="local: in this process; pool: --workers processes (one GPU or a share of the CPU "
                       "cores each); ray: Ray tasks (local runtime or --ray-address)")
    p_run.add_argument("--workers", type=int, default=1, help="worker processes for the pool/ray executors")
    p_run.add_argument("--threads", type=int, help="CPU threads per worker (default: the cores ÷ workers; local: "
                       "torch's default)")
    p_run.add_argument("--ray-address", metavar="ADDR", help="an existing Ray cluster (default: start a local runtime)")
    _add_asset_args(p_run)

    p_status = sub.add_parser("status", help="done / stale / running / failed / interrupted / corrupt / pending cells of a grid")
    _add_grid_args(p_status)
    p_status.add_argument("--all", action="store_true", help="list every cell, not only the unfinished ones")
    _add_asset_args(p_status)

    p_report = sub.add_parser("report", help="the paper's tables and figures from a results folder")
    p_report.add_argument("--results", metavar="DIR", help=f"results folder (default: ${RESULTS_ENV} or results/runs)")
    p_report.add_argument("--format", default="markdown", choices=["markdown", "latex", "csv", "html"],
                          help="markdown, latex (booktabs), csv (one line per table cell) or html (a page with "
                          "tables, figures and adversarial examples); default markdown")
    p_report.add_argument("--out", metavar="PATH", help="output file (default: stdout); for html a folder "
                          "(default: report/)")
    p_report.add_argument("--compare", choices=["paper"], help="paper: our numbers next to the paper's, with the "
                          "difference and what differs in the setting")
    p_report.add_argument("--paper", metavar="DIR", help="the paper's numbers (default: the repository's results/paper)")
    p_report.add_argument("--figures", metavar="DIR", help="also write the figures (PDF + PNG) to DIR "
                          "(html always writes them, into OUT/figures)")
    p_report.add_argument("--standalone", action="store_true",
                          help="latex: a complete compilable document (with the figures when --figures is given)")
    p_report.add_argument("--no-example-pages", action="store_true",
                          help="html: no page per cell of its adversarial examples (the cells table links each "
                          "cell's examples JSONL instead); for a committed report that stays small")

    p_regress = sub.add_parser("regress", help="rerun the reference grid and fail when a metric moves beyond "
                               "tolerance (update the reference with --update)")
    p_regress.add_argument("--reference", metavar="DIR", default="results/reference",
                           help="reference folder with grid.yaml, tolerances.yaml and records/ (default: %(default)s)")
    p_regress.add_argument("--fresh", metavar="DIR", help="compare these records instead of running the grid")
    p_regress.add_argument("--results", metavar="DIR", help="keep the fresh run's records here (default: a temporary folder)")
    p_regress.add_argument("--cache", metavar="DIR", help="model cache for the fresh run (default: a new temporary one, "
                           "so every model is retrained by the current code)")
    p_regress.add_argument("--update", action="store_true", help="replace the reference records with the fresh ones "
                           "(after printing the diff); commit results/reference/ afterwards")
    p_regress.add_argument("--failures-only", action="store_true", help="print only the checks that fail")
    p_regress.add_argument("--device", default="cpu", help="cpu (default: the reference is recorded on CPU), auto or cuda[:N]")
    _add_asset_args(p_regress)

    sub.add_parser("schema", help="print the record schema (Markdown, generated from bench/core/record.py)")

    p_export = sub.add_parser("export", help="write a cell's adversarial examples in TextAttack's CSV schema")
    p_export.add_argument("examples", type=Path, metavar="CELL.examples.jsonl", help="a cell's examples file")
    p_export.add_argument("--out", type=Path, metavar="FILE",
                          help="the CSV file (default: beside the examples file, .textattack.csv)")
    return parser


def _cmd_list(what: str) -> int:
    from bench.core.attack import AttackRecipe
    from bench.core.config import SCALES
    from bench.core.registry import ATTACKS, DATASETS, METHODS, MODELS

    sections = {"methods": METHODS, "attacks": ATTACKS, "datasets": DATASETS, "models": MODELS}
    for name, registry in sections.items():
        if what not in ("all", name):
            continue
        print(f"{name}:")
        for entry in registry.entries():
            shown = f" [{entry.display}]" if entry.display != entry.name else ""
            print(f"  {entry.name:<20} {entry.description}{shown}")
            if name == "attacks" and getattr(entry.obj, "iter_attack", None) is AttackRecipe.iter_attack:
                print(f"  {'':<20} one example at a time (--examples-in-flight does not apply)")
            params = getattr(entry.obj, "Hparams", None) or getattr(entry.obj, "Settings", None)
            if params is not None and dataclasses.fields(params):
                values = ", ".join(f"{f.name}={getattr(params(), f.name)!r}" for f in dataclasses.fields(params))
                print(f"  {'':<20} settings: {values}")
        if name == "attacks":
            from bench.core.attack import QUERY_BUDGET

            print(f"  ({QUERY_BUDGET})")
    if what in ("all", "scales"):
        from bench.core.config import BATCH_SIZES, MAX_LENGTHS

        def shown(scale_name: str, key: str, value: Any) -> str:
            presets = {"batch_size": BATCH_SIZES, "max_length": MAX_LENGTHS}.get(key, {}).get(scale_name)
            if value == 0 and presets:  # 0 = the per-dataset preset
                per = ", ".join(f"{d} {v}" for d, v in presets.items() if d != "default")
                return f"{key}=0 (per dataset: {per}, others {presets['default']})"
            return f"{key}={value}"

        print("scales:")
        for name, scale in SCALES.items():
            print(f"  {name:<20} " + ", ".join(shown(name, k, v) for k, v in dataclasses.asdict(scale).items()))
    return 0


LIST_KEYS = ("datasets", "models", "methods", "attacks", "seeds")


def split_items(values: Sequence[Any]) -> list[Any]:
    """``["genetic,pwws", "ascc"]`` → ``["genetic", "pwws", "ascc"]``: comma- and space-separated lists alike.

    Non-string items (YAML integers in a grid file) are kept as they are; empty items (``a,,b``) are dropped.
    """
    out: list[Any] = []
    for value in values:
        if isinstance(value, str):
            out.extend(item.strip() for item in value.split(",") if item.strip())
        else:
            out.append(value)
    return out


def _cells_from_args(args: argparse.Namespace) -> list:
    """The grid's cells, resolved (once: the executor and the runner take them as they are)."""
    from bench.run.grid import SELECT_KEYS, cells_of_grids, read_grid_file, select_cells

    grids = []
    for part in read_grid_file(args.grid) if args.grid else [{}]:  # a grid file may list several grids: united
        grid = dict(DEFAULT_GRID, scale="smoke", set=[])
        grid.update(part)
        if not args.grid:  # without a grid file the options name the cells; with one they select (below)
            grid.update({key: getattr(args, key) for key in SELECT_KEYS if getattr(args, key) is not None})
        for key in LIST_KEYS:
            grid[key] = split_items(grid[key])
        grids.append(grid)
    cells = cells_of_grids(grids, args.overrides, args.sweeps)
    if args.grid:
        chosen = {key: getattr(args, key) for key in SELECT_KEYS}
        chosen.update({key: split_items(v) for key, v in chosen.items() if key in LIST_KEYS and v is not None})
        cells = select_cells(cells, chosen, f"grid {args.grid}")
    return cells


def _results_dir(args: argparse.Namespace) -> Path:
    return Path(args.results) if args.results else default_results_dir()


def _cmd_run(args: argparse.Namespace) -> int:
    import shlex

    from bench.core.assets import AssetConfig, cache_dir
    from bench.run.executors import run_grid
    from bench.run.runner import Interrupted, RunOptions

    cells = _cells_from_args(args)
    options = RunOptions(
        results_dir=_results_dir(args),
        cache_dir=Path(args.cache) if args.cache else cache_dir(),
        assets=AssetConfig.from_env(args.assets, args.offline),
        overwrite=args.overwrite, device=args.device, in_flight=args.examples_in_flight,
        similarity=args.similarity,
    )
    from bench.run.checks import check_run_inputs

    check_run_inputs(cells, options, args.executor, args.ray_address)
    if args.similarity:
        from bench.core.similarity import require

        require()
    try:
        summary, facts = run_grid(cells, options, args.executor, args.workers, args.ray_address, args.threads)
    except Interrupted as stop:
        print(f"\ninterrupted: {stop.summary.line()} before the interruption.", file=sys.stderr)
        for cell in stop.in_progress:
            print(f"  in progress (its finished training epochs and attacked examples are checkpointed): "
                  f"{cell.label()}", file=sys.stderr)
        print(f"  not started: {len(stop.pending)} cell(s)", file=sys.stderr)
        print(f"  resume with: bench {shlex.join(sys.argv[1:]) if sys.argv[1:] else 'run'}", file=sys.stderr)
        return 130
    if facts.get("peak_rss_mib_per_worker"):
        print("peak memory per worker (MiB): " + ", ".join(f"{m:.0f}" for m in facts["peak_rss_mib_per_worker"]),
              file=sys.stderr)
    print(f"finished: {summary.line()}", file=sys.stderr)
    return 1 if summary.failed else 0


def _cmd_status(args: argparse.Namespace) -> int:
    from bench.run.status import cell_states, format_status

    from bench.core.assets import AssetConfig
    from bench.core.data import DataIdentities

    # the data a cell would use now, as `bench run` checks it; a dataset not found leaves its records unchecked
    identity = DataIdentities(AssetConfig.from_env(args.assets, args.offline), strict=False)
    cells, results = _cells_from_args(args), _results_dir(args)
    states = cell_states(cells, results, identity)
    print(format_status(states, show_all=args.all))
    from bench.run.estimate import LEFT_STATES, estimate
    from bench.run.runner import format_duration
    from bench.core.store import load_records

    left = [cell for cell, state in zip(cells, states) if state.state in LEFT_STATES]
    if left:
        print("estimate: " + estimate(left, load_records(results)[0]).line(format_duration))
    for line in identity.notes:
        print(line, file=sys.stderr)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from bench.report.build import build_report, render, steps_frame, write_figures, write_html

    results = Path(args.results) if args.results else default_results_dir()
    from bench.report.checks import check_report_paths

    if args.no_example_pages and args.format != "html":
        from bench.core.errors import ConfigError

        raise ConfigError("--no-example-pages is for --format html")
    check_report_paths(args.format, results, Path(args.out) if args.out else None,
                       Path(args.figures) if args.figures else None)
    report = build_report(results, args.compare, Path(args.paper) if args.paper else None)
    if args.format in ("csv", "html") or args.out:  # markdown and latex on stdout carry the notes themselves
        for message in report.messages:
            print(f"note: {message}", file=sys.stderr)
    if args.format == "html":
        index = write_html(report, Path(args.out or "report"), example_pages=not args.no_example_pages)
        print(f"wrote {index}", file=sys.stderr)
        return 0
    figures = []
    if args.figures:
        figures = write_figures(report.frame, steps_frame(results), Path(args.figures))
        print(f"wrote {len(figures)} figure(s) to {args.figures} (PDF + PNG)", file=sys.stderr)
    out = Path(args.out) if args.out else None
    text = render(report, args.format, args.standalone, figures, out.parent if out else Path.cwd())
    if out is None:
        sys.stdout.write(text)
    else:
        from bench.core.store import atomic_write_text

        atomic_write_text(out, text)
        print(f"wrote {out}", file=sys.stderr)
    return 0


def _cmd_regress(args: argparse.Namespace) -> int:
    from bench.core.assets import AssetConfig
    from bench.run.regress import regress

    return regress(Path(args.reference), Path(args.fresh) if args.fresh else None,
                   Path(args.results) if args.results else None, Path(args.cache) if args.cache else None,
                   AssetConfig.from_env(args.assets, args.offline), args.device, args.update,
                   verbose=not args.failures_only)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops a run like Ctrl-C: finished work stays, the summary is printed


def main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        # a shell starts background jobs with SIGINT ignored, and Python keeps it so: `kill -INT` must still stop
        # a backgrounded or nohup'd grid the way Ctrl-C stops a foreground one
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if args.command == "list":
            return _cmd_list(args.what)
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "status":
            return _cmd_status(args)
        if args.command == "regress":
            return _cmd_regress(args)
        if args.command == "export":
            from bench.report.textattack_csv import export

            return export(args.examples, args.out)
        if args.command == "schema":
            from bench.core.record import schema_markdown

            sys.stdout.write(schema_markdown())
            return 0
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
