"""PWWS with WordNet synonyms (Ren et al. 2019), searched as TextAttack's ``PWWSRen2019`` does; on the shared engine.

Both searches start alike, with ``P = p(gold | ·)``: word saliency ``Sᵢ = P(x) − P(x with wordᵢ ← unknown
token)``, then every single substitution of every word scored on the clean text. They differ after that
(``attack.search``):

* ``greedy`` (default): TextAttack's ``GreedyWordSwapWIR(wir_method="weighted-saliency")``, which is where the
  literature's PWWS numbers come from (TextDefender and most defence papers run TextAttack's recipe). Words
  are ranked once by ``softmax(S)ᵢ · (1 − min P(x with wordᵢ ← w'))`` — TextAttack's "delta" is the best
  candidate's goal score ``1 − P``, i.e. ``(1 − P(x)) + ΔP*ᵢ``, not Ren et al.'s ``ΔP*ᵢ``. Then, word by word
  in that order, every substitute of the word is scored on the *current* text and the best one (lowest
  ``P``; ties: the first listed) is kept only if it lowers ``P`` below the current text's; the search stops as
  soon as the label changes.
* ``upfront``: Ren et al.'s Algorithm 1 as the paper states it (and :mod:`attacks.pwws` for the RIFT
  protocol): each word's best substitute is fixed on the clean text, words are ranked by
  ``H = softmax(S)ᵢ · ΔP*ᵢ``, and substitutes are applied cumulatively in that order, none reverted,
  until the label changes.

Substitutes: every single-word WordNet lemma of the word's synsets (any part of speech), as TextAttack's
``WordSwapWordNet``. Deliberate departures from TextAttack, kept in both searches:

* words are runs of letters (:mod:`bench.core.text`): digits are never substituted (TextAttack's words include
  them, e.g. ``15`` → ``XV``), and everything between words (punctuation, markup symbols, spacing) is kept
  byte for byte;
* the parts of a hyphenated compound (``year-end``) are left alone: TextAttack's word is the whole compound,
  which WordNet rarely lists (exposing the parts made ours succeed where TextAttack could not);
* stop-words are matched case-insensitively (TextAttack's ``StopwordModification`` is case-sensitive, so a
  capitalised ``As`` may become ``arsenic`` there), and substitutes take the original word's casing;
* words beyond the victim's truncation are not attacked (they cannot change the prediction).

Ren et al.'s named-entity substitution needs an NER tagger and is not implemented.

Queries are distinct texts scored per example (the engine's meaning). The greedy search's first word's
candidates, and any word's while nothing has been kept yet, are texts of the candidate sweep and cost no
further query.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.core.attack import AttackContext, Outcome
from attacks.engine.search import EngineRecipe, Exhausted, LimitSettings, Search
from attacks.engine.steps import apply_in_turn, greedy_swaps, ranked_substitutions, softmax, unk_saliency
from bench.core.text import Words
from bench.core.registry import ATTACKS

SEARCHES = ("greedy", "upfront")


@dataclass(frozen=True)
class PWWSWordNetSettings(LimitSettings):
    search: str = "greedy"  # greedy: TextAttack's PWWSRen2019 search | upfront: Ren et al.'s Algorithm 1
    skip_stopwords: bool = True
    #: "letters": all-letter lemmas only (ours); "textattack": TextAttack's one-word lemmas, hyphenated ones included
    #: ("trigger-happy"); :data:`attacks.engine.wordnet.LEMMAS`
    lemmas: str = "letters"

    def validate(self) -> None:
        from bench.core.errors import ConfigError

        super().validate()
        if self.search not in SEARCHES:
            raise ConfigError(f"attack.search must be one of {', '.join(SEARCHES)} (got {self.search!r})")
        from attacks.engine.wordnet import LEMMAS

        if self.lemmas not in LEMMAS:
            raise ConfigError(f"attack.lemmas must be one of {', '.join(LEMMAS)} (got {self.lemmas!r})")


def in_compound(words: Words, i: int) -> bool:
    """Whether word ``i`` is joined to a neighbouring letter or digit by a hyphen (part of ``year-end``)."""
    text, (start, end) = words.text, words.spans[i]
    return (start >= 2 and text[start - 1] == "-" and text[start - 2].isalnum()) or (
        end + 1 < len(text) and text[end] == "-" and text[end + 1].isalnum())


def weighted_saliency_order(candidates: list[tuple[int, int, str]], p_gold: np.ndarray,
                            weights: np.ndarray) -> list[int]:
    """TextAttack's ``weighted-saliency`` ranking: word indices by descending ``weights[pos] · max(1 − P)`` over
    the word's candidates (ties keep word order). ``candidates`` are ``(pos, word index, substitute)``."""
    best: dict[int, tuple[float, int]] = {}
    for (pos, i, _), p in zip(candidates, p_gold):
        score = 1.0 - float(p)
        if i not in best or score > best[i][0]:
            best[i] = (score, pos)
    return sorted(best, key=lambda i: (-weights[best[i][1]] * best[i][0], i))


class PWWSSearch(EngineRecipe):
    """PWWS over ``self.synonyms`` (a callable word → substitutes); ``settings.search`` picks the search."""

    synonyms = staticmethod(lambda word: [])

    def steps(self, ctx: AttackContext) -> Search:
        words, y = ctx.words, ctx.label
        visible = ctx.visible_words()
        if not visible:
            return Outcome({}, "no visible words")
        # Saliency is needed only for words that have substitutes: the softmax's normaliser is common to all
        # scores, so leaving the other words out changes no score's rank (and saves their queries).
        scored_words = [i for i in visible if self.synonyms(words.word(i)) and not in_compound(words, i)]
        if not scored_words:
            return Outcome({}, "no substitutable words")
        try:
            weights = softmax((yield from unk_saliency(ctx, scored_words)).astype(np.float64))
            candidates = [(pos, i, s) for pos, i in enumerate(scored_words) for s in self.synonyms(words.word(i))]
            probs = yield [ctx.text_with({i: s}) for _, i, s in candidates]
        except Exhausted as stop:
            return Outcome({}, stop.reason)
        if getattr(self.settings, "search", "greedy") == "upfront":
            ranked = ranked_substitutions(candidates, probs[:, y], float(ctx.probs[y]), weights)
            return (yield from apply_in_turn(ctx, ((i, s) for _, i, s in ranked)))
        order = weighted_saliency_order(candidates, probs[:, y], weights)
        subs, reason = yield from greedy_swaps(ctx, order, lambda i, _: self.synonyms(words.word(i)))
        return Outcome(dict(subs), reason)


@ATTACKS.register("pwws-wordnet", "PWWS with WordNet synonyms (Ren et al. 2019), TextAttack's greedy search by "
                  "default (attack.search=upfront: the paper's); stop-words unchanged", display="PWWS-WordNet", rank=4)
class PWWSWordNet(PWWSSearch):
    Settings = PWWSWordNetSettings
    edits_visible_words_only = True

    def __init__(self, settings: PWWSWordNetSettings, assets, synonyms=None) -> None:
        super().__init__(settings, assets)
        if synonyms is None:
            from attacks.engine.wordnet import wordnet_synonyms

            synonyms = wordnet_synonyms(assets, settings.skip_stopwords, settings.lemmas)
        self.synonyms = synonyms
