"""Long texts: attacked through a prefix the model cannot tell apart, with the same result as the whole text."""

from __future__ import annotations

import json
import time

import pytest

from bench.core.crop import crop_for_attack
from bench.core.text import Words
from bench.core.data import Example


@pytest.fixture(scope="module")
def victim64(shared):
    """all-MiniLM-L6-v2 with a fresh (seeded) head under max_length 64: enough to compare two searches."""
    from bench.core.assets import AssetConfig
    from bench.core.classifier import load_pretrained
    from bench.core.models import resolve_model
    from bench.core.victim import Victim

    model_dir = resolve_model("minilm-l6", AssetConfig(shared, offline=True)).value
    model, tokenizer = load_pretrained(model_dir, 2, "mean", 0)
    return Victim(model, tokenizer, max_length=64, batch_size=64)


@pytest.fixture(scope="module")
def review_words(shared) -> list[str]:
    with open(shared / "data" / "imdb" / "test.jsonl", encoding="utf-8") as handle:
        texts = [json.loads(next(handle))["text"] for _ in range(1200)]
    return " ".join(texts).split(" ")


def _example(victim, text: str) -> Example:
    return Example("long:0", text, int(victim.predict_proba([text])[0].argmax()))  # attackable: predicted right


def test_the_prefix_does_not_grow_with_the_text(victim64, review_words):
    crops = [crop_for_attack(Example("u", " ".join(review_words[:n]), 0), 0, victim64.tokenizer, 64)
             for n in (400, 4000, 40000)]
    assert len({c.example.text for c in crops}) == 1  # the same prefix whatever follows it
    for crop, n in zip(crops, (400, 4000, 40000)):
        assert crop.example.text + crop.tail == crop.original.text and crop.n_words >= n * 0.9
    ids = lambda t: victim64.tokenizer(t, truncation=True, max_length=64)["input_ids"]  # noqa: E731
    assert ids(crops[0].example.text) == ids(crops[2].original.text)


def test_short_texts_and_pairs_are_not_cropped(victim64, review_words):
    assert crop_for_attack(Example("u", " ".join(review_words[:40]), 0), 0, victim64.tokenizer, 64) is None
    pair = Example("u", "A premise.", 0, " ".join(review_words[:4000]))
    assert crop_for_attack(pair, 1, victim64.tokenizer, 64) is None


def test_pwws_on_a_long_text_equals_pwws_through_the_prefix(victim64, review_words, assets):
    """The reference is the uncropped search: same outcome, texts, probabilities, counts and word total."""
    from attacks.pwws import PWWS, PWWSSettings

    recipe = PWWS(PWWSSettings(), assets)
    example = _example(victim64, " ".join(review_words[:1500]))
    whole = recipe.attack(victim64, example, 0).to_json()
    crop = crop_for_attack(example, 0, victim64.tokenizer, 64)
    through_prefix = crop.restore(recipe.attack(victim64, crop.example, 0)).to_json()
    for row in (whole, through_prefix):
        row.pop("seconds")
    assert whole["status"] != "skipped" and whole["changes"]
    assert through_prefix == whole


def test_a_million_characters_finish_in_the_runner_path(victim64, review_words, assets):
    from attacks.pwws import PWWS, PWWSSettings
    from bench.run.runner import long_text_crops

    text = " ".join(review_words)
    text = (text * (1 + 1_000_000 // len(text)))[:1_000_000]
    example = _example(victim64, text)
    recipe = PWWS(PWWSSettings(), assets)
    started = time.monotonic()
    crops = long_text_crops(recipe, [example], 0, victim64)
    (result,) = list(recipe.iter_attack(victim64, [crops[example.uid].example], 0))
    result = crops[example.uid].restore(result)
    assert time.monotonic() - started < 120  # (a bound against hanging, not a speed claim)
    assert result.original == text and len(result.adversarial) >= len(text) - 1000
    assert result.n_words == len(Words.split(text))
