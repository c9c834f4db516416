"""`--compare paper`'s list of differences is computed from a record's resolved configuration against the paper
code's protocol (results/paper/setting.yaml), and every setting the code has is declared there."""

import dataclasses

import pytest

from bench.core.config import SCALES, Scale
from bench.run.grid import Cell, resolve_cell
from bench.core.registry import ATTACKS, METHODS
from bench.report.paper import load_paper, protocol_differences

PAPER_METHODS = ["standard", "adv-base", "adv-ptwd", "adv-mixout", "rift", "rift-ist"]
PAPER_ATTACKS = ["pwws", "genetic"]


@pytest.fixture(scope="module")
def protocol() -> dict:
    return load_paper().setting["protocol"]


def _row(rc) -> dict:
    """The fields of a records_frame row that protocol_differences reads, from a resolved cell."""
    c = rc.config
    return {"dataset": c["dataset"], "method": c["method"], "attack": c["attack"], "scale_settings": c["scale_settings"],
            "max_length": c["max_length"], "hparams": c["hparams"], "attack_settings": c["attack_settings"]}


@pytest.mark.parametrize("dataset", ["imdb", "snli"])
@pytest.mark.parametrize("method", PAPER_METHODS)
def test_the_paper_scale_is_the_paper_codes_protocol(protocol, dataset, method):
    rc = resolve_cell(Cell(dataset, "bert-base-uncased", method, 0, "pwws", "paper"))
    assert None not in rc.config["hparams"].values()  # β and α were resolved from the task with the cell
    diffs, unstated, undeclared = protocol_differences(_row(rc), protocol)
    assert diffs == [] and undeclared == []
    expected_unstated = {"adv-ptwd": ["method.lam=0.01"], "adv-mixout": ["method.mixout_p=0.9"]}.get(method, [])
    assert unstated == expected_unstated


def test_genetic_differs_only_in_its_language_model(protocol):
    rc = resolve_cell(Cell("snli", "bert-base-uncased", "rift", 0, "genetic", "paper"))
    diffs, unstated, undeclared = protocol_differences(_row(rc), protocol)
    assert [d[0] for d in diffs] == ["attack.lm"] and diffs[0][1] == "smollm2-135m"
    assert undeclared == [] and set(unstated) == {"attack.temperature=0.3", "attack.skip_stopwords=False"}


def test_a_smoke_record_lists_each_training_difference(protocol):
    rc = resolve_cell(Cell("snli", "minilm-l6", "rift", 0, "pwws", "smoke", (("batch_size", 12),)))
    diffs, _, undeclared = protocol_differences(_row(rc), protocol)
    got = {name: (ours, paper) for name, ours, paper in diffs}
    smoke = SCALES["smoke"]
    assert got["batch_size"] == (12, 120)
    assert got["epochs"] == (smoke.epochs, 20) and got["lr"] == (smoke.lr, 2e-5)
    assert got["grad_clip"] == (1.0, 0.0) and got["lr_schedule"] == ("linear", "epoch-warmup-constant")
    assert got["weight_decay_scope"] == ("all", "heads") and got["adam_eps"] == (1e-8, 1e-6)
    assert got["max_length"] == (64, 80) and got["n_train"] == (512, None) and got["n_test"] == (24, 300)
    assert undeclared == []


def test_every_setting_of_the_code_is_declared_in_the_protocol(protocol):
    """A new scale field, method hyperparameter or attack setting must be given the paper's value (or be declared
    unstated / without counterpart) in results/paper/setting.yaml before it can silently drift."""
    declared_scale = (set(protocol["scale"]) | {k for d in protocol["per_dataset"].values() for k in d}
                      | set(protocol["no_counterpart"]))
    assert {f.name for f in dataclasses.fields(Scale)} <= declared_scale
    for method in PAPER_METHODS:
        names = {f.name for f in dataclasses.fields(METHODS.get(method).Hparams)}
        declared = set(protocol["methods"].get(method, {})) | set(protocol["unstated_methods"].get(method, []))
        assert names <= declared, (method, names - declared)
    for attack in PAPER_ATTACKS:
        names = {f.name for f in dataclasses.fields(ATTACKS.get(attack).Settings)}
        declared = (set(protocol["attacks"][attack]) | set(protocol["unstated_attacks"].get(attack, []))
                    | set(protocol["no_counterpart_attacks"].get(attack, [])))
        assert names <= declared, (attack, names - declared)


def test_an_undeclared_or_unrecorded_setting_is_named(protocol):
    rc = resolve_cell(Cell("imdb", "bert-base-uncased", "standard", 0, "pwws", "paper"))
    row = _row(rc)
    row["scale_settings"] = {**row["scale_settings"], "label_smoothing": 0.1}
    del row["scale_settings"]["grad_clip"]  # an older record, written before the setting existed
    diffs, _, undeclared = protocol_differences(row, protocol)
    assert undeclared == ["label_smoothing=0.1"]
    assert diffs == [("grad_clip", "not recorded", 0.0)]
