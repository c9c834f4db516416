"""The command line: one clear line and exit code 2 for every user error; list output."""

import pytest

from bench.cli import main


@pytest.mark.parametrize("argv, expected", [
    (["run", "--methods", "standrd"], "unknown method 'standrd'. Did you mean 'standard'?"),
    (["run", "--attacks", "pwss"], "unknown attack 'pwss'. Did you mean 'pwws'?"),
    (["run", "--datasets", "imbd"], "unknown dataset 'imbd'. Did you mean 'imdb'?"),
    (["run", "--models", "minilm"], "unknown model 'minilm'. Did you mean 'minilm-l6'?"),
    (["run", "--scale", "smok"], "unknown scale 'smok'. Did you mean 'smoke'?"),
    (["run", "--set", "epochs=-1"], "bad scale setting: epochs must be positive"),
    (["run", "--set", "epochs=two"], "epochs='two' has the wrong type"),
    (["run", "--set", "epoch=2"], "has no setting 'epoch'. Did you mean 'epochs'?"),
    (["run", "--set", "attack.query_budget=-3"], "attack.query_budget must be ≥ 0"),
    (["run", "--set", "method.beta=5"], "method 'standard' has no setting 'beta'"),
    (["run", "--set", "novalue"], "is not of the form key=value"),
    (["run", "--set", "foo.bar=1"], "prefix must be 'method.' or 'attack.'"),
    (["run", "--seeds", "-1"], "seed must be ≥ 0"),
    (["run", "--seeds", "0,x"], "seeds must be integers"),
    (["run", "--attacks", "genetic,pwss"], "unknown attack 'pwss'. Did you mean 'pwws'?"),
    (["run", "--methods", "rift", "--set", "batch_size=5", "--datasets", "snli"],
     "puts 1 examples of each class in each InfoNCE bound, which is then identically 0; use batch_size ≥ 6"),
    (["run", "--methods", "adv-base", "--set", "method.beta=0"], "method.beta=0 removes the adversarial term"),
    (["run", "--set", "lr_schedule=cosine"], "lr_schedule must be one of linear, constant, epoch-warmup-constant"),
    (["run", "--set", "weight_decay_scope=encoder"], "weight_decay_scope must be one of all, heads"),
    (["run", "--set", "grad_clip=-1"], "grad_clip must be ≥ 0"),
    (["run", "--set", "batch_size=0"], "batch_size=0 (the per-dataset preset) but scale 'smoke' has no preset"),
])
def test_user_errors_are_one_line_exit_2(argv, expected, capsys, tmp_path):
    code = main([*argv, "--results", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err


def test_bad_grid_files(tmp_path, capsys):
    bad = tmp_path / "grid.yaml"
    bad.write_text("methods: [standard\n")
    assert main(["run", "--grid", str(bad), "--results", str(tmp_path)]) == 2
    assert "is not valid yaml" in capsys.readouterr().err
    unknown = tmp_path / "grid.toml"
    unknown.write_text('methodz = ["standard"]\n')
    assert main(["run", "--grid", str(unknown), "--results", str(tmp_path)]) == 2
    assert "unknown keys ['methodz']" in capsys.readouterr().err
    assert main(["run", "--grid", str(tmp_path / "nope.yaml")]) == 2


def test_list(capsys):
    assert main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("methods:") and "standard" in out and "attacks:" not in out
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "query_budget=0" in out and "scales:" in out and "minilm-l6" in out
    assert "query_budget counts model queries per example as distinct texts scored" in out
    assert "Adv-Base" in out  # the display names of the registrations


def test_every_query_budget_counts_distinct_texts(victim, sst2_task, assets):
    """Every recipe with a query_budget stops within it, counted as distinct texts scored for the example (the
    record's ``queries`` counts the same texts, plus the final prediction)."""
    import dataclasses

    from bench.core.registry import ATTACKS

    examples = sst2_task.test[:3]
    for entry in ATTACKS.entries():
        fields = {f.name for f in dataclasses.fields(entry.obj.Settings)}
        if "query_budget" not in fields:
            continue
        # The LM filter never queries the victim: it is off here (the registry walk runs it with a budget too).
        settings = dataclasses.replace(entry.obj.Settings(), query_budget=12, **({"lm": ""} if "lm" in fields else {}))
        for result in entry.obj(settings, assets).attack_all(victim, examples, 0):
            assert result.queries <= 12 + 1, (entry.name, result.queries, result.reason)


@pytest.mark.parametrize("grid_text, expected", [
    ("seeds: []\n", "no seeds given"),
    ("seeds: [zero]\n", "seeds must be integers"),
    ("methods: []\n", "no methods given"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_bad_grid_values(grid_text, expected, tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(grid_text)
    assert main(["run", "--grid", str(grid), "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


@pytest.mark.parametrize("argv, expected", [
    (["--workers", "0", "--executor", "pool"], "--workers must be ≥ 1"),
    (["--threads", "0", "--executor", "pool"], "--threads must be ≥ 1"),
    (["--examples-in-flight", "-3"], "--examples-in-flight must be ≥ 1"),
    (["--datasets", "sst2", "--assets", "/nonexistent/folder", "--offline"], "is missing"),
    (["--models", "roberta-base", "--offline"], "model 'roberta-base' is missing"),
    (["--models", "/no/such/model/dir"], "model folder /no/such/model/dir does not exist"),
])
def test_bad_run_inputs(argv, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RIFT_BENCH_ASSETS", raising=False) if "--assets" in argv else None
    code = main(["run", *argv, "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--set", "n_train=16"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err[-1].startswith("error: ") and expected in err[-1], err


def test_attack_that_does_not_fit_the_task(capsys, tmp_path, monkeypatch):
    from attacks.pwws import PWWS

    monkeypatch.setattr(PWWS, "supports_pairs", False)
    assert main(["run", "--datasets", "snli", "--results", str(tmp_path)]) == 2
    assert "does not fit the pair task 'snli'" in capsys.readouterr().err


def test_the_headline_command_line_parses():
    """`bench run --methods all --attacks genetic,pwws` (README, DEVELOPERS.md): comma lists like space lists."""
    from bench.cli import build_parser
    from bench.core.registry import METHODS

    comma = _cell_list(build_parser().parse_args(["run", "--methods", "all", "--attacks", "genetic,pwws"]))
    spaced = _cell_list(build_parser().parse_args(["run", "--methods", "all", "--attacks", "genetic", "pwws"]))
    assert comma == spaced
    assert {c.attack for c in comma} == {"genetic", "pwws"} and {c.method for c in comma} == set(METHODS.names())
    mixed = _cell_list(build_parser().parse_args(
        ["run", "--methods", "standard,", "adv-base", "--datasets", "sst2,mr", "--seeds", "0,1", "2",
         "--models", "minilm-l6"]))
    assert sorted({(c.method, c.dataset, c.seed) for c in mixed}) == sorted(
        (m, d, s) for m in ("standard", "adv-base") for d in ("sst2", "mr") for s in (0, 1, 2))
    status = _cell_list(build_parser().parse_args(["status", "--methods", "standard,rift", "--attacks", "pwws"]))
    assert {c.method for c in status} == {"standard", "rift"}


def _cell_list(args):
    from bench.cli import _cells_from_args

    return [rc.cell for rc in _cells_from_args(args)]


def test_paper_scale_resolves_the_official_protocol_per_dataset():
    from bench.run.grid import Cell, resolve_cell

    snli = resolve_cell(Cell("snli", "minilm-l6", "rift", 0, "pwws", "paper"))
    imdb = resolve_cell(Cell("imdb", "minilm-l6", "rift", 0, "pwws", "paper"))
    assert snli.scale.batch_size == 120 and imdb.scale.batch_size == 32
    for rc in (snli, imdb):
        s = rc.config["scale_settings"]
        assert (s["grad_clip"], s["lr_schedule"], s["weight_decay_scope"], s["adam_eps"]) == (
            0.0, "epoch-warmup-constant", "heads", 1e-6)
        assert s["batch_size"] == rc.scale.batch_size  # the record holds the number used, not the preset marker
    assert (snli.max_length, imdb.max_length) == (80, 300)
    overridden = resolve_cell(Cell("snli", "minilm-l6", "rift", 0, "pwws", "paper", (("batch_size", 60),)))
    assert overridden.scale.batch_size == 60 and overridden.cell_id != snli.cell_id


def test_a_grid_file_may_unite_several_grids(tmp_path):
    """A YAML list of grids: e.g. one attack on fewer test examples, sharing the models (one model group)."""
    from bench.cli import _cells_from_args, build_parser
    from bench.run.executors import plan_groups

    grid = tmp_path / "grid.yaml"
    grid.write_text("- {methods: [standard, adv-base], attacks: 'pwws,deepwordbug', seeds: [0], set: [n_test=50]}\n"
                    "- {methods: [standard, adv-base], attacks: [genetic], seeds: [0], set: [n_test=10]}\n")
    resolved = _cells_from_args(build_parser().parse_args(["run", "--grid", str(grid)]))
    cells = [rc.cell for rc in resolved]
    assert sorted((c.method, c.attack, dict(c.overrides)["n_test"]) for c in cells) == sorted(
        [(m, a, 50) for m in ("standard", "adv-base") for a in ("pwws", "deepwordbug")]
        + [(m, "genetic", 10) for m in ("standard", "adv-base")])
    groups = plan_groups(resolved)
    assert len(groups) == 2 and all(len({c.cell.method for c in g}) == 1 and len(g) == 3 for g in groups)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {methods: [standard]}\n- {methodz: [x]}\n")
    assert main(["run", "--grid", str(bad), "--results", str(tmp_path)]) == 2


def test_options_select_among_a_grid_files_cells(tmp_path, capsys):
    """With --grid, --attacks/--seeds/... keep the grid's own cells, each with its part's settings: the Genetic
    part's 10-example cells never turn into 10-example PWWS cells. A value the grid lacks is a one-line error."""
    from bench.cli import _cells_from_args, build_parser

    grid = tmp_path / "grid.yaml"
    grid.write_text("- {methods: [standard, adv-base], attacks: 'pwws,deepwordbug', seeds: [0, 1], set: [n_test=50]}\n"
                    "- {methods: [standard, adv-base], attacks: [genetic], seeds: [0], set: [n_test=10]}\n")

    def cells(*options):
        args = build_parser().parse_args(["run", "--grid", str(grid), *options])
        return sorted((c.method, c.seed, c.attack, dict(c.overrides)["n_test"]) for c in (rc.cell for rc in
                                                                                         _cells_from_args(args)))

    everything = cells()
    assert len(everything) == 10
    assert cells("--attacks", "pwws") == [(m, s, "pwws", 50) for m in ("adv-base", "standard") for s in (0, 1)]
    assert cells("--attacks", "pwws,genetic", "--methods", "adv-base", "--seeds", "0") == [
        ("adv-base", 0, "genetic", 10), ("adv-base", 0, "pwws", 50)]
    assert cells("--seeds", "1") == [(m, 1, a, 50) for m in ("adv-base", "standard") for a in ("deepwordbug", "pwws")]
    assert cells("--methods", "all", "--attacks", "all", "--scale", "smoke", "--datasets", "sst2") == everything
    resolved = _cells_from_args(build_parser().parse_args(["run", "--grid", str(grid), "--seeds", "1"]))
    assert {rc.cell_id for rc in resolved} < {rc.cell_id for rc in _cells_from_args(
        build_parser().parse_args(["run", "--grid", str(grid)]))}  # the same cells, the same ids
    for options, named in ((["--seeds", "2"], "--seeds 2: grid"), (["--attacks", "textfooler"], "its attacks: "),
                           (["--scale", "small"], "its scale: smoke"), (["--datasets", "snli"], "its datasets: sst2")):
        assert main(["run", "--grid", str(grid), *options, "--results", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and named in err[0] and "select the grid's cells" in err[0], err
