"""The population search of the genetic attack (Alzantot et al. 2018; Jia et al. 2019's variant): fitness, crossover
and the two mutation rules, as engine steps (each mutation yields its members' texts and returns them scored).
A member is an assignment ``word index → substitute``; its fitness is the gold-class margin (lower is fitter)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generator

import numpy as np

from bench.core.attack import AttackContext, is_flipped
from bench.core.data import TextInput

Assign = dict[int, str]
#: members with their class probabilities
Scored = list[tuple[Assign, np.ndarray]]


def margin(probs: np.ndarray, y: int) -> np.ndarray:
    """``p_y − max_{c≠y} p_c`` per row: negative exactly when another class wins."""
    others = np.delete(probs, y, axis=-1)
    return probs[..., y] - others.max(axis=-1)


@dataclass
class Best:
    """The fittest member seen so far (what a search returns when stopped early)."""

    assign: Assign = field(default_factory=dict)
    fitness: float = math.inf

    def offer(self, assign: Assign, probs: np.ndarray, y: int) -> None:
        f = float(margin(probs, y))
        if f < self.fitness:
            self.assign, self.fitness = dict(assign), f


def breed(pop: list[tuple[Assign, np.ndarray]], n: int, cap: int, rng: np.random.Generator, y: int,
          selection: str, temperature: float) -> list[Assign]:
    """``n`` children by crossover of parents drawn by fitness (``selection``: "jia", ∝ 1 − p_y; "softmax", of
    (1 − p_y) / ``temperature``); a child over the word ``cap`` loses a random excess."""
    adv = np.array([1.0 - float(p[y]) for _, p in pop])
    if selection == "jia":
        weights = adv + 1e-8
    else:
        z = adv / temperature
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


def mutate_jia(ctx: AttackContext, members: list[Assign], choices: dict[int, list[str]], cap: int,
               rng: np.random.Generator, best: Best) -> Generator[list[TextInput], np.ndarray, Scored]:
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
    raise_if_success(out, y)
    return out


def mutate_alzantot(ctx: AttackContext, members: list[Assign], choices: dict[int, list[str]], cap: int,
                    rng: np.random.Generator, best: Best) -> Generator[list[TextInput], np.ndarray, Scored]:
    """TextAttack's perturb: a site ∝ its number of candidates; keep the best change only if it improves the
    fitness, else retire that site and try another (rounds are batched across members)."""
    y, positions = ctx.label, sorted(choices)
    current = list(members)
    probs = yield [ctx.text_with(m) for m in current]
    fit = [float(margin(p, y)) for p in probs]
    result: list[tuple[Assign, np.ndarray]] = list(zip(current, probs))
    for m, p in result:
        best.offer(m, p, y)
    raise_if_success(result, y)
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
        raise_if_success(result, y)
        pending = still
    return result


class Found(Exception):
    """Raised inside a mutation step when a member flips the label (the search ends with it)."""

    def __init__(self, assign: Assign) -> None:
        super().__init__("label flipped")
        self.assign = assign


def success(pop: list[tuple[Assign, np.ndarray]], y: int) -> tuple[Assign, np.ndarray] | None:
    """The fittest member that flips the label, if any."""
    hits = [(a, p) for a, p in pop if is_flipped(p, y)]
    return min(hits, key=lambda t: float(margin(t[1], y))) if hits else None


def raise_if_success(pop: list[tuple[Assign, np.ndarray]], y: int) -> None:
    """End the search (:class:`Found`) when a member flips the label."""
    hit = success(pop, y)
    if hit is not None:
        raise Found(hit[0])
