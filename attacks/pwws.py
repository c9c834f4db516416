"""PWWS, the RIFT paper's protocol (Ren et al. 2019 with the counter-fitted neighbour set).

For an input x with gold label y and P = p(y | ·):

* word saliency  S(x, wᵢ) = P(x) − P(x with wᵢ replaced by the unknown token), for every visible word;
* best substitute wᵢ* = argmax over neighbours w' of ΔPᵢ(w') = P(x) − P(x with wᵢ ← w');
* score          H(x, wᵢ) = softmax(S)ᵢ · ΔPᵢ*   (softmax over all visible words);
* greedy search  substitute words in descending H, cumulatively, until the prediction leaves y.

As in the paper's code, every scored substitution is applied in turn (none is reverted), there is
no cap on words changed, and ties in ΔP keep the neighbour listed first. "Visible" words are those
that survive the victim's truncation: later words cannot change the prediction.

The search runs on the shared engine (:mod:`attacks.engine.search`), which scores each distinct text once
per example: a greedy step whose text was already scored in the candidate sweep (the first one
always is) costs no model query, so a record's ``queries`` is one lower than the paper code's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from bench.core.attack import AttackContext, Outcome
from attacks.engine.search import BudgetSettings, EngineRecipe, Exhausted, Search
from attacks.engine.steps import apply_in_turn, ranked_substitutions, softmax, unk_saliency
from bench.core.ascc import aligner_for
from bench.core.synonyms import counterfitted
from bench.core.registry import ATTACKS


#: ``substitutions``: every counter-fitted neighbour ("all", the paper), or only those inside the ASCC hull of the
#: victim's tokenisation ("hull": a word that is one token of the model's input, replaced by a neighbour that is one
#: token too, :class:`bench.core.ascc.Aligner`), the substitutions adversarial training saw
SUBSTITUTIONS = ("all", "hull")


@dataclass(frozen=True)
class PWWSSettings(BudgetSettings):
    substitutions: str = "all"  # "all" (the paper) or "hull" (see SUBSTITUTIONS)

    def validate(self) -> None:
        from bench.core.errors import ConfigError

        super().validate()
        if self.substitutions not in SUBSTITUTIONS:
            raise ConfigError(f"attack.substitutions must be one of {', '.join(SUBSTITUTIONS)}, "
                              f"got {self.substitutions!r}")


@ATTACKS.register("pwws", "PWWS, paper protocol: UNK saliency, counter-fitted neighbours, weighted greedy substitution",
                  display="PWWS", rank=1)
class PWWS(EngineRecipe):
    """The paper's search, written for the shared engine (so it also batches across examples on a GPU).

    ``query_budget`` is the engine's (``bench.core.attack.QUERY_BUDGET``): distinct texts scored for the example.
    A budget that the two sweeps would break leaves the text unchanged.
    """

    Settings = PWWSSettings
    edits_visible_words_only = True

    def __init__(self, settings: PWWSSettings, assets) -> None:
        super().__init__(settings, assets)
        self.synonyms = counterfitted(assets)

    def neighbours(self, ctx: AttackContext) -> Callable[[int], list[str]]:
        """word index → the substitutes it may take under the ``substitutions`` setting."""
        if self.settings.substitutions == "all":
            return lambda i: self.synonyms(ctx.words.word(i))
        aligner = aligner_for(ctx.victim.tokenizer, self.synonyms, ctx.field, ctx.victim.max_length)
        hull = {w: subs for w, subs in aligner.align([ctx.example]).substitutes[0].values()}
        return lambda i: hull.get(i, [])

    def steps(self, ctx: AttackContext) -> Search:
        visible = ctx.visible_words()
        if not visible:
            return Outcome({}, "no visible words")
        neighbours = self.neighbours(ctx)
        candidates = [(pos, i, sub) for pos, i in enumerate(visible) for sub in neighbours(i)]
        if not candidates:
            return Outcome({}, "no substitutable words")
        try:
            weights = softmax((yield from unk_saliency(ctx, visible)).astype(np.float64))
            # Best substitute per word: one query per (word, neighbour).
            probs = yield [ctx.text_with({i: sub}) for _, i, sub in candidates]
        except Exhausted as stop:
            return Outcome({}, f"{stop.reason} during the saliency and candidate sweeps")
        scored = ranked_substitutions(candidates, probs[:, ctx.label], float(ctx.probs[ctx.label]), weights)
        return (yield from apply_in_turn(ctx, ((i, sub) for _, i, sub in scored)))
