"""AddSent for classification: insert one distractor sentence about an unrelated subject.

Jia & Liang (2017) add to a paragraph a sentence that resembles the question but does not answer it.
We adapt the idea to our tasks: a distractor is a *mutated copy of a sentence of the input* (for NLI:
of the hypothesis) that keeps its wording but is about a different subject, with its sentiment words
turned into their antonyms; it is inserted at a sentence boundary of the text (for NLI: of the premise)
and, of all candidates (sources × subjects × positions, at most ``max_candidates``), the one that most
lowers the gold-class probability is kept (AddSent's adversarial choice). The label changes only if the
model is fooled.

Why the gold label is preserved — the rules, each enforced by :func:`violations` on every candidate:

1. *New subject.* Every noun, name and unknown word of the source sentence is replaced by an unrelated,
   sentiment-neutral household object (``SUBJECTS``; none of them occurs in the input), and every
   pronoun or demonstrative by "the <object>" (before a noun: "the"), so the distractor cannot refer to
   anything the input talks about. Nouns are found with WordNet (the part of speech with the largest
   SemCor count); words WordNet does not know count as names.
2. *Every clause has the new subject*: a clause (split at , ; : and "but") without a replaced word would
   be a free-standing judgement ("Awful, but …") that a reader could apply to the input's subject; such
   candidates are dropped.
3. *One whole sentence, at a sentence boundary*: the input's own sentences are untouched.
4. *Sentiment (SST-2, MR, IMDB)*: the input's label is the author's opinion of *their* subject; an
   opinion about a toaster, whatever its polarity, does not change it. Antonyms (a small table of review
   adjectives, else WordNet's antonyms) only make the distractor pull towards the wrong class.
5. *NLI (SNLI)*: the distractor is added to the premise only. It is consistent with the premise (it
   speaks of other entities), so entailment and contradiction survive (more premise, same conclusion);
   neutral survives because the distractor shares no noun with the hypothesis and, by rule 6, cannot
   settle a generic hypothesis.
6. *NLI guard*: no distractor is built when the hypothesis contains a generic or quantified word
   (something, someone, nobody, everything, object, …) or a noun that WordNet lists as a hypernym of a
   subject noun ("A device is …" would be entailed by "A toaster is …").

Topic classification (AG News) is not supported: a sentence about a toaster can change a topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bench.core.attack import AttackContext, Outcome
from attacks.engine.search import EngineRecipe, Exhausted, LimitSettings, Search, example_seed
from bench.core.text import WORD_RE, get_field, with_field
from bench.core.registry import ATTACKS

SUBJECTS = ("stapler", "toaster", "thermostat", "umbrella", "lawnmower", "doorknob", "teaspoon", "mailbox",
            "radiator", "wardrobe", "calculator", "screwdriver", "bookshelf", "kettle", "ladder", "faucet",
            "envelope", "suitcase", "stopwatch", "paperclip", "microwave", "hinge", "cushion", "colander",
            "dishrack", "doormat", "birdbath", "clothespin", "flowerpot", "lampshade")

PRONOUNS = {"i", "me", "we", "us", "you", "he", "him", "she", "they", "them", "it", "one", "myself", "yourself",
            "himself", "herself", "itself", "ourselves", "themselves", "yourselves"}
DEMONSTRATIVES = {"this", "that", "these", "those", "her"}  # "the" before a noun, else "the <object>"
DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "my", "your", "his", "her", "its", "our",
               "their", "some", "any", "every", "each"}
POSSESSIVES = {"my", "our", "your", "his", "its", "their", "mine", "ours", "yours", "theirs", "hers"}
GENERIC = {"something", "someone", "somebody", "anything", "anyone", "anybody", "everything", "everyone",
           "everybody", "nothing", "nobody", "none", "no", "all", "every", "each", "thing", "things", "stuff",
           "object", "objects", "item", "items", "entity", "somewhere", "anywhere", "everywhere", "nowhere"}

# Review adjectives and their opposites (both directions); WordNet's antonyms cover the rest.
_PAIRS = [("good", "bad"), ("great", "awful"), ("excellent", "terrible"), ("wonderful", "horrible"),
          ("best", "worst"), ("better", "worse"), ("brilliant", "dreadful"), ("amazing", "atrocious"),
          ("beautiful", "ugly"), ("enjoyable", "unbearable"), ("fun", "tedious"), ("funny", "unfunny"),
          ("interesting", "boring"), ("exciting", "dull"), ("clever", "stupid"), ("charming", "annoying"),
          ("superb", "abysmal"), ("fantastic", "pathetic"), ("entertaining", "tiresome"), ("fresh", "stale"),
          ("smart", "dumb"), ("moving", "lifeless"), ("perfect", "flawed"), ("love", "hate"),
          ("loved", "hated"), ("like", "dislike"), ("liked", "disliked"), ("enjoyed", "endured"),
          ("recommend", "avoid"), ("masterpiece", "disaster"), ("success", "failure"), ("well", "badly"),
          ("gorgeous", "hideous"), ("delightful", "unpleasant"), ("engaging", "tedious"),
          ("memorable", "forgettable"), ("strong", "weak"), ("powerful", "feeble"), ("lively", "lifeless"),
          ("satisfying", "frustrating"), ("pleasant", "unpleasant"), ("happy", "sad"), ("worth", "worthless")]
ANTONYMS = {**{a: b for a, b in _PAIRS}, **{b: a for a, b in _PAIRS}}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?:\s*<br\s*/?>\s*)+")
_CLAUSE = re.compile(r"[,;:()]|\bbut\b", re.IGNORECASE)


@dataclass(frozen=True)
class AddSentSettings(LimitSettings):
    max_candidates: int = 48  # AddSent's query budget: distractor × position candidates scored per example
    subjects_per_source: int = 2  # distractor variants (different objects) per source sentence
    max_sources: int = 8  # source sentences used (those with the most antonym swaps first)
    antonyms: bool = True
    seed: int = 0

    def validate(self) -> None:
        from bench.core.errors import ConfigError

        super().validate()
        if self.max_candidates < 1 or self.subjects_per_source < 1 or self.max_sources < 1:
            raise ConfigError("attack.max_candidates, subjects_per_source and max_sources must be ≥ 1")


class Lexicon:
    """Part-of-speech and antonym look-ups on WordNet, plus the stop-word list."""

    def __init__(self, wordnet, stop: frozenset[str]) -> None:
        self.wn = wordnet
        self.stop = stop

    @lru_cache(maxsize=20000)
    def pos(self, word: str) -> str:
        """'n', 'v', 'a', 'r' by the largest SemCor count over the word's senses; '' if WordNet lacks it."""
        counts: dict[str, float] = {}
        for synset in self.wn.synsets(word):
            p = "a" if synset.pos() == "s" else synset.pos()
            base = self.wn.morphy(word, synset.pos()) or word  # "sleeping" counts as the verb "sleep"
            counts[p] = counts.get(p, 0.0) + 1e-3 + sum(l.count() for l in synset.lemmas()
                                                         if l.name().lower() in (word, base))
        return max(counts, key=lambda p: (counts[p], p == "n")) if counts else ""

    def is_content_noun(self, word: str) -> bool:
        w = word.lower()
        if w in self.stop or w in ANTONYMS or w in PRONOUNS | DEMONSTRATIVES | POSSESSIVES:
            return False
        if "'" in w or len(w) <= 2:  # contractions and clitics ("n't", "'s" split as in SST), "ok", "tv"
            return False
        return self.pos(w) in ("n", "")

    def has_noun_sense(self, word: str) -> bool:
        return bool(self.wn.synsets(word, pos="n"))

    def noun_flags(self, words: list[str]) -> list[bool]:
        """Which words are content nouns: by WordNet's dominant sense, or — for words that also have a noun
        sense and are not adjectives or adverbs — right after a determiner ("the acting", "a run")."""
        flags = []
        for k, word in enumerate(words):
            w = word.lower()
            noun = self.is_content_noun(w)
            if not noun and k and words[k - 1].lower() in DETERMINERS and self.pos(w) == "v" \
                    and self.has_noun_sense(w) and w not in ANTONYMS and "'" not in w:
                noun = True
            flags.append(noun)
        return flags

    @lru_cache(maxsize=20000)
    def antonym(self, word: str) -> str | None:
        if word in ANTONYMS:
            return ANTONYMS[word]
        pos = self.pos(word)
        if pos not in ("a", "r", "v"):
            return None
        for synset in self.wn.synsets(word):
            if ("a" if synset.pos() == "s" else synset.pos()) != pos:
                continue
            for lemma in synset.lemmas():
                if lemma.name().lower() == word:
                    for ant in lemma.antonyms():
                        if ant.name().isalpha():
                            return ant.name().lower()
        return None

    def hypernym_names(self, noun: str) -> set[str]:
        names: set[str] = set()
        for synset in self.wn.synsets(noun, pos="n"):
            for path in synset.hypernym_paths():
                for s in path:
                    names.update(n.lower() for n in s.lemma_names())
        return names - {noun}


