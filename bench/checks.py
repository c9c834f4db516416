"""Checks of user input that must fail with one line (exit 2) before any work starts.

Each function raises :class:`~bench.errors.ConfigError` naming the option and what is wrong; the CLI
calls them for ``run``, ``report`` and ``regress`` before it loads data or trains anything.
"""

from __future__ import annotations

import math
import os
import re
import socket
from pathlib import Path

from bench.errors import ConfigError

MAX_SEED = 2**32 - 1  # every generator a cell seeds (random, NumPy, torch, offsets added to the seed) accepts it


def check_seed(name: str, value: int) -> None:
    if not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name} must be in 0..{MAX_SEED}, got {value}")


def check_scale_values(scale) -> None:
    """Ranges the scale's own validation leaves open: finite floats, a non-negative weight decay, a data seed
    every generator accepts."""
    for name in ("lr", "weight_decay", "warmup_ratio"):
        value = getattr(scale, name)
        if not math.isfinite(value):
            raise ConfigError(f"bad scale setting: {name} must be a finite number, got {value}")
    if scale.weight_decay < 0:
        raise ConfigError(f"bad scale setting: weight_decay must be ≥ 0, got {scale.weight_decay:g}")
    check_seed("bad scale setting: data_seed", scale.data_seed)


def check_device(device: str) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (a GPU that exists)."""
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if device in ("auto", "cpu"):
        return
    if match is None:
        raise ConfigError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ConfigError(f"--device {device}: no CUDA GPU is usable on this machine (use --device cpu or auto)")
    index = int(match.group(1) or 0)
    if index >= count:
        raise ConfigError(f"--device {device}: this machine has {count} GPU(s) (cuda:0..cuda:{count - 1})")


def check_ray_address(address: str | None, timeout: float = 3.0) -> None:
    """``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``; a host:port must accept a connection within ``timeout``."""
    if address is None or address in ("auto", "local"):
        return
    match = re.fullmatch(r"(?:ray://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})", address)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise ConfigError(f"--ray-address must be auto, HOST:PORT or ray://HOST:PORT, got {address!r}")
    host, port = match.group(1).strip("[]"), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(f"--ray-address {address}: no Ray cluster answers there "
                          f"({exc.strerror or type(exc).__name__}, waited ≤ {timeout:g}s)") from None


def check_folder(option: str, path: Path, writable: bool = False) -> None:
    """``path`` is a folder or can be made one (no file in the way); ``writable``: files can be created in it."""
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                what = "names a file" if parent == path else f"is under {parent}, which is a file"
                raise ConfigError(f"{option} {path} {what}; it must be a folder")
            if writable and not os.access(parent, os.W_OK | os.X_OK):
                where = "" if parent == path else f" (its nearest existing folder {parent} is not writable)"
                raise ConfigError(f"{option} {path} is not writable{where}")
            return


def check_out_file(option: str, path: Path) -> None:
    """``path`` can be written as a file: not an existing folder, and its folder is not a file."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name (e.g. {path / 'report.md'})")
    check_folder(f"{option} (its folder)", path.parent, writable=True)


def check_run_inputs(cells: list, options, executor: str = "local", ray_address: str | None = None) -> None:
    """Everything about a ``bench run`` of resolved ``cells`` that can be checked before work starts: the device and
    the precision it must run (:mod:`bench.precision`), the Ray address, the results and cache folders (writable when some cell has no record yet), the data files'
    presence."""
    from bench.store import record_path

    check_device(options.device)
    from bench.precision import check_precision
    from bench.victim import pick_device

    device = pick_device(options.device)
    for precision in dict.fromkeys(rc.scale.precision for rc in cells):
        check_precision(precision, device)
    if executor == "ray":
        check_ray_address(ray_address)
    check_folder("--results", options.results_dir)
    check_folder("--cache", options.cache_dir)
    from bench.data import data_identity

    for dataset in dict.fromkeys(rc.cell.dataset for rc in cells):
        data_identity(dataset, options.assets)  # every split the cells read is there (files hashed, not parsed)
    to_do = [record_path(options.results_dir, rc.config, rc.cell_id) for rc in cells]
    to_do = [path for path in to_do if options.overwrite != "never" or not path.exists()]
    for folder in dict.fromkeys(path.parent for path in to_do):
        check_folder("--results", folder, writable=True)
    if to_do:
        check_folder("--cache", options.cache_dir / "models", writable=True)


def check_report_paths(fmt: str, results: Path, out: Path | None, figures: Path | None) -> None:
    """``bench report``: the results folder is a folder; html writes a folder, the other formats a file."""
    if results.exists() and not results.is_dir():
        raise ConfigError(f"--results {results} names a file; it must be a results folder")
    if fmt == "html":
        check_folder("--out (html writes a folder)", out or Path("report"), writable=True)
    elif out is not None:
        check_out_file("--out", out)
    if figures is not None:
        check_folder("--figures", figures, writable=True)
