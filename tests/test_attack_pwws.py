"""PWWS (paper protocol and Ren et al.'s WordNet version) against brute-force oracles and NumPy references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from attacks.pwws import PWWS, PWWSSettings
from attacks.pwws_wordnet import PWWSWordNet, PWWSWordNetSettings
from attacks.synonyms import CounterFitted
from attacks.toy import LexiconVictim
from bench.assets import AssetConfig
from bench.data import Example

VOCAB = ["".join(p) for p in itertools.product("bcdfghkm", "aeiou")][:40]


def tiny_problem(seed: int, n_words: int = 4):
    """An additive 2-class victim where every word has at least one neighbour that lowers p(gold)."""
    rng = np.random.default_rng(seed)
    words = list(rng.choice(VOCAB[:10], size=n_words, replace=False))
    neighbours = {w: list(rng.choice(VOCAB[10:], size=3, replace=False)) for w in words}
    weights = {w: [0.0, float(rng.normal(0.5, 1.0))] for w in VOCAB[:10]}
    for w in words:
        deltas = rng.normal(-0.4, 0.6, size=3)
        deltas[0] = -abs(deltas[0])  # one neighbour that helps the attacker
        for s, d in zip(neighbours[w], deltas):
            weights[s] = [0.0, weights[w][1] + float(d)]
    victim = LexiconVictim(weights, [0.0, 0.0])
    text = " ".join(words) + " ."
    return victim, Example(f"t{seed}", text, int(victim.predict([text])[0])), words, CounterFitted(neighbours)


def flips(victim, words, label, assignment: dict[int, str]) -> bool:
    new = [assignment.get(i, w) for i, w in enumerate(words)]
    return bool(victim.predict([" ".join(new) + " ."])[0] != label)


def reference_pwws(victim, words, synonyms, label):
    """Ren et al.'s formulas in plain NumPy: the words PWWS changes, in order, and whether it flips."""
    text = lambda ws: " ".join(ws) + " ."  # noqa: E731
    p = lambda ws: float(victim.predict_proba([text(ws)])[0][label])  # noqa: E731
    p0 = p(words)
    saliency = np.array([p0 - p(words[:i] + ["[UNK]"] + words[i + 1:]) for i in range(len(words))])
    soft = np.exp(saliency - saliency.max()) / np.exp(saliency - saliency.max()).sum()
    best = {}
    for i, w in enumerate(words):
        for s in synonyms(w):
            d = p0 - p(words[:i] + [s] + words[i + 1:])
            if i not in best or d > best[i][0]:
                best[i] = (d, s)
    order = sorted(best, key=lambda i: -soft[i] * best[i][0])
    applied: dict[int, str] = {}
    for i in order:
        applied[i] = best[i][1]
        if flips(victim, words, label, applied):
            return applied, True
    return applied, False


@pytest.mark.parametrize("seed", range(30))
def test_pwws_matches_the_reference_and_the_oracle(seed):
    victim, example, words, synonyms = tiny_problem(seed)
    expected, success = reference_pwws(victim, words, synonyms, example.label)
    # Oracle: the victim is additive and every word has a helpful neighbour, so applying every best
    # substitute reaches the lowest p(gold) of all assignments: PWWS flips iff some assignment does.
    exists = any(flips(victim, words, example.label, dict(zip(pos, subs)))
                 for k in range(1, len(words) + 1) for pos in itertools.combinations(range(len(words)), k)
                 for subs in itertools.product(*[synonyms(words[i]) for i in pos]))
    assert success == exists
    paper = PWWS(PWWSSettings(), AssetConfig.from_env())
    paper.synonyms = synonyms
    engine = PWWSWordNet(PWWSWordNetSettings(), AssetConfig(), synonyms=synonyms)
    for recipe in (paper, engine):
        victim.clear_cache()
        result = recipe.attack(victim, example, 0)
        assert (result.status == "success") == success
        assert {c["index"]: c["substitute"] for c in result.changes} == expected


def test_oracle_cases_include_failures_and_multi_word_flips():
    outcomes = [reference_pwws(v, w, s, e.label) for v, e, w, s in map(tiny_problem, range(30))]
    assert any(not ok for _, ok in outcomes) and any(ok and len(a) >= 2 for a, ok in outcomes)


def test_wordnet_synonyms_are_single_word_lemmas_of_all_synsets():
    from attacks.wordnet import wordnet_reader, wordnet_synonyms

    assets = AssetConfig.from_env()
    syn = wordnet_synonyms(assets)
    wn = wordnet_reader(assets)
    for word in ("good", "movies", "terrible", "run"):
        want = {n.lower() for s in wn.synsets(word) for n in s.lemma_names()
                if n.isalpha() and n.lower() != word}
        assert set(syn(word)) == want and len(syn(word)) == len(want)
    assert "goodness" in syn("good") and "trade_good" not in syn("good")
    assert "film" in syn("movies")  # WordNet's morphology maps the plural to its lemma
    assert syn("the") == [] and syn("because") == []  # stop-words are never substituted
    assert syn("xqzv") == []


def test_pwws_wordnet_on_a_real_model(victim, sst2_task):
    recipe = PWWSWordNet(PWWSWordNetSettings(query_budget=200), AssetConfig.from_env())
    attacked = 0
    for example in sst2_task.test:
        result = recipe.attack(victim, example, 0)
        if result.status == "skipped":
            continue
        attacked += 1
        assert result.forwards <= 200
        assert (result.status == "success") == (result.final_pred != example.label)
        for change in result.changes:
            assert change["substitute"] in recipe.synonyms(change["original"])
        assert result.forwards <= result.queries
        if attacked == 2:
            break
    assert attacked == 2


@pytest.mark.parametrize("seed", range(10))
def test_words_without_substitutes_need_no_saliency_query(seed):
    victim, example, words, synonyms = tiny_problem(seed)
    victim.weights["zu"] = np.array([0.0, 0.7])
    text = example.text.replace(" .", " zu zu .")
    example = Example(example.uid, text, int(victim.predict([text])[0]))
    paper = PWWS(PWWSSettings(), AssetConfig.from_env())
    paper.synonyms = synonyms
    engine = PWWSWordNet(PWWSWordNetSettings(), AssetConfig(), synonyms=synonyms)
    a, b = paper.attack(victim, example, 0), engine.attack(victim, example, 0)
    assert (a.status, a.adversarial, a.changes) == (b.status, b.adversarial, b.changes)
    assert b.forwards < a.forwards  # two saliency queries saved
