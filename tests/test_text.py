from hypothesis import given, strategies as st

from bench.core.text import Words, match_case, with_field


def test_split_and_replace_keep_everything_between_words():
    words = Words.split("It's a <br />GREAT movie, isn't it?")
    assert [words.word(i) for i in range(len(words))] == ["It's", "a", "br", "GREAT", "movie", "isn't", "it"]
    assert words.replace({3: "fine", 4: "film"}) == "It's a <br />FINE film, isn't it?"
    assert words.replace({0: "that"}) == "That a <br />GREAT movie, isn't it?"


def test_match_case():
    assert match_case("Movie", "film") == "Film"
    assert match_case("MOVIE", "film") == "FILM"
    assert match_case("movie", "film") == "film"
    assert match_case("A", "the") == "The"


def test_visible_words():
    words = Words.split("one two three")
    assert words.visible(7) == [0, 1]
    assert words.visible(100) == [0, 1, 2]


def test_with_field_for_pairs():
    assert with_field(("p", "h"), 1, "x") == ("p", "x")
    assert with_field("t", 0, "x") == "x"


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_identity_replacement_roundtrips(text):
    words = Words.split(text)
    assert words.replace({i: words.word(i) for i in range(len(words))}) == text


@given(st.text(max_size=200), st.data())
def test_replacement_changes_only_the_chosen_word(text, data):
    words = Words.split(text)
    if not len(words):
        return
    i = data.draw(st.integers(0, len(words) - 1))
    out = Words.split(words.replace({i: "zzz"}))
    assert len(out) == len(words)
    assert [out.word(j) for j in range(len(out)) if j != i] == [words.word(j) for j in range(len(words)) if j != i]
    assert out.word(i).lower() == "zzz"
