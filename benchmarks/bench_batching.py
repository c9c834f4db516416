"""Where an adversarial training step spends its time, and what length-grouped batches save.

1. Profile: one ``adv-base`` step on a real class-balanced batch, split into its phases (ASCC alignment —
   tokenising with offsets and mapping words to candidate tokens —, the clean eval-mode pass that fixes p(x),
   the K-step ASCC search, the clean and hull passes in train mode, backward, optimiser), median over rounds.
2. Batching: the same training examples cut into batches uniformly at random (the default) and grouped by
   length (``group_by_length=true``), each batch run as one full ``adv-base`` step, alternating between the two
   so that machine load affects both alike. Reports padding (pad tokens / all tokens) and the time ratio.

    RIFT_BENCH_ASSETS=../shared HF_HUB_OFFLINE=1 python benchmarks/bench_batching.py --dataset sst2 --threads 1

Run it on a quiet machine: it times things.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch


def _phases(method, model, batch) -> dict[str, float]:
    """Time the phases of AdvBase.loss + backward, calling the same functions in the same order."""
    from bench.core import ascc
    from methods.adv_base import kl_div

    t: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        t[name] = now - mark
        mark = now

    alignment = method.aligner.align(batch.examples).to(batch.labels.device)
    lap("align")
    model.eval()
    with torch.no_grad():
        clean_eval = model(**batch.encoding).logits
    model.train()
    lap("clean pass (eval, no grad)")
    weights = ascc.search(model, alignment, ascc.kl_objective(clean_eval), method.config).weights
    lap(f"ASCC search ({method.config.steps} steps)")
    clean = method.forward(model, batch)
    adv = ascc.forward_hull(model, alignment, weights)
    loss = torch.nn.functional.cross_entropy(clean.logits, batch.labels) + method.hparams.beta * kl_div(clean.logits, adv.logits)
    lap("clean + hull passes (train)")
    loss.backward()
    lap("backward")
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=12, help="batches of each kind in the batching comparison")
    parser.add_argument("--max-length", type=int, default=0, help="0: the small scale's preset for the dataset")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
    from bench_methods import build, one_step

    from bench.core.assets import AssetConfig
    from bench.core.config import SCALES, resolve_max_length
    from bench.core.data import DataSizes, prepare_task
    from bench.core.models import resolve_model
    from bench.core.train import _tokenize, make_batches
    from bench.core.method import Batch

    assets = AssetConfig.from_env()
    max_length = args.max_length or resolve_max_length("small", SCALES["small"], args.dataset)
    model_dir = resolve_model("minilm-l6", assets).value
    task = prepare_task(args.dataset, DataSizes(n_train=2000, n_dev=8, n_test=8), assets)
    method, model, tokenizer, params, optimizer = build("adv-base", {}, model_dir, task, max_length, assets)

    def as_batch(examples):
        enc = _tokenize(tokenizer, examples, max_length)
        return Batch(enc, torch.tensor([ex.label for ex in examples]), examples)

    # 1. profile
    first = as_batch(make_batches(task.train, args.batch_size, torch.Generator().manual_seed(0), balanced=True)[0])
    one_step(method, model, params, optimizer, first)  # warm-up
    runs = [_phases(method, model, first) for _ in range(args.rounds)]
    shape = tuple(first.encoding["input_ids"].shape)
    print(f"adv-base step on {args.dataset}, minilm-l6, batch {shape[0]}×{shape[1]} tokens, {torch.get_num_threads()} "
          f"torch thread(s), median of {args.rounds}:")
    total = sum(statistics.median(r[k] for r in runs) for k in runs[0])
    for name in runs[0]:
        value = statistics.median(r[name] for r in runs)
        print(f"  {name:<32} {value:7.3f} s  {100 * value / total:5.1f} %")

    # 2. random vs length-grouped batches, alternating
    kinds = {"random": False, "grouped": True}
    batches = {k: [as_batch(b) for b in make_batches(task.train, args.batch_size, torch.Generator().manual_seed(1),
                                                      balanced=True, group_by_length=g)[:args.batches]]
               for k, g in kinds.items()}
    times = {k: 0.0 for k in kinds}
    for i in range(args.batches):
        for k in kinds:
            times[k] += one_step(method, model, params, optimizer, batches[k][i])
    print(f"\n{args.batches} adv-base steps each, batch {args.batch_size}, max_length {max_length}:")
    for k in kinds:
        masks = [b.encoding["attention_mask"] for b in batches[k]]
        tokens = sum(m.numel() for m in masks)
        pad = sum(int((m == 0).sum()) for m in masks)
        examples = sum(len(b.examples) for b in batches[k])
        print(f"  {k:<8} {times[k]:7.2f} s  {1000 * times[k] / examples:6.1f} ms/example  padding {100 * pad / tokens:4.1f} %")
    print(f"  length-grouped batches: {times['random'] / times['grouped']:.2f}× faster per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
