"""Checks of user input that must fail with one line (exit 2) before any work starts.

Each function raises :class:`~bench.core.errors.ConfigError` naming the option and what is wrong; the CLI
calls them for ``run``, ``report`` and ``regress`` before it loads data or trains anything. The checks of a
whole run are in :mod:`bench.run.checks`, those of a report's paths in :mod:`bench.report.checks`.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from bench.core.errors import ConfigError

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
