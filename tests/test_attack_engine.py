"""The shared attack engine: dedup and memo, honest counts, budgets, time limits, batching across examples."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.attack import AttackContext, Outcome
from attacks.engine.search import EngineRecipe, Exhausted, Limits, drive, example_seed
from bench.core.text import Words
from lexicon_victim import LexiconVictim
from bench.core.assets import AssetConfig
from bench.core.data import Example


def victim() -> LexiconVictim:
    return LexiconVictim({"good": [0, 2], "bad": [2, 0], "fine": [0, 1]}, [0, 0])


def test_duplicates_are_scored_once_and_memoised_across_batches():
    v = victim()
    seen = []

    def search():
        probs = yield ["a good day", "a good day", "a bad day"]
        seen.append(probs)
        probs = yield ["a bad day", "a fine day"]
        seen.append(probs)
        return Outcome({}, "done")

    out = drive(search(), v, Limits())
    assert out.reason == "done"
    assert v.counts.queries == 3 and v.counts.forwards == 3  # three distinct texts, each asked once
    assert np.allclose(seen[0][0], seen[0][1]) and np.allclose(seen[0][2], seen[1][0])
    assert seen[0][0][1] > 0.5 > seen[0][2][1]


def test_budget_stops_before_a_batch_that_would_exceed_it():
    v = victim()

    def search():
        try:
            yield ["t1 good", "t2 good"]
            yield ["t3 good", "t4 good", "t5 good"]  # 1 (clean) + 2 + 3 > 5
            return Outcome({}, "not stopped")
        except Exhausted as stop:
            return Outcome({1: "x"}, stop.reason)

    out = drive(search(), v, Limits(query_budget=5), used=1)
    assert out.reason == "query budget exhausted" and out.substitutions == {1: "x"}
    assert v.counts.forwards == 2


def test_time_limit_and_searches_that_keep_yielding():
    v = victim()

    def patient():
        try:
            while True:
                yield [f"text {np.random.rand()}"]
        except Exhausted as stop:
            return Outcome({}, stop.reason)

    assert drive(patient(), v, Limits(time_limit_s=0.05)).reason == "time limit reached"

    def stubborn():
        while True:
            try:
                yield [f"again {np.random.rand()}"]
            except Exhausted:
                pass

    with pytest.raises(RuntimeError):
        drive(stubborn(), v, Limits(query_budget=3))


def test_example_seed_depends_on_seed_and_uid_only():
    assert example_seed(0, "test:1") == example_seed(0, "test:1")
    assert len({example_seed(0, "a"), example_seed(1, "a"), example_seed(0, "b")}) == 3


class _Sweep(EngineRecipe):
    """Replace each word by "bad" one at a time; stop at the first flip (a tiny recipe for engine tests)."""

    def steps(self, ctx: AttackContext):
        subs = [{i: "bad"} for i in range(len(ctx.words))]
        probs = yield [ctx.text_with(s) for s in subs]
        for s, p in zip(subs, probs):
            if int(p.argmax()) != ctx.label:
                return Outcome(s, "flipped")
        return Outcome({}, "nothing flips")


def test_attack_wrapper_counts_the_clean_input_once():
    v = victim()
    recipe = _Sweep(None, AssetConfig())
    result = recipe.attack(v, Example("u", "a good day", 1), 0)
    assert result.status == "success" and result.adversarial in ("bad good day", "a bad day", "a good bad")
    # clean prediction + 3 candidates forwarded; the final prediction is a cache hit
    assert result.forwards == 4 and result.queries == 5


def test_attack_many_matches_one_by_one():
    from attacks.engine.search import attack_many

    examples = [Example(f"u{i}", text, label) for i, (text, label) in
                enumerate([("a good day", 1), ("a fine good day", 1), ("bad bad day", 0), ("a good good day", 0)])]
    recipe = _Sweep(None, AssetConfig())
    single = [recipe.attack(victim(), ex, 0) for ex in examples]
    v = victim()
    batched = attack_many(recipe, v, examples, 0, width=3)
    for a, b in zip(single, batched):
        assert {**a.to_json(), "seconds": 0} == {**b.to_json(), "seconds": 0}
    assert batched[3].status == "skipped"
    assert v.counts.batches <= 3  # the clean batch, one joint candidate batch, maybe one final


def test_words_are_split_once_and_replaced_in_place():
    w = Words.split("It's a GOOD, good film!")
    assert [w.word(i) for i in range(len(w))] == ["It's", "a", "GOOD", "good", "film"]
    assert w.replace({2: "fine", 4: "movie"}) == "It's a FINE, good movie!"


def test_attack_all_runs_every_example_in_order():
    examples = [Example(f"u{i}", t, 1) for i, t in enumerate(["a good day", "good good", "a fine day"])]
    out = _Sweep(None, AssetConfig()).attack_all(victim(), examples, 0)
    assert [r.uid for r in out] == ["u0", "u1", "u2"]
