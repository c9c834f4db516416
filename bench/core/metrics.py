"""Cell metrics from per-example attack results (pure functions of the examples file).

* clean accuracy           — examples the model gets right / examples tested
* accuracy under attack    — right and not flipped by the attack / examples tested (the paper's metric); an
                             example the recipe could not attack (status ``unattackable``: no admissible edit, e.g.
                             AddSent without a distractor) counts as not flipped
* … over attackable        — the same over the examples the recipe could attack (unattackable ones left out)
* attack success rate      — flipped / right
* mean % words perturbed   — over successful attacks
* mean queries             — model queries per attacked (right) example
* seconds per example      — wall time per tested example
* mean similarity          — USE cosine of adversarial to original text over successful attacks, when the
                             run computed it (``bench run --similarity``), else None
* median clean margin      — p(gold) − the largest other class probability on the clean text, median over
                             attacked examples: how confident the model was where the attack started (a
                             report-side diagnostic, :func:`median_clean_margin`; not stored in records)
Undefined values (e.g. no successful attack) are None, never NaN or 0.
"""

from __future__ import annotations

from statistics import fmean, median
from typing import Iterable

from bench.core.record import ExampleLine, Metrics


def _mean(values: list[float]) -> float | None:
    return fmean(values) if values else None


#: the reason AddSent gave, before the ``unattackable`` status existed, for an example it could not attack (its
#: status was then ``failed``); read as ``unattackable``
LEGACY_UNATTACKABLE_REASON = "no admissible distractor"


def is_unattackable(line: ExampleLine) -> bool:
    """The recipe had no edit it may make for this correctly classified example (also in files written before the
    ``unattackable`` status: :data:`LEGACY_UNATTACKABLE_REASON`)."""
    return line.status == "unattackable" or (line.status == "failed" and line.reason == LEGACY_UNATTACKABLE_REASON)


def attack_metrics(lines: Iterable[ExampleLine]) -> Metrics:
    """The cell metrics of its example lines (:class:`~bench.core.record.ExampleLine`; a file's rows through
    :meth:`ExampleLine.from_json`)."""
    lines = list(lines)
    n = len(lines)
    attacked = [r for r in lines if r.status != "skipped"]
    success = [r for r in attacked if r.status == "success"]
    unattackable = sum(is_unattackable(r) for r in lines)
    attackable = n - unattackable
    return Metrics(
        n_examples=n,
        n_attacked=len(attacked),
        n_success=len(success),
        clean_accuracy=len(attacked) / n if n else None,
        accuracy_under_attack=(len(attacked) - len(success)) / n if n else None,
        n_unattackable=unattackable,
        accuracy_under_attack_attackable=((len(attacked) - len(success) - unattackable) / attackable
                                          if attackable else None),
        attack_success_rate=len(success) / len(attacked) if attacked else None,
        mean_perturbed_pct=_mean([100.0 * r.words_changed / r.n_words for r in success if r.n_words]),
        mean_queries=_mean([float(r.queries) for r in attacked]),
        mean_forwards=_mean([float(r.forwards) for r in attacked]),
        seconds_per_example=_mean([float(r.seconds) for r in lines]),
        mean_similarity=_mean([float(r.similarity) for r in success if r.similarity is not None]),
    )


def metric_names() -> list[str]:
    """The names :func:`attack_metrics` sets (the record's ``metrics`` keys)."""
    return [f.name for f in Metrics.documented()]


def clean_margin(line: ExampleLine) -> float:
    """p(gold) − the largest other class probability, on the clean text (negative when misclassified)."""
    probs, gold = line.original_probs, line.label
    return probs[gold] - max(p for k, p in enumerate(probs) if k != gold)


def median_clean_margin(lines: Iterable[ExampleLine]) -> float | None:
    """The median :func:`clean_margin` over the attacked (correctly classified) examples; None when none was."""
    margins = [clean_margin(r) for r in lines if r.status != "skipped"]
    return median(margins) if margins else None
