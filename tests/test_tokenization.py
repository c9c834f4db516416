"""The ``whole-word`` tokenizer against the RIFT paper code's behaviour, on hand-made inputs.

The references here re-state the paper code (dongxinshuai/RIFT-NeurIPS2021) directly:

* ``ModifiedBertTokenizer``: the text (already word-tokenised by NLTK) is lower-cased and split on whitespace, and
  each word is its vocabulary id or the unknown id (``_tokenize`` + ``convert_tokens_to_ids``);
* the substitution table (``data.py``): each neighbour goes through the same tokenizer and keeps its first id, so an
  out-of-vocabulary neighbour is the unknown id; the hull of a word is its own id plus those;
* ``ModifiedRobertaTokenizer``: GPT-2's pre-tokenisation of the text with a space added in front, and the first BPE
  piece of every pre-token.
"""

from __future__ import annotations

import pytest

from bench.core.ascc import Aligner
from bench.core.data import Example
from bench.core.synonyms import CounterFitted
from bench.core.tokenization import WholeWordTokenizer, input_tokenizer


@pytest.fixture(scope="module")
def bert(minilm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir))


@pytest.fixture(scope="module")
def whole(bert):
    return WholeWordTokenizer(bert)


def official_bert_ids(bert, pretokenised: str, pair: str | None = None) -> list[int]:
    """``ModifiedBertTokenizer``: lower-case, split on whitespace, vocabulary id or [UNK]; [CLS] … [SEP] (… [SEP])."""
    vocab = bert.get_vocab()

    def ids(text: str) -> list[int]:
        return [vocab.get(w, bert.unk_token_id) for w in text.lower().split()]

    out = [bert.cls_token_id] + ids(pretokenised) + [bert.sep_token_id]
    return out + ids(pair) + [bert.sep_token_id] if pair is not None else out


def official_hull(bert, word: str, neighbours: list[str]) -> set[int]:
    """The paper code's candidates of a word: its own id and the first id of each neighbour (as a set: the
    paper code keeps duplicates, which repeat a vertex and do not change the hull)."""
    vocab = bert.get_vocab()
    return {vocab.get(word.lower(), bert.unk_token_id)} | {vocab.get(n, bert.unk_token_id) for n in neighbours}


def hulls(aligner: Aligner, example: Example) -> dict[str, set[int]]:
    """word → the candidate ids of its position, from the suite's ASCC alignment."""
    alignment = aligner.align([example])
    out = {}
    for pos, (w, _) in alignment.substitutes[0].items():
        ids = alignment.candidates[0, pos][alignment.mask[0, pos]].tolist()
        out[alignment.words[0].word(w)] = set(ids)
    return out


def test_words_are_vocabulary_ids_or_unknown_as_in_the_paper_code(bert, whole):
    # "secretions" and "zorblax" are out of the vocabulary: one [UNK] each, never word pieces
    text = "the film 's secretions were zorblax"
    assert whole(text)["input_ids"] == official_bert_ids(bert, text)
    assert bert.unk_token_id in whole(text)["input_ids"]
    assert len(bert(text)["input_ids"]) > len(whole(text)["input_ids"])  # the subword tokenizer splits them


def test_punctuation_and_case_follow_the_paper_code_on_nltk_tokenised_text(bert, whole):
    raw = "The FILM, too, was GREAT!"
    nltk_style = "The FILM , too , was GREAT !"  # what the paper code's NLTK step makes of the raw text
    assert whole(raw)["input_ids"] == official_bert_ids(bert, nltk_style)
    assert whole(raw)["input_ids"] == whole(nltk_style)["input_ids"]
    spans = whole(raw, return_offsets_mapping=True)["offset_mapping"]
    assert [raw[s:e] for s, e in spans[1:-1]] == ["The", "FILM", ",", "too", ",", "was", "GREAT", "!"]


@pytest.mark.parametrize("raw", [
    "Don't worry, he's fine; they're sure it isn't over.",
    'She said "fine" -- and left...',
    "a well-acted , 3.5-star 1990s film , o'clock",
    "it 's a `` good '' film that does n't wow",
    "Two men in t-shirts play rock'n'roll at 9 pm.",
])
def test_words_are_nltks_words(bert, whole, raw):
    """The paper code's words come from NLTK's word tokenizer: the same ids as NLTK's tokens looked up whole."""
    from nltk.tokenize import NLTKWordTokenizer

    assert whole(raw)["input_ids"] == official_bert_ids(bert, " ".join(NLTKWordTokenizer().tokenize(raw)))


