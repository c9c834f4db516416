"""Recipes use the engine's shared parts instead of writing them again: the goal (``AttackContext.flipped``), the
visible-word filter (``AttackContext.visible_words``), the limits (``BudgetSettings``/``LimitSettings``), the
unknown-token saliency and the greedy search (``attacks.engine.steps``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RECIPES = sorted((Path(__file__).resolve().parents[1] / "attacks").glob("*.py"))
REWRITTEN = {
    "the flip check": re.compile(r"argmax\(\)\)?\s*[!=]=\s*(y|ctx\.label|label)\b"),
    "the visible-word filter": re.compile(r"\.visible_chars\("),
    "the budget fields": re.compile(r"^\s+(query_budget|time_limit_s)\s*:", re.M),
    "the unknown-token saliency": re.compile(r"\.unk_token\b"),
    "the greedy search": re.compile(r"(<|>=)\s*current(_p)?\b"),
}


def test_the_patterns_catch_what_they_name():
    assert REWRITTEN["the flip check"].search("if int(probs[k].argmax()) != y:")
    assert REWRITTEN["the visible-word filter"].search("words.visible(victim.visible_chars(x, 0))")
    assert REWRITTEN["the budget fields"].search("class S:\n    query_budget: int = 0\n")
    assert REWRITTEN["the unknown-token saliency"].search("words.replace({i: ctx.victim.unk_token})")
    assert REWRITTEN["the greedy search"].search("if probs[k, y] >= current:")
    assert REWRITTEN["the greedy search"].search("if not p[best] < current_p:")


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_no_recipe_rewrites_a_shared_part(path):
    source = path.read_text(encoding="utf-8")
    found = [part for part, pattern in REWRITTEN.items() if pattern.search(source)]
    assert not found, f"{path.name} writes {', '.join(found)} again; use the engine's (attacks/engine/)"
