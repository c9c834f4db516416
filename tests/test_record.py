"""The typed record: committed records (reference and study) load, round-trip to the same bytes, and name the
same cell id and model-cache key as the code computes today."""

import json
from pathlib import Path

import pytest

from bench.core.record import CellRecord, CorruptRecord, ExampleLine, SECTIONS, schema_markdown
from bench.core.store import examples_path, iter_record_files, load_record, load_records

REPO = Path(__file__).resolve().parent.parent
# the reference records and every study's runs (results/study/runs, and earlier attempts kept beside it)
COMMITTED = [REPO / "results" / "reference" / "records", *sorted((REPO / "results" / "study").rglob("runs"))]
RECORD_FILES = [path for folder in COMMITTED for path in iter_record_files(folder)]


def _as_written(obj) -> str:
    """The bytes ``bench.core.store.atomic_write_json`` writes for ``obj``."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_there_are_committed_records():
    assert any("reference" in str(p) for p in RECORD_FILES)


@pytest.mark.parametrize("path", RECORD_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_record_round_trips_byte_for_byte(path):
    text = path.read_text(encoding="utf-8")
    record = load_record(path)
    assert _as_written(record.to_json()) == text
    # every key is a documented field: nothing hides in the sections' ``extra``
    sections = [record, record.cell, record.config, record.metrics, record.training, record.data, record.model,
                record.attack, record.provenance]
    assert all(not s.extra for s in sections), [s.extra for s in sections if s.extra]
    assert record.cell_id == path.stem and record.cell.method == path.parent.parent.name


@pytest.mark.parametrize("path", RECORD_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_examples_round_trip(path):
    examples = examples_path(path)
    if not examples.exists():
        pytest.skip("no examples file")
    for line in examples.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        parsed = ExampleLine.from_json(row)
        assert parsed.to_json() == row and not parsed.extra


@pytest.mark.parametrize("path", RECORD_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_todays_code_names_the_same_cell_and_model(path):
    """Resolving the record's cell gives its config and id, and the model-cache key of today's code is its
    ``train_key``: old and new records of one cell are comparable, and cached models are found again."""
    from bench.core.assets import AssetConfig
    from bench.run.grid import Cell, resolve_cell
    from bench.core.models import fingerprint, resolve_model, spec_for

    record = load_record(path)
    c = record.cell
    rc = resolve_cell(Cell(c.dataset, c.model, c.method, c.seed, c.attack, c.scale,
                           tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in c.overrides)))
    # settings added since the record was written, and β, α filled in at training time, read as the values it ran
    # with (bench.core.config.LATER_SETTINGS, CellRecord.resolved_config)
    assert json.loads(json.dumps(rc.config)) == record.resolved_config() and rc.cell_id == record.cell_id
    source = resolve_model(c.model, AssetConfig.from_env())
    if fingerprint(source.value) != record.model.fingerprint:
        pytest.skip("the model files here differ from the record's")
    data = {k: getattr(record.data, k) for k in ("train_split", "n_train", "n_dev", "data_seed", "identity")}
    assert rc.train_spec(record.model.fingerprint, spec_for(c.model).pooling, data).key == record.training.train_key


def test_a_minimal_record_keeps_its_keys(tmp_path):
    data = {"schema_version": 1, "cell_id": "abc", "cell": {}, "config": {}, "metrics": {"x": 1}, "provenance": {},
            "later": {"a": [1]}}
    record = CellRecord.from_json(data)
    assert record.to_json() == data
    assert record.metrics.extra == {"x": 1} and record.extra == {"later": {"a": [1]}}
    assert record.training.train_key is None and record.training.epoch_log == []  # absent: the field's default


def test_bad_records_are_refused():
    with pytest.raises(CorruptRecord, match="needs keys"):
        CellRecord.from_json({"cell_id": "x"})
    with pytest.raises(CorruptRecord, match="schema_version 2"):
        CellRecord.from_json({"schema_version": 2, "cell_id": "x", "cell": {}, "config": {}, "metrics": {},
                              "provenance": {}})
    with pytest.raises(CorruptRecord, match="record.metrics: expected a JSON object"):
        CellRecord.from_json({"schema_version": 1, "cell_id": "x", "cell": {}, "config": {}, "metrics": [],
                              "provenance": {}})


def test_a_built_record_writes_every_field_but_absent_optional_ones():
    record = CellRecord(cell_id="abc")
    out = record.to_json()
    assert "details" not in out["attack"] and out["attack"]["similarity"] is None
    assert set(out) == {f.name for f in CellRecord.documented()}


def test_the_committed_schema_doc_is_generated_from_the_classes():
    doc = (REPO / "docs" / "record-schema.md").read_text(encoding="utf-8")
    assert doc == schema_markdown(), "docs/record-schema.md is stale: run `bench schema > docs/record-schema.md`"
    for cls in SECTIONS:
        assert f"## {cls.__name__}" in doc


def test_records_load_together_with_the_report(tmp_path):
    """Reference and study records in one results folder make one report frame. (The records alone: each study's
    paired differences over its examples files are ``test_committed_reports``'s.)"""
    import shutil

    from bench.report.frame import records_frame

    for folder in COMMITTED:
        if folder.exists():
            shutil.copytree(folder, tmp_path / folder.parent.name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.examples.jsonl"))
    frame, problems = records_frame(tmp_path)
    records, _ = load_records(tmp_path)
    assert len(frame) == len(records) == len(RECORD_FILES)
    assert not [p for p in problems if p.startswith("skipped")]
    assert all("missing" in p for p in problems)  # only the examples files left out here
    from bench.report.build import build_report, render

    report = build_report(tmp_path)
    text = render(report, "markdown")
    assert "Standard" in text and "Adv-Base" in text
