"""Attack recipes: the wrapper every recipe's search runs in, and the line of the examples file it emits.

A recipe (TextAttack's decomposition: goal + constraints + transformation + search) implements
:meth:`AttackRecipe.search` on one example whose clean prediction is correct; the wrapper here
handles what is common to all: the clean prediction, skipping misclassified examples, timing,
honest query counts and the result record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

import numpy as np

from bench.core.assets import AssetConfig
from bench.core.data import Example, TextInput
from bench.core.record import ExampleLine
from bench.core.victim import Victim
from bench.core.text import Words, get_field, with_field

#: what an attack's ``query_budget`` setting counts, the same for every recipe (``bench list attacks`` says it)
QUERY_BUDGET = ("query_budget counts model queries per example as distinct texts scored, the clean prediction "
                "included (a text scored again is answered from memory and not counted); 0 = unlimited")

SUCCESS = "success"
FAILED = "failed"
SKIPPED = "skipped"  # the clean prediction was already wrong: nothing to attack
UNATTACKABLE = "unattackable"  # the clean prediction is right but the recipe found no edit it may make: not attacked


def _as_json_input(inputs: TextInput) -> str | list[str]:
    """An input as the examples file holds it: a text, or ``[text, text_pair]``."""
    return list(inputs) if isinstance(inputs, tuple) else inputs


def example_line(*, uid: str, label: int, status: str, original: TextInput, adversarial: TextInput, original_pred: int,
                 original_probs: np.ndarray, final_pred: int, final_probs: np.ndarray, n_words: int, words_changed: int,
                 changes: list[dict[str, Any]] | None = None, queries: int = 0, forwards: int = 0, seconds: float = 0.0,
                 reason: str = "") -> ExampleLine:
    """One attacked example's line of the cell's ``.examples.jsonl``: what every recipe emits."""
    return ExampleLine(uid=uid, label=label, status=status, original=_as_json_input(original),
                       adversarial=_as_json_input(adversarial), original_pred=original_pred,
                       original_probs=np.asarray(original_probs).tolist(), final_pred=final_pred,
                       final_probs=np.asarray(final_probs).tolist(), n_words=n_words, words_changed=words_changed,
                       changes=list(changes or []), queries=queries, forwards=forwards, seconds=seconds, reason=reason,
                       perturbed_fraction=words_changed / n_words if n_words else 0.0)


@dataclass
class Outcome:
    """What a search returns: the substitutions it settled on, and why it stopped."""

    substitutions: dict[int, str]
    reason: str = ""
    # Recipes whose edits are not word substitutions (sentence insertion, character edits with their own
    # casing) set the adversarial input, the change list and the perturbation size themselves.
    adversarial: TextInput | None = None
    changes: list[dict[str, Any]] | None = None
    words_changed: int | None = None
    #: the recipe had no admissible edit for this example (e.g. AddSent without a distractor): not attacked
    unattackable: bool = False


@dataclass
class AttackContext:
    """One example being attacked: the inputs, the attacked field, its words and the clean probabilities."""

    victim: Victim
    example: Example
    field: int
    words: Words
    probs: np.ndarray
    start_queries: int = 0

    def queries_used(self) -> int:
        """Queries this example has cost so far (the clean prediction included)."""
        return self.victim.counts.queries - self.start_queries

    @property
    def label(self) -> int:
        return self.example.label

    def text_with(self, subs: dict[int, str]) -> TextInput:
        return with_field(self.example.inputs, self.field, self.words.replace(subs))

    def flipped(self, probs: np.ndarray) -> bool:
        """The goal every recipe shares (untargeted classification): ``probs`` predict another class than gold."""
        return is_flipped(probs, self.label)

    def visible_words(self) -> list[int]:
        """Positions of the attacked field's words the victim sees (a long text is truncated at its input length)."""
        return self.words.visible(self.victim.visible_chars(self.example.inputs, self.field))


def is_flipped(probs: np.ndarray, label: int) -> bool:
    """Untargeted success: the predicted class (argmax of ``probs``) is not ``label``."""
    return int(np.argmax(probs)) != label


@dataclass(frozen=True)
class NoSettings:
    """A recipe without settings."""


