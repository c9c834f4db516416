"""AddSent: the label-preservation rules, candidate placement, and the adversarial choice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attacks.addsent import (GENERIC, SUBJECTS, AddSent, AddSentSettings, Distractor, make_distractor,
                             split_sentences, violations)
from bench.core.text import WORD_RE
from lexicon_victim import LexiconVictim
from bench.core.assets import AssetConfig
from bench.core.data import Example


@pytest.fixture(scope="module")
def recipe() -> AddSent:
    return AddSent(AddSentSettings(), AssetConfig.from_env())


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD_RE.findall(text)}


def test_distractor_changes_the_subject_and_flips_sentiment(recipe):
    source = "The film was wonderful and the acting was great."
    d = make_distractor(source, ["stapler", "kettle", "doormat"], recipe.lexicon, antonyms=True)
    assert d is not None
    assert not words(d.text) & {"film", "acting", "wonderful", "great"}
    assert {"horrible", "awful"} <= words(d.text) and {"stapler", "kettle"} <= words(d.text)
    assert d.flipped == 2 and d.replaced == 2
    plain = make_distractor(source, ["stapler", "kettle"], recipe.lexicon, antonyms=False)
    assert {"wonderful", "great"} <= words(plain.text)
    assert violations(source, d, recipe.lexicon, nli=False) == []


def test_pronouns_and_demonstratives_refer_to_the_new_subject(recipe):
    d = make_distractor("I loved this movie and it made me laugh.", ["stapler", "kettle", "doormat", "hinge"],
                        recipe.lexicon, antonyms=True)
    assert d is not None and not words(d.text) & {"i", "this", "movie", "it", "me", "loved"}
    assert "hated" in words(d.text)


def test_free_standing_judgements_are_refused(recipe):
    # "Awful" would be a judgement a reader could apply to the review's own subject (rule 2)
    assert make_distractor("Wonderful, but the plot is thin.", ["stapler", "kettle"], recipe.lexicon, True) is None
    assert make_distractor("Absolutely wonderful!", ["stapler"], recipe.lexicon, True) is None


def test_violations_catch_each_rule(recipe):
    lex = recipe.lexicon
    ok = Distractor("The stapler is awful.", "The film is great.", ("stapler",), 1, 1)
    assert violations("The film is great.", ok, lex, nli=False) == []
    assert violations("My stapler broke.", ok, lex, nli=False)  # subject occurs in the input
    leaky = Distractor("The film is awful.", "The film is great.", ("stapler",), 1, 1)
    assert any("not from the subject list" in v for v in violations("A plot.", leaky, lex, nli=False))
    assert any("pronouns" in v for v in violations("x", Distractor("It is a stapler.", "", ("stapler",), 1, 0),
                                                        lex, nli=False))
    orphan = Distractor("Awful, but the stapler is fine.", "", ("stapler",), 1, 1)
    assert any("clause" in v for v in violations("The film.", orphan, lex, nli=False))
    # NLI: a generic hypothesis could be settled by any distractor; a hypernym of the subject too
    d = Distractor("A toaster is sleeping.", "A man is sleeping.", ("toaster",), 1, 0)
    assert violations(("A man sleeps on a bench.", "A man is sleeping."), d, lex, nli=True) == []
    assert any("generic" in v for v in violations(("A man sleeps.", "Something is sleeping."), d, lex, nli=True))
    assert any("hypernym" in v for v in violations(("A man sleeps.", "An appliance is sleeping."), d, lex,
                                                   nli=True))
    assert "something" in GENERIC


def test_candidates_insert_whole_sentences_at_boundaries(recipe):
    text = "A gorgeous film. The acting is superb! I loved the ending."
    found = recipe.candidates(text, np.random.default_rng(0))
    assert found
    boundaries = {0, len(text)} | {b for _, b in split_sentences(text)}
    for new, position, d in found:
        assert new.replace(d.text, "", 1).split() == text.split()  # the input is intact around the insert
        assert any(abs(position - b) <= 1 for b in boundaries)
        assert violations(text, d, recipe.lexicon, nli=False) == []
        assert set(d.subjects) <= set(SUBJECTS)


def test_nli_distractors_go_into_the_premise_only(recipe):
    premise, hypothesis = "A man in a red shirt plays a guitar on a stage.", "A man is playing a guitar."
    found = recipe.candidates((premise, hypothesis), np.random.default_rng(0))
    assert found
    for new_premise, _, d in found:
        assert new_premise.replace(d.text, "", 1).split() == premise.split()
        assert not words(d.text) & {"man", "guitar", "shirt", "stage"}
    assert recipe.candidates((premise, "Someone is playing music."), np.random.default_rng(0)) == []


def test_the_attack_keeps_the_candidate_that_lowers_the_gold_probability_most(recipe):
    victim = LexiconVictim({"awful": [5.0, 0.0], "horrible": [1.0, 0.0], "great": [0.0, 2.0],
                            "wonderful": [0.0, 1.5], "film": [0.0, 0.5]}, [0.0, 0.0])
    text = "A great film. It is wonderful."
    example = Example("u", text, 1)
    result = recipe.attack(victim, example, 0)
    found = recipe.candidates(text, np.random.default_rng(0))
    best = min(victim.predict_proba([f for f, _, _ in found])[:, 1])
    assert result.final_probs[1] == pytest.approx(best, abs=1e-6)
    assert result.status == "success" and result.changes[0]["inserted"] in result.adversarial
    assert result.words_changed == len(WORD_RE.findall(result.changes[0]["inserted"]))


def test_real_sst2_and_snli_candidates_all_pass_the_rules(recipe, shared):
    with open(shared / "data" / "sst2" / "dev.jsonl") as f:
        sst = [json.loads(line) for _, line in zip(range(40), f)]
    with open(shared / "data" / "snli" / "test.jsonl") as f:
        snli = [json.loads(line) for _, line in zip(range(40), f)]
    made = 0
    for row in sst:
        for _, _, d in recipe.candidates(row["text"], np.random.default_rng(1)):
            made += 1
            assert violations(row["text"], d, recipe.lexicon, nli=False) == []
    for row in snli:
        pair = (row["premise"], row["hypothesis"])
        for _, _, d in recipe.candidates(pair, np.random.default_rng(1)):
            made += 1
            assert violations(pair, d, recipe.lexicon, nli=True) == []
    assert made > 100


def test_pairs_get_the_distractor_in_the_premise(recipe):
    victim = LexiconVictim({"toaster": [0, 0, 0]}, [0.0, 0.0, 0.0], field=0)
    victim.weights.update({s: np.array([0.0, 0.0, 1.0]) for s in SUBJECTS})  # any distractor pushes to class 2
    premise, hypothesis = "A man plays a guitar on a stage.", "A man is playing music."
    victim.bias = np.array([0.0, 0.5, 0.0])
    result = recipe.attack(victim, Example("u", premise, 1, hypothesis), 1)
    assert result.adversarial[1] == hypothesis and result.adversarial[0] != premise
    assert result.changes[0]["field"] == "premise" and result.changes[0]["inserted"] in result.adversarial[0]
    assert result.status == "success"


def test_an_example_without_an_admissible_distractor_is_unattackable(recipe):
    """No distractor passes the NLI guard for this hypothesis: the example is not attacked (its own status), counts
    as robust in the paper's metric and is left out of the accuracy over attackable examples."""
    from bench.core.metrics import attack_metrics
    from bench.core.record import ExampleLine

    victim = LexiconVictim({"guitar": [0.0, 0.0, 1.0]}, [0.0, 0.0, 0.0], field=0)  # class 2 from the premise
    premise, hypothesis = "A man in a red shirt plays a guitar on a stage.", "Someone is playing music."
    result = recipe.attack(victim, Example("u", premise, 2, hypothesis), 1)
    assert result.status == "unattackable" and result.reason == "no admissible distractor"
    assert result.adversarial == [premise, hypothesis] and result.words_changed == 0
    flipped = ExampleLine.from_json({**result.to_json(), "uid": "v", "status": "success"})
    m = attack_metrics([result, flipped])
    assert m.n_unattackable == 1 and m.accuracy_under_attack == 0.5
    assert m.accuracy_under_attack_attackable == 0.0
