"""Checks of a ``bench report``'s paths before anything is read or written (one line, exit 2)."""

from __future__ import annotations

from pathlib import Path

from bench.core.checks import check_folder, check_out_file
from bench.core.errors import ConfigError


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
