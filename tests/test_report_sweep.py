"""`bench run --sweep`: one setting's values expanded into separate cells (feeds the tradeoff figure)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bench.core.errors import ConfigError
from bench.run.grid import expand_grid, parse_sweep, resolve_cell
from bench.core.registry import METHODS, Entry


@pytest.fixture()
def weighted_method(monkeypatch):
    """A method with an adversarial weight ``beta``, registered for this test only."""
    from methods.standard import Standard

    @dataclass(frozen=True)
    class Hparams:
        beta: float = 1.0

    def loss(self, model, batch):  # CE + β·‖θ−θ₀‖²: a real knob, so each swept value trains a different model
        ce, parts = Standard.loss(self, model, batch)
        params = model.encoder_parameters()
        sq = sum(((params[k] - p0) ** 2).sum() for k, p0 in self.context.pretrained_params.items())
        return ce + self.hparams.beta * sq, {**parts, "sq_dist": float(sq.detach())}

    cls = type("SweepTestMethod", (Standard,), {"Hparams": Hparams, "loss": loss})
    METHODS.names()  # populate the registry before adding to it
    monkeypatch.setitem(METHODS._entries, "sweep-test", Entry("sweep-test", cls, "test only"))
    return "sweep-test"


def test_parse_sweep_parses_each_value_like_set():
    assert parse_sweep("method.beta=1,5,10") == ("method.beta", (1, 5, 10))
    assert parse_sweep("lr=1e-4, 3e-5") == ("lr", (1e-4, 3e-5))
    for bad in ("method.beta", "method.beta=", "=1,2", "method.beta=1,,2", "method.beta=1,1"):
        with pytest.raises(ConfigError):
            parse_sweep(bad)


def test_method_sweep_expands_only_the_methods_that_have_the_hparam(weighted_method):
    cells = expand_grid(["sst2"], ["minilm-l6"], ["standard", weighted_method], ["pwws"], [0, 1], "smoke",
                        [("n_test", 8)], [("method.beta", (1, 5, 10))])
    standard = [c for c in cells if c.method == "standard"]
    swept = [c for c in cells if c.method == weighted_method]
    assert [c.overrides for c in standard] == [(("n_test", 8),)] * 2  # one cell per seed, unchanged
    assert len(swept) == 6  # 3 values × 2 seeds
    assert {c.overrides for c in swept} == {(("n_test", 8), ("method.beta", b)) for b in (1, 5, 10)}
    resolved = [resolve_cell(c) for c in swept]
    assert sorted({r.hparams.beta for r in resolved}) == [1.0, 5.0, 10.0]
    assert len({r.cell_id for r in resolved}) == 6  # every swept cell is its own experiment


def test_sweep_cells_sharing_a_trained_model_stay_adjacent(weighted_method):
    cells = expand_grid(["sst2"], ["minilm-l6"], [weighted_method], ["pwws"], [0], "smoke", (),
                        [("method.beta", (1, 5)), ("attack.query_budget", (0, 100))])
    assert [(dict(c.overrides)["method.beta"], dict(c.overrides)["attack.query_budget"]) for c in cells] == \
        [(1, 0), (1, 100), (5, 0), (5, 100)]


def test_scale_sweep_applies_to_every_method():
    cells = expand_grid(["sst2"], ["minilm-l6"], ["standard"], ["pwws"], [0], "smoke", (), [("epochs", (1, 2))])
    assert [c.overrides for c in cells] == [(("epochs", 1),), (("epochs", 2),)]


def test_sweep_errors_are_clear():
    with pytest.raises(ConfigError, match="none of the methods standard has hyperparameter 'beta'"):
        expand_grid(["sst2"], ["minilm-l6"], ["standard"], ["pwws"], [0], "smoke", (), [("method.beta", (1, 5))])
    with pytest.raises(ConfigError, match="none of the attacks pwws has setting 'nope'"):
        expand_grid(["sst2"], ["minilm-l6"], ["standard"], ["pwws"], [0], "smoke", (), [("attack.nope", (1,))])
    with pytest.raises(ConfigError, match="both set and swept"):
        expand_grid(["sst2"], ["minilm-l6"], ["standard"], ["pwws"], [0], "smoke", [("epochs", 1)], [("epochs", (1, 2))])


def test_cli_sweep_reaches_the_grid(tmp_path, capsys):
    """`bench run --sweep` (and a grid file's `sweep:` key) build the swept cells; a bad sweep is a clear error."""
    from bench.cli import _cells_from_args, build_parser, main

    args = build_parser().parse_args(["run", "--sweep", "epochs=1,2", "--seeds", "0", "1"])
    assert [(c.seed, c.overrides) for c in (rc.cell for rc in _cells_from_args(args))] == [
        (0, (("epochs", 1),)), (0, (("epochs", 2),)), (1, (("epochs", 1),)), (1, (("epochs", 2),))]
    grid = tmp_path / "grid.yaml"
    expected = [(("n_test", 8), ("attack.query_budget", 0)), (("n_test", 8), ("attack.query_budget", 50))]
    for text in ("sweep:\n  - attack.query_budget=0,50\nset: [n_test=8]\n",
                 "sweep: {attack.query_budget: [0, 50]}\nset: [n_test=8]\n"):
        grid.write_text(text)
        args = build_parser().parse_args(["run", "--grid", str(grid)])
        assert [c.overrides for c in (rc.cell for rc in _cells_from_args(args))] == expected
    assert main(["run", "--results", str(tmp_path), "--sweep", "method.beta=1,5"]) == 2
    assert "hyperparameter 'beta'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_sweep_feeds_the_tables_and_the_tradeoff_figure(weighted_method, tmp_path):
    """Real runs: standard and a β sweep of a loss-weighted method; the report shows one row and one point per model."""
    from bench.cli import main
    from bench.report.build import build_report, write_figures
    from bench.report.frame import records_frame, steps_frame

    results = tmp_path / "results"
    args = ["run", "--results", str(results), "--methods", "standard", weighted_method, "--sweep", "method.beta=0.3,3,30",
            "--set", "n_train=192", "--set", "n_dev=16", "--set", "n_test=12", "--set", "epochs=1", "--set", "lr=3e-4"]
    assert main(args) == 0
    frame, problems = records_frame(results)
    assert not problems and len(frame) == 4
    assert sorted(frame["method_label"]) == ["standard", f"{weighted_method} (beta=0.3)", f"{weighted_method} (beta=3)",
                                             f"{weighted_method} (beta=30)"]
    (table,) = [t for t in build_report(results).tables if t.key.startswith("main-")]
    assert [label for label, _ in table.blocks[0].rows] == ["Standard", f"{weighted_method} (β=0.3)",
                                                           f"{weighted_method} (β=3)", f"{weighted_method} (β=30)"]
    files = write_figures(frame, steps_frame(results), tmp_path / "figures")
    assert {f.kind for f in files} == {"tradeoff", "distance"}
    assert len(set(frame["train_key"])) == 4  # four trained models, one point each
    swept = frame[frame["method"] == weighted_method].sort_values("rel_weight_distance")
    assert list(swept["method_label"]) == [f"{weighted_method} (beta={b})" for b in ("30", "3", "0.3")]  # β pulls to θ₀
