"""Genetic search against brute-force oracles on tiny inputs (a transparent bag-of-words victim)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from attacks.engine.search import attack_many
from attacks.engine.population import margin
from attacks.genetic import Alzantot, AlzantotSettings, GeneticNoLM, GeneticNoLMSettings, GeneticSettings
from bench.core.synonyms import CounterFitted
from lexicon_victim import LexiconVictim
from bench.core.assets import AssetConfig
from bench.core.config import apply_overrides
from bench.core.data import Example
from bench.core.errors import ConfigError

VOCAB = ["".join(p) for p in itertools.product("bcdfghkm", "aeiou")][:40]  # letter-only words


def tiny_problem(seed: int, n_words: int = 4, n_subs: int = 3):
    """A random 2-class lexicon, a sentence, its gold label (the victim's prediction) and a neighbour set.

    Each neighbour's weight is its word's weight plus noise leaning towards class 0, so some sentences
    flip with one substitution, some only with two, three or four, and some not at all."""
    rng = np.random.default_rng(seed)
    words = list(rng.choice(VOCAB[:10], size=n_words, replace=False))
    neighbours = {w: list(rng.choice(VOCAB[10:], size=n_subs, replace=False)) for w in words}
    weights = {w: [0.0, float(rng.normal(0.4, 1.0))] for w in VOCAB[:10]}
    for w in words:
        for s in neighbours[w]:
            weights[s] = [0.0, weights[w][1] + float(rng.normal(-0.5, 0.6))]
    victim = LexiconVictim(weights, [0.0, 0.0])
    text = " ".join(words) + " ."
    label = int(victim.predict([text])[0])
    victim.counts.queries = victim.counts.forwards = 0
    victim.clear_cache()
    return victim, Example(f"t{seed}", text, label), words, CounterFitted(neighbours)


def fewest_changes(victim, words, synonyms, label) -> int:
    """The fewest substitutions that flip the label (0: none does)."""
    return next((k for k in range(1, len(words) + 1) if brute_force(victim, words, synonyms, label, k)), 0)


def brute_force(victim, words, synonyms, label, max_changes):
    """Does some assignment with ≤ max_changes substitutions flip the label?"""
    for k in range(1, max_changes + 1):
        for positions in itertools.combinations(range(len(words)), k):
            for subs in itertools.product(*[synonyms(words[p]) for p in positions]):
                new = list(words)
                for p, s in zip(positions, subs):
                    new[p] = s
                if victim.predict([" ".join(new) + " ."])[0] != label:
                    return True
    return False


@pytest.mark.parametrize("seed", range(40))
def test_genetic_finds_an_adversarial_whenever_one_exists(seed):
    victim, example, words, synonyms = tiny_problem(seed)
    needed = fewest_changes(victim, words, synonyms, example.label)  # 0 (none) … 4 across these seeds
    recipe = GeneticNoLM(GeneticNoLMSettings(pop_size=20, generations=10), AssetConfig(), synonyms=synonyms)
    result = recipe.attack(victim, example, 0)
    assert (result.status == "success") == (needed > 0)
    if needed:  # the adversarial really flips, uses only neighbour substitutions, and no fewer than needed
        assert victim.predict([result.adversarial])[0] != example.label
        assert needed <= result.words_changed
        for change in result.changes:
            assert change["substitute"] in synonyms(change["original"])


def test_the_oracle_cases_are_varied():
    needed = [fewest_changes(v, w, s, e.label) for v, e, w, s in map(tiny_problem, range(40))]
    assert {0, 1, 2, 3, 4} <= set(needed)


@pytest.mark.parametrize("seed", range(12))
def test_alzantot_respects_the_word_cap_and_finds_single_flips(seed):
    victim, example, words, synonyms = tiny_problem(seed, n_words=5)
    # 5 words + "." → cap 0.2 * 5 = 1 word
    recipe = Alzantot(AlzantotSettings(lm="", pop_size=20, skip_stopwords=False), AssetConfig(), synonyms=synonyms)
    result = recipe.attack(victim, example, 0)
    assert result.words_changed <= 1
    assert (result.status == "success") == brute_force(victim, words, synonyms, example.label, 1)


def test_fitness_margin_is_the_paper_fitness_for_two_classes():
    p = np.array([[0.3, 0.7], [0.6, 0.4]])
    assert np.allclose(margin(p, 1), 2 * p[:, 1] - 1)
    q = np.array([0.5, 0.2, 0.3])
    assert margin(q, 0) == pytest.approx(0.2) and margin(q, 2) == pytest.approx(-0.2)


def test_same_seed_same_result_and_batched_equals_sequential():
    problems = [tiny_problem(s, n_words=6) for s in range(6)]
    syn = CounterFitted({k: v for _, _, _, s in problems for k, v in s.neighbours.items()})
    weights = problems[0][0].weights
    make = lambda: LexiconVictim({k: list(v) for k, v in weights.items()}, [0.0, 0.0])  # noqa: E731
    recipe = GeneticNoLM(GeneticNoLMSettings(pop_size=12, generations=5, seed=3), AssetConfig(), synonyms=syn)
    examples = [p[1] for p in problems]
    one = [recipe.attack(make(), ex, 0) for ex in examples]
    two = [recipe.attack(make(), ex, 0) for ex in examples]
    many = attack_many(recipe, make(), examples, 0, width=4)
    key = lambda r: (r.status, r.adversarial, r.final_pred)  # noqa: E731
    assert [key(r) for r in one] == [key(r) for r in two] == [key(r) for r in many]


def test_query_budget_bounds_model_calls():
    victim, example, words, synonyms = tiny_problem(5, n_words=6, n_subs=5)
    # make the attack impossible so the search runs until the budget stops it
    unattackable = CounterFitted({w: [w.upper() + "x"] for w in words})
    recipe = GeneticNoLM(GeneticNoLMSettings(pop_size=30, generations=40, query_budget=10), AssetConfig(),
                         synonyms=unattackable)
    victim.weights.update({w.lower() + "x": victim.weights[w] for w in words})
    result = recipe.attack(victim, example, 0)
    assert result.status == "failed" and result.forwards <= 10


def test_settings_are_validated():
    with pytest.raises(ConfigError):
        apply_overrides(GeneticSettings(), {"mutation": "random"}, "attack 'genetic'")
    with pytest.raises(ConfigError):
        apply_overrides(GeneticSettings(), {"max_perturbed": 1.5}, "attack 'genetic'")
    assert apply_overrides(GeneticSettings(), {"lm": ""}, "attack 'genetic'").lm == ""


def test_pairs_change_only_the_hypothesis():
    victim, example, words, synonyms = tiny_problem(2)
    victim.field = 1
    pair = Example("p", "a premise that stays as it is .", example.label, example.text)
    recipe = GeneticNoLM(GeneticNoLMSettings(pop_size=20, generations=10), AssetConfig(), synonyms=synonyms)
    result = recipe.attack(victim, pair, 1)
    assert result.status == "success" and result.adversarial[0] == pair.text
    assert result.adversarial[1] != pair.text_pair
