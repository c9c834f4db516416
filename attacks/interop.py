"""Run TextAttack recipes (``ta:<recipe>``) and OpenAttack attackers (``oa:<name>``) against our victims.

Both libraries are optional extras (``pip install 'rift-bench[textattack]'`` / ``[openattack]``); their
attacks are registered only where the library is installed, and it is imported only when one runs.
TextAttack 0.3.11 needs ``transformers==4.57.6`` (its ``flair`` dependency breaks on transformers 5):
install that extra in its own environment.

The adapters keep our semantics: our victim makes the clean prediction (misclassified examples are
skipped), it answers every query the library makes (so ``queries``/``forwards`` are counted the same way
as for our recipes), and the final status comes from our victim's prediction on the library's
adversarial text. For text pairs only the attacked field may change (TextAttack: an
``InputColumnModification`` constraint). Seeds: Python, NumPy and torch are seeded per example.

Offline, only recipes that download nothing work; tested here: TextAttack's ``pwws`` (WordNet from our
``nltk_data``) and ``deepwordbug``, and OpenAttack's ``deepwordbug`` (given an offline tokenizer, below).
Recipes that need word embeddings, the Universal Sentence Encoder or a masked LM (``textfooler``,
``alzantot``, ``bae``, ``bert-attack``, ``pso``…) fetch them on first use and fail offline (a failed
download surfaces as an :class:`~bench.core.errors.AssetError`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.core.attack import AttackContext, AttackRecipe, Outcome
from attacks.engine.search import BudgetSettings, example_seed
from bench.core.text import Words, get_field
from bench.core.data import Example, TextInput
from bench.core.errors import AssetError, BenchError
from bench.core.registry import ATTACKS
from bench.core.victim import Victim

# Black-box classification recipes of TextAttack 0.3.11 (its ATTACK_RECIPE_NAMES, minus white-box and seq2seq).
TEXTATTACK_RECIPES = {
    "alzantot": "GeneticAlgorithmAlzantot2018", "bae": "BAEGarg2019", "bert-attack": "BERTAttackLi2020",
    "faster-alzantot": "FasterGeneticAlgorithmJia2019", "deepwordbug": "DeepWordBugGao2018",
    "kuleshov": "Kuleshov2017", "textbugger": "TextBuggerLi2018", "textfooler": "TextFoolerJin2019",
    "pwws": "PWWSRen2019", "iga": "IGAWang2019", "pruthi": "Pruthi2019", "pso": "PSOZang2020",
    "checklist": "CheckList2020", "clare": "CLARE2020",
}
# OpenAttack 2.x attacker classes (black-box).
OPENATTACK_ATTACKERS = {
    "pwws": "PWWSAttacker", "genetic": "GeneticAttacker", "textfooler": "TextFoolerAttacker",
    "deepwordbug": "DeepWordBugAttacker", "textbugger": "TextBuggerAttacker", "pso": "PSOAttacker",
    "bert-attack": "BERTAttacker", "bae": "BAEAttacker", "viper": "VIPERAttacker",
}


@dataclass(frozen=True)
class InteropSettings(BudgetSettings):  # query_budget: TextAttack's goal function's (it caches)
    seed: int = 0


class ExternalAttack(AttackRecipe):
    """Common part of the adapters: seeding, and the word-level diff of the library's adversarial input
    (clean prediction, skipping, timing, counts and the record are :class:`AttackRecipe`'s)."""

    Settings = InteropSettings
    library = ""
    name = ""

    def run_external(self, victim: Victim, example: Example, field: int) -> tuple[TextInput, str]:
        """The library's adversarial input for a correctly classified example, and a short reason."""
        raise NotImplementedError

    def search(self, ctx: AttackContext) -> Outcome:
        seed = example_seed(self.settings.seed, ctx.example.uid) % (2**32)
        random.seed(seed)
        np.random.seed(seed)
        import torch

        torch.manual_seed(seed)
        adversarial, reason = self.run_external(ctx.victim, ctx.example, ctx.field)
        changes = _word_diff(ctx.words, Words.split(get_field(adversarial, ctx.field)))
        return Outcome({}, f"{self.library}: {reason}", adversarial=adversarial, changes=changes,
                       words_changed=len(changes))


def _word_diff(a: Words, b: Words) -> list[dict[str, Any]]:
    """Positions whose word differs (word-aligned when the counts match, else a sequence diff)."""
    wa, wb = [a.word(i) for i in range(len(a))], [b.word(i) for i in range(len(b))]
    if len(wa) == len(wb):
        return [{"index": i, "original": x, "substitute": y} for i, (x, y) in enumerate(zip(wa, wb)) if x != y]
    import difflib

    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes():
        if tag != "equal":
            out.append({"index": i1, "original": " ".join(wa[i1:i2]), "substitute": " ".join(wb[j1:j2])})
    return out


# --- TextAttack ---------------------------------------------------------------------------------------------

def _import_textattack():
    try:
        import textattack  # noqa: F401
    except ImportError as exc:
        raise BenchError("TextAttack is not installed: pip install 'rift-bench[textattack]' in an environment with "
                         f"transformers==4.57.6 ({type(exc).__name__}: {exc})") from None
    return textattack


def textattack_wrapper(victim: Victim):
    """Our victim as a TextAttack ``ModelWrapper`` (inputs: strings, or (premise, hypothesis) tuples)."""
    from textattack.models.wrappers import ModelWrapper

    class VictimWrapper(ModelWrapper):
        def __init__(self) -> None:
            self.model = getattr(victim, "model", None)

        def __call__(self, text_input_list, **kwargs):
            return victim.predict_proba([x if isinstance(x, str) else tuple(x) for x in text_input_list])

    return VictimWrapper()


def _textattack_nltk(assets) -> None:
    """Point NLTK (used by TextAttack's WordNet and stop-word lists) at our resolved nltk_data folder."""
    import nltk

    from attacks.engine.wordnet import stopwords, wordnet_reader

    wordnet_reader(assets)  # resolves the folders and adds them to nltk.data.path
    stopwords(assets)
    nltk.download = lambda *a, **k: True  # TextAttack asks for omw-1.4 (multilingual WordNet); we use English


class TextAttackRecipe(ExternalAttack):
    library = "textattack"

    def __init__(self, settings: InteropSettings, assets) -> None:
        super().__init__(settings, assets)
        self._built: tuple[int, Any] | None = None

    def build(self, victim: Victim):
        if self._built is not None and self._built[0] == id(victim):
            return self._built[1]
        _textattack_nltk(self.assets)  # before the import: TextAttack reads stop-words when imported
        _import_textattack()
        import textattack.attack_recipes as recipes

        try:
            attack = getattr(recipes, TEXTATTACK_RECIPES[self.name]).build(textattack_wrapper(victim))
        except OSError as exc:  # a download it could not make
            raise AssetError(f"TextAttack recipe {self.name!r} needs resources it could not fetch offline: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from None
        if self.settings.query_budget:
            attack.goal_function.query_budget = self.settings.query_budget
        self._built = (id(victim), attack)
        return attack

    def run_external(self, victim: Victim, example: Example, field: int) -> tuple[TextInput, str]:
        from collections import OrderedDict

        attack = self.build(victim)
        from textattack.constraints.pre_transformation import InputColumnModification

        if example.text_pair is None:
            text_input: Any = example.text
        else:
            text_input = OrderedDict([("premise", example.text), ("hypothesis", example.text_pair)])
            frozen = {"hypothesis" if field == 0 else "premise"}
            if not any(isinstance(c, InputColumnModification) for c in attack.pre_transformation_constraints):
                attack.pre_transformation_constraints.append(InputColumnModification(["premise", "hypothesis"],
                                                                                      frozen))
        result = attack.attack(text_input, example.label)
        perturbed = result.perturbed_result.attacked_text
        values = tuple(perturbed._text_input.values())
        adversarial: TextInput = values[0] if example.text_pair is None else (values[0], values[1])
        return adversarial, type(result).__name__


def textattack_result(victim: Victim, attack, example: Example):
    """The raw TextAttack result of one example (for parity measurements)."""
    return attack.attack(example.text if example.text_pair is None else example.inputs, example.label)


# --- OpenAttack ---------------------------------------------------------------------------------------------

class OpenAttackRecipe(ExternalAttack):
    library = "openattack"

    def __init__(self, settings: InteropSettings, assets) -> None:
        super().__init__(settings, assets)
        self._attacker = None

    def run_external(self, victim: Victim, example: Example, field: int) -> tuple[TextInput, str]:
        try:
            import OpenAttack
        except ImportError as exc:
            raise BenchError(f"OpenAttack is not installed: pip install 'rift-bench[openattack]' "
                             f"({type(exc).__name__}: {exc})") from None
        if example.text_pair is not None:
            raise BenchError("OpenAttack attackers take single texts; text-pair tasks are not supported")

        class VictimClassifier(OpenAttack.Classifier):
            def get_pred(self, input_):
                return victim.predict_proba(list(input_)).argmax(axis=1)

            def get_prob(self, input_):
                return victim.predict_proba(list(input_))

        if self._attacker is None:
            cls = getattr(OpenAttack.attackers, OPENATTACK_ATTACKERS[self.name])
            try:
                import inspect

                wants_tokenizer = "tokenizer" in inspect.signature(cls.__init__).parameters
                self._attacker = cls(tokenizer=_openattack_tokenizer()) if wants_tokenizer else cls()
            except Exception as exc:  # its resources are downloaded on first use
                raise AssetError(f"OpenAttack attacker {self.name!r} could not load its resources: "
                                 f"{type(exc).__name__}: {str(exc)[:200]}") from None
        goal = OpenAttack.attack_assist.goal.ClassifierGoal(example.label, targeted=False)
        adversarial = self._attacker.attack(VictimClassifier(), example.text, goal)
        return (example.text, "no adversarial found") if adversarial is None else (adversarial, "adversarial found")


def _openattack_tokenizer():
    """An offline OpenAttack tokenizer: our word pattern, every token tagged "other" (OpenAttack's default
    tokenizer downloads NLTK models; attackers that need part-of-speech tags find no candidates with this one)."""
    import re

    from OpenAttack.tags import TAG_English
    from OpenAttack.text_process.tokenizer import Tokenizer

    class WordTokenizer(Tokenizer):
        TAGS = {TAG_English}

        def do_tokenize(self, x, pos_tagging):
            tokens = re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)*|\S", x)
            return [(t, "other") for t in tokens] if pos_tagging else tokens

        def do_detokenize(self, x):
            return " ".join(x)

    return WordTokenizer()


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None  # finds the package without importing it


def _register() -> None:
    """Register ``ta:*`` / ``oa:*`` only where the library is installed, so ``--attacks all`` stays runnable."""
    if _installed("textattack"):
        for name in TEXTATTACK_RECIPES:
            cls = type(f"TA_{name.replace('-', '_')}", (TextAttackRecipe,), {"name": name})
            ATTACKS.register(f"ta:{name}", f"TextAttack recipe {name!r} against our victim (optional extra)")(cls)
    if _installed("OpenAttack"):
        for name in OPENATTACK_ATTACKERS:
            cls = type(f"OA_{name.replace('-', '_')}", (OpenAttackRecipe,), {"name": name, "supports_pairs": False})
            ATTACKS.register(f"oa:{name}", f"OpenAttack attacker {name!r} against our victim (optional extra)")(cls)


_register()
