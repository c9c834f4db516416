"""Search steps that recipes compose: TextAttack's goal, transformation and search, as parts of the engine.

A recipe's search (:meth:`attacks.engine.search.EngineRecipe.steps`) delegates to a step with ``yield from``: the
step yields the texts it wants scored and returns what it found. The goal is untargeted
(:meth:`bench.core.attack.AttackContext.flipped`); the candidates of a word come from a callable ``word index →
substitutes`` (the synonym sources fit it). A step that the engine cuts off (query budget or time limit,
:class:`~attacks.engine.search.Exhausted`) returns what it had kept, with the engine's reason; the saliency step leaves
that to its caller.
"""

from __future__ import annotations

from typing import Callable, Generator, Iterable

import numpy as np

from bench.core.attack import AttackContext, Outcome
from bench.core.data import TextInput
from bench.core.text import with_field
from attacks.engine.search import Exhausted

Step = Generator[list[TextInput], np.ndarray, object]
#: word index, the substitutions kept so far → the substitutes to try for that word (after the constraints)
Options = Callable[[int, dict[int, str]], list[str]]


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max()) if len(x) else x
    return z / z.sum() if len(x) else z


def unk_saliency(ctx: AttackContext, positions: list[int]) -> Step:
    """Word saliency ``P(x) − P(x with wordᵢ ← the unknown token)`` of each word in ``positions``, P the gold-class
    probability (Ren et al.; one query per word). Returns the scores in the order of ``positions``."""
    unk = ctx.victim.unk_token
    probs = yield [with_field(ctx.example.inputs, ctx.field, ctx.words.replace({i: unk}, keep_case=False))
                   for i in positions]
    return float(ctx.probs[ctx.label]) - probs[:, ctx.label]


def ranked_substitutions(candidates: list[tuple[int, int, str]], p_gold: np.ndarray, p0: float,
                         weights: np.ndarray) -> list[tuple[float, int, str]]:
    """PWWS's order: each word's best substitute (largest drop ΔP of the gold probability; ties keep the one
    listed first), scored ``H = weights[pos] · ΔP`` and sorted by descending ``H``.

    ``candidates`` are ``(pos, word index, substitute)`` with ``pos`` the word's row in ``weights``, and
    ``p_gold`` the gold probability of each candidate text. Returns ``(H, word index, substitute)``."""
    best: dict[int, tuple[float, str, int]] = {}
    for (pos, i, sub), p in zip(candidates, p_gold):
        delta = p0 - float(p)
        if i not in best or delta > best[i][0]:
            best[i] = (delta, sub, pos)
    return sorted(((weights[pos] * delta, i, sub) for i, (delta, sub, pos) in best.items()), key=lambda t: -t[0])


def apply_in_turn(ctx: AttackContext, ranked: Iterable[tuple[int, str]]) -> Step:
    """Ren et al.'s search: the substitutions ``(word index, substitute)`` applied cumulatively in the given order,
    none reverted, until the label flips. Returns an :class:`Outcome` (a substitution the engine could not score is
    not kept)."""
    subs: dict[int, str] = {}
    for i, sub in ranked:
        trial = {**subs, i: sub}
        try:
            probs = yield [ctx.text_with(trial)]
        except Exhausted as stop:
            return Outcome(subs, stop.reason)
        subs = trial
        if ctx.flipped(probs[0]):
            return Outcome(dict(subs), "label flipped")
    return Outcome(subs, "all candidates applied")


def greedy_swaps(ctx: AttackContext, order: Iterable[int], options: Options,
                 text_of: Callable[[dict[int, str]], TextInput] | None = None,
                 on_flip: Callable[[int, list[str], np.ndarray, int], int] | None = None) -> Step:
    """TextAttack's greedy search over a word ranking (``GreedyWordSwapWIR``): word by word in ``order``, every
    option is scored on the current text and the best (lowest gold probability; ties: the first) is kept only if it
    lowers that probability below the current text's; the search ends when the label flips.

    ``text_of``: the input for a set of substitutions (default :meth:`AttackContext.text_with`); ``on_flip(word,
    options, probs, best)``: which flipping option to keep (default the best). Returns ``(substitutions, reason)``."""
    text_of = text_of or ctx.text_with
    y = ctx.label
    current = float(ctx.probs[y])
    subs: dict[int, str] = {}
    try:
        for i in order:
            opts = options(i, subs)
            if not opts:
                continue
            probs = yield [text_of({**subs, i: s}) for s in opts]
            k = int(np.argmin(probs[:, y]))  # the first of equals, as TextAttack's stable sort
            if not probs[k, y] < current:
                continue  # no option of this word helps on the current text
            if ctx.flipped(probs[k]):
                subs[i] = opts[on_flip(i, opts, probs, k) if on_flip else k]
                return subs, "label flipped"
            subs[i], current = opts[k], float(probs[k, y])
        return subs, "all words tried"
    except Exhausted as stop:
        return subs, stop.reason
