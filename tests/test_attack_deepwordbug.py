"""DeepWordBug: each character edit, the Levenshtein budget, the word scores, and the recipe's limits."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from bench.core.attack import AttackContext
from attacks.engine.charedits import EDITS, delete, insert, levenshtein, substitute, swap
from attacks.deepwordbug import DeepWordBug, DeepWordBugSettings, word_scores
from attacks.engine.search import Limits, drive
from bench.core.text import Words
from lexicon_victim import LexiconVictim
from bench.core.assets import AssetConfig
from bench.core.data import Example

WORDS = ["movie", "abc", "ab", "aab", "zz", "Great", "x"]


def reference_levenshtein(a: str, b: str) -> int:
    @functools.lru_cache(maxsize=None)
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_levenshtein_matches_the_recursive_definition():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = "".join(rng.choice(list("abc"), size=int(rng.integers(0, 7))))
        b = "".join(rng.choice(list("abc"), size=int(rng.integers(0, 7))))
        assert levenshtein(a, b) == reference_levenshtein(a, b) == levenshtein(b, a)


def _edits(edit, word: str, editable: bool, seeds: int = 20) -> list[str]:
    """``edit`` of ``word`` under ``seeds`` seeds; None every time when the word is not ``editable``."""
    outs = [edit(word, np.random.default_rng(seed)) for seed in range(seeds)]
    if not editable:
        assert all(out is None for out in outs)
        return []
    return outs


@pytest.mark.parametrize("word", WORDS)
def test_swap_transposes_two_different_neighbours(word):
    editable = len(set(word)) >= 2 and any(word[i] != word[i + 1] for i in range(len(word) - 1))
    for out in _edits(swap, word, editable):
        diff = [i for i in range(len(word)) if word[i] != out[i]]
        assert len(out) == len(word) and len(diff) == 2 and diff[1] == diff[0] + 1
        assert out[diff[0]] == word[diff[1]] and out[diff[1]] == word[diff[0]]
        assert levenshtein(word, out) == 2


@pytest.mark.parametrize("word", WORDS)
def test_substitute_changes_exactly_one_letter(word):
    for out in _edits(substitute, word, len(word) >= 2):
        diff = [i for i in range(len(word)) if word[i] != out[i]]
        assert len(out) == len(word) and len(diff) == 1 and out[diff[0]].islower()
        assert out[diff[0]] != word[diff[0]].lower()
        assert levenshtein(word, out) == 1


@pytest.mark.parametrize("word", WORDS)
def test_delete_removes_one_character(word):
    for out in _edits(delete, word, len(word) >= 2):
        assert len(out) == len(word) - 1
        assert any(word[:i] + word[i + 1:] == out for i in range(len(word)))
        assert levenshtein(word, out) == 1


@pytest.mark.parametrize("word", WORDS)
def test_insert_adds_one_letter_anywhere(word):
    positions = set()
    for out in _edits(insert, word, len(word) >= 2, seeds=60):
        assert len(out) == len(word) + 1 and levenshtein(word, out) == 1
        spots = [i for i in range(len(out)) if out[:i] + out[i + 1:] == word]
        assert spots and out[spots[0]].isalpha()
        positions.update(spots)
    if len(word) >= 2:
        assert 0 in positions or len(word) in positions  # the ends are reachable, not only inner positions


def victim() -> LexiconVictim:
    # "terrible" pulls to class 0, everything else mildly to class 1; misspelled words are unknown (weight 0)
    return LexiconVictim({"great": [0, 1.0], "fun": [0, 0.8], "movie": [0, 0.3], "plot": [0, 0.4],
                          "terrible": [1.0, 0], "the": [0, 0.1], "acting": [0, 0.5]}, [0.0, 0.0])


def context(v, text: str, label: int = 1) -> AttackContext:
    ex = Example("u", text, label)
    return AttackContext(v, ex, 0, Words.split(text), v.predict_proba([text])[0])


@pytest.mark.parametrize("scoring", ["combined", "replace-one", "head", "tail"])
def test_word_scores_follow_the_definitions(scoring):
    v = victim()
    text = "great fun, the plot and acting!"
    ctx = context(v, text)
    w = ctx.words
    positions = list(range(len(w)))
    got = drive(_returning(word_scores(ctx, positions, scoring, 0.5)), v, Limits()).reason
    F = lambda s: float(v.predict_proba([s])[0][1])  # noqa: E731
    prefix = lambda i: text[:w.spans[i][1]] if i >= 0 else ""  # noqa: E731
    suffix = lambda i: text[w.spans[i][0]:] if i < len(w) else ""  # noqa: E731
    head = [F(prefix(i)) - F(prefix(i - 1)) for i in positions]
    tail = [F(suffix(i)) - F(suffix(i + 1)) for i in positions]
    unk = [F(text) - F(w.replace({i: "[UNK]"}, keep_case=False)) for i in positions]
    want = {"combined": np.add(head, 0.5 * np.array(tail)), "head": head, "tail": tail, "replace-one": unk}[scoring]
    assert np.allclose(got, want, atol=1e-6)


def _returning(gen):
    """Wrap a scoring step so ``drive`` returns its value (in ``Outcome.reason``)."""
    from bench.core.attack import Outcome

    value = yield from gen
    return Outcome({}, value)


def recipe(**kw) -> DeepWordBug:
    return DeepWordBug(DeepWordBugSettings(**kw), AssetConfig.from_env())


def test_budget_limits_the_total_edit_distance_and_words_are_edited_once():
    v = LexiconVictim({w: [0, 1.0] for w in "alpha bravo charlie delta echo foxtrot golf hotel".split()}, [2.5, 0.0])
    text = "Alpha bravo charlie delta echo foxtrot golf hotel"
    status = {}
    for budget in (1, 2, 3, 5, 8, 30):
        result = recipe(max_edit_distance=budget, scoring="replace-one").attack(v, Example("u", text, 1), 0)
        status[budget] = result.status
        assert levenshtein(text, result.adversarial) <= budget
        assert sum(levenshtein(c["original"], c["substitute"]) for c in result.changes) <= budget
        indices = [c["index"] for c in result.changes]
        assert len(indices) == len(set(indices))
        # every edit is one of the four, on a single word
        assert all(c["edit"] in EDITS for c in result.changes)
    # six of the eight words must be misspelled (cost 1 or 2 each): a budget of 8 is too small, 30 is enough
    assert status == {1: "failed", 2: "failed", 3: "failed", 5: "failed", 8: "failed", 30: "success"}


def test_stopwords_are_never_edited_and_edits_only_help():
    v = victim()
    text = "The movie was great fun and the plot was not terrible"
    result = recipe().attack(v, Example("u", text, 1), 0)
    assert result.status == "success"
    edited = {c["original"].lower() for c in result.changes}
    assert edited and not edited & {"the", "was", "and", "not"}
    assert result.final_probs[1] < result.original_probs[1]


def test_same_seed_same_edits():
    v = victim()
    text = "great fun and the acting of the movie"
    a = recipe(seed=4).attack(v, Example("u", text, 1), 0)
    b = recipe(seed=4).attack(victim(), Example("u", text, 1), 0)
    assert a.changes and a.adversarial == b.adversarial and a.changes == b.changes


def test_pairs_edit_only_the_attacked_field():
    v = LexiconVictim({"great": [0, 2.0], "fun": [0, 1.0]}, [0.5, 0.0], field=1)
    example = Example("u", "The great fun premise.", 1, "A great fun hypothesis.")
    result = recipe().attack(v, example, 1)
    assert result.adversarial[0] == example.text and result.adversarial[1] != example.text_pair
    assert result.status == "success"
