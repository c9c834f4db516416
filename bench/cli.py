"""The ``bench`` command: argument parsing only; the work happens in ``bench.runner`` and ``bench.report``.

Errors a user can fix (unknown names, bad values, missing assets) print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from bench.errors import BenchError

DEFAULT_GRID = {"datasets": ["sst2"], "models": ["minilm-l6"], "methods": ["standard"], "attacks": ["pwws"], "seeds": [0]}
RESULTS_ENV = "RIFT_BENCH_RESULTS"


def default_results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or Path("results") / "runs")


def _add_asset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assets", metavar="DIR", help="local assets folder (shared/ layout); default $RIFT_BENCH_ASSETS")
    p.add_argument("--offline", action="store_true", default=None,
                   help="never try online sources (also set by RIFT_BENCH_OFFLINE=1 or HF_HUB_OFFLINE=1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="rift-bench: robustness of fine-tuned language models")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list registered methods, attacks, datasets, models or scales")
    p_list.add_argument("what", nargs="?", default="all", choices=["all", "methods", "attacks", "datasets", "models", "scales"])

    p_run = sub.add_parser("run", help="run the evaluation grid (skips finished cells)")
    p_run.add_argument("--methods", nargs="+", help="method names, or 'all' (default: standard)")
    p_run.add_argument("--attacks", nargs="+", help="attack names, or 'all' (default: pwws)")
    p_run.add_argument("--datasets", nargs="+", help="dataset names, or 'all' (default: sst2)")
    p_run.add_argument("--models", nargs="+", help="model names, hub ids or local folders (default: minilm-l6)")
    p_run.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: 0)")
    p_run.add_argument("--scale", default=None, help="smoke | small | paper (default: smoke)")
    p_run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a scale field (epochs=2), method.<hparam>=… or attack.<setting>=…; repeatable")
    p_run.add_argument("--grid", metavar="FILE", help="YAML or TOML grid file (keys: datasets, models, methods, "
                       "attacks, seeds, scale, set); command-line options win")
    p_run.add_argument("--results", metavar="DIR", help=f"results folder (default: ${RESULTS_ENV} or results/runs)")
    p_run.add_argument("--cache", metavar="DIR", help="cache folder for fine-tuned models (default: $RIFT_BENCH_CACHE or ~/.cache/rift-bench)")
    p_run.add_argument("--overwrite", default="never", choices=["never", "always", "missing"],
                       help="never: skip cells with a record; missing: also redo invalid/incomplete ones; always: redo all")
    p_run.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda[:N]")
    _add_asset_args(p_run)

    p_report = sub.add_parser("report", help="tables of what is in a results folder")
    p_report.add_argument("--results", metavar="DIR", help=f"results folder (default: ${RESULTS_ENV} or results/runs)")
    return parser


def _read_grid_file(path: str) -> dict[str, Any]:
    from bench.errors import ConfigError

    file = Path(path)
    if not file.exists():
        raise ConfigError(f"grid file {path} does not exist")
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise ConfigError(f"grid file {path} is not valid {file.suffix.lstrip('.') or 'YAML'}: {str(exc).splitlines()[0]}")
    allowed = {"datasets", "models", "methods", "attacks", "seeds", "scale", "set"}
    if not isinstance(data, dict) or set(data) - allowed:
        extra = sorted(set(data) - allowed) if isinstance(data, dict) else []
        raise ConfigError(f"grid file {path}: expected a mapping with keys {sorted(allowed)}"
                          + (f"; unknown keys {extra}" if extra else ""))
    for key in ("datasets", "models", "methods", "attacks", "seeds", "set"):
        if key in data and not isinstance(data[key], list):
            data[key] = [data[key]]
    if isinstance(data.get("set"), list) and data["set"] and isinstance(data["set"][0], dict):
        data["set"] = [f"{k}={v}" for item in data["set"] for k, v in item.items()]
    return data


def _cmd_list(what: str) -> int:
    from bench.config import SCALES
    from bench.registry import ATTACKS, DATASETS, METHODS, MODELS

    sections = {"methods": METHODS, "attacks": ATTACKS, "datasets": DATASETS, "models": MODELS}
    for name, registry in sections.items():
        if what not in ("all", name):
            continue
        print(f"{name}:")
        for entry in registry.entries():
            print(f"  {entry.name:<20} {entry.description}")
            params = getattr(entry.obj, "Hparams", None) or getattr(entry.obj, "Settings", None)
            if params is not None and dataclasses.fields(params):
                values = ", ".join(f"{f.name}={getattr(params(), f.name)!r}" for f in dataclasses.fields(params))
                print(f"  {'':<20} settings: {values}")
    if what in ("all", "scales"):
        print("scales:")
        for name, scale in SCALES.items():
            print(f"  {name:<20} " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(scale).items()))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.assets import AssetConfig, cache_dir
    from bench.config import parse_override
    from bench.grid import expand_grid
    from bench.runner import RunOptions, run_cells

    grid = dict(DEFAULT_GRID, scale="smoke", set=[])
    if args.grid:
        grid.update(_read_grid_file(args.grid))
    for key in ("datasets", "models", "methods", "attacks", "seeds", "scale"):
        if getattr(args, key) is not None:
            grid[key] = getattr(args, key)
    overrides = [parse_override(str(o)) for o in [*grid["set"], *args.overrides]]
    try:
        seeds = [int(s) for s in grid["seeds"]]
    except (TypeError, ValueError):
        from bench.errors import ConfigError

        raise ConfigError(f"seeds must be integers, got {grid['seeds']!r}") from None
    cells = expand_grid(grid["datasets"], grid["models"], grid["methods"], grid["attacks"], seeds,
                        str(grid["scale"]), overrides)
    options = RunOptions(
        results_dir=Path(args.results) if args.results else default_results_dir(),
        cache_dir=Path(args.cache) if args.cache else cache_dir(),
        assets=AssetConfig.from_env(args.assets, args.offline),
        overwrite=args.overwrite, device=args.device,
    )
    print(f"{len(cells)} cell(s) → {options.results_dir}", file=sys.stderr)
    counts = run_cells(cells, options)
    print(f"finished: {counts['done']} run, {counts['skipped']} skipped (already done)", file=sys.stderr)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from bench.report.frame import records_frame
    from bench.report.tables import summary_table, to_markdown

    results = Path(args.results) if args.results else default_results_dir()
    frame, problems = records_frame(results)
    for problem in problems:
        print(f"warning: skipped {problem}", file=sys.stderr)
    print(f"Accuracy (%) — clean and under attack — from {results}\n")
    print(to_markdown(summary_table(frame)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list(args.what)
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "report":
            return _cmd_report(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