@dataclass(frozen=True)
class Distractor:
    text: str
    source: str
    subjects: tuple[str, ...]
    replaced: int  # words replaced for the new subject
    flipped: int  # sentiment words turned into antonyms


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (boundaries: . ! ? followed by space, and <br /> markup)."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text.rstrip()):
        spans.append((start, len(text.rstrip())))
    return spans


def make_distractor(sentence: str, subjects: list[str], lexicon: Lexicon, antonyms: bool) -> Distractor | None:
    """Mutate one sentence (rules 1 and 4 of the module docstring); None when rule 2 cannot be met."""
    tokens = [(m.group(), m.span()) for m in WORD_RE.finditer(sentence)]
    is_noun = lexicon.noun_flags([w for w, _ in tokens])
    out, last, used, replaced, flipped = [], 0, [], 0, 0
    marks: list[bool] = []  # per output word: does it carry the new subject?
    pool = iter(subjects)

    def next_subject() -> str:
        s = next(pool, None) or subjects[len(used) % len(subjects)]
        used.append(s)
        return s

    for k, (word, (start, end)) in enumerate(tokens):
        lower = word.lower()
        follows_noun = k + 1 < len(tokens) and is_noun[k + 1]
        if is_noun[k]:
            new, carries = next_subject(), True
            # A plural noun stays plural enough for the grammar ("the toasters")
            if lower.endswith("s") and not lower.endswith("ss") and lexicon.wn.morphy(lower, "n") not in (None, lower):
                new = plural(new)
            replaced += 1
        elif lower in PRONOUNS or (lower in DEMONSTRATIVES and not follows_noun):
            new, carries = f"the {next_subject()}", True
            replaced += 1
        elif lower in POSSESSIVES or lower in DEMONSTRATIVES:
            new, carries = "the", False
        elif antonyms and lexicon.antonym(lower):
            new, carries = lexicon.antonym(lower), False
            flipped += 1
        else:
            new, carries = lower, False
        out.append(sentence[last:start])
        out.append(new)
        marks.append(carries)
        last = end
    out.append(sentence[last:])
    text = _fix_articles("".join(out).strip())
    if not replaced or not text:
        return None
    for clause in _CLAUSE.split(text):  # rule 2: every clause names the new subject
        if WORD_RE.search(clause) and not any(s in clause.lower() for s in used):
            return None
    text = text[0].upper() + text[1:]
    if text[-1] not in ".!?":
        text += "."
    return Distractor(text, sentence, tuple(dict.fromkeys(used)), replaced, flipped)


def plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def _fix_articles(text: str) -> str:
    def fix(m: re.Match) -> str:
        article, space, word = m.group(1), m.group(2), m.group(3)
        want = "an" if word[0].lower() in "aeiou" else "a"
        return (want.capitalize() if article[0].isupper() else want) + space + word

    return re.sub(r"\b([Aa]n?)(\s+)([A-Za-z])", fix, text)


def violations(inputs, distractor: Distractor, lexicon: Lexicon, nli: bool) -> list[str]:
    """Which label-preservation rules a candidate breaks (empty: none). Used on every candidate and in tests."""
    problems = []
    texts = [inputs] if isinstance(inputs, str) else list(inputs)
    input_words = {w.lower() for t in texts for w in WORD_RE.findall(t)}
    words = [w.lower() for w in WORD_RE.findall(distractor.text)]
    subject_words = set(distractor.subjects) | {plural(s) for s in distractor.subjects}
    # content words that are neither the new subject nor sentiment words (which have antonyms)
    nouns = {w for w, noun in zip(words, lexicon.noun_flags(words)) if noun and lexicon.antonym(w) is None}
    if not distractor.subjects:
        problems.append("no new subject")
    if nouns - subject_words:
        problems.append(f"nouns not from the subject list: {sorted(nouns - subject_words)}")
    if subject_words & input_words:
        problems.append(f"subject occurs in the input: {sorted(subject_words & input_words)}")
    if set(words) & PRONOUNS:
        problems.append(f"pronouns left: {sorted(set(words) & PRONOUNS)}")
    for clause in _CLAUSE.split(distractor.text):
        if WORD_RE.search(clause) and not any(s in clause.lower() for s in distractor.subjects):
            problems.append(f"clause without the new subject: {clause.strip()!r}")
    if nli:
        hypothesis = texts[-1]
        hyp_words = {w.lower() for w in WORD_RE.findall(hypothesis)}
        if hyp_words & GENERIC:
            problems.append(f"generic hypothesis word: {sorted(hyp_words & GENERIC)}")
        hyper = set().union(*(lexicon.hypernym_names(s) for s in distractor.subjects)) if distractor.subjects else set()
        if hyp_words & hyper:
            problems.append(f"hypothesis names a hypernym of the subject: {sorted(hyp_words & hyper)}")
        if nouns & hyp_words:
            problems.append("shares a noun with the hypothesis")
    return problems


