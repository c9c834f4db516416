"""PWWS as published (Ren et al. 2019): WordNet synonyms, on the shared engine.

The search is the paper's (and :mod:`attacks.pwws`'s): word saliency by the unknown token, the best
substitute of each word by the largest drop of the gold-class probability, the score
``H = softmax(saliency)ᵢ · ΔP*ᵢ``, then substitutions applied cumulatively in descending ``H`` until
the label changes. Only the substitution set differs from ``pwws`` (the RIFT protocol's counter-fitted
neighbours): here every single-word WordNet lemma of the word's synsets (any part of speech, as in
TextAttack's ``pwws``), with stop-words left alone. Ren et al.'s named-entity substitution needs an NER
tagger and is not implemented.

:class:`PWWSSearch` is the engine version of the search for any substitution set: it yields its two
sweeps (saliency, candidates) as batches, so it runs under budgets, time limits and cross-example
batching like every engine recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attacks.base import AttackContext, Outcome
from attacks.engine import EngineRecipe, Exhausted, Search
from attacks.pwws import ranked_substitutions, softmax
from attacks.text import with_field
from bench.registry import ATTACKS


@dataclass(frozen=True)
class PWWSWordNetSettings:
    skip_stopwords: bool = True
    query_budget: int = 0  # distinct texts per example, clean prediction included; 0 = unlimited
    time_limit_s: float = 0.0

    def validate(self) -> None:
        from bench.errors import ConfigError

        if self.query_budget < 0 or self.time_limit_s < 0:
            raise ConfigError("attack.query_budget and attack.time_limit_s must be ≥ 0 (0 = unlimited)")


class PWWSSearch(EngineRecipe):
    """Ren et al.'s PWWS over ``self.synonyms`` (a callable word → substitutes)."""

    synonyms = staticmethod(lambda word: [])

    def steps(self, ctx: AttackContext) -> Search:
        words, y = ctx.words, ctx.label
        visible = words.visible(ctx.victim.visible_chars(ctx.example.inputs, ctx.field))
        if not visible:
            return Outcome({}, "no visible words")
        p0 = float(ctx.probs[y])
        subs: dict[int, str] = {}
        # Saliency is needed only for words that have substitutes: the softmax's normaliser is common to all
        # scores, so leaving the other words out changes no score's rank (and saves their queries).
        scored_words = [i for i in visible if self.synonyms(words.word(i))]
        if not scored_words:
            return Outcome({}, "no substitutable words")
        try:
            unk = ctx.victim.unk_token
            probs = yield [with_field(ctx.example.inputs, ctx.field, words.replace({i: unk}, keep_case=False))
                           for i in scored_words]
            weights = softmax((p0 - probs[:, y]).astype(np.float64))
            candidates = [(pos, i, s) for pos, i in enumerate(scored_words) for s in self.synonyms(words.word(i))]
            probs = yield [ctx.text_with({i: s}) for _, i, s in candidates]
            scored = ranked_substitutions(candidates, probs[:, y], p0, weights)
            for _, i, s in scored:
                subs[i] = s
                probs = yield [ctx.text_with(subs)]
                if int(probs[0].argmax()) != y:
                    return Outcome(dict(subs), "label flipped")
            return Outcome(dict(subs), "all candidates applied")
        except Exhausted as stop:
            return Outcome(dict(subs), stop.reason)


@ATTACKS.register("pwws-wordnet", "PWWS as published (Ren et al. 2019): WordNet synonyms, stop-words unchanged, "
                  "UNK saliency, weighted greedy substitution")
class PWWSWordNet(PWWSSearch):
    Settings = PWWSWordNetSettings
    edits_visible_words_only = True

    def __init__(self, settings: PWWSWordNetSettings, assets, synonyms=None) -> None:
        super().__init__(settings, assets)
        if synonyms is None:
            from attacks.wordnet import wordnet_synonyms

            synonyms = wordnet_synonyms(assets, settings.skip_stopwords)
        self.synonyms = synonyms
