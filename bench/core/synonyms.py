"""Substitution sets. ``CounterFitted``: the RIFT paper's neighbour set (Jia et al. 2019, ≤ 8 per word)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from bench.core.assets import AssetConfig, synonyms_file


class CounterFitted:
    """``{word: [neighbour, ...]}``, lower-case; words without an entry (or with []) have no substitutes."""

    def __init__(self, neighbours: dict[str, list[str]], source: str = "") -> None:
        self.neighbours = neighbours
        self.source = source

    def __call__(self, word: str) -> list[str]:
        return [n for n in self.neighbours.get(word.lower(), []) if n != word.lower()]

    @classmethod
    def from_file(cls, path: Path, source: str = "") -> "CounterFitted":
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle), source or str(path))


@lru_cache(maxsize=4)
def counterfitted(config: AssetConfig) -> CounterFitted:
    resolved = synonyms_file(config)
    return CounterFitted.from_file(resolved.value, resolved.source)