def test_pairs_special_tokens_and_truncation(bert, whole):
    premise, hypothesis = "a man sleeps .", "a dog runs quickly away ."
    assert whole(premise, hypothesis)["input_ids"] == official_bert_ids(bert, premise, hypothesis)
    enc = whole(premise, hypothesis, return_offsets_mapping=True)
    assert enc.sequence_ids() == [None, 0, 0, 0, 0, None, 1, 1, 1, 1, 1, 1, None]
    assert enc["token_type_ids"] == bert(premise, hypothesis)["token_type_ids"]
    # longest first, as the subword tokenizer truncates (here every word is one piece in both)
    for a, b, n in [("a b c d", "e f g h i j", 9), ("a b c", "d e f", 7), ("a", "b c d e f", 5)]:
        assert whole(a, b, truncation=True, max_length=n)["input_ids"] == \
            bert(a, b, truncation=True, max_length=n)["input_ids"]
    batch = whole(["a b", "c"], ["d", "e f g"], padding=True, return_tensors="pt")
    assert batch["input_ids"].shape == (2, 7) and batch["attention_mask"][0].tolist() == [1] * 6 + [0]


def test_the_unknown_token_written_out_is_the_unknown_id(bert, whole):
    # PWWS's saliency replaces a word by the unknown token's text
    assert whole("a [UNK] film")["input_ids"] == [bert.cls_token_id, bert.convert_tokens_to_ids("a"),
                                                   bert.unk_token_id, bert.convert_tokens_to_ids("film"),
                                                   bert.sep_token_id]


def test_hull_of_an_oov_word_and_an_oov_neighbour(bert, whole):
    synonyms = CounterFitted({"film": ["movie", "zorblaxes"], "secretions": ["fluids", "zorblaxes"]})
    aligner = Aligner(whole, synonyms, field=0, max_length=32)
    found = hulls(aligner, Example("x", "the film and its secretions", 1))
    assert found["film"] == official_hull(bert, "film", ["movie", "zorblaxes"])
    assert bert.unk_token_id in found["film"]  # the out-of-vocabulary neighbour is the unknown id
    assert found["secretions"] == official_hull(bert, "secretions", ["fluids", "zorblaxes"])
    assert found["secretions"] == {bert.unk_token_id, bert.convert_tokens_to_ids("fluids")}  # duplicates merged
    # the subword tokenizer's hull covers neither: "secretions" is several pieces, "zorblaxes" too
    sub = hulls(Aligner(bert, synonyms, field=0, max_length=32), Example("x", "the film and its secretions", 1))
    assert "secretions" not in sub and bert.unk_token_id not in sub["film"]


def test_a_word_whose_neighbours_are_all_oov(bert, whole):
    synonyms = CounterFitted({"good": ["zorblax", "qwxyzz"], "zorblax": ["qwxyzz"]})
    aligner = Aligner(whole, synonyms, field=0, max_length=32)
    found = hulls(aligner, Example("x", "a good zorblax", 1))
    assert found == {"good": {bert.convert_tokens_to_ids("good"), bert.unk_token_id}}
    # "zorblax" → "qwxyzz" is [UNK] → [UNK]: nothing to perturb, no hull (the paper code's no-op)


def test_case_and_punctuation_in_the_hull(bert, whole):
    synonyms = CounterFitted({"film": ["movie", "picture"]})
    aligner = Aligner(whole, synonyms, field=0, max_length=32)
    found = hulls(aligner, Example("x", "A FILM, and a Film.", 1))
    assert found == {"FILM": official_hull(bert, "film", ["movie", "picture"]),
                     "Film": official_hull(bert, "film", ["movie", "picture"])}


def test_snli_hull_is_on_the_hypothesis_only(bert, whole):
    synonyms = CounterFitted({"dog": ["puppy", "hound"], "man": ["guy", "fellow"]})
    aligner = Aligner(whole, synonyms, field=1, max_length=32)
    example = Example("x", "a man and a dog", 0, "the dog sleeps")
    alignment = aligner.align([example])
    seq = alignment.encoding["token_type_ids"][0].tolist()
    positions = list(alignment.substitutes[0])
    assert len(positions) == 1 and seq[positions[0]] == 1  # one hull, in the second text
    assert hulls(aligner, example) == {"dog": official_hull(bert, "dog", ["puppy", "hound"])}


