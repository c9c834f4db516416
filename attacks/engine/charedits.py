"""DeepWordBug's four character edits (Gao et al. 2018) and the Levenshtein distance that budgets them.

Each edit draws its position (and letter) from the generator it is given, and returns ``None`` when
the word admits no such edit, or when the edit would leave it unchanged. Letters come from a–z.
"""

from __future__ import annotations

import string
from typing import Callable

import numpy as np

LETTERS = string.ascii_lowercase


def swap(word: str, rng: np.random.Generator) -> str | None:
    """Swap two neighbouring characters (positions whose characters differ)."""
    spots = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
    if not spots:
        return None
    i = spots[int(rng.integers(len(spots)))]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def substitute(word: str, rng: np.random.Generator) -> str | None:
    """Replace one character by a different random letter."""
    if len(word) < 2:
        return None
    i = int(rng.integers(len(word)))
    options = [c for c in LETTERS if c != word[i].lower()]
    return word[:i] + options[int(rng.integers(len(options)))] + word[i + 1:]


def delete(word: str, rng: np.random.Generator) -> str | None:
    """Delete one character (words of one character are left alone)."""
    if len(word) < 2:
        return None
    i = int(rng.integers(len(word)))
    return word[:i] + word[i + 1:]


def insert(word: str, rng: np.random.Generator) -> str | None:
    """Insert a random letter at a random position (before, inside or after the word)."""
    if len(word) < 2:
        return None
    i = int(rng.integers(len(word) + 1))
    return word[:i] + LETTERS[int(rng.integers(len(LETTERS)))] + word[i:]


EDITS: dict[str, Callable[[str, np.random.Generator], str | None]] = {
    "swap": swap, "substitute": substitute, "delete": delete, "insert": insert,
}


def levenshtein(a: str, b: str) -> int:
    """Edit distance with unit-cost insertions, deletions and substitutions (a swap costs 2)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
