"""How text becomes model input: the model's own subword tokenizer, or the RIFT paper code's whole words.

The ``tokenizer`` setting (a scale field, part of the model-cache key and of every record) picks one:

* ``subword`` (the default): the model's Hugging Face tokenizer as it is. A word the vocabulary lacks is split into
  pieces, so an attack's substitute can reach the model as pieces no ASCC hull covered.
* ``whole-word``: the paper code's input (``modified_tokenizers.py`` of dongxinshuai/RIFT-NeurIPS2021). Every word
  is one token: for a WordPiece vocabulary (BERT) its own id when the vocabulary has it, otherwise the unknown
  token; for a BPE vocabulary (RoBERTa) its first BPE piece. Text is lower-cased where the model's tokenizer
  lower-cases. Every substitution an attack makes is then, at the model's input, a vertex of the ASCC hull of its
  position: an out-of-vocabulary neighbour is the unknown token, which the hull holds too.

Words (:class:`WholeWordTokenizer`): for a WordPiece model, the tokens of NLTK's word tokenizer (which the paper
code runs before splitting on whitespace), re-stated as rules that keep every word an attack can substitute in one
token (:data:`WORDPIECE_WORDS`); for a BPE model, GPT-2's pre-tokens, as the paper code's RoBERTa tokenizer makes
them (:data:`BPE_WORDS`). The model's special tokens written out (``[UNK]``) are one word. ``docs/methods.md``
lists where the words differ from NLTK's and how often. Each word an attack can substitute is one token, which is
what makes the hull cover every substitution (``tests/test_tokenization.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import regex
from transformers import BatchEncoding

from bench.core.config import TOKENIZERS
from bench.core.errors import ConfigError

_L = r"[^\W\d_]"  # a letter (any script)
#: the English clitics NLTK's word tokenizer splits off ("he's" → "he" "'s"; "don't" → "do" "n't")
_CLITIC = r"(?:[sSmMdD]|ll|LL|re|RE|ve|VE)"
_WORD = rf"{_L}+(?:'(?!{_CLITIC}(?!{_L})){_L}+)*"  # letters with inner apostrophes that do not start a clitic
#: a WordPiece model's words, as NLTK's word tokenizer (the paper code's) splits them, where that keeps every word an
#: attack can substitute inside one token: the part of a word before "n't"; "n't"; a clitic ("'s", "'re"); an
#: apostrophe not preceded by a letter with the letters after it (a quoted "'the", which NLTK splits in two); words
#: and numbers joined by hyphens ("well-acted", "3.5-star"), a word with inner apostrophes that do not start a clitic
#: ("o'clock"), a number with its decimals and a letter suffix ("1990s"); "...", "--" and the PTB quotes "``" and
#: "''"; any other non-space character on its own
_NUMBER = rf"[0-9]+(?:[.,][0-9]+)*{_L}*"  # "3.5", "1,000", "1990s"
WORDPIECE_WORDS = (rf"{_L}+?(?=[nN]'[tT](?!{_L}))", rf"[nN]'[tT](?!{_L})", rf"'{_CLITIC}(?!{_L})",
                   rf"(?<!{_L})'{_L}+", rf"(?:{_WORD}|{_NUMBER})(?:-(?:{_WORD}|{_NUMBER}))*",
                   r"\.{2,}|-{2,}|``|''", r"\S")
#: NLTK writes a double quote as "``" where it opens (at the start or after a space or an opening bracket), else "''"
_OPENING = " \t\n([{<"

#: a BPE model's words: GPT-2's pre-tokenisation, which the paper code's RoBERTa tokenizer applies (``self.pat``)
BPE_WORDS = (r"'s|'t|'re|'ve|'m|'ll|'d", r" ?\p{L}+", r" ?\p{N}+", r" ?[^\s\p{L}\p{N}]+")


def input_tokenizer(base: Any, mode: str) -> Any:
    """The tokenizer a model is fed with under the ``tokenizer`` setting ``mode``."""
    if mode == "subword":
        return base
    if mode == "whole-word":
        return WholeWordTokenizer(base)
    raise ConfigError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {mode!r}")


@dataclass(frozen=True)
class _Slot:
    """One slot of the model's template: a special token id, or (``sequence`` 0/1) the words of a text."""

    sequence: int | None
    token_id: int | None
    type_id: int


