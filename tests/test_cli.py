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
