"""Step time of every fine-tuning method relative to ``standard``, measured in the same run.

One training step = the method's loss on a real batch, backward, gradient clipping and an AdamW
step, exactly as ``bench.train`` does it. The methods are timed round-robin (one step each per
round, after one warm-up step each), so a change in machine load affects them alike; the median
over rounds is reported. Targets (issue 3): ``rift`` ≤ 1.3 × ``adv-base`` and ``adv-base`` ≤ (K + 2) ×
``standard`` for K inner ASCC steps. Beyond the paper (issue 14): ``freelb`` and ``freelb++`` ≤ (K + 1) ×
``standard`` and ``infobert`` ≤ (K + 2) × ``standard`` for their K ascent steps (each step is one forward and
backward pass, as a standard step).

    RIFT_BENCH_ASSETS=../shared HF_HUB_OFFLINE=1 python benchmarks/bench_methods.py [--rounds 5]

Exit status 0 when both targets hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import torch


def build(method_name: str, hparams_overrides: dict, model_dir, task, max_length: int, assets, seed: int = 0):
    from bench.classifier import load_pretrained
    from bench.registry import METHODS
    from bench.method import TrainContext

    method_cls = METHODS.get(method_name)
    fields = {f.name for f in dataclasses.fields(method_cls.Hparams)}
    hparams = method_cls.Hparams(**{k: v for k, v in hparams_overrides.items() if k in fields})
    torch.manual_seed(seed)
    model, tokenizer = load_pretrained(model_dir, task.spec.num_labels, "mean", seed)
    theta0 = {k: v.detach().clone() for k, v in model.encoder_parameters().items()}
    context = TrainContext(task.spec, tokenizer, model_dir, theta0, max_length, assets=assets, seed=seed)
    method = method_cls(hparams, model, context)
    params = [p for p in model.parameters() if p.requires_grad] + [p for m in method.extra_modules() for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    return method, model, tokenizer, params, optimizer


def one_step(method, model, params, optimizer, batch) -> float:
    model.train()
    for m in method.extra_modules():
        m.train()
    start = time.perf_counter()
    loss, _ = method.loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--methods", nargs="+", default=["standard", "adv-base", "adv-ptwd", "adv-mixout", "rift", "rift-ist",
                                                      "freelb", "freelb++", "infobert"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--ascc-steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if "standard" not in args.methods:
        args.methods.insert(0, "standard")

    from bench.assets import AssetConfig
    from bench.data import DataSizes, prepare_task
    from bench.models import resolve_model
    from bench.train import _tokenize, make_batches
    from bench.method import Batch

    assets = AssetConfig.from_env()
    model_dir = resolve_model("minilm-l6", assets).value
    task = prepare_task(args.dataset, DataSizes(n_train=max(256, 4 * args.batch_size), n_dev=8, n_test=8), assets)
    examples = make_batches(task.train, args.batch_size, torch.Generator().manual_seed(0), balanced=True)[0]
    states = {}
    for name in args.methods:
        method, model, tokenizer, params, optimizer = build(name, {"ascc_steps": args.ascc_steps}, model_dir, task,
                                                            args.max_length, assets)
        enc = _tokenize(tokenizer, examples, args.max_length)
        batch = Batch(enc, torch.tensor([ex.label for ex in examples]), examples)
        one_step(method, model, params, optimizer, batch)  # warm-up
        states[name] = (method, model, params, optimizer, batch)
    times: dict[str, list[float]] = {name: [] for name in args.methods}
    for _ in range(args.rounds):
        for name in args.methods:
            times[name].append(one_step(*states[name]))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    shape = tuple(states["standard"][4].encoding["input_ids"].shape)
    print(f"step time, {args.dataset}, minilm-l6, batch {shape[0]}×{shape[1]} tokens, K = {args.ascc_steps} ASCC steps, "
          f"{args.rounds} rounds, {torch.get_num_threads()} torch threads")
    print(f"{'method':<12} {'median s':>9} {'× standard':>11} {'× adv-base':>11}")
    for name in args.methods:
        vs_base = f"{median[name] / median['adv-base']:.2f}" if "adv-base" in median else "-"
        print(f"{name:<12} {median[name]:>9.3f} {median[name] / median['standard']:>11.2f} {vs_base:>11}")
    ok = True
    if "adv-base" in median:
        bound = args.ascc_steps + 2
        ratio = median["adv-base"] / median["standard"]
        print(f"target adv-base ≤ (K+2) × standard = {bound}×: {ratio:.2f}× → {'met' if ratio <= bound else 'MISSED'}")
        ok &= ratio <= bound
        if "rift" in median:
            ratio = median["rift"] / median["adv-base"]
            print(f"target rift ≤ 1.3 × adv-base: {ratio:.2f}× → {'met' if ratio <= 1.3 else 'MISSED'}")
            ok &= ratio <= 1.3
    for name, extra in (("freelb", 1), ("freelb++", 1), ("infobert", 2)):
        if name in median:
            k = states[name][0].hparams.adv_steps
            ratio = median[name] / median["standard"]
            print(f"target {name} ≤ (K+{extra}) × standard = {k + extra}× (K = {k}): {ratio:.2f}× → "
                  f"{'met' if ratio <= k + extra else 'MISSED'}")
            ok &= ratio <= k + extra
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
