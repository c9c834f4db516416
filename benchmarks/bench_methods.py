"""Step time of every fine-tuning method relative to ``standard``, measured in the same run.

One training step = the method's loss on a real batch, backward, gradient clipping and an AdamW
step, exactly as ``bench.core.train`` does it. The methods are timed round-robin (one step each per
round, after one warm-up step each), so a change in machine load affects them alike; the median
over rounds is reported. Targets (issue 3): ``rift`` ≤ 1.3 × ``adv-base`` and ``adv-base`` ≤ (K + 2) ×
``standard`` for K inner ASCC steps. Beyond the paper (issue 14): ``freelb`` and ``freelb++`` ≤ (K + 1) ×
``standard`` and ``infobert`` ≤ (K + 2) × ``standard`` for their K ascent steps (each step is one forward and
backward pass, as a standard step).

Precision (issue 25): ``--precisions fp32 bf16`` times every method in each precision in the same round-robin, and
prints the bf16/fp32 speed-up per method (target on a CPU with bfloat16 instructions: the adversarial step ≥ 1.4×
faster) and the fraction of the CPU's peak each step reaches: its FLOPs (counted by
``torch.utils.flop_counter.FlopCounterMode`` on one step: matrix products, forward and backward) per second over
the peak = cores × clock × FLOPs per cycle and core, with FLOPs per cycle = 2 (fused multiply-add) × 2 (vector
pipes, as on AMD Zen and Intel server cores) × the vector width in lanes (AVX-512: 16 fp32 lanes, AVX2: 8), doubled
for bf16 where the CPU has AVX512-BF16 (its dot product does two bf16 products per fp32 lane). The clock is the
CPU's maximum frequency where Linux reports it, else its current one. On a CPU without bfloat16 instructions bf16
is emulated (the suite refuses ``precision=bf16`` there): the benchmark still measures it, to show what it costs.

    RIFT_BENCH_ASSETS=../shared HF_HUB_OFFLINE=1 python benchmarks/bench_methods.py [--rounds 5] [--precisions fp32 bf16]

A benchmark reports: it prints each target as met or MISSED and exits 0 either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import torch


def build(method_name: str, hparams_overrides: dict, model_dir, task, max_length: int, assets, seed: int = 0,
          device: torch.device = torch.device("cpu")):
    from bench.core.classifier import load_pretrained
    from bench.core.registry import METHODS
    from bench.core.method import TrainContext

    method_cls = METHODS.get(method_name)
    fields = {f.name for f in dataclasses.fields(method_cls.Hparams)}
    hparams = method_cls.Hparams(**{k: v for k, v in hparams_overrides.items() if k in fields})
    torch.manual_seed(seed)
    model, tokenizer = load_pretrained(model_dir, task.spec.num_labels, "mean", seed)
    model.to(device)
    theta0 = {k: v.detach().clone() for k, v in model.encoder_parameters().items()}
    context = TrainContext(task.spec, tokenizer, model_dir, theta0, max_length, assets=assets, seed=seed)
    method = method_cls(hparams, model, context)
    for module in method.extra_modules():
        module.to(device)
    params = [p for p in model.parameters() if p.requires_grad] + [p for m in method.extra_modules() for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    return method, model, tokenizer, params, optimizer


def one_step(method, model, params, optimizer, batch, precision: str = "fp32") -> float:
    from bench.core.precision import autocast

    device = next(model.parameters()).device
    model.train()
    for m in method.extra_modules():
        m.train()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    with autocast(precision, device):
        loss, _ = method.loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def cpu_peak_flops(precision: str) -> tuple[float, str]:
    """Peak FLOP/s of this machine's CPU cores for ``precision`` and how it was computed (see the module doc)."""
    import os
    from pathlib import Path

    from bench.core.precision import cpu_flags

    flags = cpu_flags()
    width = 512 if "avx512f" in flags else 256 if "avx2" in flags or "avx" in flags else 128
    lanes = width // 32
    bf16 = precision == "bf16" and "avx512_bf16" in flags
    per_cycle = 2 * 2 * lanes * (2 if bf16 else 1)
    ghz, clock = None, "current"
    try:
        ghz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1e6
        clock = "maximum"
    except (OSError, ValueError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                ghz = float(line.partition(":")[2]) / 1000
                break
    cores = torch.get_num_threads() or os.cpu_count() or 1
    peak = cores * (ghz or 0.0) * 1e9 * per_cycle
    how = (f"{cores} core(s) × {ghz:.2f} GHz ({clock}) × {per_cycle} FLOP/cycle ({width}-bit vectors, 2 FMA pipes"
           + (", bf16 dot products" if bf16 else "") + ")")
    return peak, how


def step_flops(method, model, params, optimizer, batch, precision: str) -> float:
    """The FLOPs of one training step (matrix products, forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        one_step(method, model, params, optimizer, batch, precision)
    return float(counter.get_total_flops())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--methods", nargs="+", default=["standard", "adv-base", "adv-ptwd", "adv-mixout", "rift", "rift-ist",
                                                      "freelb", "freelb++", "infobert"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--ascc-steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (the fraction of peak is the CPU's only)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if "standard" not in args.methods:
        args.methods.insert(0, "standard")

    from bench.core.assets import AssetConfig
    from bench.core.data import DataSizes, prepare_task
    from bench.core.models import resolve_model
    from bench.core.train import _tokenize, make_batches
    from bench.core.method import Batch

    assets = AssetConfig.from_env()
    model_dir = resolve_model("minilm-l6", assets).value
    task = prepare_task(args.dataset, DataSizes(n_train=max(256, 4 * args.batch_size), n_dev=8, n_test=8), assets)
    examples = make_batches(task.train, args.batch_size, torch.Generator().manual_seed(0), balanced=True)[0]
    runs = [(name, precision) for name in args.methods for precision in args.precisions]
    states = {}
    for name, precision in runs:
        method, model, tokenizer, params, optimizer = build(name, {"ascc_steps": args.ascc_steps}, model_dir, task,
                                                            args.max_length, assets, device=device)
        enc = {k: v.to(device) for k, v in _tokenize(tokenizer, examples, args.max_length).items()}
        batch = Batch(enc, torch.tensor([ex.label for ex in examples], device=device), examples)
        one_step(method, model, params, optimizer, batch, precision)  # warm-up
        states[name, precision] = (method, model, params, optimizer, batch)
    times: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
    for _ in range(args.rounds):
        for run in runs:
            times[run].append(one_step(*states[run], run[1]))
    medians = {run: statistics.median(ts) for run, ts in times.items()}
    shape = tuple(states[runs[0]][4].encoding["input_ids"].shape)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} torch threads"
    print(f"step time, {args.dataset}, minilm-l6, batch {shape[0]}×{shape[1]} tokens, K = {args.ascc_steps} ASCC steps, "
          f"{args.rounds} rounds, {where}")
    for precision in args.precisions:
        median = {name: medians[name, precision] for name in args.methods}
        print(f"\n{precision}:")
        print(f"{'method':<12} {'median s':>9} {'× standard':>11} {'× adv-base':>11}")
        for name in args.methods:
            vs_base = f"{median[name] / median['adv-base']:.2f}" if "adv-base" in median else "-"
            print(f"{name:<12} {median[name]:>9.3f} {median[name] / median['standard']:>11.2f} {vs_base:>11}")
        if "adv-base" in median:
            bound = args.ascc_steps + 2
            ratio = median["adv-base"] / median["standard"]
            print(f"target adv-base ≤ (K+2) × standard = {bound}×: {ratio:.2f}× → {'met' if ratio <= bound else 'MISSED'}")
            if "rift" in median:
                ratio = median["rift"] / median["adv-base"]
                print(f"target rift ≤ 1.3 × adv-base: {ratio:.2f}× → {'met' if ratio <= 1.3 else 'MISSED'}")
        for name, extra in (("freelb", 1), ("freelb++", 1), ("infobert", 2)):
            if name in median:
                k = states[name, precision][0].hparams.adv_steps
                ratio = median[name] / median["standard"]
                print(f"target {name} ≤ (K+{extra}) × standard = {k + extra}× (K = {k}): {ratio:.2f}× → "
                      f"{'met' if ratio <= k + extra else 'MISSED'}")
    if device.type == "cpu":
        print("\nfraction of the CPU's peak (FLOPs of one step / its median time / peak):")
        for precision in args.precisions:
            peak, how = cpu_peak_flops(precision)
            print(f"  {precision} peak {peak / 1e9:.0f} GFLOP/s = {how}")
            for name in args.methods:
                flops = step_flops(*states[name, precision], precision)
                rate = flops / medians[name, precision]
                print(f"  {precision} {name:<12} {flops / 1e9:8.2f} GFLOP/step  {rate / 1e9:7.1f} GFLOP/s  "
                      f"{rate / peak:6.1%} of peak" if peak else f"  {precision} {name}: no clock reading")
    if len(args.precisions) == 2:
        print("\nbf16 speed-up (fp32 step time / bf16 step time), same run:")
        for name in args.methods:
            print(f"  {name:<12} {medians[name, 'fp32'] / medians[name, 'bf16']:.2f}×")
        if "adv-base" in args.methods:
            ratio = medians["adv-base", "fp32"] / medians["adv-base", "bf16"]
            print(f"target adversarial step ≥ 1.4× faster in bf16: {ratio:.2f}× → {'met' if ratio >= 1.4 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
