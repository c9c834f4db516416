"""Attack a long text through a prefix that gives the model exactly the same input.

A model sees only its first ``max_length`` tokens, and recipes that edit only visible words (PWWS, the
genetic attack without a word cap) never touch the rest; yet every candidate text they score would carry
the whole text through string building, hashing and the tokenizer. So such a recipe attacks a prefix of
the text instead: it ends at a whitespace boundary, after at least ``2·max_length + 16`` tokens and 32
words beyond the visible ones. Every candidate's first ``max_length`` tokens are then those of the same
candidate on the whole text (tokenisation is local at whitespace, and an edit of visible words leaves the
≥ ``max_length`` untouched tokens after them in place), which is checked once on the clean text. The
result is mapped back: the original is the whole input, the adversarial text gets the cut tail back, and
``n_words`` counts the whole text's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bench.core.record import ExampleLine
from bench.core.text import Words
from bench.core.data import Example

TOKEN_MARGIN = 16
WORD_MARGIN = 32
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Cropped:
    """An example attacked through a prefix: the example to attack, the tail cut off and the full word count."""

    example: Example
    original: Example
    tail: str
    n_words: int

    def restore(self, result: ExampleLine) -> ExampleLine:
        return replace(result, original=self.original.inputs, adversarial=f"{result.adversarial}{self.tail}",
                       n_words=self.n_words,
                       perturbed_fraction=result.words_changed / self.n_words if self.n_words else 0.0)


def crop_for_attack(example: Example, field: int, tokenizer, max_length: int) -> Cropped | None:
    """A prefix of a single long text that the model cannot tell from the text (None: attack the text itself)."""
    if example.text_pair is not None or field != 0:
        return None  # text pairs: truncation shares the budget between the two texts; not cropped
    text = example.text
    keep = 2 * max_length + TOKEN_MARGIN
    if len(text) <= 4 * keep:  # short enough that cropping cannot save anything worth the check
        return None
    enc = tokenizer(text, truncation=True, max_length=keep, return_offsets_mapping=True, add_special_tokens=False)
    offsets = enc["offset_mapping"]
    if len(offsets) < keep:
        return None  # fewer tokens than the margin: nothing beyond it
    visible_end = offsets[max_length - 1][1]
    cut = offsets[-1][1]
    words = Words.split(text)
    after = [end for _, end in words.spans if end > visible_end]
    if len(after) > WORD_MARGIN:
        cut = max(cut, after[WORD_MARGIN])
    space = _SPACE.search(text, cut)
    if space is None or space.start() >= len(text.rstrip()):
        return None
    cut = space.start()
    prefix = text[:cut]
    full_ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
    if tokenizer(prefix, truncation=True, max_length=max_length)["input_ids"] != full_ids:
        return None  # the model would see something else: never attack a different input
    return Cropped(replace(example, text=prefix), example, text[cut:], len(words))