def insert_at(text: str, position: int, sentence: str) -> str:
    """``sentence`` inserted at character ``position`` (0, a sentence start, or len(text)) with one space."""
    if position <= 0:
        return sentence + " " + text.lstrip()
    if position >= len(text.rstrip()):
        return text.rstrip() + " " + sentence
    before = text[:position]
    return before + ("" if before[-1:].isspace() else " ") + sentence + " " + text[position:]


@ATTACKS.register("addsent", "AddSent for classification: insert one label-preserving distractor sentence "
                  "(unrelated subject, antonyms), adversarially chosen", display="AddSent", rank=3,
                  note="AddSent inserts a sentence: its words perturbed are the inserted words as % of the "
                  "original's words, which can exceed 100.")
class AddSent(EngineRecipe):
    Settings = AddSentSettings

    def __init__(self, settings: AddSentSettings, assets, lexicon: Lexicon | None = None) -> None:
        super().__init__(settings, assets)
        if lexicon is None:
            from attacks.engine.wordnet import stopwords, wordnet_reader

            lexicon = Lexicon(wordnet_reader(assets), stopwords(assets))
        self.lexicon = lexicon

    def candidates(self, inputs, rng: np.random.Generator) -> list[tuple[str, int, Distractor]]:
        """(new first field, position, distractor) for every admissible candidate, before the budget cut."""
        nli = not isinstance(inputs, str)
        target = get_field(inputs, 0)
        source_text = get_field(inputs, 1) if nli else target
        present = {w.lower() for t in ([inputs] if not nli else inputs) for w in WORD_RE.findall(t)}
        free = [s for s in SUBJECTS if s not in present and plural(s) not in present]
        sources = [source_text[a:b] for a, b in split_sentences(source_text)]
        distractors: list[Distractor] = []
        for sentence in sources:
            for _ in range(self.settings.subjects_per_source):
                order = list(rng.permutation(len(free)))
                d = make_distractor(sentence, [free[j] for j in order], self.lexicon, self.settings.antonyms)
                if d is not None and d not in distractors and not violations(inputs, d, self.lexicon, nli):
                    distractors.append(d)
        distractors.sort(key=lambda d: -d.flipped)  # stable: the most sentiment swaps first
        kept_sources = list(dict.fromkeys(d.source for d in distractors))[: self.settings.max_sources]
        distractors = [d for d in distractors if d.source in kept_sources]
        positions = [0] + [b for _, b in split_sentences(target)][:-1] + [len(target)]
        positions = sorted({_next_start(target, p) for p in positions})
        return [(insert_at(target, p, d.text), p, d) for d in distractors for p in positions]

    def steps(self, ctx: AttackContext) -> Search:
        rng = np.random.default_rng(example_seed(self.settings.seed, ctx.example.uid))
        inputs, y = ctx.example.inputs, ctx.label
        found = self.candidates(inputs, rng)
        if not found:
            return Outcome({}, "no admissible distractor", unattackable=True)
        if len(found) > self.settings.max_candidates:
            keep = sorted(rng.choice(len(found), size=self.settings.max_candidates, replace=False))
            found = [found[k] for k in keep]
        texts = [with_field(inputs, 0, first) for first, _, _ in found]
        try:
            probs = yield texts
        except Exhausted as stop:
            return Outcome({}, stop.reason)
        k = int(np.argmin(probs[:, y]))
        first, position, d = found[k]
        reason = "label flipped" if ctx.flipped(probs[k]) else "no distractor flips the label"
        change = {"inserted": d.text, "position": position, "source": d.source, "subjects": list(d.subjects),
                  "field": "premise" if not isinstance(inputs, str) else "text", "candidates": len(found)}
        return Outcome({}, reason, adversarial=texts[k], changes=[change],
                       words_changed=len(WORD_RE.findall(d.text)))


def _next_start(text: str, position: int) -> int:
    while 0 < position < len(text) and text[position].isspace():
        position += 1
    return position
