"""The language-model filter of the genetic attack (Alzantot et al. 2018, as run by Jia et al. 2019).

A substitute ``w'`` for word ``i`` is admitted only if

    log p(window with w') ≥ log p(window with the original word) − max_drop

where the window is the text from word ``i − radius`` to word ``i + radius`` (the paper: radius 6,
max_drop 5), cut from the original text so its punctuation is kept. As in Jia et al.'s precomputed
scores, each swap is scored against the *original* sentence, so the admissible set of an example is
fixed before the search starts: every window of an example is scored once, in batches, and the scores
are cached on disk (one SQLite file per LM, keyed by the window text).

``log p(text)`` is the sum of the text's token log-probabilities under a causal LM, conditioned on a
start-of-text token (``<|endoftext|>`` when the vocabulary has it, else the BOS token).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from bench.core.text import Words, match_case
from bench.core.assets import AssetConfig, cache_dir, language_model_dir
from bench.core.victim import pick_device


class Scorer(Protocol):
    """Anything that returns ``log p(text)`` for a batch of texts."""

    name: str

    def log_prob(self, texts: Sequence[str]) -> np.ndarray: ...


class CausalLM:
    """A Hugging Face causal LM scoring whole texts: batched, length-sorted, right-padded, ``inference_mode``."""

    def __init__(self, model, tokenizer, name: str, device: torch.device | None = None, batch_size: int = 32,
                 max_tokens: int = 256) -> None:
        self.device = device or pick_device()
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        vocab = tokenizer.get_vocab()
        start = vocab.get("<|endoftext|>")
        if start is None:
            start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if start is None:
            raise ValueError(f"language model {name}: its tokenizer has no start-of-text token")
        self.start_id = int(start)
        self.texts_scored = 0

    @classmethod
    def load(cls, name: str, assets: AssetConfig, device: torch.device | None = None) -> "CausalLM":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        resolved = language_model_dir(assets, name)
        tokenizer = AutoTokenizer.from_pretrained(resolved.value)
        model = AutoModelForCausalLM.from_pretrained(resolved.value, dtype=torch.float32)
        lm = cls(model, tokenizer, name, device)
        lm.source = resolved.source
        lm.folder = resolved.value
        return lm

    def token_ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [self.start_id, *ids[: self.max_tokens - 1]]

    def log_prob(self, texts: Sequence[str]) -> np.ndarray:
        """``log p(text)``: the sum over the text's tokens of ``log p(token | start, previous tokens)``."""
        out = np.zeros(len(texts), dtype=np.float64)
        if not len(texts):
            return out
        ids = [self.token_ids(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.start_id
        with torch.inference_mode():
            for begin in range(0, len(order), self.batch_size):
                idx = order[begin:begin + self.batch_size]
                width = max(len(ids[i]) for i in idx)
                batch = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    batch[row, :len(ids[i])] = torch.tensor(ids[i])
                    mask[row, :len(ids[i])] = 1
                batch, mask = batch.to(self.device), mask.to(self.device)
                logits = self.model(input_ids=batch, attention_mask=mask).logits.float()
                logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, batch[:, 1:, None])[..., 0]
                sums = (logp * mask[:, 1:]).double().sum(dim=1).cpu().numpy()
                for row, i in enumerate(idx):
                    out[i] = sums[row]
        self.texts_scored += len(texts)
        return out


class ScoreCache:
    """``log p(text)`` memoised in memory and in a SQLite file (safe to share between processes)."""

    def __init__(self, scorer: Scorer, path: Path | None) -> None:
        self.scorer = scorer
        self.path = path
        self.memory: dict[str, float] = {}
        self.hits = self.misses = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS scores (text TEXT PRIMARY KEY, logp REAL NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def log_prob(self, texts: Sequence[str]) -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        todo = [t for t in unique if t not in self.memory]
        if todo and self.path is not None:
            with self._connect() as db:
                for start in range(0, len(todo), 500):
                    chunk = todo[start:start + 500]
                    rows = db.execute(f"SELECT text, logp FROM scores WHERE text IN ({','.join('?' * len(chunk))})",
                                      chunk).fetchall()
                    self.memory.update(rows)
            todo = [t for t in todo if t not in self.memory]
        self.hits += len(unique) - len(todo)
        self.misses += len(todo)
        if todo:
            scores = self.scorer.log_prob(todo)
            fresh = dict(zip(todo, (float(s) for s in scores)))
            self.memory.update(fresh)
            if self.path is not None:
                with self._connect() as db:
                    db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", list(fresh.items()))
        return np.array([self.memory[t] for t in texts], dtype=np.float64)


@dataclass(frozen=True)
class WindowFilter:
    """Admit substitutes whose ±``radius``-word window loses at most ``max_drop`` nats of LM log-probability."""

    scores: ScoreCache
    radius: int = 6
    max_drop: float = 5.0

    @staticmethod
    def window(words: Words, i: int, radius: int, substitute: str | None = None) -> str:
        """Words ``i − radius`` … ``i + radius`` as they stand in the text, word ``i`` optionally replaced."""
        lo, hi = max(0, i - radius), min(len(words) - 1, i + radius)
        start, end = words.spans[lo][0], words.spans[hi][1]
        if substitute is None:
            return words.text[start:end]
        w_start, w_end = words.spans[i]
        return (words.text[start:w_start] + match_case(words.text[w_start:w_end], substitute)
                + words.text[w_end:end])

    def admissible(self, words: Words, candidates: dict[int, list[str]]) -> tuple[dict[int, list[str]], dict]:
        """The candidates that pass, and per position the scores behind the decision (for records and tests)."""
        jobs: list[tuple[int, str | None]] = []
        for i, subs in candidates.items():
            if subs:
                jobs.append((i, None))
                jobs.extend((i, s) for s in subs)
        texts = [self.window(words, i, self.radius, s) for i, s in jobs]
        logps = self.scores.log_prob(texts)
        original = {i: lp for (i, s), lp in zip(jobs, logps) if s is None}
        kept: dict[int, list[str]] = {i: [] for i in candidates}
        detail: dict[int, dict[str, float]] = {}
        for (i, s), lp in zip(jobs, logps):
            if s is None:
                continue
            detail.setdefault(i, {})[s] = float(lp - original[i])
            if lp >= original[i] - self.max_drop:
                kept[i].append(s)
        return kept, detail


@lru_cache(maxsize=2)
def window_filter(name: str, assets: AssetConfig, radius: int, max_drop: float) -> WindowFilter:
    """The filter for LM ``name`` with its on-disk score cache (``<suite cache>/lm_scores/<name>-<weights>.sqlite``)."""
    from bench.core.models import fingerprint

    lm = CausalLM.load(name, assets)
    key = f"{Path(name).name}-{fingerprint(lm.folder)}"
    return WindowFilter(ScoreCache(lm, cache_dir() / "lm_scores" / f"{key}.sqlite"), radius, max_drop)
