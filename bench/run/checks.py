"""Checks of a ``bench run`` before any work starts: the resolved cells, the run options and the executor.

Each raises :class:`~bench.core.errors.ConfigError` with one line (exit 2), like :mod:`bench.core.checks`.
"""

from __future__ import annotations

import re
import socket

from bench.core.checks import check_device, check_folder
from bench.core.errors import ConfigError


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


def check_run_inputs(cells: list, options, executor: str = "local", ray_address: str | None = None) -> None:
    """Everything about a ``bench run`` of resolved ``cells`` that can be checked before work starts: the device and
    the precision it must run (:mod:`bench.core.precision`), the Ray address, the results and cache folders (writable when some cell has no record yet), the data files'
    presence."""
    from bench.core.store import record_path

    check_device(options.device)
    from bench.core.precision import check_precision
    from bench.core.victim import pick_device

    device = pick_device(options.device)
    for precision in dict.fromkeys(rc.scale.precision for rc in cells):
        check_precision(precision, device)
    if executor == "ray":
        check_ray_address(ray_address)
    check_folder("--results", options.results_dir)
    check_folder("--cache", options.cache_dir)
    from bench.core.data import data_identity

    for dataset in dict.fromkeys(rc.cell.dataset for rc in cells):
        data_identity(dataset, options.assets)  # every split the cells read is there (files hashed, not parsed)
    to_do = [record_path(options.results_dir, rc.config, rc.cell_id) for rc in cells]
    to_do = [path for path in to_do if options.overwrite != "never" or not path.exists()]
    for folder in dict.fromkeys(path.parent for path in to_do):
        check_folder("--results", folder, writable=True)
    if to_do:
        check_folder("--cache", options.cache_dir / "models", writable=True)
