"""Attack-engine throughput against the raw forward throughput of the same model at the same lengths.

The genetic search (``genetic-nolm``, population 60, 40 generations) attacks ``--n`` real test examples
with ``--in-flight`` examples at once, their queries batched together (the runner's default on a GPU is
32). Every batch the victim runs is recorded; the same batches, tokenised beforehand and already on the
device, are then run through the model alone. The ratio

    engine texts/s ÷ raw forward texts/s  (= raw forward time ÷ attack wall time)

is the share of the device's forward throughput the whole attack keeps (search, tokenisation, caching
and padding included). Target (issue 4): ≥ 0.7 on a GPU. It runs on any device; on a CPU the forward
pass dominates either way, so the ratio is high there by construction. ``--precision bf16`` runs the victim (and
the raw passes) under autocast: comparing two runs' ``raw_texts_per_s`` gives the attack-time speed-up.

    RIFT_BENCH_ASSETS=../shared HF_HUB_OFFLINE=1 python benchmarks/bench_engine_throughput.py --n 64 --batch-size 512
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_attacks import load_victim  # noqa: E402  (the cached ``standard`` model of a cell)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--n", type=int, default=64, help="test examples (misclassified ones are skipped)")
    parser.add_argument("--in-flight", type=int, default=32, help="examples attacked at once")
    parser.add_argument("--batch-size", type=int, default=512, help="the victim's forward batch size")
    parser.add_argument("--generations", type=int, default=40)
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                        help="the victim's forward passes (bench.core.precision); the raw passes use the same")
    args = parser.parse_args(argv)

    from attacks.engine.search import attack_many
    from attacks.genetic import GeneticNoLM, GeneticNoLMSettings
    from bench.core.assets import AssetConfig

    assets = AssetConfig.from_env()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    victim, examples, field = load_victim(args.dataset, args.model, args.n, args.scale, assets, log)
    victim.batch_size = args.batch_size
    victim.precision = args.precision
    recipe = GeneticNoLM(GeneticNoLMSettings(pop_size=60, generations=args.generations), assets)

    batches: list[list] = []  # every batch the victim ran, in order
    encode = victim.encode

    def recording_encode(inputs):
        batches.append(list(inputs))
        return encode(inputs)

    victim.encode = recording_encode
    attack_many(recipe, victim, examples[:2], field, args.in_flight)  # warm-up (kernels, allocator), not timed
    batches.clear()
    _sync(victim.device)
    start = time.perf_counter()
    results = attack_many(recipe, victim, examples, field, args.in_flight)
    _sync(victim.device)
    attack_s = time.perf_counter() - start
    victim.encode = encode

    encoded = [{k: v.to(victim.device) for k, v in encode(b).items()} for b in batches]
    texts = sum(len(b) for b in batches)
    with torch.inference_mode(), victim.autocast():
        victim.model(**encoded[0])  # warm-up
        _sync(victim.device)
        start = time.perf_counter()
        for enc in encoded:
            torch.softmax(victim.model(**enc).logits.float(), dim=-1).cpu()
        _sync(victim.device)
        raw_s = time.perf_counter() - start
    report = {
        "device": str(victim.device), "gpu": torch.cuda.get_device_name(victim.device) if victim.device.type == "cuda" else None,
        "dataset": args.dataset, "model": args.model, "precision": args.precision, "examples": len(examples),
        "attacked": sum(r.status != "skipped" for r in results), "successes": sum(r.status == "success" for r in results),
        "in_flight": args.in_flight, "batch_size": args.batch_size, "batches": len(batches), "texts": texts,
        "mean_batch": texts / max(len(batches), 1), "attack_seconds": attack_s, "raw_forward_seconds": raw_s,
        "engine_texts_per_s": texts / attack_s, "raw_texts_per_s": texts / raw_s, "ratio": raw_s / attack_s,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    target = report["ratio"] >= 0.7
    print(f"engine keeps {report['ratio']:.2f} of the raw forward throughput on {report['device']} "
          f"(target ≥ 0.7 on a GPU): {'met' if target else 'not met'}", file=sys.stderr)
    return 0 if target else 1


if __name__ == "__main__":
    sys.exit(main())
