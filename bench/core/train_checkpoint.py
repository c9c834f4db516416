"""Per-epoch training checkpoints: a fine-tuning that is killed resumes after its last finished epoch and ends
with the same model and training log as a run that was never stopped (on CPU, bit for bit).

A checkpoint is ``<folder>/epoch-<n>/`` with ``tensors.safetensors`` (every tensor: model, extra modules,
optimiser moments, the best epoch's weights, random-number-generator states) and ``state.json`` (everything
else), and ``manifest.json`` holding their sha256. It is written to a temporary folder and renamed into place,
then older epochs are removed, so the newest complete epoch is always there. Nothing is pickled. A checkpoint
that does not match its manifest, or was written for another training configuration, is named and removed,
and training starts from the beginning.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from bench.core.store import atomic_write_json, sha256_of

FILES = ("tensors.safetensors", "state.json")
MANIFEST = "manifest.json"


@dataclass
class Snapshot:
    """What a checkpoint holds: tensors by flat name, and JSON-serialisable state."""

    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]


def flatten(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``tensors`` under ``prefix.``, as contiguous CPU copies (safetensors refuses shared storage)."""
    return {f"{prefix}.{k}": v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def unflatten(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = prefix + "."
    return {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)}


def optimizer_snapshot(optimizer: torch.optim.Optimizer) -> Snapshot:
    """An optimiser's state dict split into its tensors (per-parameter moments, step counts) and the rest."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, values in sd["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous().clone()
            else:
                plain.setdefault(str(index), {})[name] = value
    return Snapshot(tensors, {"param_groups": sd["param_groups"], "state": plain,
                              "indices": [int(i) for i in sd["state"]]})


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], state: dict) -> None:
    per_param: dict[int, dict[str, Any]] = {i: dict(state["state"].get(str(i), {})) for i in state["indices"]}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            per_param[int(index)][name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})


def rng_snapshot(generator: torch.Generator) -> Snapshot:
    """Every random stream training draws from: torch's global one (and CUDA's), the batch generator, NumPy's
    and Python's."""
    tensors = {"rng.torch": torch.get_rng_state(), "rng.batches": generator.get_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return Snapshot(tensors, {"numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
                              "python": [version, list(internal), gauss_next]})


def restore_rng(generator: torch.Generator, tensors: dict[str, torch.Tensor], state: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.batches"])
    cuda = sorted((int(k.rsplit(".", 1)[1]), v) for k, v in tensors.items() if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([v for _, v in cuda])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


class EpochCheckpoints:
    """The checkpoints of one training configuration (``key``) in ``folder``."""

    def __init__(self, folder: Path, key: str, log: Callable[[str], None] = print) -> None:
        self.folder, self.key, self.log = folder, key, log

    def save(self, epoch: int, snapshot: Snapshot) -> Path:
        final = self.folder / f"epoch-{epoch:04d}"
        tmp = self.folder / f".epoch-{epoch:04d}.tmp-{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file(snapshot.tensors, str(tmp / FILES[0]))
        atomic_write_json(tmp / FILES[1], {"train_key": self.key, "epoch": epoch, **snapshot.state})
        atomic_write_json(tmp / MANIFEST, {"sha256": {name: sha256_of(tmp / name) for name in FILES}})
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        for older in self.folder.iterdir():
            if older != final:
                shutil.rmtree(older, ignore_errors=True)
        return final

    def _problem(self, path: Path) -> str:
        try:
            expected = json.loads((path / MANIFEST).read_text(encoding="utf-8"))["sha256"]
            for name in FILES:
                if sha256_of(path / name) != expected[name]:
                    return f"{name} does not match its manifest"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"unreadable ({type(exc).__name__})"
        return ""

    def latest(self) -> Snapshot | None:
        """The newest usable checkpoint, or None; unusable ones (and leftover temporary folders) are removed."""
        if not self.folder.is_dir():
            return None
        for path in sorted(self.folder.iterdir(), reverse=True):
            if path.name.startswith("."):
                shutil.rmtree(path, ignore_errors=True)  # a save that was killed
                continue
            why = self._problem(path)
            if not why:
                try:
                    state = json.loads((path / FILES[1]).read_text(encoding="utf-8"))
                    tensors = load_file(str(path / FILES[0]))
                except Exception as exc:  # noqa: BLE001 - any failure to read it makes it unusable
                    why = f"it does not load ({type(exc).__name__})"
                else:
                    if state.get("train_key") == self.key:
                        return Snapshot(tensors, state)
                    why = f"it belongs to training {state.get('train_key')}, not {self.key}"
            self.log(f"  warning: training checkpoint {path} is unusable ({why}); removed")
            shutil.rmtree(path, ignore_errors=True)
        return None

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
