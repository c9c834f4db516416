"""The ASCC adversary: word/sub-token alignment, the simplex, vertices = texts, and the ``ascc`` attack."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.data import Example
from bench.core import ascc


@pytest.fixture(scope="module")
def synonyms(assets):
    from bench.core.synonyms import counterfitted

    return counterfitted(assets)


@pytest.fixture(scope="module")
def model_and_tokenizer(minilm_dir):
    from bench.core.classifier import load_pretrained

    model, tok = load_pretrained(minilm_dir, 2, "mean", 0)
    return model.eval(), tok


def test_alignment_perturbs_exactly_the_single_token_words(model_and_tokenizer, synonyms):
    model, tok = model_and_tokenizer
    text = "The movie was terrible, and the acting dreadful; don't watch it."
    aligner = ascc.Aligner(tok, synonyms, field=0, max_length=64)
    al = aligner.align([Example("a", text, 0)])
    words = al.words[0]
    vocab = tok.get_vocab()
    perturbed = {words.word(w): cands for w, cands in al.substitutes[0].values()}
    for i in range(len(words)):
        word = words.word(i)
        single = [n for n in synonyms(word) if n in vocab]
        expected = word.lower() in vocab and bool(single)
        assert (word in perturbed) == expected, word
        if expected:
            assert perturbed[word] == single[:8]
    assert "terrible" in perturbed and "don't" not in perturbed  # "don't" is three WordPiece tokens
    # every candidate slot holds the id of its word's single token; slot 0 is the text's own token
    ids = al.encoding["input_ids"][0]
    assert torch.equal(al.candidates[0, :, 0], ids)
    for pos, (w, cands) in al.substitutes[0].items():
        assert tok.convert_ids_to_tokens(al.candidates[0, pos, 1:1 + len(cands)].tolist()) == cands
        assert int(al.mask[0, pos].sum()) == 1 + len(cands)
    assert int(al.mask[0].sum()) == ids.numel() + sum(len(c) for _, c in al.substitutes[0].values())
    stats = al.stats()
    assert stats["perturbable_share"] == pytest.approx(len(perturbed) / len(words))
    assert 0 < stats["perturbable_share"] <= stats["perturbable_of_substitutable"] <= 1


def test_alignment_touches_only_the_attacked_field_and_visible_words(model_and_tokenizer, synonyms):
    _, tok = model_and_tokenizer
    ex = Example("p", "A terrible man walks a big dog.", 0, text_pair="A terrible man walks.")
    al = ascc.Aligner(tok, synonyms, field=1, max_length=64).align([ex])
    seq = al.encoding["token_type_ids"][0]
    assert al.substitutes[0] and all(int(seq[pos]) == 1 for pos in al.substitutes[0])
    long = Example("l", " ".join(["terrible"] * 40), 0)
    cut = ascc.Aligner(tok, synonyms, field=0, max_length=12).align([long])
    assert cut.n_words[0] == 10 and cut.n_perturbable[0] == 10  # 12 tokens minus [CLS]/[SEP]


def test_one_hot_weights_reproduce_the_clean_forward(model_and_tokenizer, synonyms, sst2_task):
    model, tok = model_and_tokenizer
    al = ascc.Aligner(tok, synonyms, 0, 64).align(sst2_task.train[:6])
    one_hot = torch.zeros(al.candidates.shape)
    one_hot[..., 0] = 1.0
    with torch.no_grad():
        clean = model(**al.encoding).logits
        hull = ascc.forward_hull(model, al, one_hot).logits
    torch.testing.assert_close(hull, clean, rtol=0, atol=1e-6)


def test_search_stays_on_the_simplex_and_leaves_the_model_alone(model_and_tokenizer, synonyms, sst2_task):
    model, tok = model_and_tokenizer
    al = ascc.Aligner(tok, synonyms, 0, 64).align(sst2_task.train[:6])
    model.train()
    with torch.no_grad():
        model.eval()
        clean = model(**al.encoding).logits
        model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = ascc.search(model, al, ascc.kl_objective(clean), ascc.ASCCSettings(steps=3), keep_history=True)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # only the weights got gradients
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    for w in [result.weights, *result.history]:
        assert (w >= 0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:2]), rtol=0, atol=1e-6)
        assert (w[~al.mask] == 0).all()
        fixed = al.mask.sum(-1) == 1  # positions without candidates keep their token with weight 1
        assert (w[..., 0][fixed] == 1).all()
    assert len(result.history) == 3
    perturbable = al.mask.sum(-1) > 1
    assert (result.weights[..., 0][perturbable] < 1).any()  # the search moved somewhere


def test_entropy_and_simplex_against_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4))
    mask = rng.random((2, 3, 4)) < 0.6
    mask[..., 0] = True
    w = ascc.simplex(torch.tensor(logits), torch.tensor(mask)).numpy()
    for idx in np.ndindex(2, 3):
        z = np.where(mask[idx], np.exp(logits[idx]), 0.0)
        np.testing.assert_allclose(w[idx], z / z.sum(), rtol=1e-12)
    h = ascc.entropy(torch.tensor(w), torch.tensor(mask)).numpy()
    expected = -np.where(mask, w * np.log(np.where(w > 0, w, 1)), 0).sum(-1)
    np.testing.assert_allclose(h, expected, rtol=1e-12)


def test_choose_keeps_the_loss_from_going_down():
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.45, 0.55], [0.9, 0.1]])
    assert ascc.choose(probs, 0, clean_ce=-np.log(0.8)) == 1  # misclassified, highest loss
    assert ascc.choose(probs[[0, 3]], 0, clean_ce=-np.log(0.8)) == 0  # only proposal above the clean loss
    assert ascc.choose(probs[[3]], 0, clean_ce=-np.log(0.8)) is None
    three = np.array([[0.40, 0.59, 0.01], [0.30, 0.36, 0.34]])
    assert ascc.choose(three, 0, clean_ce=-np.log(0.34)) == 1  # the misclassified proposal under the clean loss is not taken


def test_vertices_are_texts(victim, synonyms, sst2_task):
    """A proposal's text tokenises to the hull vertex's tokens and gives the victim the vertex's logits."""
    from bench.core.text import with_field

    aligner = ascc.Aligner(victim.tokenizer, synonyms, 0, victim.max_length)
    examples = sst2_task.test[:4]
    props, al = ascc.proposals(victim.model, aligner, examples, ascc.ASCCSettings(steps=3), torch.Generator().manual_seed(0))
    checked = 0
    for b, ex in enumerate(examples):
        n_tokens = int(al.encoding["attention_mask"][b].sum())
        single = ascc.Alignment({k: v[b:b + 1, :n_tokens] for k, v in al.encoding.items()},
                                al.candidates[b:b + 1, :n_tokens], al.mask[b:b + 1, :n_tokens], [], [], [], [], [])
        for subs in props[b]:
            vertex = torch.zeros(single.candidates.shape)
            vertex[..., 0] = 1.0
            for pos, (w, words) in al.substitutes[b].items():
                if w in subs:
                    vertex[0, pos, 0] = 0.0
                    vertex[0, pos, 1 + words.index(subs[w])] = 1.0
            text = with_field(ex.inputs, 0, al.words[b].replace(subs))
            vertex_ids = single.candidates[0].gather(-1, vertex[0].argmax(-1, keepdim=True)).squeeze(-1)
            assert victim.encode([text])["input_ids"][0].tolist() == vertex_ids.tolist()
            with torch.no_grad():
                hull = ascc.forward_hull(victim.model, single, vertex).logits.softmax(-1)[0]
            np.testing.assert_allclose(victim.predict_proba([text])[0], hull.numpy(), atol=1e-5)
            checked += 1
    assert checked > 0