def _template(base: Any, pair: bool) -> list[_Slot]:
    """The model's special-token template, read off its own encoding of a one-word text (pair)."""
    enc = base("a", "b") if pair else base("a")
    types = enc.get("token_type_ids") or [0] * len(enc["input_ids"])
    slots: list[_Slot] = []
    for pos, seq in enumerate(enc.sequence_ids()):
        if seq is None:
            slots.append(_Slot(None, enc["input_ids"][pos], types[pos]))
        elif not slots or slots[-1].sequence != seq:
            slots.append(_Slot(seq, None, types[pos]))
    return slots


def _lowercases(base: Any) -> bool:
    normalizer = base.backend_tokenizer.normalizer
    return normalizer is not None and normalizer.normalize_str("A") == "a"


class WholeWordTokenizer:
    """One token per word (the paper code's ``ModifiedBertTokenizer`` / ``ModifiedRobertaTokenizer``), with the
    calling convention of a Hugging Face fast tokenizer as far as the suite uses it: texts or text pairs, single or
    batched; ``truncation`` (longest text first), ``max_length``, ``padding`` (to the longest), ``return_tensors``,
    ``return_offsets_mapping``, ``add_special_tokens``; ``sequence_ids`` on the result."""

    is_fast = True  # it gives character offsets, which ASCC's word alignment needs

    def __init__(self, base: Any) -> None:
        if not getattr(base, "is_fast", False):
            raise ConfigError("tokenizer=whole-word needs the model's fast (Rust) tokenizer, and this model has none")
        self.base = base
        kind = type(base.backend_tokenizer.model).__name__
        #: "wordpiece": a word is its vocabulary entry or the unknown token; "first-piece": its first BPE piece
        self.kind = "wordpiece" if kind in ("WordPiece", "WordLevel") else "first-piece"
        self.lower = _lowercases(base)
        #: the paper code's RoBERTa tokenizer adds a space before the text, so its first word is spaced like the rest
        self.add_prefix_space = self.kind == "first-piece"
        self.vocab: dict[str, int] = base.get_vocab()
        self.unk_token = base.unk_token
        self.unk_token_id = base.unk_token_id
        self.pad_token_id = base.pad_token_id if base.pad_token_id is not None else 0
        self.padding_side = getattr(base, "padding_side", "right")
        self.model_input_names = list(base.model_input_names)
        specials = sorted((t for t in base.all_special_tokens if t), key=len, reverse=True)
        self._specials = {t: base.convert_tokens_to_ids(t) for t in specials}
        rules = WORDPIECE_WORDS if self.kind == "wordpiece" else BPE_WORDS
        self._pattern = regex.compile("|".join(f"(?:{r})" for r in [*map(regex.escape, specials), *rules]))
        self._templates = {False: _template(base, False), True: _template(base, True)}
        self._ids: dict[tuple[str, bool], int] = {}
        if self.kind == "wordpiece" and self.unk_token_id is None:
            raise ConfigError("tokenizer=whole-word: the model's vocabulary has no unknown token for words it lacks")

    def __repr__(self) -> str:
        return f"WholeWordTokenizer({type(self.base).__name__}, {self.kind}, lower={self.lower})"

    # ------------------------------------------------------------------ words → ids

    def word_spans(self, text: str) -> list[tuple[int, int]]:
        """The character spans of the words of ``text``, in order (a BPE pre-token's leading space left out)."""
        spans = []
        for m in self._pattern.finditer(text):
            start, end = m.span()
            if text[start] == " " and end - start > 1:
                start += 1
            spans.append((start, end))
        return spans

    def word_id(self, word: str, spaced: bool = True) -> int:
        """The one id of ``word`` (``spaced``: preceded by whitespace, which a BPE vocabulary distinguishes)."""
        key = (word, spaced)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = self._lookup(word, spaced)
        return found

    def _lookup(self, word: str, spaced: bool) -> int:
        if word in self._specials:
            return self._specials[word]
        form = word.lower() if self.lower else word
        if self.kind == "wordpiece":
            return self.vocab.get(form, self.unk_token_id)
        ids = self.base.backend_tokenizer.encode((" " + form) if spaced else form, add_special_tokens=False).ids
        return ids[0] if ids else self.unk_token_id

    def encode_words(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """The ids of ``text``'s words and their character spans."""
        spans = self.word_spans(text)
        ids = [self.word_id(self._form(text, s, e), s == 0 and self.add_prefix_space or s > 0 and text[s - 1].isspace())
               for s, e in spans]
        return ids, spans

    def _form(self, text: str, start: int, end: int) -> str:
        """The word at ``text[start:end]`` as the paper code's NLTK step writes it (a double quote as a PTB quote)."""
        word = text[start:end]
        if word == '"' and self.kind == "wordpiece":
            return "``" if start == 0 or text[start - 1] in _OPENING else "''"
        return word

    # ------------------------------------------------------------------ the Hugging Face calling convention

    def __call__(self, text: str | Sequence[str], text_pair: str | Sequence[str] | None = None, *,
                 truncation: bool = False, max_length: int | None = None, padding: bool = False,
                 return_tensors: str | None = None, return_offsets_mapping: bool = False,
                 add_special_tokens: bool = True, **unused: Any) -> BatchEncoding:
        if unused:
            raise TypeError(f"WholeWordTokenizer does not take {', '.join(sorted(unused))}")
        batched = not isinstance(text, str)
        firsts = list(text) if batched else [text]
        seconds = (list(text_pair) if batched else [text_pair]) if text_pair is not None else None
        if seconds is not None and len(seconds) != len(firsts):
            raise ValueError("text and text_pair must have the same length")
        rows = [self._encode_one(firsts[i], seconds[i] if seconds is not None else None,
                                 max_length if truncation else None, add_special_tokens) for i in range(len(firsts))]
        if padding and rows:
            width = max(len(r["input_ids"]) for r in rows)
            for r in rows:
                self._pad(r, width)
        keys = ["input_ids"] + (["token_type_ids"] if "token_type_ids" in self.model_input_names else []) \
            + ["attention_mask"] + (["offset_mapping"] if return_offsets_mapping else [])
        data = {k: [r[k] for r in rows] if batched else rows[0][k] for k in keys}
        sequence_ids = [r["sequence_ids"] for r in rows]
        return WholeWordEncoding(data, sequence_ids, return_tensors)

    def _encode_one(self, first: str, second: str | None, max_length: int | None,
                    add_special_tokens: bool) -> dict[str, list]:
        texts = [self.encode_words(first)] + ([self.encode_words(second)] if second is not None else [])
        pieces = [[list(ids), list(spans)] for ids, spans in texts]
        template = self._templates[second is not None] if add_special_tokens else \
            [_Slot(i, None, 0) for i in range(len(pieces))]
        if max_length is not None:
            room = max_length - sum(1 for slot in template if slot.sequence is None)
            while sum(len(p[0]) for p in pieces) > max(room, 0):
                # the longer text loses its last word; a tie takes it from the first (as Hugging Face's longest_first)
                longest = max(range(len(pieces)), key=lambda i: (len(pieces[i][0]), -i))
                pieces[longest][0].pop()
                pieces[longest][1].pop()
        out: dict[str, list] = {"input_ids": [], "token_type_ids": [], "attention_mask": [], "offset_mapping": [],
                                "sequence_ids": []}
        for slot in template:
            if slot.sequence is None:
                ids, spans, seq = [slot.token_id], [(0, 0)], [None]
            else:
                ids, spans = pieces[slot.sequence]
                seq = [slot.sequence] * len(ids)
            out["input_ids"] += ids
            out["offset_mapping"] += [tuple(s) for s in spans]
            out["token_type_ids"] += [slot.type_id] * len(ids)
            out["attention_mask"] += [1] * len(ids)
            out["sequence_ids"] += seq
        return out

    def _pad(self, row: dict[str, list], width: int) -> None:
        n = width - len(row["input_ids"])
        if n <= 0:
            return
        fill = {"input_ids": self.pad_token_id, "token_type_ids": 0, "attention_mask": 0, "offset_mapping": (0, 0),
                "sequence_ids": None}
        for key, value in fill.items():
            pad = [value] * n
            row[key] = pad + row[key] if self.padding_side == "left" else row[key] + pad


class WholeWordEncoding(BatchEncoding):
    """A :class:`~transformers.BatchEncoding` that knows which text each token came from (``sequence_ids``)."""

    def __init__(self, data: dict[str, Any], sequence_ids: list[list[int | None]], tensor_type: str | None) -> None:
        super().__init__(data, tensor_type=tensor_type)
        self._sequence_ids = sequence_ids

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        return list(self._sequence_ids[batch_index])
