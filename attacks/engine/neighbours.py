"""A candidate source beyond the counter-fitted neighbour set: the nearest words in a word-vector file (TextFooler's
published candidates). Like :func:`bench.core.synonyms.counterfitted`, it is a callable ``word → substitutes``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np


class EmbeddingNeighbours:
    """The ``k`` nearest words with cosine ≥ ``min_cos`` in a word-vector file (``word v₁ … v_d`` per line)."""

    def __init__(self, path: Path, k: int = 50, min_cos: float = 0.5) -> None:
        words, rows = [], []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.rstrip().split(" ")
                if len(parts) > 2:
                    words.append(parts[0])
                    rows.append(np.asarray(parts[1:], dtype=np.float32))
        matrix = np.stack(rows)
        self.matrix = matrix / np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        self.k, self.min_cos = k, min_cos
        self.source = str(path)
        self._cache: dict[str, list[str]] = {}

    def __call__(self, word: str) -> list[str]:
        key = word.lower()
        if key not in self._cache:
            i = self.index.get(key)
            if i is None:
                self._cache[key] = []
            else:
                cos = self.matrix @ self.matrix[i]
                cos[i] = -np.inf
                order = np.argsort(-cos, kind="stable")[: self.k]
                self._cache[key] = [self.words[j] for j in order if cos[j] >= self.min_cos]
        return self._cache[key]


@lru_cache(maxsize=2)
def embedding_neighbours(path: str, k: int, min_cos: float) -> EmbeddingNeighbours:
    return EmbeddingNeighbours(Path(path), k, min_cos)
