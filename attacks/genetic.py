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
from dataclasses import dataclass, field

import numpy as np

from bench.core.attack import AttackContext, Outcome, is_flipped
from attacks.engine.search import EngineRecipe, Exhausted, LimitSettings, Search, example_seed
from bench.core.synonyms import counterfitted
from bench.core.registry import ATTACKS

Assign = dict[int, str]


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


def margin(probs: np.ndarray, y: int) -> np.ndarray:
    """``p_y − max_{c≠y} p_c`` per row: negative exactly when another class wins."""
    others = np.delete(probs, y, axis=-1)
    return probs[..., y] - others.max(axis=-1)


@dataclass
class _Best:
    """The fittest member seen so far (what a search returns when stopped early)."""

    assign: Assign = field(default_factory=dict)
    fitness: float = math.inf

    def offer(self, assign: Assign, probs: np.ndarray, y: int) -> None:
        f = float(margin(probs, y))
        if f < self.fitness:
            self.assign, self.fitness = dict(assign), f


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
        best = _Best()
        mutate = self._mutate_jia if s.mutation == "jia" else self._mutate_alzantot
        try:
            pop = yield from mutate(ctx, [{} for _ in range(s.pop_size)], choices, cap, rng, best)
            for generation in range(s.generations):
                hit = _success(pop, y)
                if hit is not None:
                    return Outcome(hit[0], f"label flipped (generation {generation})" + note)
                elite = min(range(len(pop)), key=lambda k: float(margin(pop[k][1], y)))
                children = self._breed(pop, s.pop_size - 1, cap, rng, y)
                pop = [pop[elite]] + (yield from mutate(ctx, children, choices, cap, rng, best))
            hit = _success(pop, y)
            if hit is not None:
                return Outcome(hit[0], f"label flipped (generation {s.generations})" + note)
            return Outcome(best.assign, "generations exhausted" + note)
        except _Found as found:
            return Outcome(found.assign, "label flipped" + note)
        except Exhausted as stop:
            return Outcome(best.assign, stop.reason + note)

    def _breed(self, pop: list[tuple[Assign, np.ndarray]], n: int, cap: int, rng: np.random.Generator,
               y: int) -> list[Assign]:
        adv = np.array([1.0 - float(p[y]) for _, p in pop])
        if self.settings.selection == "jia":
            weights = adv + 1e-8
        else:
            z = adv / self.settings.temperature
            weights = np.exp(z - z.max())
        weights = weights / weights.sum()
        first = rng.choice(len(pop), size=n, p=weights)
        second = rng.choice(len(pop), size=n, p=weights)
        children = []
        for a, b in zip(first, second):
            pa, pb = pop[a][0], pop[b][0]
            child: Assign = {}
            for pos in sorted(set(pa) | set(pb)):
                wa, wb = pa.get(pos), pb.get(pos)
                pick = wa if wa == wb or rng.random() < 0.5 else wb
                if pick is not None:
                    child[pos] = pick
            if cap and len(child) > cap:  # crossover may exceed the cap: revert a random excess
                drop = rng.choice(sorted(child), size=len(child) - cap, replace=False)
                for pos in drop:
                    del child[int(pos)]
            children.append(child)
        return children

    def _mutate_jia(self, ctx: AttackContext, members: list[Assign], choices: dict[int, list[str]],
                    cap: int, rng: np.random.Generator, best: _Best):
        """Each member: a uniform site with candidates; every choice there (original included); keep the fittest."""
        y, positions = ctx.label, sorted(choices)
        plans: list[list[Assign]] = []
        for m in members:
            allowed = positions if not cap or len(m) < cap else [p for p in positions if p in m]
            if not allowed:
                plans.append([dict(m)])
                continue
            idx = allowed[int(rng.integers(len(allowed)))]
            variants = []
            for option in [None, *choices[idx]]:
                v = {k: w for k, w in m.items() if k != idx}
                if option is not None:
                    v[idx] = option
                variants.append(v)
            plans.append(variants)
        texts = [ctx.text_with(v) for variants in plans for v in variants]
        probs = yield texts
        out, k = [], 0
        for variants in plans:
            scored = probs[k:k + len(variants)]
            k += len(variants)
            j = int(np.argmin(margin(scored, y)))
            out.append((variants[j], scored[j]))
            best.offer(variants[j], scored[j], y)
        _raise_if_success(out, y)
        return out

    def _mutate_alzantot(self, ctx: AttackContext, members: list[Assign], choices: dict[int, list[str]],
                         cap: int, rng: np.random.Generator, best: _Best):
        """TextAttack's perturb: a site ∝ its number of candidates; keep the best change only if it improves the
        fitness, else retire that site and try another (rounds are batched across members)."""
        y, positions = ctx.label, sorted(choices)
        current = list(members)
        probs = yield [ctx.text_with(m) for m in current]
        fit = [float(margin(p, y)) for p in probs]
        result: list[tuple[Assign, np.ndarray]] = list(zip(current, probs))
        for m, p in result:
            best.offer(m, p, y)
        _raise_if_success(result, y)
        weights = []
        for m in current:
            w = np.array([0.0 if (cap and len(m) >= cap and p not in m) else
                          float(len([c for c in choices[p] if c != m.get(p)])) for p in positions])
            weights.append(w)
        pending = [k for k in range(len(current)) if weights[k].sum() > 0]
        while pending:
            plans = []
            for k in pending:
                w = weights[k]
                site = positions[int(rng.choice(len(positions), p=w / w.sum()))]
                options = [c for c in choices[site] if c != current[k].get(site)]
                plans.append((k, site, [{**current[k], site: c} for c in options]))
            scored = yield [ctx.text_with(v) for _, _, variants in plans for v in variants]
            still, offset = [], 0
            for k, site, variants in plans:
                chunk = scored[offset:offset + len(variants)]
                offset += len(variants)
                fits = margin(chunk, y)
                j = int(np.argmin(fits))
                best.offer(variants[j], chunk[j], y)
                if fits[j] < fit[k]:
                    current[k], fit[k] = variants[j], float(fits[j])
                    result[k] = (variants[j], chunk[j])
                else:
                    weights[k][positions.index(site)] = 0.0
                    if weights[k].sum() > 0:
                        still.append(k)
            _raise_if_success(result, y)
            pending = still
        return result


class _Found(Exception):
    def __init__(self, assign: Assign) -> None:
        super().__init__("label flipped")
        self.assign = assign


def _success(pop: list[tuple[Assign, np.ndarray]], y: int) -> tuple[Assign, np.ndarray] | None:
    hits = [(a, p) for a, p in pop if is_flipped(p, y)]
    return min(hits, key=lambda t: float(margin(t[1], y))) if hits else None


def _raise_if_success(pop: list[tuple[Assign, np.ndarray]], y: int) -> None:
    hit = _success(pop, y)
    if hit is not None:
        raise _Found(hit[0])


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
