"""WordNet synonyms (Ren et al. 2019's substitution set) and NLTK's English stop-word list, read offline.

The NLTK data folder comes from :func:`bench.core.assets.nltk_data_dir` (``--assets``/``$RIFT_BENCH_ASSETS``
``nltk_data/``, else NLTK's downloader online). NLTK refuses folders it does not trust (not on its data
path, or files not owned by the current user / group-writable): the folder is added to NLTK's data path,
and if NLTK still refuses, the corpus is copied to a private temporary folder and read from there.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from bench.core.assets import AssetConfig, nltk_data_dir


def _open_trusted(root: Path, corpus: str, open_corpus):
    """``open_corpus(folder)`` on ``root/corpora/<corpus>``, via a private copy if NLTK refuses the folder."""
    import warnings

    import nltk

    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # WordNet: "multilingual functions are not available" (we use English)
        try:
            return open_corpus(root / "corpora" / corpus)
        except PermissionError:
            private = Path(tempfile.mkdtemp(prefix="rift-bench-nltk-"))  # mode 0700, owned by us
            shutil.copytree(root / "corpora" / corpus, private / "corpora" / corpus)
            for path in private.rglob("*"):
                path.chmod(0o700 if path.is_dir() else 0o600)
            nltk.data.path.insert(0, str(private))
            return open_corpus(private / "corpora" / corpus)


@lru_cache(maxsize=2)
def wordnet_reader(assets: AssetConfig):
    """NLTK's WordNet reader on the resolved ``nltk_data`` folder."""
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    return _open_trusted(nltk_data_dir(assets, "wordnet").value, "wordnet",
                         lambda p: WordNetCorpusReader(str(p), None))


@lru_cache(maxsize=2)
def stopwords(assets: AssetConfig) -> frozenset[str]:
    """NLTK's English stop-word list (179 words), lower-case."""
    from nltk.corpus.reader import WordListCorpusReader

    words = _open_trusted(nltk_data_dir(assets, "stopwords").value, "stopwords",
                          lambda p: WordListCorpusReader(str(p), ["english"]).words("english"))
    return frozenset(w.lower() for w in words)


#: which lemma names count as one word: "letters", all letters (ours: "trigger-happy" and "baby-sit" are left out);
#: "textattack", TextAttack's ``WordSwapWordNet`` test (no "_", and one word of its ``words_from_text``: letters,
#: digits, apostrophes and inner hyphens)
LEMMAS = ("letters", "textattack")
_TEXTATTACK_WORD = re.compile(r"[\w'\-*@]+")


def one_word(name: str, lemmas: str) -> bool:
    """Whether the WordNet lemma ``name`` is a substitute under the ``lemmas`` rule."""
    if lemmas == "letters":
        return name.isalpha()
    return "_" not in name and _TEXTATTACK_WORD.fullmatch(name.lstrip("'-*@")) is not None


class WordNetSynonyms:
    """Ren et al. 2019 / TextAttack's ``WordSwapWordNet``: the single-word lemma names of every synset of the word
    (any part of speech; WordNet's morphology maps inflections to their lemma), the word itself excluded; which
    names are single words: :data:`LEMMAS`. Stop-words get no synonyms (TextAttack's ``StopwordModification``).
    Order: synset order, then lemma order."""

    def __init__(self, reader, stop: frozenset[str] = frozenset(), lemmas: str = "letters") -> None:
        self.reader = reader
        self.stop = stop
        self.lemmas = lemmas
        self._cache: dict[str, list[str]] = {}

    def __call__(self, word: str) -> list[str]:
        key = word.lower()
        if key not in self._cache:
            out: list[str] = []
            if key not in self.stop:
                for synset in self.reader.synsets(key):
                    for name in synset.lemma_names():
                        name = name.lower()
                        if name != key and one_word(name, self.lemmas) and name not in out:
                            out.append(name)
            self._cache[key] = out
        return self._cache[key]


@lru_cache(maxsize=4)
def wordnet_synonyms(assets: AssetConfig, skip_stopwords: bool = True, lemmas: str = "letters") -> WordNetSynonyms:
    return WordNetSynonyms(wordnet_reader(assets), stopwords(assets) if skip_stopwords else frozenset(), lemmas)
