"""`bench regress`: the committed reference is consistent, the comparison is right, and a real regression —
a broken method's loss or a weakened attack search — makes it fail."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.errors import ConfigError
from bench.run.regress import (GRID_FILE, RECORDS_DIR, TOLERANCE_FILE, Tolerance, compare, format_report, grid_cells,
                           load_tolerances, update_reference)
from bench.core.store import CellRecord, atomic_write_json, examples_path, load_records, record_path, write_record

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "results" / "reference"


def _reference_records() -> list[CellRecord]:
    records, problems = load_records(REFERENCE / RECORDS_DIR)
    assert records and not problems, problems
    return records


def _write(results: Path, records: list[CellRecord]) -> Path:
    for r in records:
        write_record(record_path(results, r.cell.to_json(), r.cell_id), r)
    return results


# ---------------------------------------------------------------- the committed reference


def test_committed_reference_matches_its_grid():
    """Every grid cell has a reference record with the same resolved configuration, and vice versa."""
    cells = {rc.cell_id: rc for rc in grid_cells(REFERENCE / GRID_FILE)}
    records = {r.cell_id: r for r in _reference_records()}
    assert set(cells) == set(records), ("results/reference/records is out of date with grid.yaml or the code's "
                                        "defaults: run `bench regress --update` and commit it")
    for cell_id, r in records.items():
        assert examples_path(record_path(REFERENCE / RECORDS_DIR, r.cell.to_json(), cell_id)).exists()
        assert r.provenance.hardware["device"] == "cpu"


def test_committed_tolerances():
    tolerances = load_tolerances(REFERENCE / TOLERANCE_FILE)
    assert tolerances["metrics.accuracy_under_attack"].better == "higher"
    assert tolerances["metrics.n_examples"] == Tolerance(0.0, 0.0, None)
    from bench.run.regress import metric_value

    records = _reference_records()
    for m in tolerances:  # every tolerance names a value of some reference record (a term: of the methods with it)
        assert any(metric_value(r, m) is not None for r in records), f"tolerance {m} names no value of any record"
    assert all(metric_value(r, "training.epoch_log.-1.terms.info_bound") is not None
               for r in records if r.cell.method == "rift")


@pytest.mark.parametrize("text, message", [("metrics.x: 3\n", "expected keys"), ("metrics.x: {abs: -1}\n", "≥ 0"),
                                           ("metrics.x: {abs: 1, better: up}\n", "higher or lower"), ("[]\n", "mapping")])
def test_bad_tolerances_are_clear_errors(tmp_path, text, message):
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_tolerances(tmp_path / "t.yaml")


# ---------------------------------------------------------------- comparing


def test_identical_records_pass():
    ref = _reference_records()
    result = compare(ref, copy.deepcopy(ref), load_tolerances(REFERENCE / TOLERANCE_FILE))
    assert result.ok and len(result.checks) == len(ref) * len(load_tolerances(REFERENCE / TOLERANCE_FILE))
    assert "PASS" in format_report(result)


def test_a_reference_from_before_task_defaults_were_resolved_compares_equal():
    """The committed reference wrote β (and α) as null and the values in ``training.resolved_hparams``; today's code
    writes them into ``config.hparams``. The same cells are the same configuration, not a change."""
    import json

    from bench.run.grid import Cell, resolve_cell

    ref = _reference_records()
    assert any(r.config.to_json()["hparams"].get("beta", 0) is None for r in ref)  # the reference predates it
    fresh = []
    for r in ref:
        c = r.cell
        rc = resolve_cell(Cell(c.dataset, c.model, c.method, c.seed, c.attack, c.scale,
                               tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in c.overrides)))
        data = json.loads(json.dumps(r.to_json()))
        data["config"] = json.loads(json.dumps(rc.config))
        data["training"].pop("resolved_hparams", None)
        fresh.append(CellRecord.from_json(data))
    result = compare(ref, fresh, load_tolerances(REFERENCE / TOLERANCE_FILE))
    assert result.ok and not result.problems, result.problems
    beta = next(r for r in fresh if r.cell.method == "adv-base").config.to_json()["hparams"]["beta"]
    changed = [json.loads(json.dumps(r.to_json())) for r in fresh]
    for data in changed:
        if data["cell"]["method"] == "adv-base":
            data["config"]["hparams"]["beta"] = beta / 2
    result = compare(ref, [CellRecord.from_json(d) for d in changed], load_tolerances(REFERENCE / TOLERANCE_FILE))
    assert any(f"beta: {beta!r} → {beta / 2!r}" in p for p in result.problems), result.problems


def test_robustness_drop_beyond_tolerance_fails_with_a_readable_diff():
    ref = _reference_records()
    tolerances = {"metrics.accuracy_under_attack": Tolerance(abs=0.05, better="higher"),
                  "metrics.attack_success_rate": Tolerance(abs=0.05, better="lower"),
                  "metrics.mean_queries": Tolerance(rel=0.1)}
    fresh = copy.deepcopy(ref)
    m = fresh[0].metrics
    m.accuracy_under_attack -= 0.06
    m.attack_success_rate += 0.04  # within tolerance
    m.mean_queries *= 1.2
    result = compare(ref, fresh, tolerances)
    verdicts = {(c.metric, c.verdict) for c in result.failures}
    assert verdicts == {("metrics.accuracy_under_attack", "robustness dropped"), ("metrics.mean_queries", "moved")}
    text = format_report(result)
    assert "FAIL: 2 of" in text and "(1 robustness drop(s))" in text and "bench regress --update" in text
    lines = [l for l in text.splitlines() if l.strip().startswith("metrics.accuracy_under_attack")]
    assert len(lines) == len(ref)  # every cell's check is listed, passing ones included
    line = next(l for l in lines if "<<<" in l)
    assert "-0.06" in line and "±0.05" in line and "robustness dropped" in line and "<<<" in line


def test_robustness_rise_beyond_tolerance_also_fails():
    ref = _reference_records()
    fresh = copy.deepcopy(ref)
    fresh[-1].metrics.accuracy_under_attack += 0.2
    result = compare(ref, fresh, {"metrics.accuracy_under_attack": Tolerance(abs=0.05, better="higher")})
    assert [c.verdict for c in result.failures] == ["better (beyond tolerance)"]


def test_missing_cells_and_changed_configurations_fail():
    ref = _reference_records()
    tol = {"metrics.clean_accuracy": Tolerance(abs=0.05)}
    assert any("no fresh record" in p for p in compare(ref, ref[:-1], tol).problems)
    assert any("no reference record" in p for p in compare(ref[:-1], ref, tol).problems)
    fresh = copy.deepcopy(ref)
    fresh[0].config.attack_settings["query_budget"] = 7
    result = compare(ref, fresh, tol)
    assert not result.ok and any("attack_settings.query_budget: 0 → 7" in p for p in result.problems)


def test_cli_fresh_records(tmp_path, capsys):
    ref = _reference_records()
    assert main(["regress", "--fresh", str(_write(tmp_path / "same", copy.deepcopy(ref)))]) == 0
    assert "PASS" in capsys.readouterr().out
    worse = copy.deepcopy(ref)
    worse[0].metrics.clean_accuracy -= 0.2
    assert main(["regress", "--fresh", str(_write(tmp_path / "worse", worse)), "--failures-only"]) == 1
    out = capsys.readouterr().out
    assert "worse: " in out and "metrics.clean_accuracy" in out and "metrics.mean_queries" not in out.split("FAIL")[0]


def test_a_failed_fresh_cell_fails_and_says_why(tmp_path, capsys):
    ref = _reference_records()
    fresh = _write(tmp_path / "fresh", copy.deepcopy(ref[1:]))  # the first cell raised instead of writing a record
    note = record_path(fresh, ref[0].cell.to_json(), ref[0].cell_id).with_suffix(".failed.json")
    atomic_write_json(note, {"cell_id": ref[0].cell_id, "cell": ref[0].config.to_json(), "error": "RuntimeError: boom"})
    assert main(["regress", "--fresh", str(fresh)]) == 1
    out = capsys.readouterr().out
    assert "no fresh record" in out and "failed: RuntimeError: boom" in out
    with pytest.raises(ConfigError, match="cannot update the reference"):
        update_reference(fresh, tmp_path)


def test_update_reference_replaces_the_records(tmp_path):
    ref_dir = tmp_path / "ref"
    (ref_dir / RECORDS_DIR / "stale").mkdir(parents=True)
    (ref_dir / RECORDS_DIR / "stale" / "old.json").write_text("{}")
    assert update_reference(REFERENCE / RECORDS_DIR, ref_dir) == len(_reference_records())
    records, problems = load_records(ref_dir / RECORDS_DIR)
    assert not problems and {r.cell_id for r in records} == {r.cell_id for r in _reference_records()}
    assert not (ref_dir / RECORDS_DIR / "stale").exists()
    assert all(examples_path(record_path(ref_dir / RECORDS_DIR, r.cell.to_json(), r.cell_id)).exists() for r in records)
    assert not [p for p in ref_dir.iterdir() if p.name.startswith(".records-")]


# ---------------------------------------------------------------- catching real regressions (real runs)

# 12 training steps at lr 3e-4 give a model that really learned (dev accuracy ≈ 0.9, PWWS flips most test
# examples), so a broken loss or a weaker attack moves its numbers; a few seconds per run on 2 idle cores.
TINY_GRID = """datasets: [sst2]
models: [minilm-l6]
methods: [standard]
attacks: [pwws]
seeds: [0]
scale: smoke
set: [n_train=192, n_dev=16, n_test=12, epochs=1, lr=0.0003]
"""


@pytest.fixture(scope="module")
def tiny_reference(tmp_path_factory) -> Path:
    """A reference recorded here with the committed tolerances and a tiny grid of real training and attacks."""
    ref = tmp_path_factory.mktemp("reference")
    import yaml

    (ref / GRID_FILE).write_text(TINY_GRID)
    # the committed tolerances, less the loss terms standard fine-tuning does not have (a tolerance for a value no
    # reference record holds is an error)
    tolerances = yaml.safe_load((REFERENCE / TOLERANCE_FILE).read_text())
    (ref / TOLERANCE_FILE).write_text(yaml.safe_dump(
        {k: v for k, v in tolerances.items() if not k.endswith((".terms.kl", ".terms.info_bound"))}))
    assert main(["regress", "--update", "--reference", str(ref), "--cache", str(ref / "cache")]) == 0
    return ref


def _failed_metrics(out: str) -> set[str]:
    return {line.split()[0] for line in out.splitlines() if line.rstrip().endswith("<<<")}


def test_rerun_of_unchanged_code_passes(tiny_reference, capsys):
    """Retraining from scratch (no model cache) reproduces the reference: determinism, and no false alarm."""
    assert main(["regress", "--reference", str(tiny_reference)]) == 0
    assert "PASS" in capsys.readouterr().out


def test_broken_method_loss_fails(tiny_reference, monkeypatch, capsys):
    """Standard fine-tuning trained on the wrong labels (a sign bug in a loss, say) must not pass."""
    import torch.nn.functional as F

    from methods.standard import Standard

    def broken_loss(self, model, batch):
        logits = self.forward(model, batch).logits
        loss = F.cross_entropy(logits, (batch.labels + 1) % logits.shape[-1])
        return loss, {"ce": float(loss.detach())}

    monkeypatch.setattr(Standard, "loss", broken_loss)
    assert main(["regress", "--reference", str(tiny_reference)]) == 1
    out = capsys.readouterr().out
    assert _failed_metrics(out) & {"metrics.clean_accuracy", "training.selected_dev_accuracy"}, out


def test_weakened_attack_search_fails(tiny_reference, monkeypatch, capsys):
    """PWWS restricted to one synonym per word finds fewer adversarial examples: the numbers move, and it fails."""
    import attacks.pwws
    from bench.core.synonyms import CounterFitted, counterfitted

    def one_neighbour(config):
        full = counterfitted(config)
        return CounterFitted({w: ns[:1] for w, ns in full.neighbours.items()}, full.source)

    monkeypatch.setattr(attacks.pwws, "counterfitted", one_neighbour)
    # the reference's fine-tuned model is reused from its cache: only the attack differs
    assert main(["regress", "--reference", str(tiny_reference), "--cache", str(tiny_reference / "cache")]) == 1
    out = capsys.readouterr().out
    assert _failed_metrics(out) & {"metrics.accuracy_under_attack", "metrics.attack_success_rate"}, out
    assert not _failed_metrics(out) & {"metrics.clean_accuracy", "training.selected_dev_accuracy"}, out  # same model


# ------------------------------------------------- sabotaged methods against the committed reference (real runs)


def _one_cell_reference(tmp_path: Path, method: str, attack: str = "pwws") -> Path:
    """The committed reference restricted to one cell: its grid line, its record, the committed tolerances."""
    import yaml

    grid = yaml.safe_load((REFERENCE / GRID_FILE).read_text())
    grid.update(methods=[method], attacks=[attack])
    ref = tmp_path / "reference"
    ref.mkdir()
    (ref / GRID_FILE).write_text(yaml.safe_dump(grid))
    (record,) = [r for r in _reference_records() if r.cell.method == method and r.cell.attack == attack]
    from bench.run.regress import metric_value

    tolerances = yaml.safe_load((REFERENCE / TOLERANCE_FILE).read_text())  # less the terms this method lacks
    (ref / TOLERANCE_FILE).write_text(yaml.safe_dump(
        {k: v for k, v in tolerances.items() if metric_value(record, k) is not None}))
    src = record_path(REFERENCE / "records", record.cell.to_json(), record.cell_id)
    dst = record_path(ref / "records", record.cell.to_json(), record.cell_id)
    dst.parent.mkdir(parents=True)
    shutil.copy(src, dst)
    shutil.copy(examples_path(src), examples_path(dst))
    return ref


@pytest.mark.slow  # trains an adversarial model (about a minute and a half on 2 cores): run with -m slow
def test_rift_with_the_infonce_sign_flipped_fails_regress(tmp_path, monkeypatch, capsys):
    """RIFT minimising Î(S;T|Y) instead of maximising it: accuracy at this size may not move, the bound does."""
    from methods.rift import RIFT

    original = RIFT.extra_loss

    def flipped(self, model, batch, adv):
        loss, parts = original(self, model, batch, adv)
        return -loss, parts

    monkeypatch.setattr(RIFT, "extra_loss", flipped)
    assert main(["regress", "--reference", str(_one_cell_reference(tmp_path, "rift"))]) == 1
    out = capsys.readouterr().out
    assert any(m.endswith("terms.info_bound") for m in _failed_metrics(out)), out


@pytest.mark.slow  # trains an adversarial model: run with -m slow
def test_adv_base_without_ascc_inner_steps_fails_regress(tmp_path, monkeypatch, capsys):
    """The ASCC search returning its random start (no inner steps): the adversary is gone, and regress says so."""
    import dataclasses

    from bench.core import ascc

    original = ascc.search

    def no_steps(model, alignment, objective, config, *args, **kwargs):
        return original(model, alignment, objective, dataclasses.replace(config, steps=0), *args, **kwargs)

    monkeypatch.setattr(ascc, "search", no_steps)
    assert main(["regress", "--reference", str(_one_cell_reference(tmp_path, "adv-base"))]) == 1
    out = capsys.readouterr().out
    assert any(m.endswith("terms.kl") for m in _failed_metrics(out)), out
