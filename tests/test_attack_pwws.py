"""PWWS (paper protocol, Ren et al.'s WordNet version and TextAttack's greedy search) against brute-force oracles
and plain re-implementations."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from attacks.pwws import PWWS, PWWSSettings
from attacks.pwws_wordnet import PWWSWordNet, PWWSWordNetSettings
from bench.core.synonyms import CounterFitted
from lexicon_victim import LexiconVictim
from bench.core.assets import AssetConfig
from bench.core.data import Example

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
    engine = PWWSWordNet(PWWSWordNetSettings(search="upfront"), AssetConfig(), synonyms=synonyms)
    for recipe in (paper, engine):
        victim.clear_cache()
        result = recipe.attack(victim, example, 0)
        assert (result.status == "success") == success
        assert {c["index"]: c["substitute"] for c in result.changes} == expected


def test_oracle_cases_include_failures_and_multi_word_flips():
    outcomes = [reference_pwws(v, w, s, e.label) for v, e, w, s in map(tiny_problem, range(30))]
    assert any(not ok for _, ok in outcomes) and any(ok and len(a) >= 2 for a, ok in outcomes)


def test_wordnet_synonyms_are_single_word_lemmas_of_all_synsets():
    from attacks.engine.wordnet import wordnet_reader, wordnet_synonyms

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
    engine = PWWSWordNet(PWWSWordNetSettings(search="upfront"), AssetConfig(), synonyms=synonyms)
    a, b = paper.attack(victim, example, 0), engine.attack(victim, example, 0)
    assert (a.status, a.adversarial, a.changes) == (b.status, b.adversarial, b.changes)
    assert b.forwards < a.forwards  # two saliency queries saved


def reference_greedy_wir(victim, text: str, label: int, synonyms, stop: frozenset[str]):
    """TextAttack's ``GreedyWordSwapWIR(wir_method="weighted-saliency")`` written out literally on a plain word
    list (our departures: words are letter runs, stop-words case-insensitive, substitutes take the word's case).

    Returns the substitutions ``{word index: substitute}``, success, whether some word's best swap was turned
    down on the current text, every text the loop scored, and the saliency texts with their words."""
    spans = [m.span() for m in re.finditer(r"[A-Za-z]+(?:'[A-Za-z]+)*", text)]
    words = [text[a:b] for a, b in spans]

    def build(subs):
        out, last = [], 0
        for i in sorted(subs):
            a, b = spans[i]
            w = subs[i]
            w = w.upper() if len(words[i]) > 1 and words[i].isupper() else (
                w[:1].upper() + w[1:] if words[i][:1].isupper() else w)
            out += [text[last:a], w]
            last = b
        return "".join(out + [text[last:]])

    scored: list[str] = [text]

    def score(texts):  # TextAttack's untargeted goal score: 1 − p(gold)
        scored.extend(texts)
        return 1.0 - victim.predict_proba(texts)[:, label].astype(np.float64)

    # TextAttack's word is a whole hyphenated compound ("year-end"), which has no single-word WordNet synonym
    joined = {i for i, (a, b) in enumerate(spans) if re.search(r"\w-$", text[:a]) or re.match(r"-\w", text[b:])}
    indices = [i for i, w in enumerate(words) if w.lower() not in stop and i not in joined]
    unk = [text[:spans[i][0]] + victim.unk_token + text[spans[i][1]:] for i in indices]
    saliency = score(unk)
    soft = np.exp(saliency - saliency.max()) / np.exp(saliency - saliency.max()).sum()
    delta = np.array([max(score([build({i: s}) for s in synonyms(words[i])]), default=0.0) for i in indices])
    order = [indices[k] for k in np.argsort(-(soft * delta), kind="stable")]
    subs: dict[int, str] = {}
    cur = float(score([text])[0])
    turned_down = False
    for i in order:
        cands = synonyms(words[i])
        if not cands:
            continue
        results = sorted(zip(score([build({**subs, i: s}) for s in cands]), cands), key=lambda r: -r[0])
        if results[0][0] > cur:
            cur, subs[i] = results[0]
            if int(victim.predict_proba([build(subs)])[0].argmax()) != label:
                return subs, True, turned_down, scored, unk, [words[i] for i in indices]
        else:
            turned_down = True
    return subs, False, turned_down, scored, unk, [words[i] for i in indices]


def test_greedy_search_follows_textattacks_loop_on_a_real_model(victim, sst2_task):
    from attacks.engine.wordnet import stopwords

    assets = AssetConfig.from_env()
    greedy = PWWSWordNet(PWWSWordNetSettings(), assets)
    upfront = PWWSWordNet(PWWSWordNetSettings(search="upfront"), assets)
    outcomes = []
    for example in sst2_task.test:
        assert victim.visible_chars(example.text, 0) == len(example.text)  # every word can be attacked
        result = greedy.attack(victim, example, 0)
        if result.status == "skipped":
            continue
        victim.clear_cache()
        subs, success, turned_down, scored, unk, unk_words = reference_greedy_wir(
            victim, example.text, example.label, greedy.synonyms, stopwords(assets))
        assert {c["index"]: c["substitute"] for c in result.changes} == subs
        assert (result.status == "success") == success
        # Queries: the distinct texts the search needs (saliency only for words with substitutes), the clean
        # text, and the final prediction.
        needed = {t for t in scored if victim.unk_token not in t} | {
            t for t, w in zip(unk, unk_words) if greedy.synonyms(w)}
        assert result.queries == len(needed) + 1
        differs = any(d for _, _, d in outcomes) or result.changes != upfront.attack(victim, example, 0).changes
        outcomes.append((success, turned_down, differs))
    assert len(outcomes) >= 6
    # The examples exercise both endings and a swap turned down on the current text, and on some of them the
    # up-front search settles on other substitutions (so this test tells the two searches apart).
    assert {s for s, _, _ in outcomes} == {True, False}
    assert any(t for _, t, _ in outcomes) and outcomes[-1][2]


def test_search_setting_is_validated():
    from bench.core.errors import ConfigError

    with pytest.raises(ConfigError):
        PWWSWordNetSettings(search="beam").validate()
    PWWSWordNetSettings(search="upfront").validate()


def test_parts_of_hyphenated_compounds_are_not_attacked():
    from attacks.pwws_wordnet import in_compound
    from bench.core.text import Words

    words = Words.split("His year-end tour - AP - Colin's 1986-born son, well -made")
    flagged = {words.word(i) for i in range(len(words)) if in_compound(words, i)}
    assert flagged == {"year", "end", "born"}


def test_greedy_search_batched_across_examples_matches_one_by_one():
    from attacks.engine.search import attack_many

    rng = np.random.default_rng(0)
    weights = {w: [0.0, float(rng.normal(0.2, 1.0))] for w in VOCAB}
    neighbours = CounterFitted({w: list(rng.choice(VOCAB[10:], size=3, replace=False)) for w in VOCAB[:10]})
    weights["zu"] = [0.0, 10.0]  # no substitutes: texts with it hold their class harder
    v = LexiconVictim(weights, [0.0, 0.0])
    texts = [" ".join(rng.choice(VOCAB[:10], size=4, replace=False)) + " zu ." * (k % 2) for k in range(8)]
    examples = [Example(f"u{k}", t, int(v.predict([t])[0])) for k, t in enumerate(texts)]
    recipe = PWWSWordNet(PWWSWordNetSettings(), AssetConfig(), synonyms=neighbours)
    single = [recipe.attack(v, ex, 0) for ex in examples]
    batched = attack_many(recipe, v, examples, 0, width=4)
    assert [{**a.to_json(), "seconds": 0} for a in single] == [{**b.to_json(), "seconds": 0} for b in batched]
    assert {r.status for r in single} == {"success", "failed"}