@pytest.fixture(scope="module")
def bpe():
    """A tiny byte-level BPE tokenizer in RoBERTa's layout, trained here (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = ["the film was good and the movie was great", "a man sleeps while a dog runs", "films and movies"] * 20
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", cls_token="<s>", sep_token="</s>",
                                   model_input_names=["input_ids", "attention_mask"])


def official_first_pieces(bpe, text: str) -> list[int]:
    """``ModifiedRobertaTokenizer``: a space in front (add_prefix_space=True), GPT-2's pre-tokens, the first BPE piece
    of each; <s> … </s>."""
    from tokenizers import pre_tokenizers

    model = bpe.backend_tokenizer.model
    pieces = pre_tokenizers.ByteLevel(add_prefix_space=True).pre_tokenize_str(text)
    return [bpe.cls_token_id] + [model.tokenize(p)[0].id for p, _ in pieces] + [bpe.sep_token_id]


def test_a_bpe_vocabulary_keeps_each_words_first_piece(bpe):
    whole = WholeWordTokenizer(bpe)
    assert whole.kind == "first-piece" and not whole.lower
    for text in ["the film was unforgettable", "A man sleeps , a dogfight ensues", "zebras"]:
        assert whole(text)["input_ids"] == official_first_pieces(bpe, text)
        assert len(whole(text)["input_ids"]) == len(text.split()) + 2
    synonyms = CounterFitted({"film": ["movie", "cinematography"]})
    found = hulls(Aligner(whole, synonyms, field=0, max_length=32), Example("x", "film and the film", 1))
    first = {w: official_first_pieces(bpe, w)[1] for w in ("film", "movie", "cinematography")}
    assert found == {"film": set(first.values())}


def test_input_tokenizer_modes(bert):
    assert input_tokenizer(bert, "subword") is bert
    assert isinstance(input_tokenizer(bert, "whole-word"), WholeWordTokenizer)
    from bench.core.errors import ConfigError

    with pytest.raises(ConfigError, match="whole-word"):
        input_tokenizer(bert, "wholeword")


# ---------------------------------------------------------------------------------------------- hull coverage


class RecordingVictim:
    """A victim that keeps every input it is asked to score."""

    def __init__(self, victim) -> None:
        self.inner, self.seen = victim, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict_proba(self, inputs):
        self.seen.extend(inputs)
        return self.inner.predict_proba(inputs)


def outside_hull(aligner: Aligner, original: str, texts: list[str], unk: str | None = None) -> list[str]:
    """The texts whose model input leaves the ASCC hull of ``original``: a different length, or a position whose id
    is not among that position's candidates. With ``unk``, PWWS's saliency probes (one word replaced by the unknown
    token's text, the paper's algorithm, not a substitution) are left out."""
    from bench.core.text import Words

    alignment = aligner.align([Example("o", original, 0)])
    ids0 = alignment.encoding["input_ids"][0].tolist()
    allowed = [set(alignment.candidates[0, p][alignment.mask[0, p]].tolist()) for p in range(len(ids0))]
    words = Words.split(original)
    probes = {words.replace({i: unk}, keep_case=False) for i in range(len(words))} if unk else set()
    bad = []
    for text in texts:
        if text in probes:
            continue
        ids = aligner.tokenizer(text)["input_ids"]
        if len(ids) != len(ids0) or any(b not in allowed[p] for p, b in enumerate(ids)):
            bad.append(text)
    return bad


@pytest.fixture(scope="module")
def coverage_setup(minilm_dir, assets, sst2_task):
    from bench.core.classifier import load_pretrained
    from bench.core.synonyms import counterfitted
    from bench.core.victim import Victim

    model, tokenizer = load_pretrained(minilm_dir, 2, "mean", 0, tokenizer="whole-word")
    victim = Victim(model, tokenizer, max_length=64, batch_size=32)
    # every example attacked: its label is the model's clean prediction (the head is untrained)
    texts = [ex.text for ex in sst2_task.test[:6]]
    preds = victim.predict(texts)
    examples = [Example(f"e{i}", t, int(p)) for i, (t, p) in enumerate(zip(texts, preds))]
    return victim, examples, counterfitted(assets)


def _attack_and_check(recipe, victim, examples, synonyms) -> tuple[int, int]:
    aligner = Aligner(victim.tokenizer, synonyms, field=0, max_length=victim.max_length)
    queried, changed = 0, 0
    for ex in examples:
        recording = RecordingVictim(victim)
        result = recipe.attack(recording, ex, 0)
        changed += result.words_changed
        queried += len(recording.seen)
        assert outside_hull(aligner, ex.text, [result.adversarial]) == []
        assert outside_hull(aligner, ex.text, list(recording.seen), victim.unk_token) == []
    return queried, changed


def test_whole_word_pwws_never_leaves_the_hull(coverage_setup, assets):
    from attacks.pwws import PWWS, PWWSSettings

    victim, examples, synonyms = coverage_setup
    queried, changed = _attack_and_check(PWWS(PWWSSettings(), assets), victim, examples, synonyms)
    assert queried > 100 and changed > 0  # the check saw real substitutions


def test_whole_word_genetic_never_leaves_the_hull(coverage_setup, assets):
    from attacks.genetic import Genetic, GeneticSettings

    victim, examples, synonyms = coverage_setup
    recipe = Genetic(GeneticSettings(lm="", pop_size=8, generations=3), assets)
    queried, changed = _attack_and_check(recipe, victim, examples[:4], synonyms)
    assert queried > 20 and changed > 0


def test_the_hull_check_fails_under_subword_input(minilm_dir, assets, sst2_task):
    """The same check on the subword tokenizer finds PWWS queries outside its hull (so the check can fail)."""
    from attacks.pwws import PWWS, PWWSSettings
    from bench.core.classifier import load_pretrained
    from bench.core.synonyms import counterfitted
    from bench.core.victim import Victim

    model, tokenizer = load_pretrained(minilm_dir, 2, "mean", 0)
    victim = Victim(model, tokenizer, max_length=64, batch_size=32)
    synonyms = counterfitted(assets)
    aligner = Aligner(tokenizer, synonyms, field=0, max_length=64)
    outside = 0
    for i, ex in enumerate(sst2_task.test[:6]):
        recording = RecordingVictim(victim)
        PWWS(PWWSSettings(), assets).attack(recording, Example(f"e{i}", ex.text, int(victim.predict([ex.text])[0])), 0)
        outside += len(outside_hull(aligner, ex.text, list(recording.seen), victim.unk_token))
    assert outside > 0


def test_hull_restricted_pwws_stays_in_the_subword_hull(minilm_dir, assets, sst2_task):
    """``attack.substitutions=hull``: only the in-vocabulary → in-vocabulary substitutions of the subword hull."""
    from attacks.pwws import PWWS, PWWSSettings
    from bench.core.classifier import load_pretrained
    from bench.core.synonyms import counterfitted
    from bench.core.victim import Victim

    model, tokenizer = load_pretrained(minilm_dir, 2, "mean", 0)
    victim = Victim(model, tokenizer, max_length=64, batch_size=32)
    synonyms = counterfitted(assets)
    aligner = Aligner(tokenizer, synonyms, field=0, max_length=64)
    queried = 0
    for i, ex in enumerate(sst2_task.test[:6]):
        recording = RecordingVictim(victim)
        example = Example(f"e{i}", ex.text, int(victim.predict([ex.text])[0]))
        PWWS(PWWSSettings(substitutions="hull"), assets).attack(recording, example, 0)
        queried += len(recording.seen)
        assert outside_hull(aligner, ex.text, list(recording.seen), victim.unk_token) == []
    assert queried > 50


def test_the_setting_is_recorded_keyed_apart_and_paper_scale_uses_whole_words():
    from bench.core.config import SCALES, identity_config, training_settings
    from bench.run.grid import Cell, resolve_cell

    base = Cell("sst2", "minilm-l6", "standard", 0, "pwws", "smoke")
    plain = resolve_cell(base)
    spelled = resolve_cell(Cell(*list(vars(base).values())[:6], overrides=(("tokenizer", "subword"),)))
    whole = resolve_cell(Cell(*list(vars(base).values())[:6], overrides=(("tokenizer", "whole-word"),)))
    assert plain.config["scale_settings"]["tokenizer"] == "subword"  # every record writes it
    assert whole.config["scale_settings"]["tokenizer"] == "whole-word"
    # the default is left out of the identities (records from before the setting keep their ids and models) ...
    assert plain.cell_id == spelled.cell_id and "tokenizer" not in identity_config(plain.config)["scale_settings"]
    assert "tokenizer" not in training_settings(plain.scale)
    # ... and whole words are another cell and another model
    assert whole.cell_id != plain.cell_id and whole.train_group != plain.train_group
    assert training_settings(whole.scale)["tokenizer"] == "whole-word"
    assert SCALES["paper"].tokenizer == "whole-word"
    from bench.core.errors import ConfigError

    with pytest.raises(ConfigError, match="tokenizer must be one of subword, whole-word"):
        resolve_cell(Cell(*list(vars(base).values())[:6], overrides=(("tokenizer", "words"),)))
