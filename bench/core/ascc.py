"""ASCC: the adversary in the convex hull of each word's synonym embeddings (Dong et al., ICLR 2021).

For every perturbable position i the input embedding is replaced by a point of the convex hull of its
candidates (the word itself in slot 0, then up to 8 counter-fitted neighbours)::

    ẽᵢ = Σₖ wᵢₖ · E(cᵢₖ),   wᵢ = softmax(ŵᵢ) over the valid candidates,

where E is the model's word-embedding table (position and segment embeddings and the embedding
LayerNorm are then applied by the encoder as usual). Positions without candidates have slot 0 only,
so their weight is exactly 1 on the original token. The logits ŵ start from a small random normal and
take ``steps`` Adam steps (lr 1.0, weight decay 2e-5) maximising

    objective(f(ẽ)) − c · Σᵢ H(wᵢ) / 38400,

with objective = KL(p(x) ‖ p(x̃)) in training and CE(f(x̃), y) in the ``ascc`` evaluation attack; the
entropy term (c = 15) pushes the weights towards vertices of the hull, i.e. towards real words. The
38400 (= 300 · 128) normaliser is the paper code's. The model is in eval mode during the search and
only the weights get gradients (``torch.autograd.grad``), so parameter gradients are untouched.

Word/sub-token alignment (explicit, unlike the paper code, which splits on whitespace and maps any
out-of-vocabulary word to [UNK]): a word of the attacked field is perturbable when exactly one token
of the model's tokenisation covers it, with offsets equal to the word's span, and at least one of its
neighbours — cased like the word, and with a leading space where the word has one (byte-level BPE) —
is also a single token. Such a substitution changes exactly that one token, so a vertex of the hull
*is* the embedding of the substituted text, and the evaluation attack's argmax maps back to text
without any re-tokenisation mismatch. The share of words that are perturbable is reported.

Deviations from the paper code, on purpose: the hull is taken over word embeddings rather than over
the output of the whole embedding module (which adds positions and applies LayerNorm per candidate:
the same for the original token, but a hull of normalised vectors instead of the normalisation of a
hull point); the initial logits have std 0.1 instead of a Kaiming init whose scale depends on the
padded length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bench.core.text import Words, get_field, match_case, with_field
from bench.core.classifier import Classifier, ClassifierOutput
from bench.core.data import Example
from bench.core.errors import ConfigError

ENTROPY_NORM = 300 * 128  # the paper code divides the summed entropy by this constant


#: std of the random normal start of the hull-weight logits
INIT_STD = 0.1


@dataclass(frozen=True)
class ASCCSettings:
    """The adversary's search settings (paper: 10 steps, Adam lr 1.0, weight decay 2e-5, entropy weight 15).

    The one settings class of the ASCC adversary: the ``ascc`` attack's ``Settings`` (``attack.steps=…``), and what
    the adversarial methods build from their ``ascc_*`` hyperparameters (:meth:`from_hparams`). ``seed`` seeds the
    attack's random start (a fresh generator per example); a training search draws from the training generator."""

    steps: int = 10
    lr: float = 1.0
    weight_decay: float = 2e-5
    entropy_weight: float = 15.0
    max_candidates: int = 8
    seed: int = 0

    def validate(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.max_candidates < 1 or self.entropy_weight < 0:
            raise ConfigError("attack.steps and attack.max_candidates must be ≥ 1, lr > 0 and entropy_weight ≥ 0")

    @classmethod
    def from_hparams(cls, hparams) -> "ASCCSettings":
        """The settings a method's ``ascc_steps``/``ascc_lr``/``ascc_weight_decay``/``ascc_entropy``/
        ``ascc_candidates`` hyperparameters name (their record names predate this class)."""
        return cls(steps=hparams.ascc_steps, lr=hparams.ascc_lr, weight_decay=hparams.ascc_weight_decay,
                   entropy_weight=hparams.ascc_entropy, max_candidates=hparams.ascc_candidates)


#: the defaults, for the methods' ``ascc_*`` hyperparameter defaults and their dev-selection attack
DEFAULT = ASCCSettings()


@dataclass
class Alignment:
    """A tokenised batch with, for every token position, the candidate token ids of its hull.

    ``candidates[b, l, 0]`` is the token itself; ``mask[b, l, k]`` says which slots are valid.
    ``substitutes[b][l]`` = (word index in the attacked field, candidate words for slots 1..).
    """

    encoding: dict[str, torch.Tensor]
    candidates: torch.Tensor  # (B, L, S) long
    mask: torch.Tensor  # (B, L, S) bool
    words: list[Words]
    substitutes: list[dict[int, tuple[int, list[str]]]]
    n_words: list[int]  # visible words of the attacked field
    n_with_neighbours: list[int]  # ... that have at least one neighbour in the synonym set
    n_perturbable: list[int]  # ... that the alignment can perturb

    def stats(self) -> dict[str, float]:
        words, neigh, pert = sum(self.n_words), sum(self.n_with_neighbours), sum(self.n_perturbable)
        return {
            "perturbable_share": pert / words if words else 0.0,  # of all visible words
            "perturbable_of_substitutable": pert / neigh if neigh else 0.0,  # of words with neighbours
        }

    def to(self, device: torch.device) -> "Alignment":
        self.encoding = {k: v.to(device) for k, v in self.encoding.items()}
        self.candidates, self.mask = self.candidates.to(device), self.mask.to(device)
        return self


class Aligner:
    """Maps the words of the attacked field to single model tokens and their single-token neighbours."""

    def __init__(self, tokenizer, synonyms: Callable[[str], list[str]], field: int, max_length: int,
                 max_candidates: int = 8) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("ASCC's word alignment needs a fast tokenizer (character offsets)")
        self.tokenizer = tokenizer
        self.synonyms = synonyms
        self.field = field
        self.max_length = max_length
        self.max_candidates = max_candidates
        self._token_cache: dict[tuple[str, bool], int | None] = {}
        self._cand_cache: dict[tuple[str, bool], list[tuple[str, int]]] = {}

    def single_token(self, word: str, spaced: bool) -> int | None:
        """The id of ``word`` if it is one token (in its context: after a space or not), else None. A whole-word
        tokenizer (:class:`bench.core.tokenization.WholeWordTokenizer`) has one id for every word, the unknown one
        included."""
        key = (word, spaced)
        if key not in self._token_cache:
            word_id = getattr(self.tokenizer, "word_id", None)
            if word_id is not None:
                self._token_cache[key] = word_id(word, spaced)
            else:
                ids = self.tokenizer((" " + word) if spaced else word, add_special_tokens=False)["input_ids"]
                self._token_cache[key] = ids[0] if len(ids) == 1 else None
        return self._token_cache[key]

    def candidates(self, word: str, spaced: bool) -> list[tuple[str, int]]:
        """(neighbour, token id) for the neighbours of ``word`` that are single tokens, at most ``max_candidates``."""
        key = (word, spaced)
        if key not in self._cand_cache:
            own = self.single_token(word, spaced)
            out: list[tuple[str, int]] = []
            seen = {own}
            for neighbour in self.synonyms(word):
                tid = self.single_token(match_case(word, neighbour), spaced)
                if tid is not None and tid not in seen:
                    seen.add(tid)
                    out.append((neighbour, tid))
                if len(out) == self.max_candidates:
                    break
            self._cand_cache[key] = out
        return self._cand_cache[key]

    def encode(self, examples: Sequence[Example]) -> dict:
        firsts = [ex.text for ex in examples]
        seconds = [ex.text_pair for ex in examples] if examples[0].text_pair is not None else None
        return self.tokenizer(firsts, seconds, truncation=True, max_length=self.max_length, padding=True,
                              return_tensors="pt", return_offsets_mapping=True)

    def align(self, examples: Sequence[Example]) -> Alignment:
        enc = self.encode(examples)
        offsets = enc.pop("offset_mapping").tolist()
        input_ids = enc["input_ids"]
        B, L = input_ids.shape
        rows: list[dict[int, tuple[int, list[tuple[str, int]]]]] = []
        all_words, n_words, n_neigh, n_pert = [], [], [], []
        for b, ex in enumerate(examples):
            text = get_field(ex.inputs, self.field)
            words = Words.split(text)
            owner = np.full(len(text) + 1, -1, dtype=np.int64)
            for i, (s, e) in enumerate(words.spans):
                owner[s:e] = i
            tokens_of: dict[int, list[int]] = {}
            for pos, (seq, (s, e)) in enumerate(zip(enc.sequence_ids(b), offsets[b])):
                if seq != self.field or e <= s:
                    continue
                for w in set(owner[s:e].tolist()) - {-1}:
                    tokens_of.setdefault(w, []).append(pos)
            row: dict[int, tuple[int, list[tuple[str, int]]]] = {}
            neigh = 0
            for w, positions in tokens_of.items():
                word = words.word(w)
                if not self.synonyms(word):
                    continue
                neigh += 1
                if len(positions) != 1 or tuple(offsets[b][positions[0]]) != words.spans[w]:
                    continue
                start = words.spans[w][0]
                # a tokenizer that puts a space before the text spaces its first word like the others
                spaced = text[start - 1].isspace() if start > 0 else bool(getattr(self.tokenizer, "add_prefix_space", False))
                if self.single_token(word, spaced) != int(input_ids[b, positions[0]]):
                    continue  # the tokenizer normalises this word differently in context: leave it alone
                cands = self.candidates(word, spaced)
                if cands:
                    row[positions[0]] = (w, cands)
            rows.append(row)
            all_words.append(words)
            n_words.append(len(tokens_of))
            n_neigh.append(neigh)
            n_pert.append(len(row))
        S = 1 + max((len(c) for row in rows for _, c in row.values()), default=0)
        candidates = input_ids.unsqueeze(-1).repeat(1, 1, S)
        mask = torch.zeros(B, L, S, dtype=torch.bool)
        mask[:, :, 0] = True
        for b, row in enumerate(rows):
            for pos, (_, cands) in row.items():
                ids = [tid for _, tid in cands]
                candidates[b, pos, 1:1 + len(ids)] = torch.tensor(ids)
                mask[b, pos, 1:1 + len(ids)] = True
        substitutes = [{pos: (w, [n for n, _ in cands]) for pos, (w, cands) in row.items()} for row in rows]
        return Alignment(dict(enc), candidates, mask, all_words, substitutes, n_words, n_neigh, n_pert)


_ALIGNERS: dict[tuple, Aligner] = {}


def aligner_for(tokenizer, synonyms, field: int, max_length: int, max_candidates: int = 8) -> Aligner:
    """One aligner (and its word caches) per tokenizer, synonym set, field, length and candidate cap."""
    key = (id(tokenizer), id(synonyms), field, max_length, max_candidates)
    found = _ALIGNERS.get(key)
    if found is None or found.tokenizer is not tokenizer or found.synonyms is not synonyms:
        if len(_ALIGNERS) >= 8:
            _ALIGNERS.clear()
        found = _ALIGNERS[key] = Aligner(tokenizer, synonyms, field, max_length, max_candidates)
    return found


def simplex(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax over the valid candidate slots; invalid slots get exactly 0."""
    return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)


def entropy(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """H(wᵢ) per position, shape (B, L)."""
    logw = torch.log(weights.clamp_min(1e-30))
    return -(torch.where(mask, weights * logw, torch.zeros_like(weights))).sum(-1)


def hull_embeddings(model: Classifier, alignment: Alignment, weights: torch.Tensor) -> torch.Tensor:
    """Σₖ wₖ E(cₖ) per position, through the live embedding table (gradients reach E)."""
    table = model.input_embeddings()(alignment.candidates)  # (B, L, S, H)
    return torch.einsum("bls,blsh->blh", weights.to(table.dtype), table)


def forward_hull(model: Classifier, alignment: Alignment, weights: torch.Tensor) -> ClassifierOutput:
    enc = alignment.encoding
    return model(inputs_embeds=hull_embeddings(model, alignment, weights), attention_mask=enc["attention_mask"],
                 token_type_ids=enc.get("token_type_ids"))


def kl_objective(clean_logits: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Per-example KL(p(x) ‖ p(x̃)) against fixed clean probabilities."""
    logp = F.log_softmax(clean_logits.detach(), -1)

    def objective(adv_logits: torch.Tensor) -> torch.Tensor:
        return (logp.exp() * (logp - F.log_softmax(adv_logits, -1))).sum(-1)

    return objective


def ce_objective(labels: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Per-example cross-entropy CE(f(x̃), y)."""
    return lambda adv_logits: F.cross_entropy(adv_logits, labels, reduction="none")


@dataclass
class SearchResult:
    weights: torch.Tensor  # (B, L, S) on the simplex, detached
    history: list[torch.Tensor] = field(default_factory=list)  # the weights after each step (if kept)


def search(model: Classifier, alignment: Alignment, objective: Callable[[torch.Tensor], torch.Tensor],
           config: ASCCSettings, generator: torch.Generator | None = None, keep_history: bool = False) -> SearchResult:
    """Optimise the hull weights to maximise ``objective`` (summed over the batch) minus the entropy term."""
    was_training = model.training
    model.eval()
    try:
        mask = alignment.mask
        shape = tuple(alignment.candidates.shape)
        logits = (torch.randn(shape, generator=generator) * INIT_STD).to(mask.device)
        logits.requires_grad_(True)
        optimizer = torch.optim.Adam([logits], lr=config.lr, weight_decay=config.weight_decay)
        enc = alignment.encoding
        with torch.no_grad():
            table = model.input_embeddings()(alignment.candidates)
        history: list[torch.Tensor] = []
        for _ in range(config.steps):
            weights = simplex(logits, mask)
            embeds = torch.einsum("bls,blsh->blh", weights.to(table.dtype), table)
            out = model(inputs_embeds=embeds, attention_mask=enc["attention_mask"], token_type_ids=enc.get("token_type_ids"))
            gain = objective(out.logits).sum() - config.entropy_weight / ENTROPY_NORM * entropy(weights, mask).sum()
            (grad,) = torch.autograd.grad(-gain, [logits])
            logits.grad = grad
            optimizer.step()
            if keep_history:
                history.append(simplex(logits.detach(), mask))
        return SearchResult(simplex(logits.detach(), mask), history)
    finally:
        model.train(was_training)


def to_substitutions(alignment: Alignment, weights: torch.Tensor) -> list[dict[int, str]]:
    """The vertex nearest each position's weights (argmax) as word substitutions, per example."""
    best = weights.argmax(-1).cpu()
    out: list[dict[int, str]] = []
    for b, row in enumerate(alignment.substitutes):
        subs: dict[int, str] = {}
        for pos, (w, words) in row.items():
            k = int(best[b, pos])
            if k > 0:
                subs[w] = words[k - 1]
        out.append(subs)
    return out


def proposals(model: Classifier, aligner: Aligner, examples: Sequence[Example], config: ASCCSettings,
              generator: torch.Generator | None = None) -> tuple[list[list[dict[int, str]]], Alignment]:
    """The CE-maximising search on ``examples``; per example the distinct argmax texts of every step."""
    device = next(model.parameters()).device
    alignment = aligner.align(examples).to(device)
    labels = torch.tensor([ex.label for ex in examples], device=device)
    result = search(model, alignment, ce_objective(labels), config, generator, keep_history=True)
    per_example: list[list[dict[int, str]]] = [[] for _ in examples]
    for weights in result.history:
        for b, subs in enumerate(to_substitutions(alignment, weights)):
            if subs and subs not in per_example[b]:
                per_example[b].append(subs)
    return per_example, alignment


def choose(probs: np.ndarray, label: int, clean_ce: float) -> int | None:
    """Index of the proposal to keep: among those whose CE is at least the clean CE, a misclassified one
    if any, then the highest CE. None when no proposal reaches the clean CE (keep the clean text)."""
    ce = -np.log(np.clip(probs[:, label], 1e-30, None))
    wrong = probs.argmax(1) != label
    ok = np.flatnonzero(ce >= clean_ce)
    if not len(ok):
        return None
    return int(max(ok, key=lambda i: (bool(wrong[i]), float(ce[i]), -i)))


def robust_accuracy(victim, examples: Sequence[Example], aligner: Aligner, config: ASCCSettings, seed: int = 0) -> float:
    """Accuracy under the ``ascc`` attack (clean prediction right and the chosen adversarial text too)."""
    if not examples:
        return float("nan")
    generator = torch.Generator().manual_seed(seed)
    clean = victim.predict_proba([ex.inputs for ex in examples])
    correct = 0
    for start in range(0, len(examples), victim.batch_size):
        chunk = examples[start:start + victim.batch_size]
        with victim.autocast():
            props, alignment = proposals(victim.model, aligner, chunk, config, generator)
        for b, ex in enumerate(chunk):
            p0 = clean[start + b]
            if int(p0.argmax()) != ex.label:
                continue
            texts = [with_field(ex.inputs, aligner.field, alignment.words[b].replace(s)) for s in props[b]]
            if not texts:
                correct += 1
                continue
            probs = victim.predict_proba(texts)
            pick = choose(probs, ex.label, float(-np.log(max(p0[ex.label], 1e-30))))
            correct += int(pick is None or int(probs[pick].argmax()) == ex.label)
        victim.clear_cache()
    return correct / len(examples)


def context_synonyms(context):
    """The counter-fitted synonym set of a training run's assets (the environment's when it has none)."""
    from bench.core.assets import AssetConfig
    from bench.core.synonyms import counterfitted

    return counterfitted(context.assets if context.assets is not None else AssetConfig.from_env())


class DevSelection:
    """The adversarial methods' model-selection score: robust dev accuracy under the ``ascc`` attack at its
    default settings (seed 0)."""

    metric = "dev_ascc_robust_accuracy"

    def __init__(self, context, synonyms=None) -> None:
        synonyms = synonyms if synonyms is not None else context_synonyms(context)
        self.aligner = aligner_for(context.tokenizer, synonyms, context.spec.attack_index, context.max_length,
                                   DEFAULT.max_candidates)

    def score(self, victim, dev: Sequence[Example]) -> float:
        return robust_accuracy(victim, dev, self.aligner, DEFAULT, seed=DEFAULT.seed)
