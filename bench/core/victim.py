"""The victim: the only interface attacks talk to.

``predict_proba(inputs)`` runs a fine-tuned classifier on texts (or text pairs) in batches with
dynamic padding under ``torch.inference_mode``, caches text → probabilities, and counts honestly how
many inputs were asked for (``queries``) and how many actually went through the model (``forwards``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from bench.core.classifier import Classifier
from bench.core.data import TextInput


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


@dataclass
class QueryCounts:
    queries: int = 0  # inputs asked for, cached or not
    forwards: int = 0  # inputs actually run through the model
    batches: int = 0

    def minus(self, other: "QueryCounts") -> "QueryCounts":
        return QueryCounts(self.queries - other.queries, self.forwards - other.forwards, self.batches - other.batches)


class Victim:
    """A fine-tuned classifier seen as a black box returning class probabilities."""

    def __init__(self, model: Classifier, tokenizer, max_length: int, batch_size: int = 64,
                 device: torch.device | None = None, precision: str = "fp32") -> None:
        self.device = device or pick_device()
        self.precision = precision  # the forward passes' (bench.core.precision); probabilities are fp32
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.counts = QueryCounts()
        self._cache: dict[TextInput, np.ndarray] = {}

    @property
    def unk_token(self) -> str:
        return self.tokenizer.unk_token

    @property
    def num_labels(self) -> int:
        return int(self.model.head[-1].out_features)

    def autocast(self):
        """The context of this victim's forward passes (white-box attacks run the model in it too)."""
        from bench.core.precision import autocast

        return autocast(self.precision, self.device)

    def clear_cache(self) -> None:
        """Forget cached predictions (attacks call this between examples to bound memory)."""
        self._cache.clear()

    def snapshot(self) -> QueryCounts:
        return QueryCounts(self.counts.queries, self.counts.forwards, self.counts.batches)

    def predict_proba(self, inputs: Sequence[TextInput]) -> np.ndarray:
        """Probabilities, shape ``(len(inputs), num_labels)``, in input order."""
        self.counts.queries += len(inputs)
        todo = list(dict.fromkeys(x for x in inputs if x not in self._cache))
        if todo:
            for x, p in zip(todo, self._forward(todo)):
                self._cache[x] = p
        if not inputs:
            return np.zeros((0, self.num_labels), dtype=np.float32)
        return np.stack([self._cache[x] for x in inputs])

    def predict(self, inputs: Sequence[TextInput]) -> np.ndarray:
        return self.predict_proba(inputs).argmax(axis=1)

    def encode(self, inputs: Sequence[TextInput]) -> dict[str, torch.Tensor]:
        """Tokenise a batch, padded to its longest member (dynamic padding), truncated to ``max_length``."""
        firsts = [x if isinstance(x, str) else x[0] for x in inputs]
        seconds = None if all(isinstance(x, str) for x in inputs) else [x[1] for x in inputs]  # type: ignore[index]
        return self.tokenizer(firsts, seconds, truncation=True, max_length=self.max_length, padding=True,
                              return_tensors="pt")

    def _forward(self, inputs: list[TextInput]) -> list[np.ndarray]:
        # Sort by length so each batch pads to similar lengths; restore order afterwards.
        order = sorted(range(len(inputs)), key=lambda i: _length(inputs[i]))
        out: list[np.ndarray | None] = [None] * len(inputs)
        with torch.inference_mode(), self.autocast():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = {k: v.to(self.device) for k, v in self.encode([inputs[i] for i in idx]).items()}
                probs = torch.softmax(self.model(**enc).logits.float(), dim=-1).cpu().numpy()
                for i, p in zip(idx, probs):
                    out[i] = p
                self.counts.forwards += len(idx)
                self.counts.batches += 1
        return out  # type: ignore[return-value]

    def visible_chars(self, inputs: TextInput, field: int) -> int:
        """How many characters of the attacked field survive truncation (later words cannot matter)."""
        enc = self.tokenizer(*( (inputs,) if isinstance(inputs, str) else inputs ), truncation=True,
                             max_length=self.max_length, return_offsets_mapping=True)
        seq_ids = enc.sequence_ids()
        ends = [end for (start, end), s in zip(enc["offset_mapping"], seq_ids) if s == field]
        text = inputs if isinstance(inputs, str) else inputs[field]
        if not ends:
            return 0
        return len(text) if max(ends) >= len(text.rstrip()) else max(ends)


def _length(x: TextInput) -> int:
    return len(x) if isinstance(x, str) else len(x[0]) + len(x[1])