class AttackRecipe:
    """Base class: subclasses set ``Settings`` (a frozen dataclass) and implement :meth:`search`."""

    Settings: ClassVar[type] = NoSettings
    #: False for recipes that only handle single texts (the grid refuses them on pair tasks such as SNLI)
    supports_pairs: ClassVar[bool] = True

    #: True for recipes that edit only words the model sees and whose search does not look at the rest of the
    #: text: long texts are then attacked through a prefix the model cannot tell apart (:mod:`bench.core.crop`)
    edits_visible_words_only: ClassVar[bool] = False

    def __init__(self, settings: Any, assets: AssetConfig) -> None:
        self.settings = settings
        self.assets = assets

    def crops_long_texts(self) -> bool:
        return self.edits_visible_words_only

    def search(self, ctx: AttackContext) -> Outcome:
        raise NotImplementedError

    def iter_attack(self, victim: Victim, examples: list[Example], field: int,
                    in_flight: int | None = None) -> Iterator[ExampleLine]:
        """Attack every example, yielding each result as soon as it is final.

        Engine recipes attack up to ``in_flight`` examples at once, their queries batched together (default:
        many on a GPU, one on a CPU), and may finish them out of order; each result is the same either way,
        timing and float rounding of the probabilities aside. Other recipes attack one example at a time."""
        for example in examples:
            yield self.attack(victim, example, field)

    def attack_all(self, victim: Victim, examples: list[Example], field: int) -> list[ExampleLine]:
        """Every example's result, in the order of ``examples``."""
        order = {ex.uid: i for i, ex in enumerate(examples)}
        return sorted(self.iter_attack(victim, examples, field), key=lambda r: order[r.uid])

    def attack(self, victim: Victim, example: Example, field: int) -> ExampleLine:
        start = time.perf_counter()
        victim.clear_cache()
        before = victim.snapshot()
        words = Words.split(get_field(example.inputs, field))
        probs = victim.predict_proba([example.inputs])[0]
        if int(probs.argmax()) != example.label:
            used = victim.snapshot().minus(before)
            return skipped_result(example, words, probs, used.queries, used.forwards, time.perf_counter() - start)
        ctx = AttackContext(victim, example, field, words, probs, before.queries)
        outcome = self.search(ctx)
        adversarial = outcome.adversarial if outcome.adversarial is not None else ctx.text_with(outcome.substitutions)
        final = victim.predict_proba([adversarial])[0]
        used = victim.snapshot().minus(before)
        victim.clear_cache()
        return final_result(ctx, outcome, adversarial, final, used.queries, used.forwards,
                            time.perf_counter() - start)


def skipped_result(example: Example, words: Words, probs: np.ndarray, queries: int, forwards: int,
                   seconds: float) -> ExampleLine:
    """The record of an example whose clean prediction is already wrong (nothing to attack)."""
    pred = int(probs.argmax())
    return example_line(uid=example.uid, label=example.label, status=SKIPPED, original=example.inputs,
                        adversarial=example.inputs, original_pred=pred, original_probs=probs, final_pred=pred,
                        final_probs=probs, n_words=len(words), words_changed=0, queries=queries, forwards=forwards,
                        seconds=seconds, reason="clean prediction wrong")


def final_result(ctx: AttackContext, outcome: Outcome, adversarial: TextInput, final: np.ndarray, queries: int,
                 forwards: int, seconds: float) -> ExampleLine:
    """The record of an attacked example, from the search's outcome and the adversarial input's probabilities."""
    final_pred = int(final.argmax())
    words = ctx.words
    changes = outcome.changes if outcome.changes is not None else [
        {"index": i, "original": words.word(i), "substitute": s} for i, s in sorted(outcome.substitutions.items())]
    changed = outcome.words_changed if outcome.words_changed is not None else len(outcome.substitutions)
    status = UNATTACKABLE if outcome.unattackable else SUCCESS if final_pred != ctx.label else FAILED
    return example_line(uid=ctx.example.uid, label=ctx.label, status=status, original=ctx.example.inputs,
                        adversarial=adversarial, original_pred=int(ctx.probs.argmax()), original_probs=ctx.probs,
                        final_pred=final_pred, final_probs=final, n_words=len(words), words_changed=changed,
                        changes=changes, queries=queries, forwards=forwards, seconds=seconds, reason=outcome.reason)
