"""ASCC as an evaluation attack: the training adversary with cross-entropy, mapped back to text.

White-box: it reads the victim's model and tokenizer (gradients w.r.t. the hull weights), then
proposes texts: after each of the ``steps`` Adam steps, the argmax vertex at every perturbable
position (a word of the attacked field and its single-token counter-fitted neighbours; see
``bench/core/ascc.py`` for the alignment). The proposals are scored through the victim (counted
queries, ``steps`` at most per example) and the attack keeps, among those whose cross-entropy is at
least the clean one, a misclassified proposal if there is one, else the one with the highest
cross-entropy; if none reaches the clean loss, the text is left unchanged. So the loss it maximises
never goes down. The gradient steps themselves are not victim queries; the result's ``reason``
states how many were taken and how many words were perturbable.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.core.ascc import ASCCSettings, aligner_for, choose, proposals
from bench.core.attack import AttackContext, AttackRecipe, Outcome
from bench.core.synonyms import counterfitted
from bench.core.registry import ATTACKS

@ATTACKS.register("ascc", "ASCC (white-box): CE-maximising convex hull of synonym embeddings, argmax back to text")
class ASCC(AttackRecipe):
    Settings = ASCCSettings

    def __init__(self, settings: ASCCSettings, assets) -> None:
        super().__init__(settings, assets)
        self.synonyms = counterfitted(assets)
        self.config = settings

    def search(self, ctx: AttackContext) -> Outcome:
        victim = ctx.victim
        aligner = aligner_for(victim.tokenizer, self.synonyms, ctx.field, victim.max_length, self.config.max_candidates)
        generator = torch.Generator().manual_seed(self.settings.seed)
        props, alignment = proposals(victim.model, aligner, [ctx.example], self.config, generator)
        n_pert, n_words = alignment.n_perturbable[0], alignment.n_words[0]
        note = f"{n_pert}/{n_words} visible words perturbable, {self.config.steps} gradient steps"
        if not n_pert:
            return Outcome({}, f"no perturbable words ({note})")
        if not props[0]:
            return Outcome({}, f"search never left the original words ({note})")
        probs = victim.predict_proba([ctx.text_with(s) for s in props[0]])
        y = ctx.label
        pick = choose(probs, y, float(-np.log(max(float(ctx.probs[y]), 1e-30))))
        if pick is None:
            return Outcome({}, f"no proposal raised the loss ({note})")
        return Outcome(props[0][pick], f"best of {len(props[0])} proposals ({note})")
