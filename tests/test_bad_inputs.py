"""Bad inputs, tried as a new user would: each gives exit code 2 and one line `error: …`, and leaves every
record, cache entry and checkpoint as it was; no number is ever made from the wrong data.

Data cases run `bench run` in-process on a small assets folder built from real lines of the shared data
(they fail before any training). Cache and checkpoint cases use the classes directly. A few cases that
need a trained model (a diverging loss, `--overwrite always`) run the smallest real cell.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.errors import BenchError

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "results" / "reference"
TINY = ["--datasets", "sst2", "--models", "minilm-l6", "--methods", "standard", "--attacks", "pwws", "--seeds", "0",
        "--set", "n_train=16", "--set", "n_dev=4", "--set", "n_test=4", "--set", "epochs=1", "--set", "max_length=32"]


# ---------------------------------------------------------------- helpers


def snapshot(*folders: Path) -> dict[str, str]:
    """sha256 of every record, examples file, checkpoint and cache file under ``folders`` (notes and logs aside)."""
    out = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file() and not path.name.endswith((".failed.json", ".log", ".lock")):
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def records_in(results: Path) -> list[Path]:
    return [p for p in results.rglob("*.json") if not p.name.endswith(".failed.json")] if results.exists() else []


def one_error_line(err: str, expected: str, only_line: bool = True) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err, err
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    if only_line:
        assert len(lines) == 1, err
    assert expected in errors[0], err
    return errors[0]


@pytest.fixture()
def folders(tmp_path):
    """A results folder holding the committed reference record and a cache, both to be left untouched."""
    results, cache = tmp_path / "results", tmp_path / "cache"
    shutil.copytree(REFERENCE / "records", results)
    (cache / "models").mkdir(parents=True)
    return results, cache


def _lines(path: Path, n: int) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [next(handle) for _ in range(n)]


def fake_assets(root: Path, shared: Path) -> Path:
    """An assets folder with the first real lines of SST-2 (train, dev) and SNLI (dev, test)."""
    for rel, n in (("sst2/train.jsonl", 60), ("sst2/dev.jsonl", 20), ("snli/dev.jsonl", 60), ("snli/test.jsonl", 20)):
        target = root / "data" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(_lines(shared / "data" / rel, n)), encoding="utf-8")
    return root


def _replace_line(path: Path, index: int, line: str | bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[index] = (line if isinstance(line, bytes) else line.encode()) + b"\n"
    path.write_bytes(b"".join(lines))


# ---------------------------------------------------------------- data: bad data never becomes a result

DATA_CASES = {
    # id: (dataset, file, how to break it, expected in the error line)
    "train-bad-json": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 1, '{"text": "x", "label": 1'),
                       "sst2/train.jsonl:2: not a valid sst2 row"),
    "train-missing-label": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 4, '{"text": "no label"}'),
                            "sst2/train.jsonl:5: not a valid sst2 row (no 'label' field)"),
    "train-non-utf8": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 2, b'{"text": "caf\xe9", "label": 1}'),
                       "sst2/train.jsonl:3: not UTF-8 (byte 0xe9"),
    "train-label-out-of-range": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 0, '{"text": "a", "label": 2}'),
                                 "sst2/train.jsonl:1: not a valid sst2 row (label 2 is outside sst2's classes 0..1"),
    "train-label-negative": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 0, '{"text": "a", "label": -1}'),
                             "label -1 is outside sst2's classes"),
    "train-label-string": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 0, '{"text": "a", "label": "1"}'),
                           "label must be an integer"),
    "train-label-bool": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 0, '{"text": "a", "label": true}'),
                         "label must be an integer"),
    "train-text-null": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 3, '{"text": null, "label": 0}'),
                        "sst2/train.jsonl:4: not a valid sst2 row (text must be a string, got null)"),
    "train-text-number": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 3, '{"text": 42, "label": 0}'),
                          "text must be a string, got 42"),
    "train-row-is-a-list": ("sst2", "sst2/train.jsonl", lambda p: _replace_line(p, 3, '["a", 1]'),
                            "expected a JSON object, got list"),
    "train-empty": ("sst2", "sst2/train.jsonl", lambda p: p.write_text(""), "sst2/train.jsonl: no sst2 rows"),
    "train-is-a-folder": ("sst2", "sst2/train.jsonl", lambda p: (p.unlink(), p.mkdir()),
                          "sst2/train.jsonl: is a folder"),
    "test-label-out-of-range": ("sst2", "sst2/dev.jsonl", lambda p: _replace_line(p, 7, '{"text": "a", "label": 5}'),
                                "sst2/dev.jsonl:8: not a valid sst2 row (label 5 is outside"),
    "test-bad-json": ("sst2", "sst2/dev.jsonl", lambda p: _replace_line(p, 0, "not json"),
                      "sst2/dev.jsonl:1: not a valid sst2 row"),
    "snli-hypothesis-null": ("snli", "snli/dev.jsonl",
                             lambda p: _replace_line(p, 2, '{"premise": "A man.", "hypothesis": null, "label": 0}'),
                             "snli/dev.jsonl:3: not a valid snli row (hypothesis must be a string"),
    "snli-label-out-of-range": ("snli", "snli/test.jsonl",
                                lambda p: _replace_line(p, 2, '{"premise": "A.", "hypothesis": "B.", "label": 3}'),
                                "snli/test.jsonl:3: not a valid snli row (label 3 is outside snli's classes 0..2"),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_is_an_error_naming_file_and_line(case, shared, folders, tmp_path, capsys):
    dataset, rel, breaker, expected = DATA_CASES[case]
    assets = fake_assets(tmp_path / "assets", shared)
    breaker(assets / "data" / rel)
    results, cache = folders
    before = snapshot(results, cache)
    argv = ["run", *TINY, "--datasets", dataset, "--assets", str(assets), "--offline",
            "--results", str(results), "--cache", str(cache)]
    assert main(argv) == 2
    one_error_line(capsys.readouterr().err, expected, only_line=False)
    assert snapshot(results, cache) == before  # no record, examples file, checkpoint or model was made or touched


def test_missing_train_split_is_an_error_not_test_halves(shared, folders, tmp_path, capsys, monkeypatch):
    """Before: SST-2 without train.jsonl trained on half of its test split, exit 0, under the real cell's id."""
    monkeypatch.delenv("RIFT_BENCH_ASSETS", raising=False)
    assets = fake_assets(tmp_path / "assets", shared)
    (assets / "data" / "sst2" / "train.jsonl").unlink()
    results, cache = folders
    before = snapshot(results, cache)
    assert main(["run", *TINY, "--assets", str(assets), "--offline", "--results", str(results),
                 "--cache", str(cache)]) == 2
    one_error_line(capsys.readouterr().err, "dataset 'sst2' split 'train' is missing (tried: --assets:")
    assert snapshot(results, cache) == before


