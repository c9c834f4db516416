import pytest

from bench.core.errors import UnknownNameError
from bench.core.registry import ATTACKS, DATASETS, METHODS, MODELS, Registry


def test_register_get_and_describe():
    reg: Registry = Registry("widget")

    @reg.register("alpha", "first widget")
    class Alpha:
        pass

    @reg.register("beta")
    class Beta:
        """Second widget.

        More text."""

    assert reg.get("alpha") is Alpha
    assert [e.description for e in reg.entries()] == ["first widget", "Second widget."]
    assert reg.names() == ["alpha", "beta"]
    assert "alpha" in reg and "gamma" not in reg


def test_unknown_name_suggests_close_match():
    reg: Registry = Registry("widget")
    reg.register("standard", "x")(object())
    reg.register("adv-base", "y")(object())
    with pytest.raises(UnknownNameError) as err:
        reg.get("standrd")
    message = str(err.value)
    assert "unknown widget 'standrd'" in message
    assert "Did you mean 'standard'?" in message
    assert "Known: standard, adv-base." in message


def test_unknown_name_without_close_match_has_no_guess():
    reg: Registry = Registry("widget")
    reg.register("standard", "x")(object())
    assert "Did you mean" not in reg.unknown_message("zzzzzz")


def test_duplicate_registration_is_refused():
    reg: Registry = Registry("widget")
    reg.register("a")(object())
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(object())


def test_global_registries_populate_lazily():
    assert "standard" in METHODS.names()
    assert "pwws" in ATTACKS.names()
    assert {"imdb", "snli", "sst2", "mr", "ag_news"} <= set(DATASETS.names())
    assert {"minilm-l6", "bert-base-uncased", "roberta-base"} <= set(MODELS.names())
