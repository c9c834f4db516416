"""The one fine-tuning loop every method plugs its loss into (its cache: :mod:`bench.core.model_cache`).

AdamW with the scale's schedule, weight-decay scope, ε and gradient clipping (the ``paper`` scale follows
the paper code), seeded data order and initialisation (deterministic on CPU for a fixed seed). Per epoch
it logs the train loss, the mean of every loss term the method reports, dev accuracy and the relative
distance of the encoder weights from the pre-trained ones, ‖θ−θ₀‖₂/‖θ₀‖₂ (also every ``log_every``
steps). The epoch with the best dev score is kept.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from bench.core.classifier import Classifier, load_pretrained
from bench.core.config import Scale, hparams_identity, training_settings
from bench.core.data import Example, TaskData
from bench.core.store import config_hash
from bench.core.train_checkpoint import (EpochCheckpoints, Snapshot, flatten, optimizer_snapshot, restore_optimizer,
                                     restore_rng, rng_snapshot, unflatten)
from bench.core.precision import LossScaler, autocast, check_precision
from bench.core.record import Training
from bench.core.victim import Victim, pick_device
from bench.core.method import Batch, Method, TrainContext


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def squared_norm(reference: dict[str, torch.Tensor]) -> torch.Tensor:
    """‖θ₀‖₂² over all tensors, in float64 (the denominator of :func:`relative_distance`, fixed for a training)."""
    den = torch.zeros((), dtype=torch.float64)
    with torch.no_grad():
        for ref in reference.values():
            den += ref.double().pow(2).sum().cpu()
    return den


def relative_distance(params: dict[str, torch.Tensor], reference: dict[str, torch.Tensor],
                      reference_squared_norm: torch.Tensor | None = None) -> float:
    """‖θ−θ₀‖₂ / ‖θ₀‖₂ over all tensors (the paper's measure of forgetting). ``reference_squared_norm``:
    :func:`squared_norm` of ``reference``, computed once by a caller that measures the distance often."""
    num = torch.zeros((), dtype=torch.float64)
    den = squared_norm(reference) if reference_squared_norm is None else reference_squared_norm
    with torch.no_grad():
        for name, ref in reference.items():
            cur = params[name].detach().to(ref.device)
            num += (cur.double() - ref.double()).pow(2).sum().cpu()
    return float(num.sqrt() / den.sqrt())


@dataclass
class TrainSpec:
    """Everything that determines a fine-tuned model (its cache key is a hash of :meth:`key_dict`)."""

    dataset: str
    model: str
    model_fingerprint: str
    pooling: str
    method: str
    hparams: dict[str, Any]
    seed: int
    scale: Scale
    max_length: int
    data: dict[str, Any]

    def key_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "model": self.model, "model_fingerprint": self.model_fingerprint,
            "pooling": self.pooling, "method": self.method,
            "hparams": hparams_identity(self.method, self.dataset, self.hparams), "seed": self.seed,
            "max_length": self.max_length, "data": self.data,
            "train": training_settings(self.scale),
            "loop_version": 2,
        }

    @property
    def key(self) -> str:
        return config_hash(self.key_dict())


@dataclass(frozen=True)
class TrainJob:
    """One model to fine-tune: what determines it (:attr:`spec`, whose key names it in the model cache) and what
    building it needs. The method's hyperparameters are the spec's (:attr:`hparams`), so they travel once."""

    spec: TrainSpec
    method_cls: type[Method]
    task: TaskData
    model_dir: Path
    assets: Any = None

    @property
    def hparams(self) -> Any:
        """The method's ``Hparams`` of :attr:`TrainSpec.hparams`."""
        return self.method_cls.Hparams(**self.spec.hparams)


@dataclass
class TrainedModel:
    """A fine-tuned model and the record's account of it (:class:`bench.core.record.Training`, which the model cache
    stores beside the weights)."""

    model: Classifier
    tokenizer: Any
    training: Training
    path: Path | None = None

    @property
    def cached(self) -> bool:
        """Loaded from the model cache rather than trained in this run."""
        return bool(self.training.from_cache)


@dataclass
class _Loop:
    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)