def test_corrupt_file_in_assets_does_not_fall_back_to_the_env_folder(shared, folders, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RIFT_BENCH_ASSETS", str(shared))  # a good copy is there
    assets = fake_assets(tmp_path / "assets", shared)
    _replace_line(assets / "data" / "sst2" / "train.jsonl", 9, "{")
    results, cache = folders
    assert main(["run", *TINY, "--assets", str(assets), "--offline", "--results", str(results),
                 "--cache", str(cache)]) == 2
    line = one_error_line(capsys.readouterr().err, "train.jsonl:10: not a valid sst2 row", only_line=False)
    assert str(assets) in line and not records_in(results / "sst2" / "minilm-l6" / "standard" / "pwws")[1:]


def test_absent_file_in_assets_is_looked_up_in_the_env_folder(shared, tmp_path, monkeypatch):
    """The documented order for *absent* sources stays: --assets, then $RIFT_BENCH_ASSETS."""
    from bench.core.assets import AssetConfig
    from bench.core.data import data_identity

    monkeypatch.setenv("RIFT_BENCH_ASSETS", str(shared))
    assets = fake_assets(tmp_path / "assets", shared)
    (assets / "data" / "sst2" / "train.jsonl").unlink()
    identity = data_identity("sst2", AssetConfig(assets, offline=True))
    real = hashlib.sha256((shared / "data" / "sst2" / "train.jsonl").read_bytes()).hexdigest()
    fake = hashlib.sha256((assets / "data" / "sst2" / "dev.jsonl").read_bytes()).hexdigest()
    assert identity == {"split_rule": "train", "files": {"train": f"sha256:{real}", "test": f"sha256:{fake}"}}


# ---------------------------------------------------------------- records made from other data are never "done"


def _reference_record() -> tuple[dict, Path]:
    (path,) = [p for p in (REFERENCE / "records" / "sst2" / "minilm-l6" / "standard" / "pwws").glob("*.json")]
    return json.loads(path.read_text()), path


def _identity(train: str = "a" * 64, test: str = "b" * 64, rule: str = "train") -> dict:
    return {"split_rule": rule, "files": {"train": f"sha256:{train}", "test": f"sha256:{test}"}}


@pytest.mark.parametrize("stored, now, rerun", [
    pytest.param({"train_split": "test[half]"}, _identity(), True, id="legacy-record-from-test-halves"),
    pytest.param({"train_split": "train"}, _identity(), False, id="legacy-record-same-split"),
    pytest.param({"train_split": "train", "identity": _identity(train="c" * 64)}, _identity(), True,
                 id="record-from-another-train-file"),
    pytest.param({"train_split": "train", "identity": _identity(test="c" * 64)}, _identity(), True,
                 id="record-from-another-test-file"),
    pytest.param({"train_split": "test[half]", "identity": _identity(rule="test[half]")}, _identity(), True,
                 id="record-from-test-halves"),
    pytest.param({"train_split": "train", "identity": _identity()}, _identity(), False, id="record-from-this-data"),
])
def test_a_record_from_other_data_is_run_again(stored, now, rerun, tmp_path):
    from bench.run.runner import needs_run

    record, reference = _reference_record()
    record["data"] = {**record["data"], **stored}
    if "identity" not in stored:
        record["data"].pop("identity", None)
    path = tmp_path / f"{record['cell_id']}.json"
    path.write_text(json.dumps(record))
    shutil.copy(reference.with_suffix(".examples.jsonl"), tmp_path)
    said = []
    for overwrite in ("never", "missing"):
        assert needs_run(path, overwrite, said.append, now) is rerun
    assert bool(said) is rerun and all("was made from other data" in s for s in said)


def test_the_mismatch_names_where_each_changed_split_came_from_then_and_now():
    from bench.core.data import data_mismatch
    from bench.core.record import CellRecord

    record, _ = _reference_record()
    record["data"]["identity"] = _identity(train="a" * 64, test="b" * 64)
    now = {"split_rule": "train", "files": {"train": f"sha256:{'a' * 64}", "test": "hub:stanfordnlp/sst2[validation]"}}
    why = data_mismatch(CellRecord.from_json(record), now)
    assert why == f"test: a file with sha256 {'b' * 12}… then, hub:stanfordnlp/sst2[validation] now"


def test_status_calls_a_record_from_other_data_stale(shared, tmp_path, capsys, monkeypatch):
    """`bench status` agrees with `bench run`: a record made from other data is "stale", not "done"."""
    results = tmp_path / "results"
    shutil.copytree(REFERENCE / "records", results)
    grid = ["status", "--grid", str(REFERENCE / "grid.yaml"), "--results", str(results), "--all"]
    assert main([*grid, "--assets", str(shared)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "stale" not in first and "pending" not in first and first.endswith(" done"), first
    record, path = _reference_record()
    record["data"]["identity"] = {**record["data"]["identity"], "split_rule": "test[half]"}
    (results / path.relative_to(REFERENCE / "records")).write_text(json.dumps(record))
    assert main([*grid, "--assets", str(shared)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"{len(list(results.rglob('*.json'))) - 1} done · 1 stale"), out
    assert f"stale       {record['cell_id']}" in out and "'test[half]'" in out
    empty = tmp_path / "no-assets"
    empty.mkdir()
    monkeypatch.delenv("RIFT_BENCH_ASSETS", raising=False)
    assert main([*grid, "--assets", str(empty), "--offline"]) == 0  # data not found: records are not checked
    said = capsys.readouterr()
    assert "stale" not in said.out and "sst2 records not checked against the data" in said.err


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_record_whose_examples_are_unusable_is_corrupt_for_run_and_status(damage, shared, tmp_path, capsys):
    """Examples that are missing or disagree with their record (a line lost): `bench run` warns and leaves the cell
    alone unless --overwrite missing, which redoes it; `bench status` calls it corrupt, naming the file."""
    from bench.run.runner import needs_run

    results = tmp_path / "results"
    shutil.copytree(REFERENCE / "records", results)
    record, reference = _reference_record()
    path = results / reference.relative_to(REFERENCE / "records")
    examples = path.with_suffix(".examples.jsonl")
    if damage == "missing":
        examples.unlink()
    else:
        examples.write_text("".join(examples.read_text().splitlines(keepends=True)[:-1]))
    said = []
    assert needs_run(path, "never", said.append) is False
    (warning,) = said
    assert str(examples) in warning and "--overwrite missing" in warning
    assert needs_run(path, "missing", said.append) is True
    assert main(["status", "--grid", str(REFERENCE / "grid.yaml"), "--results", str(results), "--assets",
                 str(shared)]) == 0
    out = capsys.readouterr().out
    assert " · 1 corrupt" in out.splitlines()[0] and f"corrupt     {record['cell_id']}" in out and str(examples) in out
    assert "estimate: about " in out and "for 1 cell(s) (0 model(s) to train)" in out  # its model is cached


def test_committed_reference_record_matches_the_shared_data(shared):
    """The reference record predates data identities: it is accepted by its split rule (and regress reruns it)."""
    from bench.core.assets import AssetConfig
    from bench.core.data import data_identity
    from bench.core.record import CellRecord
    from bench.core.data import data_mismatch

    record, _ = _reference_record()
    assert data_mismatch(CellRecord.from_json(record), data_identity("sst2", AssetConfig(shared, offline=True))) == ""


# ---------------------------------------------------------------- options: one line, exit 2, before any work


def _file(tmp_path: Path, name: str = "a-file") -> Path:
    path = tmp_path / name
    path.write_text("not a folder\n")
    return path


OPTION_CASES = {
    "grid-is-a-folder": (lambda t: ["run", "--grid", str(t)], "is a folder; give a YAML or TOML file"),
    "grid-not-utf8": (lambda t: ["run", "--grid", str(_bytes(t / "g.yaml", b"methods: [\xff]\n"))], "cannot be read"),
    "device-tpu": (lambda t: ["run", "--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
    "device-cuda-without-gpu": (lambda t: ["run", "--device", "cuda"], "no CUDA GPU is usable on this machine"),
    "device-cuda-index": (lambda t: ["run", "--device", "cuda:x"], "--device must be auto, cpu, cuda or cuda:N"),
    "ray-address-malformed": (lambda t: ["run", "--executor", "ray", "--ray-address", "not an address"],
                              "--ray-address must be auto, HOST:PORT or ray://HOST:PORT"),
    "ray-address-bad-port": (lambda t: ["run", "--executor", "ray", "--ray-address", "127.0.0.1:99999"],
                             "--ray-address must be auto"),
    "ray-address-unreachable": (lambda t: ["run", "--executor", "ray", "--ray-address", "127.0.0.1:1"],
                                "--ray-address 127.0.0.1:1: no Ray cluster answers there"),
    "results-is-a-file": (lambda t: ["run", "--results", str(_file(t))], "--results " + "{t}/a-file names a file"),
    "results-under-a-file": (lambda t: ["run", "--results", str(_file(t) / "sub")], "which is a file"),
    "cache-is-a-file": (lambda t: ["run", "--cache", str(_file(t))], "--cache " + "{t}/a-file names a file"),
    "seed-too-large": (lambda t: ["run", "--seeds", str(2**32)], "seed must be in 0..4294967295"),
    "data-seed-negative": (lambda t: ["run", "--set", "data_seed=-1"], "data_seed must be in 0..4294967295, got -1"),
    "data-seed-too-large": (lambda t: ["run", "--set", f"data_seed={2**40}"], "data_seed must be in 0..4294967295"),
    "weight-decay-negative": (lambda t: ["run", "--set", "weight_decay=-5"], "weight_decay must be ≥ 0, got -5"),
    "lr-infinite": (lambda t: ["run", "--set", "lr=inf"], "lr must be a finite number, got inf"),
    "lr-nan": (lambda t: ["run", "--set", "lr=.nan"], "bad scale setting: lr must be"),
    "weight-decay-nan": (lambda t: ["run", "--set", "weight_decay=.nan"], "weight_decay must be a finite number"),
    "warmup-nan": (lambda t: ["run", "--set", "warmup_ratio=.nan"], "warmup_ratio"),
    "report-out-is-a-folder": (lambda t: ["report", "--out", str(t)], "is a folder; give a file name"),
    "report-html-out-is-a-file": (lambda t: ["report", "--format", "html", "--out", str(_file(t))],
                                  "--out (html writes a folder) " + "{t}/a-file names a file"),
    "report-figures-is-a-file": (lambda t: ["report", "--figures", str(_file(t))], "--figures {t}/a-file names a file"),
    "report-results-is-a-file": (lambda t: ["report", "--results", str(_file(t))], "names a file; it must be a results"),
    "report-out-under-a-file": (lambda t: ["report", "--out", str(_file(t) / "r.md")], "a-file names a file"),
    "status-seed-too-large": (lambda t: ["status", "--seeds", str(2**33)], "seed must be in 0..4294967295"),
}


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_bad_options_are_one_line_exit_2_before_any_work(case, folders, tmp_path, capsys):
    import torch

    if case == "device-cuda-without-gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    build, expected = OPTION_CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    argv = build(work)
    results, cache = folders
    before = snapshot(results, cache)
    extra = [] if "--results" in argv else ["--results", str(results)]
    if argv[0] == "run" and "--cache" not in argv:
        extra += ["--cache", str(cache)]
    started = time.monotonic()
    assert main([*argv, *extra]) == 2
    assert time.monotonic() - started < 15  # fail fast (an unreachable Ray address waits ≤ 3 s)
    one_error_line(capsys.readouterr().err, expected.replace("{t}", str(work)))
    assert snapshot(results, cache) == before
    assert not list(work.rglob("*.json"))


def test_read_only_results_folder_with_work_to_do(folders, capsys, monkeypatch):
    """Root ignores permission bits, so the folder is made read-only for the check by denying os.access."""
    import bench.core.checks

    results, cache = folders
    real_access = bench.core.checks.os.access
    under = lambda p: Path(p) == results or results in Path(p).parents  # noqa: E731
    monkeypatch.setattr(bench.core.checks.os, "access", lambda p, mode: False if under(p) and mode & 2 else real_access(p, mode))
    before = snapshot(results, cache)
    assert main(["run", *TINY, "--results", str(results), "--cache", str(cache)]) == 2
    cell_folder = results / "sst2" / "minilm-l6" / "standard" / "pwws"
    one_error_line(capsys.readouterr().err, f"--results {cell_folder} is not writable")
    # with nothing to do, a read-only folder is fine: the reference grid's one cell is done there
    assert main(["run", "--grid", str(REFERENCE / "grid.yaml"), "--results", str(results), "--cache", str(cache)]) == 0
    n_reference = len(list((REFERENCE / "records").rglob("*.examples.jsonl")))
    assert f"0 run, {n_reference} skipped" in capsys.readouterr().err
    assert snapshot(results, cache) == before


def test_unreachable_ray_host_fails_within_the_timeout():
    from bench.run.checks import check_ray_address
    from bench.core.errors import ConfigError

    started = time.monotonic()
    with pytest.raises(ConfigError, match="no Ray cluster answers there"):
        check_ray_address("192.0.2.1:6379", timeout=1.0)  # TEST-NET-1: refused, or no answer within the timeout
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- regress: tolerances


def _reference(tmp_path: Path, tolerances: str | bytes) -> Path:
    ref = tmp_path / "reference"
    shutil.copytree(REFERENCE, ref)
    target = ref / "tolerances.yaml"
    target.write_bytes(tolerances if isinstance(tolerances, bytes) else tolerances.encode())
    return ref


@pytest.mark.parametrize("text, expected", [
    pytest.param("metrics.clean_accuracy: {abs: 0.07\n", "tolerances.yaml is not valid YAML", id="yaml-syntax"),
    pytest.param(b"metrics.clean_accuracy: {abs: \xff}\n", "tolerances.yaml is not valid YAML", id="not-utf8"),
    pytest.param("metrics.clean_accuracy: {abs: lots}\n", "abs and rel must be finite numbers", id="abs-not-a-number"),
    pytest.param("metrics.clean_accuracy: {rel: .inf}\n", "abs and rel must be finite numbers", id="rel-infinite"),
    pytest.param("metrics.clean_acuracy: {abs: 0.07}\n", "tolerance for metrics.clean_acuracy, which is not in any "
                 "reference record", id="metric-misspelt"),
    pytest.param("training.no_such_value: {abs: 1}\n", "tolerance for training.no_such_value", id="unknown-path"),
    pytest.param("metrics.clean_accuracy: {abs: -1}\n", "tolerances must be ≥ 0", id="negative"),
])
def test_bad_tolerances_fail_before_the_run(text, expected, tmp_path, capsys, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the grid ran")

    monkeypatch.setattr("bench.run.regress.run_grid", forbidden)
    ref = _reference(tmp_path, text)
    before = snapshot(ref)
    assert main(["regress", "--reference", str(ref)]) == 2
    one_error_line(capsys.readouterr().err, expected)
    assert snapshot(ref) == before


def test_regress_options_checked_before_the_run(tmp_path, capsys, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the grid ran")

    monkeypatch.setattr("bench.run.regress.run_grid", forbidden)
    assert main(["regress", "--reference", str(REFERENCE), "--device", "tpu"]) == 2
    one_error_line(capsys.readouterr().err, "--device must be auto, cpu")
    assert main(["regress", "--reference", str(REFERENCE), "--results", str(_file(tmp_path))]) == 2
    one_error_line(capsys.readouterr().err, "names a file")


def test_tolerances_without_reference_records_must_name_cell_metrics(tmp_path):
    from bench.run.regress import Tolerance, check_tolerance_metrics
    from bench.core.errors import ConfigError

    check_tolerance_metrics({"metrics.accuracy_under_attack": Tolerance(0.1),
                             "training.selected_dev_accuracy": Tolerance(0.1)}, [], tmp_path)
    with pytest.raises(ConfigError, match="not in the cell metrics"):
        check_tolerance_metrics({"metrics.acc": Tolerance(0.1)}, [], tmp_path)


# ---------------------------------------------------------------- the model cache


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """all-MiniLM-L6-v2 with a fresh head, no training: enough to save, corrupt and load cache entries."""
    from bench.core.assets import AssetConfig
    from bench.core.classifier import load_pretrained
    from bench.core.config import Scale
    from bench.core.models import fingerprint, resolve_model
    from bench.core.record import Training
    from bench.core.train import TrainedModel, TrainSpec

    assets = AssetConfig.from_env(offline=True)
    model_dir = resolve_model("minilm-l6", assets).value
    model, tokenizer = load_pretrained(model_dir, 2, "mean", 0)
    spec = TrainSpec("sst2", "minilm-l6", fingerprint(model_dir), "mean", "standard", {}, 0,
                     Scale(n_train=16, n_dev=4, n_test=4, epochs=1, batch_size=16, lr=1e-4), 32, {"n_train": 16})
    return spec, model_dir, TrainedModel(model, tokenizer, Training(train_key=spec.key, notes=["untrained"]))


def _flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


CACHE_CASES = {
    "weights-bit-flipped": (lambda e: _flip_a_bit(e / "model.safetensors"), "model.safetensors does not match"),
    "weights-truncated": (lambda e: (e / "model.safetensors").write_bytes((e / "model.safetensors").read_bytes()[:1000]),
                          "model.safetensors does not match"),
    "weights-missing": (lambda e: (e / "model.safetensors").unlink(), "model.safetensors is missing"),
    "train-log-corrupt": (lambda e: (e / "train_log.json").write_text("{"), "train_log.json does not match"),
    "manifest-missing": (lambda e: (e / "manifest.json").unlink(), "it has no manifest"),
    "manifest-corrupt": (lambda e: (e / "manifest.json").write_text("[1"), "its manifest is unreadable"),
    "manifest-tampered": (lambda e: (e / "manifest.json").write_text(json.dumps({"sha256": {"model.safetensors": "0"}})),
                          "does not match the sha256 in its manifest"),
}


@pytest.mark.parametrize("case", list(CACHE_CASES))
def test_a_bad_cache_entry_is_named_moved_aside_and_never_used(case, untrained, tmp_path):
    from bench.core.model_cache import ModelCache

    spec, model_dir, trained = untrained
    said: list[str] = []
    cache = ModelCache(tmp_path / "models", said.append)
    entry = cache.save(spec, trained)
    assert cache.load(spec, 2, model_dir) is not None  # a good entry loads (and is verified)
    breaker, expected = CACHE_CASES[case]
    breaker(entry)
    assert cache.load(spec, 2, model_dir) is None  # → the caller retrains it
    assert not entry.exists()
    (aside,) = list((tmp_path / "models").glob(f".{spec.key}.corrupt-*"))
    assert len(said) == 1 and str(entry) in said[-1] and expected in said[-1] and str(aside) in said[-1]
    cache.save(spec, trained)  # the retrained model takes the entry's place and loads
    assert cache.load(spec, 2, model_dir) is not None


def test_orphaned_temporary_folders_are_removed_on_the_next_run(untrained, tmp_path):
    import socket
    import subprocess

    from bench.core.model_cache import ModelCache

    root = tmp_path / "models"
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid is free now: a save that process made can never finish
    orphan = root / f".abc.tmp-{socket.gethostname()}-{dead.pid}"
    old_style = root / f".def.tmp-{dead.pid}"
    live = root / f".ghi.tmp-{socket.gethostname()}-{__import__('os').getpid()}"  # a save in progress
    for folder in (orphan, old_style, live):
        (folder).mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"half")
    said: list[str] = []
    ModelCache(root, said.append)
    assert not orphan.exists() and not old_style.exists() and live.exists()
    assert len(said) == 2 and all("left by an interrupted save" in s for s in said)


# ---------------------------------------------------------------- checkpoints


def _row(uid: str) -> dict:
    return {"uid": uid, "label": 1, "status": "failed", "original": "a fine film", "adversarial": "a good film",
            "original_pred": 1, "original_probs": [0.2, 0.8], "final_pred": 1, "final_probs": [0.4, 0.6],
            "n_words": 3, "words_changed": 1, "changes": [], "queries": 5, "forwards": 5, "seconds": 0.1}


CHECKPOINT_CASES = {
    "a-number": ("7", "a JSON int, not an example row"),
    "a-list": ('["a", "b"]', "a JSON list, not an example row"),
    "a-string": ('"text"', "a JSON str, not an example row"),
    "null": ("null", "a JSON NoneType, not an example row"),
    "row-missing-fields": ('{"uid": "b", "status": "failed"}', "an example row without label"),
    "row-wrong-types": (json.dumps({**_row("b"), "queries": "many"}), "wrong type for queries"),
    "row-bad-status": (json.dumps({**_row("b"), "status": "maybe"}), "status 'maybe'"),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_a_checkpoint_line_that_is_not_a_row_is_dropped_with_what_follows(case, tmp_path):
    from bench.core.checkpoint import ExampleCheckpoint

    line, expected = CHECKPOINT_CASES[case]
    path = tmp_path / "c.partial.jsonl"
    cp = ExampleCheckpoint(path, "cell", ["a", "b", "c"], {"d": 1})
    cp.append(_row("a"))
    cp.close()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n" + json.dumps(_row("c")) + "\n")
    rows, note = ExampleCheckpoint(path, "cell", ["a", "b", "c"], {"d": 1}).load()
    assert [r["uid"] for r in rows] == ["a"]
    assert note.startswith("dropped line 3 (") and expected in note
    assert path.read_text().count("\n") == 2  # header and row a: the bad part is gone from the file


@pytest.mark.parametrize("header, expected", [
    pytest.param("42", "has no header line naming this cell", id="header-a-number"),
    pytest.param('{"cell_id": "cell"}', "made from other data", id="header-without-data"),
    pytest.param('{"cell_id": "cell", "data": {"d": 2}}', "made from other data", id="header-other-data"),
])
def test_a_checkpoint_with_a_foreign_header_is_discarded(header, expected, tmp_path):
    from bench.core.checkpoint import ExampleCheckpoint

    path = tmp_path / "c.partial.jsonl"
    path.write_text(header + "\n" + json.dumps(_row("a")) + "\n")
    rows, note = ExampleCheckpoint(path, "cell", ["a"], {"d": 1}).load()
    assert rows == [] and expected in note and not path.exists()


# ---------------------------------------------------------------- cases that train the smallest real model


def test_a_diverging_loss_stops_training_and_nothing_is_kept(folders, capsys):
    results, cache = folders
    before = snapshot(results)
    argv = ["run", *TINY, "--set", "n_train=48", "--set", "lr=1e30", "--results", str(results), "--cache", str(cache)]
    assert main(argv) == 2  # the first step blows the weights up; the second step's loss is not finite
    line = one_error_line(capsys.readouterr().err, "training diverged: the standard loss is", only_line=False)
    assert "at step 2 (epoch 1); lower lr (now 1e+30)" in line
    assert snapshot(results) == before  # no record, no examples, no checkpoint
    assert not [p for p in (cache / "models").iterdir()]  # and no cached model (not even a temporary one)


def test_a_nan_loss_from_a_method_stops_at_its_first_step(sst2_task, minilm_dir):
    import torch

    from bench.core.config import Scale
    from bench.core.models import fingerprint
    from bench.core.train import TrainJob, TrainSpec, fine_tune
    from methods.standard import Standard

    class Broken(Standard):
        def loss(self, model, batch):
            loss, parts = super().loss(model, batch)
            return loss * torch.tensor(float("nan")), parts

    scale = Scale(n_train=32, n_dev=8, n_test=4, epochs=1, batch_size=16, lr=1e-4)
    spec = TrainSpec("sst2", "minilm-l6", fingerprint(minilm_dir), "mean", "broken", {}, 0, scale, 32, {})
    with pytest.raises(BenchError, match=r"training diverged: the broken loss is nan at step 1 \(epoch 1\)"):
        fine_tune(TrainJob(spec, Broken, sst2_task, minilm_dir), log=lambda m: None)


def test_overwrite_always_never_resumes_a_checkpoint(folders, capsys):
    """A finished cell's checkpoint planted with a wrong row: --overwrite always starts afresh."""
    from bench.core.store import load_records

    results, cache = folders
    argv = ["run", *TINY, "--results", str(results), "--cache", str(cache)]
    assert main(argv) == 0
    capsys.readouterr()
    reference_ids = {r.cell_id for r in load_records(REFERENCE / "records")[0]}
    (record,) = [r.to_json() for r in load_records(results)[0] if r.cell_id not in reference_ids]
    path = next(results.rglob(f"{record['cell_id']}.json"))
    rows = [json.loads(line) for line in path.with_name(f"{record['cell_id']}.examples.jsonl").read_text().splitlines()]
    forged = {**rows[0], "status": "success", "final_pred": 1 - rows[0]["label"]}
    partial = path.with_name(f"{record['cell_id']}.partial.jsonl")
    partial.write_text(json.dumps({"cell_id": record["cell_id"], "data": record["data"]["identity"]}) + "\n"
                       + json.dumps(forged) + "\n")
    assert main([*argv, "--overwrite", "always"]) == 0
    assert "discarded the cell's checkpoint" in capsys.readouterr().err
    again = json.loads(path.read_text())
    assert again["provenance"]["resumed_examples"] == 0 and not partial.exists()
    assert again["metrics"]["n_success"] == record["metrics"]["n_success"]
    assert again["data"]["identity"]["split_rule"] == "train"


# ---------------------------------------------------------------- nothing half-written

KILL_MID_WRITE = """
import builtins, io, os, signal, sys
n, calls = int(os.environ["KILL_AT_WRITE"]), [0]
real_open = io.open


class Dying:
    # A file in a figures folder whose n-th write (counted over all such files) stops half-way: SIGKILL.

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        calls[0] += 1
        if calls[0] == n:
            self._handle.write(data[: len(data) // 2])
            self._handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)


def dying_open(file, mode="r", *args, **kwargs):
    handle = real_open(file, mode, *args, **kwargs)
    path = os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else os.fspath(file)
    if "w" in mode and "b" in mode and f"{os.sep}figures{os.sep}" in str(path):
        return Dying(handle)
    return handle


builtins.open = io.open = dying_open
from bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _figures(site: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((site / "figures").glob("*")) if not p.name.startswith(".")}


def test_a_killed_html_report_leaves_every_figure_old_or_new(tmp_path, monkeypatch):
    """`bench report --format html` SIGKILLed half-way through its first and its last write to a file in its
    figures folder, and at timed points of its run: each figure is byte for byte the previous report's or the new
    one's, never a truncated file. That holds for every figure because none is written in place: in a report run
    here, every file opened for writing in the figures folder has a temporary name, renamed into place when
    complete."""
    import os
    import signal
    import subprocess
    import sys

    from test_report import derive

    old_results, new_results = tmp_path / "old", tmp_path / "new"
    shutil.copytree(REFERENCE / "records", old_results)
    shutil.copytree(REFERENCE / "records", new_results)
    record, _ = _reference_record()
    derive(record, new_results, clean=0.7, robust=0.4, seed=1, method="adv-base", distance_scale=0.5)
    env = {**os.environ, "CI": "1", "PYTHONPATH": str(REPO)}

    def report(results: Path, site: Path, kill_at: int = 0) -> subprocess.Popen:
        cmd = [sys.executable, "-c", KILL_MID_WRITE, "report", "--format", "html", "--results", str(results),
               "--out", str(site)]
        return subprocess.Popen(cmd, env={**env, "KILL_AT_WRITE": str(kill_at)}, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def complete(results: Path, site: Path) -> dict[str, bytes]:
        proc = report(results, site)
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
        return _figures(site)

    import io

    site = tmp_path / "site"
    started = time.monotonic()
    old = complete(old_results, site)
    duration = time.monotonic() - started  # of a whole report run, for the timed kills below

    opened: list[str] = []
    real_open = io.open

    def recording_open(file, mode="r", *args, **kwargs):
        path = os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else os.fspath(file)
        if "w" in mode and f"{os.sep}figures{os.sep}" in str(path):
            opened.append(Path(path).name)
        return real_open(file, mode, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(io, "open", recording_open)
        patch.setattr("builtins.open", recording_open)
        assert main(["report", "--format", "html", "--results", str(new_results), "--out", str(tmp_path / "here")]) == 0
    new = _figures(tmp_path / "here")  # the new report, run in this process (a subprocess gives the same: the end)
    assert set(old) == set(new) and len(old) >= 4 and any(old[k] != new[k] for k in old)
    assert len(opened) >= len(new) and not set(opened) & set(new)  # every figure written under another name first

    killed = 0
    for kill_at in (1, len(new)):  # half-way through the first and the last figure's write
        proc = report(new_results, site, kill_at)
        if proc.wait(timeout=300) == -signal.SIGKILL:
            killed += 1
        figures = _figures(site)
        assert set(figures) == set(old)
        assert all(figures[k] in (old[k], new[k]) for k in figures), kill_at
        for name in figures:  # back to the old report for the next try
            (site / "figures" / name).write_bytes(old[name])
    assert killed == 2
    for fraction in (0.6, 0.9):  # and at timed points, wherever the process happens to be
        proc = report(new_results, site)
        time.sleep(fraction * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        figures = _figures(site)
        assert all(figures[k] in (old[k], new[k]) for k in figures), fraction
    assert complete(new_results, site) == new  # (and the figures are deterministic: a rerun gives the same bytes)
