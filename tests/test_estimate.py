"""The time left for a grid, from finished cells like the ones left: checked against a direct computation on the
committed reference records (3 methods × PWWS, DeepWordBug, seed 0)."""

from __future__ import annotations

from pathlib import Path
from statistics import median

import pytest

from bench.run.estimate import estimate
from bench.run.grid import expand_grid, resolve_cells, train_group_of
from bench.core.store import load_records

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference" / "records"
METHODS = ["standard", "adv-base", "rift"]
SETTINGS = (("n_train", 128), ("n_test", 32))


def _cells(seeds, methods=METHODS, attacks=("pwws", "deepwordbug"), dataset="sst2", settings=SETTINGS):
    return resolve_cells(expand_grid([dataset], ["minilm-l6"], methods, attacks, seeds, "smoke", settings))


@pytest.fixture(scope="module")
def records():
    loaded, problems = load_records(REFERENCE)
    assert len(loaded) == 6 and not problems
    return loaded


def test_a_record_and_its_cell_name_the_same_model(records):
    by_id = {r.cell_id: r for r in records}
    for cell in _cells([0]):
        assert train_group_of(by_id[cell.cell_id].config.to_json()) == cell.train_group


def test_cells_share_a_model_cache_key_exactly_when_they_share_a_group():
    """One identity of a fine-tuned model: the model group (scheduling, estimates; read from the configuration
    alone) and the model-cache key (``ResolvedCell.train_spec``, which adds the files' fingerprints) split the same
    cells the same way, over settings that change the model and settings that do not."""
    from bench.run.grid import Cell, resolve_cell

    provenance = {"train_split": "train", "n_train": 512, "n_dev": 64, "data_seed": 0, "identity": {"train": "x"}}
    shared = [(), (("n_test", 99),), (("eval_batch_size", 8),), (("attack.query_budget", 50),), (("lr", 2e-4),),
              (("tokenizer", "whole-word"),)]
    adversarial = [(("method.beta", 10.0),), (("method.beta", 5.0),), (("method.ascc_steps", 2),)]
    cells = [resolve_cell(Cell("sst2", "minilm-l6", method, seed, attack, "smoke", overrides))
             for method in ("standard", "adv-base") for seed in (0, 1) for attack in ("pwws", "deepwordbug")
             for overrides in shared + (adversarial if method != "standard" else [])]
    keys = {rc: rc.train_spec("f" * 16, "mean", provenance).key for rc in cells}
    groups_of_key: dict[str, set] = {}
    keys_of_group: dict[str, set] = {}
    for rc, key in keys.items():
        groups_of_key.setdefault(key, set()).add(rc.train_group)
        keys_of_group.setdefault(rc.train_group, set()).add(key)
    assert all(len(g) == 1 for g in groups_of_key.values()) and all(len(k) == 1 for k in keys_of_group.values())
    # per seed: Standard's default, lr and tokenizer models, and Adv-Base's, β=5 and ascc_steps=2 (n_test,
    # eval_batch_size, the attack and its settings share a model; β=10 is Adv-Base's default on SST-2)
    assert len(keys_of_group) == 2 * (3 + 5)


def test_new_seeds_cost_their_training_once_and_each_attack(records):
    """Seed 1 of every cell: each method's model trains once (its seed-0 training time), and each cell's attack
    costs n_test × the seed-0 seconds per example of the same method and attack."""
    got = estimate(_cells([1]), records)
    expected = 0.0
    for method in METHODS:
        mine = [r for r in records if r.cell.method == method]
        (train_seconds,) = {r.training.train_seconds for r in mine}
        expected += train_seconds + sum(32 * r.metrics.seconds_per_example for r in mine)
    assert (got.cells, got.models, got.unknown, got.basis) == (6, 3, 0, 6)
    assert got.seconds == pytest.approx(expected)


def test_a_trained_model_costs_nothing_and_an_unseen_method_falls_back_to_any_method(records):
    """Standard's DeepWordBug cell when only its PWWS cell finished: the model is cached, so the cost is the
    attack, at the median seconds per example of the methods that ran DeepWordBug."""
    finished = [r for r in records if not (r.cell.method == "standard" and r.cell.attack == "deepwordbug")]
    (left,) = [c for c in _cells([0]) if c.cell.method == "standard" and c.cell.attack == "deepwordbug"]
    got = estimate([left], finished)
    dwb = [r.metrics.seconds_per_example for r in finished if r.cell.attack == "deepwordbug"]
    assert (got.cells, got.models, got.unknown) == (1, 0, 0) and got.seconds == pytest.approx(32 * median(dwb))


def test_cells_with_nothing_like_them_are_counted_not_guessed(records):
    """No MR model was ever trained: not estimated. RIFT at 3 epochs was never trained either, but RIFT was: its
    training and attack are estimated roughly, from RIFT's 2-epoch model and PWWS on any method."""
    unseen = _cells([0], methods=["standard"], attacks=("pwws",), dataset="mr")
    other_scale = _cells([0], methods=["rift"], attacks=("pwws",), settings=SETTINGS + (("epochs", 3),))
    got = estimate(unseen + other_scale + _cells([1], methods=["standard"], attacks=("pwws",)), records)
    assert (got.cells, got.unknown, got.models, got.rough) == (2, 1, 2, 1)
    (rift,) = [r for r in records if r.cell.method == "rift" and r.cell.attack == "pwws"]
    pwws = [r.metrics.seconds_per_example for r in records if r.cell.attack == "pwws"]
    (standard,) = [r for r in records if r.cell.method == "standard" and r.cell.attack == "pwws"]
    expected = rift.training.train_seconds + 32 * median(pwws) + standard.training.train_seconds \
        + 32 * standard.metrics.seconds_per_example
    assert got.seconds == pytest.approx(expected)
    line = got.line(lambda s: f"{s:.0f}s")
    assert "1 cell(s) have no finished cell like them" in line and "1 of them from less similar cells" in line


STUDY = Path(__file__).resolve().parents[1] / "results" / "study" / "runs"
STUDY_ORDER = ["pwws", "genetic", "pwws-wordnet", "deepwordbug", "addsent"]  # the study grid's order of a model's cells


@pytest.mark.parametrize("dataset, method", [(d, m) for d in ("sst2", "snli") for m in ("standard", "adv-base", "rift")])
def test_the_first_eta_of_a_new_one_model_grid_is_within_2x(dataset, method):
    """On recorded timings (the study's seed-0 cells): after the first cell of a one-model, five-attack grid (its
    training and PWWS), the estimate of the four attacks left is within 2× of what they took."""
    from bench.run.grid import Cell, resolve_cell

    loaded, _ = load_records(STUDY)
    group = sorted((r for r in loaded if (r.cell.dataset, r.cell.method, r.cell.seed) == (dataset, method, 0)),
                   key=lambda r: STUDY_ORDER.index(r.cell.attack))
    assert [r.cell.attack for r in group] == STUDY_ORDER
    first, rest = group[0], group[1:]
    left = [resolve_cell(Cell(r.cell.dataset, r.cell.model, r.cell.method, r.cell.seed, r.cell.attack, r.cell.scale,
                              tuple((k, v) for k, v in r.cell.overrides))) for r in rest]
    got = estimate(left, [first])
    took = sum(r.provenance.wall_seconds for r in rest)
    assert (got.cells, got.unknown, got.models, got.rough) == (4, 0, 0, 4)
    assert 0.5 <= got.seconds / took <= 2.0, (got.seconds, took)
