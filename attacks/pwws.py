"""PWWS, the RIFT paper's protocol (Ren et al. 2019 with the counter-fitted neighbour set).

For an input x with gold label y and P = p(y | ·):

* word saliency  S(x, wᵢ) = P(x) − P(x with wᵢ replaced by the unknown token), for every visible word;
* best substitute wᵢ* = argmax over neighbours w' of ΔPᵢ(w') = P(x) − P(x with wᵢ ← w');
* score          H(x, wᵢ) = softmax(S)ᵢ · ΔPᵢ*   (softmax over all visible words);
* greedy search  substitute words in descending H, cumulatively, until the prediction leaves y.

As in the paper's code, every scored substitution is applied in turn (none is reverted), there is
no cap on words changed, and ties in ΔP keep the neighbour listed first. "Visible" words are those
that survive the victim's truncation: later words cannot change the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attacks.base import AttackContext, AttackRecipe, Outcome
from attacks.synonyms import counterfitted
from attacks.text import with_field
from bench.registry import ATTACKS


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max()) if len(x) else x
    return z / z.sum() if len(x) else z


@dataclass(frozen=True)
class PWWSSettings:
    query_budget: int = 0  # 0: unlimited; otherwise stop before the search would exceed this many queries

    def validate(self) -> None:
        from bench.errors import ConfigError

        if self.query_budget < 0:
            raise ConfigError("attack.query_budget must be ≥ 0 (0 = unlimited)")


@ATTACKS.register("pwws", "PWWS, paper protocol: UNK saliency, counter-fitted neighbours, weighted greedy substitution")
class PWWS(AttackRecipe):
    Settings = PWWSSettings

    def __init__(self, settings: PWWSSettings, assets) -> None:
        super().__init__(settings, assets)
        self.synonyms = counterfitted(assets)

    def search(self, ctx: AttackContext) -> Outcome:
        victim, words, y = ctx.victim, ctx.words, ctx.label
        visible = words.visible(victim.visible_chars(ctx.example.inputs, ctx.field))
        if not visible:
            return Outcome({}, "no visible words")
        p0 = float(ctx.probs[y])
        candidates = [(pos, i, sub) for pos, i in enumerate(visible) for sub in self.synonyms(words.word(i))]
        if not candidates:
            return Outcome({}, "no substitutable words")
        budget = self.settings.query_budget
        if budget and ctx.queries_used() + len(visible) + len(candidates) > budget:
            return Outcome({}, "query budget too small for the saliency and candidate sweeps")
        # Saliency: one query per visible word, with the word replaced by the unknown token.
        unk = victim.unk_token
        unk_texts = [with_field(ctx.example.inputs, ctx.field, words.replace({i: unk}, keep_case=False))
                     for i in visible]
        saliency = p0 - victim.predict_proba(unk_texts)[:, y]
        weights = softmax(saliency.astype(np.float64))
        # Best substitute per word: one query per (word, neighbour).
        probs = victim.predict_proba([ctx.text_with({i: sub}) for _, i, sub in candidates])[:, y]
        best: dict[int, tuple[float, str, int]] = {}
        for (pos, i, sub), p in zip(candidates, probs):
            delta = p0 - float(p)
            if i not in best or delta > best[i][0]:
                best[i] = (delta, sub, pos)
        scored = sorted(((weights[pos] * delta, i, sub) for i, (delta, sub, pos) in best.items()),
                        key=lambda t: -t[0])
        # Greedy cumulative substitution until the label flips.
        subs: dict[int, str] = {}
        for _, i, sub in scored:
            if budget and ctx.queries_used() >= budget:
                return Outcome(subs, "query budget exhausted")
            subs[i] = sub
            if int(victim.predict_proba([ctx.text_with(subs)])[0].argmax()) != y:
                return Outcome(dict(subs), "label flipped")
        return Outcome(subs, "all candidates applied")