def _tokenize(tokenizer, examples: list[Example], max_length: int) -> dict[str, torch.Tensor]:
    firsts = [ex.text for ex in examples]
    seconds = [ex.text_pair for ex in examples] if examples[0].text_pair is not None else None
    return dict(tokenizer(firsts, seconds, truncation=True, max_length=max_length, padding=True, return_tensors="pt"))


def _length(ex: Example) -> int:
    """The length used to group batches: characters of the input text(s) (a cheap proxy for tokens)."""
    return len(ex.text) + (len(ex.text_pair) if ex.text_pair is not None else 0)


#: group_by_length sorts windows of this many batches by length (as transformers' LengthGroupedSampler)
MEGA_BATCHES = 50


def _by_length(stream: list[Example], chunk: int) -> list[Example]:
    """``stream`` with each window of ``MEGA_BATCHES × chunk`` examples sorted by length, longest first."""
    window = MEGA_BATCHES * chunk
    return [ex for s in range(0, len(stream), window)
            for ex in sorted(stream[s:s + window], key=_length, reverse=True)]


def make_batches(train: list[Example], batch_size: int, generator: torch.Generator, balanced: bool,
                 group_by_length: bool = False) -> list[list[Example]]:
    """One epoch's batches, seeded by ``generator``.

    ``balanced``: one shuffled stream per class, interleaved, so each batch holds every class equally (the
    paper code's loaders). ``group_by_length``: the shuffled order is cut into windows of ``MEGA_BATCHES``
    batches, each window sorted by length, and the batches are then shuffled, so a batch holds texts of
    similar length (less padding) while which examples train together and in which order is still random
    and seeded. The same examples are used either way.
    """
    if not balanced:
        order = [train[i] for i in torch.randperm(len(train), generator=generator).tolist()]
        if group_by_length:
            order = _by_length(order, batch_size)
        batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    else:
        by_label: dict[int, list[Example]] = {}
        for ex in train:
            by_label.setdefault(ex.label, []).append(ex)
        streams = [[group[i] for i in torch.randperm(len(group), generator=generator).tolist()]
                   for _, group in sorted(by_label.items())]
        per_class = max(1, batch_size // len(streams))
        n_batches = min(len(s) for s in streams) // per_class
        if group_by_length:
            streams = [_by_length(s[:n_batches * per_class], per_class) for s in streams]
        batches = [[ex for s in streams for ex in s[b * per_class:(b + 1) * per_class]] for b in range(n_batches)]
    if group_by_length:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def make_schedule(scale: Scale, steps_per_epoch: int) -> Callable[[int], float]:
    """The learning-rate factor of each step (0-based) under ``scale.lr_schedule``."""
    total = steps_per_epoch * scale.epochs
    if scale.lr_schedule == "epoch-warmup-constant":
        # The paper code's WarmupMultiStepLR(milestones=(50, 80), gamma=0.1, warmup_factor=0.1, warmup_iters=2,
        # "linear"), stepped once per epoch: epoch e < W trains at 0.1 + 0.9·e/W of the lr, later epochs at the
        # full lr (its milestones lie beyond its 20 epochs).
        def factor(step: int) -> float:
            epoch = step // steps_per_epoch
            if epoch >= scale.warmup_epochs:
                return 1.0
            alpha = epoch / scale.warmup_epochs
            return 0.1 * (1 - alpha) + alpha
    else:
        warmup = int(round(scale.warmup_ratio * total))
        constant = scale.lr_schedule == "constant"

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            return 1.0 if constant else max(0.0, (total - step) / max(1, total - warmup))
    return factor


def param_groups(model: Classifier, extra: list[nn.Module], scale: Scale) -> list[dict[str, Any]]:
    """AdamW groups: the encoder is decayed only with ``weight_decay_scope="all"``; heads are always decayed."""
    encoder = {id(p) for p in model.encoder_parameters().values()}
    params = [p for p in model.parameters() if p.requires_grad] + [p for m in extra for p in m.parameters()]
    if scale.weight_decay_scope == "all":
        return [{"params": params, "weight_decay": scale.weight_decay}]
    return [{"params": [p for p in params if id(p) not in encoder], "weight_decay": scale.weight_decay},
            {"params": [p for p in params if id(p) in encoder], "weight_decay": 0.0}]


#: a kept model whose clean dev accuracy is less than this above the majority-class rate is noted as near chance
NEAR_CHANCE = 0.05
#: ... and one that predicts a single class for at least this share of the dev examples as near-constant
NEAR_CONSTANT = 0.95


def model_notes(predictions: list[int], dev: list[Example], scale: Scale) -> list[str]:
    """Warnings about a fine-tuned model from its dev predictions: near the majority-class rate, or near-constant
    (as a model selected by robust dev accuracy can be: a constant prediction is never flipped)."""
    if not dev:
        return []
    labels = [ex.label for ex in dev]
    majority = max(labels.count(c) for c in set(labels)) / len(labels)
    accuracy = sum(p == y for p, y in zip(predictions, labels)) / len(labels)
    top = max(set(predictions), key=predictions.count)
    share = predictions.count(top) / len(predictions)
    raise_what = (f"the model has barely learned the task: raise epochs (now {scale.epochs}), n_train (now "
                  f"{scale.n_train if scale.n_train is not None else 'all'}) or lr (now {scale.lr:g})")
    notes = []
    if accuracy < majority + NEAR_CHANCE:
        notes.append(f"near chance: clean dev accuracy {accuracy:.3f} is within {100 * NEAR_CHANCE:.0f} points of the "
                     f"majority-class rate {majority:.3f}; {raise_what}")
    if share >= NEAR_CONSTANT:
        notes.append(f"near-constant: it predicts class {top} for {100 * share:.0f} % of the dev examples (a constant "
                     f"prediction is never flipped, so its accuracy under attack says little); {raise_what}")
    return notes


def evaluate_accuracy(victim: Victim, examples: list[Example]) -> float:
    if not examples:
        return float("nan")
    preds = victim.predict([ex.inputs for ex in examples])
    return float(np.mean([p == ex.label for p, ex in zip(preds, examples)]))


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not sys.stderr.isatty() or bool(os.environ.get("CI")), leave=False)


