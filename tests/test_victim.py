import numpy as np
import torch

from bench.core.victim import Victim


def _direct_probs(model, tokenizer, x, max_length=64):
    enc = tokenizer(*((x,) if isinstance(x, str) else x), truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        return torch.softmax(model(**enc).logits, -1)[0].numpy()


def test_batched_dynamic_padding_matches_one_by_one(victim, sst2_task, tiny_model):
    texts = [ex.text for ex in sst2_task.test]
    batched = victim.predict_proba(texts)
    single = np.stack([_direct_probs(tiny_model.model, tiny_model.tokenizer, t) for t in texts])
    assert batched.shape == (len(texts), 2)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(batched.sum(1), 1.0, atol=1e-6)


def test_cache_and_honest_counts(victim, sst2_task):
    texts = [ex.text for ex in sst2_task.test[:5]]
    victim.predict_proba(texts + texts[:2])  # duplicates inside one call run once
    assert (victim.counts.queries, victim.counts.forwards) == (7, 5)
    victim.predict_proba(texts[:3])  # all cached
    assert (victim.counts.queries, victim.counts.forwards) == (10, 5)
    victim.clear_cache()
    victim.predict_proba(texts[:1])
    assert (victim.counts.queries, victim.counts.forwards) == (11, 6)


def test_batches_are_counted(tiny_model, sst2_task):
    v = Victim(tiny_model.model, tiny_model.tokenizer, max_length=64, batch_size=4)
    v.predict_proba([ex.text for ex in sst2_task.test[:10]])
    assert v.counts.batches == 3


def test_pairs_and_empty_input(victim):
    probs = victim.predict_proba([("a man is sleeping .", "a person rests ."), ("a dog runs .", "a cat sleeps .")])
    assert probs.shape == (2, 2)
    assert victim.predict_proba([]).shape == (0, 2)


def test_visible_chars_reflect_truncation(tiny_model):
    v = Victim(tiny_model.model, tiny_model.tokenizer, max_length=8)
    text = "one two three four five six seven eight nine ten"
    limit = v.visible_chars(text, 0)
    assert 0 < limit < len(text) and text[:limit].split() == ["one", "two", "three", "four", "five", "six"]
    assert Victim(tiny_model.model, tiny_model.tokenizer, max_length=64).visible_chars(text, 0) == len(text)
    pair = ("premise words here", "hypothesis one two three four five six")
    assert v.visible_chars(pair, 1) < len(pair[1])
