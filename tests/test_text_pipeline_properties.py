"""Property tests: any text (non-ASCII, markup, very long, no substitutable word) goes through an attack
without an error, and the adversarial text differs from the original only where the attack says."""

from hypothesis import HealthCheck, given, settings, strategies as st

from attacks.pwws import PWWS, PWWSSettings
from bench.core.text import Words
from lexicon_victim import LexiconVictim
from bench.core.data import Example

WORDS = ["good", "great", "bad", "awful", "movie", "film", "the", "a", "plot", "actors", "fine", "terrible"]
word_or_noise = st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=6),
                          st.sampled_from(["<br />", "—", "ünïcödé", "日本語", "!!", "\n", "GOOD", "Film's"]))
texts = st.lists(word_or_noise, max_size=60).map(" ".join)


def _victim():
    return LexiconVictim({"good": [0, 2], "great": [0, 2.5], "fine": [0, 0.5], "bad": [2, 0], "awful": [2.5, 0],
                          "terrible": [2, 0]}, [0.0, 0.1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, label=st.integers(0, 1))
def test_pwws_on_arbitrary_text(assets, text, label):
    attack = PWWS(PWWSSettings(), assets)
    result = attack.attack(_victim(), Example("u", text, label), 0)
    assert result.status in {"success", "failed", "skipped"}
    assert 0 <= result.words_changed <= result.n_words == len(Words.split(text))
    if result.status == "skipped":
        assert result.adversarial == text
    original, adversarial = Words.split(text), Words.split(result.adversarial)
    assert len(original) == len(adversarial)
    changed = {c["index"] for c in result.changes}
    for i in range(len(original)):
        if i not in changed:
            assert original.word(i) == adversarial.word(i)
    outside_words = [text[e:s] for (_, e), (s, _) in zip(((0, 0), *original.spans), (*original.spans, (len(text), 0)))]
    outside_adv = [result.adversarial[e:s] for (_, e), (s, _) in
                   zip(((0, 0), *adversarial.spans), (*adversarial.spans, (len(result.adversarial), 0)))]
    assert outside_words == outside_adv  # punctuation, markup and non-ASCII text are untouched


def test_text_without_substitutable_words_is_recorded_not_raised(assets):
    result = PWWS(PWWSSettings(), assets).attack(_victim(), Example("u", "日本語 !! — 123", 1), 0)
    assert result.status == "failed" and result.reason in {"no visible words", "no substitutable words"}


def test_very_long_text_only_visible_words_are_attacked(assets):
    text = " ".join(["the movie was good"] * 2000)
    victim = LexiconVictim({"good": [0, 2], "fine": [0, 0.5]}, [0.0, 0.1], max_words=50)  # truncates like a real model
    result = PWWS(PWWSSettings(), assets).attack(victim, Example("u", text, 1), 0)
    assert result.n_words == 8000 and result.status in {"success", "failed"}
    assert result.changes and all(c["index"] < 50 for c in result.changes)
    assert result.queries < 500  # the 7,950 words beyond the truncation cost nothing (all 8,000 would cost > 30,000)