def _snapshot(model: Classifier, extra: list[nn.Module], method: Method, optimizer: torch.optim.Optimizer,
              schedule: Any, scaler: LossScaler, generator: torch.Generator, loop: _Loop,
              best: tuple[float, int, dict], step: int, seconds: float) -> Snapshot:
    """Everything the rest of the training depends on, at the end of an epoch (:mod:`bench.core.train_checkpoint`)."""
    tensors = {**flatten("model", model.state_dict()), **flatten("best", best[2]),
               **flatten("method", method.state_tensors())}
    for i, module in enumerate(extra):
        tensors.update(flatten(f"extra.{i}", module.state_dict()))
    optimizer_part, rng_part = optimizer_snapshot(optimizer), rng_snapshot(generator)
    tensors.update(optimizer_part.tensors)
    tensors.update(rng_part.tensors)
    return Snapshot(tensors, {"optimizer": optimizer_part.state, "rng": rng_part.state,
                              "schedule": schedule.state_dict(), "scaler": scaler.state_dict(),
                              "steps": loop.steps, "epochs": loop.epochs,
                              "best_score": best[0], "best_epoch": best[1], "step": step, "seconds": seconds})


def _restore(snapshot: Snapshot, model: Classifier, extra: list[nn.Module], method: Method,
             optimizer: torch.optim.Optimizer, schedule: Any, scaler: LossScaler, generator: torch.Generator,
             loop: _Loop) -> tuple[tuple[float, int, dict], int, float]:
    """Put a :func:`_snapshot` back; returns the best epoch so far, the step count and the training seconds."""
    t, state = snapshot.tensors, snapshot.state
    model.load_state_dict(unflatten("model", t), strict=True)
    for i, module in enumerate(extra):
        module.load_state_dict(unflatten(f"extra.{i}", t), strict=True)
    method.load_state_tensors(unflatten("method", t))
    restore_optimizer(optimizer, t, state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    scaler.load_state_dict(state.get("scaler", {}))
    restore_rng(generator, t, state["rng"])
    loop.steps, loop.epochs = list(state["steps"]), list(state["epochs"])
    return (state["best_score"], state["best_epoch"], unflatten("best", t)), state["step"], state["seconds"]


def fine_tune(job: TrainJob, device: torch.device | None = None, log: Callable[[str], None] = print,
              checkpoints: Path | None = None) -> TrainedModel:
    """Fine-tune ``job``'s pre-trained encoder with its method and return the best-dev model.

    ``checkpoints``: a folder for per-epoch training checkpoints (:mod:`bench.core.train_checkpoint`); a run that
    finds one there resumes after its epoch, and ends as if it had never stopped."""
    spec, method_cls, task, model_dir = job.spec, job.method_cls, job.task, job.model_dir
    device = device or pick_device()
    scale = spec.scale
    check_precision(scale.precision, device)
    seed_everything(spec.seed)
    model, tokenizer = load_pretrained(model_dir, task.spec.num_labels, spec.pooling, spec.seed, scale.tokenizer)
    model.to(device)
    theta0 = {k: v.detach().clone() for k, v in model.encoder_parameters().items()}
    theta0_norm = squared_norm(theta0)
    context = TrainContext(task.spec, tokenizer, model_dir, theta0, spec.max_length, assets=job.assets, seed=spec.seed)
    method = method_cls(job.hparams, model, context)
    resolved = dataclasses.asdict(method.hparams) if dataclasses.is_dataclass(method.hparams) else {}
    if resolved:  # as the cell resolved them (task defaults filled in); a direct caller may have left some to the method
        log(f"  hyperparameters: {resolved}" + ("" if resolved == spec.hparams else " (filled in by the method)"))
    inactive = method.inactive_terms()
    for term in inactive:
        log(f"  note: loss term switched off: {term}")
    extra = [m.to(device) for m in method.extra_modules()]
    params = [p for p in model.parameters() if p.requires_grad] + [p for m in extra for p in m.parameters()]
    optimizer = torch.optim.AdamW(param_groups(model, extra, scale), lr=scale.lr, eps=scale.adam_eps)
    generator = torch.Generator().manual_seed(spec.seed)
    steps_per_epoch = len(make_batches(task.train, scale.batch_size, torch.Generator().manual_seed(0),
                                       method_cls.class_balanced_batches))
    if steps_per_epoch == 0:
        from bench.core.errors import BenchError

        raise BenchError(f"no training batch: {len(task.train)} training examples for batch size {scale.batch_size}")
    total = steps_per_epoch * scale.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, make_schedule(scale, steps_per_epoch))
    victim = Victim(model, tokenizer, spec.max_length, scale.eval_batch_size, device, scale.precision)
    scaler = LossScaler(scale.precision, device)
    loop = _Loop()
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    step, seconds_before, first_epoch = 0, 0.0, 1
    saved = None
    if checkpoints is not None:
        saved = EpochCheckpoints(checkpoints, spec.key, log)
        snapshot = saved.latest()
        if snapshot is not None:
            best, step, seconds_before = _restore(snapshot, model, extra, method, optimizer, schedule, scaler, generator,
                                                  loop)
            first_epoch = snapshot.state["epoch"] + 1
            log(f"  resuming training after epoch {snapshot.state['epoch']}/{scale.epochs} (checkpoint in {checkpoints})")
    started = time.perf_counter()
    bar = _progress(total, f"train {spec.method}")
    bar.update(step)
    for epoch in range(first_epoch, scale.epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        for m in extra:
            m.train()
        losses: list[float] = []
        terms: dict[str, list[float]] = {}
        lr_epoch = schedule.get_last_lr()[0]
        for examples in make_batches(task.train, scale.batch_size, generator, method_cls.class_balanced_batches,
                                     scale.group_by_length):
            enc = {k: v.to(device) for k, v in _tokenize(tokenizer, examples, spec.max_length).items()}
            batch = Batch(enc, torch.tensor([ex.label for ex in examples], device=device), examples)
            with autocast(scale.precision, device):
                loss, parts = method.loss(model, batch)
            if not torch.isfinite(loss.detach()).all():  # a diverged model is never cached, attacked or recorded
                from bench.core.errors import BenchError

                raise BenchError(f"training diverged: the {spec.method} loss is {float(loss.detach())} at step {step + 1} "
                                 f"(epoch {epoch}); lower lr (now {scale.lr:g}) or check the data")
            optimizer.zero_grad(set_to_none=True)
            scaler.backward(loss)
            if scale.grad_clip > 0:
                scaler.unscale(optimizer)
                torch.nn.utils.clip_grad_norm_(params, scale.grad_clip)
            scaler.step(optimizer)
            schedule.step()
            step += 1
            losses.append(float(loss.detach()))
            for name, value in parts.items():
                terms.setdefault(name, []).append(float(value))
            bar.update(1)
            if step % scale.log_every == 0 or step == total:
                loop.steps.append({"step": step, "epoch": epoch, "loss": losses[-1], **parts,
                                   "rel_weight_distance": relative_distance(model.encoder_parameters(), theta0, theta0_norm)})
        victim.clear_cache()
        model.eval()
        dev_acc = evaluate_accuracy(victim, task.dev)
        victim.clear_cache()
        score = dev_acc if method.selection_metric == "dev_accuracy" else method.dev_score(victim, task.dev, dev_acc)
        victim.clear_cache()
        distance = relative_distance(model.encoder_parameters(), theta0, theta0_norm)
        loop.epochs.append({"epoch": epoch, "step": step, "lr": lr_epoch, "train_loss": float(np.mean(losses)),
                            # the mean of each loss term and diagnostic the method reported, over the epoch's steps
                            "terms": {name: float(np.mean(values)) for name, values in terms.items()},
                            "dev_accuracy": dev_acc, method.selection_metric: score, "rel_weight_distance": distance})
        selection = "" if method.selection_metric == "dev_accuracy" else f", {method.selection_metric} {score:.3f}"
        log(f"  epoch {epoch}/{scale.epochs}: train loss {np.mean(losses):.4f}, dev acc {dev_acc:.3f}{selection}, "
            f"‖θ−θ₀‖/‖θ₀‖ {distance:.4f} ({time.perf_counter() - epoch_started:.0f} s with the dev selection)")
        if best is None or score > best[0]:
            best = (score, epoch, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        if saved is not None and epoch < scale.epochs:
            saved.save(epoch, _snapshot(model, extra, method, optimizer, schedule, scaler, generator, loop, best, step,
                                        seconds_before + time.perf_counter() - started))
    bar.close()
    assert best is not None
    model.load_state_dict(best[2])
    model.eval()
    victim.clear_cache()
    notes = model_notes([int(p) for p in victim.predict([ex.inputs for ex in task.dev])], task.dev, scale)
    victim.clear_cache()
    for note in notes:
        log(f"  warning: {note}")
    training = Training(
        train_key=spec.key, from_cache=False, epochs=scale.epochs, selected_epoch=best[1],
        selection_metric=method.selection_metric, selected_dev_accuracy=loop.epochs[best[1] - 1]["dev_accuracy"],
        final_rel_weight_distance=loop.epochs[-1]["rel_weight_distance"],
        selected_rel_weight_distance=loop.epochs[best[1] - 1]["rel_weight_distance"],
        train_seconds=seconds_before + time.perf_counter() - started, epoch_log=loop.epochs,
        # what the method filled in, only where a caller left it unresolved (a cell's hyperparameters are resolved)
        resolved_hparams=resolved if resolved != spec.hparams else None,
        inactive_terms=inactive, step_log=loop.steps, notes=notes)
    return TrainedModel(model, tokenizer, training)
