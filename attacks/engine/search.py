"""The shared attack engine: searches written as generators, driven against a victim.

A search is a generator that *yields* a batch of inputs it wants scored and receives their class
probabilities back (``probs = yield texts``); it finally *returns* an :class:`Outcome`. The engine
owns everything around the model call, so every recipe gets it for free:

* per-example deduplication: a text already scored for this example is answered from memory and not
  counted again, and a batch is sent to the victim once with its duplicates removed;
* query budgets (distinct texts scored for the example, its clean prediction included) and a
  per-example wall-time limit: when the next batch would break either, the engine throws
  :class:`Exhausted` into the search, which returns its best result so far;
* batching across examples (:func:`attack_many`): many examples' searches run in lock-step and their
  pending batches are scored in one victim call, so a GPU sees full batches even for short texts.

Searches never call the victim themselves, which is what makes the last point possible.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Generator, Iterator, Sequence

import numpy as np

from bench.core.attack import AttackContext, AttackRecipe, Outcome, final_result, skipped_result
from bench.core.record import ExampleLine
from bench.core.text import Words, get_field
from bench.core.data import Example, TextInput
from bench.core.victim import Victim

Search = Generator[list[TextInput], np.ndarray, Outcome]


class Exhausted(Exception):
    """Thrown into a search when its next batch would exceed the query budget or the time limit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Per-example limits. ``query_budget``: distinct texts scored, the clean prediction included (0 = none; the
    one meaning of the setting, :data:`bench.core.attack.QUERY_BUDGET`); ``time_limit_s``: seconds (0 = none)."""

    query_budget: int = 0
    time_limit_s: float = 0.0


@dataclass(frozen=True)
class BudgetSettings:
    """The query budget a recipe's settings inherit (``attack.query_budget``): distinct texts scored per example,
    the clean prediction included; 0 = unlimited (:data:`bench.core.attack.QUERY_BUDGET`)."""

    query_budget: int = 0

    def validate(self) -> None:
        from bench.core.errors import ConfigError

        if self.query_budget < 0:
            raise ConfigError("attack.query_budget must be ≥ 0 (0 = unlimited)")


@dataclass(frozen=True)
class LimitSettings(BudgetSettings):
    """The query budget and a per-example wall-time limit (``attack.time_limit_s``, seconds; 0 = unlimited)."""

    time_limit_s: float = 0.0

    def validate(self) -> None:
        from bench.core.errors import ConfigError

        super().validate()
        if self.time_limit_s < 0:
            raise ConfigError("attack.time_limit_s must be ≥ 0 (0 = unlimited)")


def example_seed(seed: int, uid: str) -> int:
    """A per-example seed that does not depend on the order or grouping in which examples are attacked."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{uid}".encode()).digest()[:8], "little")


@dataclass
class _Run:
    """Book-keeping of one search being driven: its memo, its counts and its pending request."""

    search: Search
    limits: Limits
    start: float
    used: int  # distinct texts scored so far for this example (clean prediction included)
    memo: dict[TextInput, np.ndarray] = field(default_factory=dict)
    request: list[TextInput] | None = None
    outcome: Outcome | None = None

    def new_texts(self) -> list[TextInput]:
        assert self.request is not None
        return [x for x in dict.fromkeys(self.request) if x not in self.memo]

    def over_limit(self, n_new: int) -> str:
        budget = self.limits.query_budget
        if budget and self.used + n_new > budget:
            return "query budget exhausted"
        if self.limits.time_limit_s and time.perf_counter() - self.start > self.limits.time_limit_s:
            return "time limit reached"
        return ""

    def _step(self, send: Any = None, throw: Exhausted | None = None) -> None:
        try:
            if throw is not None:
                self.request = list(self.search.throw(throw))
                raise RuntimeError("a search must return (not yield again) after Exhausted")
            self.request = list(self.search.send(send) if send is not None else next(self.search))
        except StopIteration as stop:
            self.request, self.outcome = None, stop.value

    def start_search(self) -> None:
        self._step()
        self._settle()

    def answer(self, scored: dict[TextInput, np.ndarray]) -> None:
        """Record fresh scores, then send the search its batch's probabilities."""
        assert self.request is not None
        for x in self.new_texts():
            self.memo[x] = scored[x]
            self.used += 1
        probs = np.stack([self.memo[x] for x in self.request]) if self.request else np.zeros((0, 0))
        self._step(send=probs)
        self._settle()

    def _settle(self) -> None:
        """Answer empty or fully memoised requests at once, and enforce the limits."""
        while self.request is not None:
            new = self.new_texts()
            reason = self.over_limit(len(new))
            if reason:
                self._step(throw=Exhausted(reason))
            elif not new:
                probs = np.stack([self.memo[x] for x in self.request]) if self.request else np.zeros((0, 0))
                self._step(send=probs)
            else:
                return


