"""The cache of fine-tuned models, and :func:`train_or_load`: the cached model of a training configuration, or one
fine-tuned now and cached. Models are stored as safetensors under a hash of their full training configuration
(:attr:`bench.core.train.TrainSpec.key`), so one model serves every attack of its cells.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_model, save_model

from bench.core.classifier import build_empty
from bench.core.locks import pid_alive
from bench.core.record import Training
from bench.core.store import atomic_write_json, sha256_of
from bench.core.train import TrainedModel, TrainJob, TrainSpec, fine_tune
from bench.core.victim import pick_device


#: layout of an entry's ``train_log.json``: ``{"format", "config": the training configuration, "training": the
#: record's Training section}``; an entry written before it (a flat log) is read too (:func:`training_of`)
LOG_FORMAT = 2


def training_of(log: dict[str, Any]) -> Training:
    """The :class:`Training` an entry's ``train_log.json`` holds, of either layout."""
    if log.get("format") == LOG_FORMAT:
        return Training.from_json(log["training"], "train_log.json")
    return Training(  # the flat log of entries cached before LOG_FORMAT
        train_key=log["train_key"], from_cache=False, epochs=log["config"]["train"]["epochs"],
        selected_epoch=log["selected_epoch"], selection_metric=log["selection_metric"],
        selected_dev_accuracy=log["selected_dev_accuracy"], final_rel_weight_distance=log["final_rel_weight_distance"],
        selected_rel_weight_distance=log["selected_rel_weight_distance"], train_seconds=log["train_seconds"],
        epoch_log=log["epochs"], resolved_hparams=log.get("resolved_hparams", log["config"]["hparams"]),
        inactive_terms=log.get("inactive_terms", []), step_log=log["steps"], notes=log.get("notes", []))


class ModelCache:
    """Fine-tuned models on disk: ``<root>/<train-key>/{model.safetensors,train_log.json,manifest.json}``.

    An entry is written to a temporary folder and renamed into place, so it is complete or absent. Its
    manifest holds the sha256 of each file, checked on every load: an entry that is truncated, corrupt,
    bit-flipped or without a manifest is named, moved aside (``.<key>.corrupt-<time>``) and retrained,
    never used. Temporary folders left by a killed save are removed when the cache is opened.
    """

    FILES = ("model.safetensors", "train_log.json")
    MANIFEST = "manifest.json"

    def __init__(self, root: Path, log: Callable[[str], None] = print) -> None:
        self.root = root
        self.log = log
        self.remove_orphans()

    def entry(self, key: str) -> Path:
        return self.root / key

    def checkpoints(self, key: str) -> Path:
        """The per-epoch training checkpoints of the model ``key`` while it trains (removed once it is cached)."""
        return self.root / f".{key}.epochs"

    def remove_orphans(self) -> list[Path]:
        """Remove ``.<key>.tmp-<host>-<pid>`` folders of saves whose process is gone (this host) or a day old."""
        import socket

        removed = []
        host = socket.gethostname()
        for tmp in self.root.glob(".*.tmp-*") if self.root.is_dir() else []:
            owner = tmp.name.rpartition(".tmp-")[2]
            tmp_host, _, pid = owner.rpartition("-")
            try:
                age = time.time() - tmp.stat().st_mtime
            except OSError:
                continue
            mine = tmp_host in ("", host) and pid.isdigit()
            if (mine and not pid_alive(int(pid))) or age > 86400:
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
                self.log(f"  model cache: removed {tmp} left by an interrupted save")
        return removed

    def verify(self, path: Path) -> str:
        """Why the entry at ``path`` cannot be used ("" when every file matches its manifest)."""
        try:
            manifest = json.loads((path / self.MANIFEST).read_text(encoding="utf-8"))
            expected = manifest["sha256"]
        except FileNotFoundError:
            return "it has no manifest (an entry from an older version, or incomplete)"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"its manifest is unreadable ({type(exc).__name__})"
        for name in self.FILES:
            if not (path / name).exists():
                return f"{name} is missing"
            if not isinstance(expected, dict) or sha256_of(path / name) != expected.get(name):
                return f"{name} does not match the sha256 in its manifest (truncated or corrupted)"
        return ""

    def quarantine(self, path: Path, why: str) -> Path:
        """Move a bad entry aside so it is retrained (and kept for inspection)."""
        aside = self.root / f".{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        try:
            os.rename(path, aside)
        except OSError:  # already moved by another runner, or not movable: it must not be used either way
            shutil.rmtree(path, ignore_errors=True)
        self.log(f"  warning: cached model {path} is unusable ({why}); moved aside to {aside}, retraining")
        return aside

    def load(self, spec: TrainSpec, num_labels: int, model_dir: Path, device: torch.device | None = None) -> TrainedModel | None:
        path = self.entry(spec.key)
        if not path.exists():
            return None
        why = self.verify(path)
        if not why:
            try:
                model, tokenizer = build_empty(model_dir, num_labels, spec.pooling, spec.scale.tokenizer)
                load_model(model, str(path / "model.safetensors"), strict=True)
                with open(path / "train_log.json", encoding="utf-8") as handle:
                    training = training_of(json.load(handle))
            except Exception as exc:  # noqa: BLE001 - any failure to read the entry makes it unusable
                why = f"it does not load ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
        if why:
            self.quarantine(path, why)
            return None
        model.to(device or pick_device()).eval()
        return TrainedModel(model, tokenizer, dataclasses.replace(training, from_cache=True), path=path)

    def save(self, spec: TrainSpec, trained: TrainedModel) -> Path:
        """Cache ``trained``, the model of ``spec``."""
        import socket

        key = trained.training.train_key
        final = self.entry(key)
        tmp = self.root / f".{key}.tmp-{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(trained.model, str(tmp / "model.safetensors"))
        atomic_write_json(tmp / "train_log.json", {"format": LOG_FORMAT, "config": spec.key_dict(),
                                                   "training": trained.training.to_json()})
        atomic_write_json(tmp / self.MANIFEST, {"train_key": key,
                                                "sha256": {name: sha256_of(tmp / name) for name in self.FILES}})
        try:
            os.rename(tmp, final)
        except OSError:  # another runner finished the same model first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        trained.path = final
        return final




def train_or_load(job: TrainJob, cache: ModelCache, device: torch.device | None = None,
                  log: Callable[[str], None] = print) -> TrainedModel:
    """The cached model of ``job`` if there is one, otherwise a freshly fine-tuned (and cached) one."""
    spec = job.spec
    cached = cache.load(spec, job.task.spec.num_labels, job.model_dir, device)
    if cached is not None:
        log(f"  using cached fine-tuned model {cached.path}")
        for note in cached.training.notes:
            log(f"  warning: {note}")
        return cached
    checkpoints = cache.checkpoints(spec.key)
    trained = fine_tune(job, device, log, checkpoints)
    cache.save(spec, trained)
    shutil.rmtree(checkpoints, ignore_errors=True)  # the model is cached: its epochs are no longer needed
    return trained
