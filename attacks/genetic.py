"""The genetic attack (Alzantot et al. 2018) — the RIFT paper's protocol and TextAttack's variant.

``genetic`` follows the paper's code (Jia et al. 2019's adversary, run unchanged by RIFT):

* candidates: the counter-fitted neighbours of every visible word, kept only if the LM filter admits
  them (``attacks/engine/lm.py``: log p(window with swap) ≥ log p(original window) − 5, window ±6 words);
* fitness: the gold-class margin ``p_y − max_{c≠y} p_c`` (lower is better for the attacker; for two
  classes its order is that of ``p_y``, the paper's fitness);
* mutation (``jia``): pick a position uniformly among those with candidates, try every choice there
  (the original word included) and keep the one with the lowest fitness;
* initial population: ``pop_size`` mutations of the original; each generation keeps the fittest member
  (elitism) and breeds ``pop_size − 1`` children: parents drawn with probability ∝ ``1 − p_y``,
  uniform crossover word by word, then one mutation;
* no cap on words changed; the attack succeeds as soon as a member's predicted label is not the gold
  label (checked after every batch of queries, so also in the last generation).

All mutations of a generation are scored in one batch (they depend only on the previous generation),
so a population of 60 fills the device. Randomness comes from one generator seeded per example.

``genetic-nolm`` is the same search without the LM filter. ``alzantot`` takes TextAttack's
``alzantot`` settings: 20 generations, at most 20 % of the words changed, stop-words never changed,
mutation sites drawn ∝ their number of candidates with a change kept only if it improves the fitness
(else another site is tried), and parents drawn by a softmax of ``1 − p_y`` at temperature 0.3. Two
deliberate differences from TextAttack: its LM is Google's 1-billion-word LM with a top-4-per-position
rule, ours is the window filter above; and TextAttack's parent sampling weights ``exp(−score/T)``
favour the *least* fit members, which we read as a sign slip and do not copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.core.attack import AttackContext, Outcome
from attacks.engine.population import Best, Found, breed, margin, mutate_alzantot, mutate_jia, success
from attacks.engine.search import EngineRecipe, Exhausted, LimitSettings, Search, example_seed
from bench.core.synonyms import counterfitted
from bench.core.registry import ATTACKS

@dataclass(frozen=True)
class GeneticSettings(LimitSettings):
    pop_size: int = 60
    generations: int = 40
    lm: str = "smollm2-135m"  # "" disables the filter; else an LM name (smollm2-135m, gpt2), hub id or folder
    lm_window: int = 6  # words on each side of the swapped word
    lm_max_drop: float = 5.0  # nats of log-probability a swap may cost its window
    max_perturbed: float = 0.0  # largest fraction of the words changed; 0 = no cap (the paper)
    mutation: str = "jia"  # "jia" | "alzantot"
    selection: str = "jia"  # "jia" (∝ 1 − p_y) | "softmax" (softmax of (1 − p_y) / temperature)
    temperature: float = 0.3
    skip_stopwords: bool = False
    seed: int = 0

    def validate(self) -> None:
        from bench.core.errors import ConfigError

        super().validate()
        checks = [
            (self.pop_size >= 2, "attack.pop_size must be ≥ 2"),
            (self.generations >= 0, "attack.generations must be ≥ 0"),
            (self.lm_window >= 0, "attack.lm_window must be ≥ 0"),
            (self.lm_max_drop >= 0, "attack.lm_max_drop must be ≥ 0"),
            (0 <= self.max_perturbed <= 1, "attack.max_perturbed must be in [0, 1] (0 = no cap)"),
            (self.mutation in ("jia", "alzantot"), "attack.mutation must be 'jia' or 'alzantot'"),
            (self.selection in ("jia", "softmax"), "attack.selection must be 'jia' or 'softmax'"),
            (self.temperature > 0, "attack.temperature must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


@dataclass(frozen=True)
class GeneticNoLMSettings(GeneticSettings):
    lm: str = ""


@dataclass(frozen=True)
class AlzantotSettings(GeneticSettings):
    generations: int = 20
    max_perturbed: float = 0.2
    mutation: str = "alzantot"
    selection: str = "softmax"
    skip_stopwords: bool = True


class Genetic(EngineRecipe):
    """Population search over counter-fitted substitutions (see the module docstring)."""

    Settings = GeneticSettings

    def __init__(self, settings: GeneticSettings, assets, synonyms=None) -> None:
        super().__init__(settings, assets)
        self.synonyms = synonyms if synonyms is not None else counterfitted(assets)
        self.stop: frozenset[str] = frozenset()
        if settings.skip_stopwords:
            from attacks.engine.wordnet import stopwords

            self.stop = stopwords(assets)
        self.filter = None
        if settings.lm:
            from attacks.engine.lm import window_filter

            self.filter = window_filter(settings.lm, assets, settings.lm_window, settings.lm_max_drop)

    def crops_long_texts(self) -> bool:
        """Edits visible words only; its LM windows reach a few words further (the crop keeps 32 more);
        a cap on the fraction of words changed counts all words, so capped runs attack the whole text."""
        return not self.settings.max_perturbed

    # -- candidates ---------------------------------------------------------------------------------------------
    def candidates(self, ctx: AttackContext) -> tuple[dict[int, list[str]], str]:
        """Admissible substitutes per visible word, and a note on what the LM filter kept."""
        words = ctx.words
        visible = ctx.visible_words()
        subs = {i: self.synonyms(words.word(i)) for i in visible if words.lower(i) not in self.stop}
        subs = {i: s for i, s in subs.items() if s}
        note = ""
        if self.filter is not None and subs:
            before = sum(len(s) for s in subs.values())
            kept, _ = self.filter.admissible(words, subs)
            subs = {i: s for i, s in kept.items() if s}
            note = f"; LM kept {sum(len(s) for s in subs.values())}/{before} substitutes"
        return subs, note

    # -- search -------------------------------------------------------------------------------------------------
    def steps(self, ctx: AttackContext) -> Search:
        s = self.settings
        y = ctx.label
        rng = np.random.default_rng(example_seed(s.seed, ctx.example.uid))
        choices, note = self.candidates(ctx)
        if not choices:
            return Outcome({}, "no substitutable words" + note)
        cap = math.floor(s.max_perturbed * len(ctx.words)) if s.max_perturbed else 0
        if s.max_perturbed and cap == 0:
            return Outcome({}, "word cap allows no change" + note)
        best = Best()
        mutate = mutate_jia if s.mutation == "jia" else mutate_alzantot
        try:
            pop = yield from mutate(ctx, [{} for _ in range(s.pop_size)], choices, cap, rng, best)
            for generation in range(s.generations):
                hit = success(pop, y)
                if hit is not None:
                    return Outcome(hit[0], f"label flipped (generation {generation})" + note)
                elite = min(range(len(pop)), key=lambda k: float(margin(pop[k][1], y)))
                children = breed(pop, s.pop_size - 1, cap, rng, y, s.selection, s.temperature)
                pop = [pop[elite]] + (yield from mutate(ctx, children, choices, cap, rng, best))
            hit = success(pop, y)
            if hit is not None:
                return Outcome(hit[0], f"label flipped (generation {s.generations})" + note)
            return Outcome(best.assign, "generations exhausted" + note)
        except Found as found:
            return Outcome(found.assign, "label flipped" + note)
        except Exhausted as stop:
            return Outcome(best.assign, stop.reason + note)

@ATTACKS.register("genetic", "Genetic attack, paper protocol: counter-fitted neighbours, LM window filter, "
                  "population 60, 40 generations", display="Genetic", rank=0)
class GeneticPaper(Genetic):
    Settings = GeneticSettings


@ATTACKS.register("genetic-nolm", "Genetic attack, paper protocol without the LM filter")
class GeneticNoLM(Genetic):
    Settings = GeneticNoLMSettings


@ATTACKS.register("alzantot", "Genetic attack with TextAttack's alzantot settings: ≤20% words, 20 generations, "
                  "softmax selection, no stop-words")
class Alzantot(Genetic):
    Settings = AlzantotSettings