def drive(search: Search, victim: Victim, limits: Limits, used: int = 1,
          known: dict[TextInput, np.ndarray] | None = None) -> Outcome:
    """Run one search to completion against ``victim``. ``used``: queries already spent on the example;
    ``known``: texts already scored for it (its clean input), answered without a query."""
    run = _Run(search, limits, time.perf_counter(), used, dict(known or {}))
    run.start_search()
    while run.request is not None:
        new = run.new_texts()
        run.answer(dict(zip(new, victim.predict_proba(new))))
    assert run.outcome is not None
    return run.outcome


class EngineRecipe(AttackRecipe):
    """A recipe whose search is a generator (:meth:`steps`). Its settings inherit :class:`BudgetSettings` or
    :class:`LimitSettings`, whose limits the engine enforces."""

    def steps(self, ctx: AttackContext) -> Search:
        raise NotImplementedError

    def limits(self) -> Limits:
        return Limits(int(getattr(self.settings, "query_budget", 0) or 0),
                      float(getattr(self.settings, "time_limit_s", 0.0) or 0.0))

    #: examples in flight at once by default on a GPU (on a CPU, one at a time: the forward pass costs the
    #: same per text there whatever the batch, so batching across examples would only delay checkpoints)
    gpu_width: int = 32

    def iter_attack(self, victim: Victim, examples: list[Example], field: int,
                    in_flight: int | None = None) -> Iterator[ExampleLine]:
        """Many examples' searches run in lock-step and share batches (:func:`iter_many`)."""
        if in_flight is None:
            in_flight = self.gpu_width if getattr(getattr(victim, "device", None), "type", "cpu") == "cuda" else 1
        if in_flight > 1:
            return iter_many(self, victim, examples, field, in_flight)
        return super().iter_attack(victim, examples, field)

    def search(self, ctx: AttackContext) -> Outcome:
        return drive(self.steps(ctx), ctx.victim, self.limits(), used=ctx.queries_used(),
                     known={ctx.example.inputs: ctx.probs})


def attack_many(recipe: EngineRecipe, victim: Victim, examples: Sequence[Example], field: int,
                width: int = 16) -> list[ExampleLine]:
    """:func:`iter_many`'s results in the order of ``examples``."""
    order = {ex.uid: i for i, ex in enumerate(examples)}
    return sorted(iter_many(recipe, victim, examples, field, width), key=lambda r: order[r.uid])


def iter_many(recipe: EngineRecipe, victim: Victim, examples: Sequence[Example], field: int,
              width: int = 16) -> Iterator[ExampleLine]:
    """Attack ``examples`` with up to ``width`` searches in flight, their batches scored in one victim call;
    yields each example's result as soon as its search ends (so not necessarily in order).

    Results equal :meth:`AttackRecipe.attack` example by example (searches seed themselves per example),
    ``queries`` and ``forwards`` included, except ``seconds`` (the example's wall time while in flight) and
    float rounding of the probabilities (a batch pads to its longest text, which moves the last bits).
    """
    victim.clear_cache()
    clean = victim.predict_proba([ex.inputs for ex in examples]) if examples else np.zeros((0, 0))
    active: dict[int, tuple[_Run, AttackContext, float]] = {}
    queue = list(range(len(examples)))
    limits = recipe.limits()

    def finish(run: _Run, ctx: AttackContext, start: float) -> ExampleLine:
        outcome = run.outcome
        assert outcome is not None
        adversarial = outcome.adversarial if outcome.adversarial is not None else ctx.text_with(outcome.substitutions)
        final = run.memo.get(adversarial)
        if final is None:
            final = victim.predict_proba([adversarial])[0]
            run.used += 1
        # As one by one: the final prediction is a query even when it is answered from memory.
        queries = run.used + (adversarial in run.memo)
        return final_result(ctx, outcome, adversarial, final, queries, run.used, time.perf_counter() - start)

    while queue or active:
        while queue and len(active) < width:
            i = queue.pop(0)
            ex, probs, start = examples[i], clean[i], time.perf_counter()
            words = Words.split(get_field(ex.inputs, field))
            if int(probs.argmax()) != ex.label:
                yield skipped_result(ex, words, probs, 1, 1, 0.0)
                continue
            ctx = AttackContext(victim, ex, field, words, probs, 0)
            run = _Run(recipe.steps(ctx), limits, start, 1, {ex.inputs: probs})
            run.start_search()
            if run.request is None:
                yield finish(run, ctx, start)
            else:
                active[i] = (run, ctx, start)
        if not active:
            continue
        wanted = {i: run.new_texts() for i, (run, _, _) in active.items()}
        union = list(dict.fromkeys(x for texts in wanted.values() for x in texts))
        scored = dict(zip(union, victim.predict_proba(union)))
        victim.clear_cache()  # each search memoises its own texts; the victim's copy would grow with the cell
        for i in list(active):
            run, ctx, start = active[i]
            run.answer(scored)
            if run.request is None:
                del active[i]
                yield finish(run, ctx, start)
    victim.clear_cache()
