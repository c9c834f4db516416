"""Words split once per example, and texts rebuilt from word substitutions without re-tokenising.

A word is a run of ASCII letters, with inner apostrophes ("don't"); everything between
words (spaces, punctuation, markup) is kept byte for byte. Substitutes take the original word's
casing (lower, Title or UPPER).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from bench.core.data import TextInput

WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


def match_case(template: str, word: str) -> str:
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


@dataclass(frozen=True)
class Words:
    """A text and the character spans of its words."""

    text: str
    spans: tuple[tuple[int, int], ...]

    @classmethod
    def split(cls, text: str) -> "Words":
        return cls(text, tuple(m.span() for m in WORD_RE.finditer(text)))

    def __len__(self) -> int:
        return len(self.spans)

    def word(self, i: int) -> str:
        start, end = self.spans[i]
        return self.text[start:end]

    def lower(self, i: int) -> str:
        return self.word(i).lower()

    def visible(self, n_chars: int) -> list[int]:
        """Indices of words that end within the first ``n_chars`` characters."""
        return [i for i, (_, end) in enumerate(self.spans) if end <= n_chars]

    def replace(self, subs: Mapping[int, str], keep_case: bool = True) -> str:
        """The text with word ``i`` replaced by ``subs[i]`` (case matched unless ``keep_case`` is False)."""
        if not subs:
            return self.text
        parts, last = [], 0
        for i in sorted(subs):
            start, end = self.spans[i]
            parts.append(self.text[last:start])
            parts.append(match_case(self.text[start:end], subs[i]) if keep_case else subs[i])
            last = end
        parts.append(self.text[last:])
        return "".join(parts)


def with_field(inputs: TextInput, field: int, text: str) -> TextInput:
    """``inputs`` with its attacked field (0: text, 1: text_pair) replaced by ``text``."""
    if isinstance(inputs, str):
        if field != 0:
            raise ValueError("a single text has only field 0")
        return text
    return (text, inputs[1]) if field == 0 else (inputs[0], text)


def get_field(inputs: TextInput, field: int) -> str:
    return inputs if isinstance(inputs, str) else inputs[field]
