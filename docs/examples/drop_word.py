"""Drop-word: delete the one visible word whose removal lowers the gold-class probability most.

An example of a new attack (docs/extending.md): copy this file into ``attacks/`` and it is registered,
listed by ``bench list attacks``, runnable with ``--attacks drop-word`` and shown in the report.
"""

from __future__ import annotations

from dataclasses import dataclass

from attacks.engine.search import BudgetSettings, EngineRecipe, Exhausted, Search
from bench.core.attack import AttackContext, Outcome
from bench.core.registry import ATTACKS


@dataclass(frozen=True)
class DropWordSettings(BudgetSettings):
    """Only the engine's query budget (``attack.query_budget``), which BudgetSettings defines and checks."""


@ATTACKS.register("drop-word", "delete the word whose removal lowers the gold-class probability most",
                  display="Drop-word")
class DropWord(EngineRecipe):
    Settings = DropWordSettings
    edits_visible_words_only = True  # long texts are attacked through the prefix the model sees

    def steps(self, ctx: AttackContext) -> Search:
        visible = ctx.visible_words()
        if not visible:
            return Outcome({}, "no visible words")
        try:
            probs = yield [ctx.text_with({i: ""}) for i in visible]  # one query per deleted word
        except Exhausted as stop:
            return Outcome({}, stop.reason)
        best = min(range(len(visible)), key=lambda k: (probs[k, ctx.label], k))
        return Outcome({visible[best]: ""}, "deleted the most salient word")