def test_ascc_attack_never_lowers_the_loss_it_maximises(victim, assets, sst2_task):
    from attacks.ascc import ASCC, ASCCSettings

    recipe = ASCC(ASCCSettings(steps=5), assets)
    changed = 0
    for ex in sst2_task.test[:8]:
        result = recipe.attack(victim, ex, 0)
        if result.status == "skipped":
            continue
        y = ex.label
        clean_ce, final_ce = -np.log(result.original_probs[y]), -np.log(result.final_probs[y])
        assert final_ce >= clean_ce - 1e-6, result.reason
        assert "perturbable" in result.reason
        changed += result.words_changed > 0
    assert changed > 0


def test_one_settings_class_for_the_attack_and_the_methods():
    """The ``ascc`` attack's settings are the adversary's own class, and the methods' ``ascc_*`` defaults are its."""
    from attacks.ascc import ASCC
    from methods.adv_base import AdvHparams

    assert ASCC.Settings is ascc.ASCCSettings
    assert ascc.ASCCSettings.from_hparams(AdvHparams()) == ascc.DEFAULT
    tuned = AdvHparams(ascc_steps=3, ascc_lr=0.5, ascc_weight_decay=0.0, ascc_entropy=1.0, ascc_candidates=4)
    assert ascc.ASCCSettings.from_hparams(tuned) == ascc.ASCCSettings(steps=3, lr=0.5, weight_decay=0.0,
                                                                      entropy_weight=1.0, max_candidates=4)


def test_robust_accuracy_is_at_most_clean_accuracy(victim, synonyms, sst2_task):
    from bench.core.train import evaluate_accuracy

    dev = sst2_task.dev[:16]
    aligner = ascc.Aligner(victim.tokenizer, synonyms, 0, victim.max_length)
    robust = ascc.robust_accuracy(victim, dev, aligner, ascc.ASCCSettings(steps=5), seed=0)
    again = ascc.robust_accuracy(victim, dev, aligner, ascc.ASCCSettings(steps=5), seed=0)
    clean = evaluate_accuracy(victim, dev)
    assert robust == again  # seeded
    assert 0 <= robust <= clean
