"""A transparent stand-in victim for tests and examples: a bag-of-words linear classifier.

``LexiconVictim`` behaves like :class:`bench.core.victim.Victim` (same cache, same honest counts) but its
probabilities are ``softmax(bias + Σ weights[word])`` over the lower-cased words of the attacked text,
so brute-force oracles can enumerate what an attack should find.
"""

from __future__ import annotations

import numpy as np

from bench.core.text import WORD_RE
from bench.core.data import TextInput
from bench.core.victim import QueryCounts, Victim


class LexiconVictim(Victim):
    def __init__(self, weights: dict[str, list[float]], bias: list[float], field: int = 0,
                 max_words: int | None = None, unk_token: str = "[UNK]") -> None:
        self.weights = {w.lower(): np.asarray(v, dtype=np.float64) for w, v in weights.items()}
        self.bias = np.asarray(bias, dtype=np.float64)
        self.field = field
        self.max_words = max_words
        self._unk = unk_token
        self.counts = QueryCounts()
        self._cache = {}
        self.batch_size = 64

    @property
    def unk_token(self) -> str:
        return self._unk

    @property
    def num_labels(self) -> int:
        return len(self.bias)

    def logits(self, x: TextInput) -> np.ndarray:
        text = x if isinstance(x, str) else x[self.field]
        words = [m.group().lower() for m in WORD_RE.finditer(text)]
        if self.max_words is not None:
            words = words[: self.max_words]
        z = self.bias.copy()
        for w in words:
            z += self.weights.get(w, 0.0)
        return z

    def _forward(self, inputs: list[TextInput]) -> list[np.ndarray]:
        out = []
        for x in inputs:
            z = self.logits(x)
            e = np.exp(z - z.max())
            out.append((e / e.sum()).astype(np.float32))
        self.counts.forwards += len(inputs)
        self.counts.batches += 1
        return out

    def visible_chars(self, inputs: TextInput, field: int) -> int:
        text = inputs if isinstance(inputs, str) else inputs[field]
        if self.max_words is None:
            return len(text)
        spans = [m.span() for m in WORD_RE.finditer(text)]
        return spans[self.max_words - 1][1] if len(spans) >= self.max_words else len(text)
