import json

import pytest

from bench.core.metrics import attack_metrics
from bench.core.record import ExampleLine
from bench.core.store import (CorruptRecord, SCHEMA_VERSION, atomic_write_json, atomic_write_text, config_hash,
                         load_record, load_records)


def _record(cell_id="abc"):
    return {"schema_version": SCHEMA_VERSION, "cell_id": cell_id, "cell": {}, "config": {}, "metrics": {"x": 1},
            "provenance": {}}


def test_record_roundtrip(tmp_path):
    path = tmp_path / "d" / "abc.json"
    atomic_write_json(path, _record())
    assert load_record(path).to_json() == _record()


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    atomic_write_text(path, "old")

    class Boom(Exception):
        pass

    def failing_replace(src, dst):
        raise Boom()

    monkeypatch.setattr("bench.core.store.os.replace", failing_replace)
    with pytest.raises(Boom):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # the temporary file is cleaned up


def test_corrupt_and_foreign_files_are_reported_by_path(tmp_path):
    atomic_write_json(tmp_path / "abc.json", _record())
    (tmp_path / "half.json").write_text('{"schema_version": 1, "cell_')
    (tmp_path / "other.json").write_text(json.dumps({"hello": "world"}))
    atomic_write_json(tmp_path / "wrongname.json", _record("zzz"))
    records, problems = load_records(tmp_path)
    assert [r.cell_id for r in records] == ["abc"]
    assert len(problems) == 3
    assert any("half.json: not a readable JSON record" in p for p in problems)
    assert any("other.json: not a rift-bench record" in p for p in problems)
    with pytest.raises(CorruptRecord, match="does not match its cell_id"):
        load_record(tmp_path / "wrongname.json")


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def _row(status, words_changed=0, n_words=10, queries=5, seconds=1.0, **more):
    return ExampleLine(status=status, words_changed=words_changed, n_words=n_words, queries=queries, forwards=queries,
                       seconds=seconds, **more)


def test_attack_metrics_by_hand():
    rows = [_row("skipped", queries=1), _row("success", 2, 10, 20), _row("success", 1, 4, 10), _row("failed", 5, 10, 30)]
    m = attack_metrics(rows)
    assert m.n_examples == 4 and m.n_attacked == 3 and m.n_success == 2
    assert m.clean_accuracy == pytest.approx(3 / 4)
    assert m.accuracy_under_attack == pytest.approx(1 / 4)
    assert m.attack_success_rate == pytest.approx(2 / 3)
    assert m.mean_perturbed_pct == pytest.approx((20 + 25) / 2)
    assert m.mean_queries == pytest.approx(20)


def test_unattackable_examples_count_as_robust_and_apart():
    """An example the recipe could not attack counts as robust in the paper's metric; the accuracy over attackable
    examples leaves it out. A file from before the status names it by AddSent's reason."""
    legacy = _row("failed", reason="no admissible distractor")
    rows = [_row("skipped"), _row("success", 1), _row("failed", 2), _row("unattackable"), legacy]
    m = attack_metrics(rows)
    assert m.n_attacked == 4 and m.n_success == 1 and m.n_unattackable == 2
    assert m.accuracy_under_attack == pytest.approx(3 / 5)  # failed + two unattackable, of five
    assert m.accuracy_under_attack_attackable == pytest.approx(1 / 3)  # the failed one, of skipped/success/failed
    assert attack_metrics([_row("unattackable")]).accuracy_under_attack_attackable is None


def test_written_files_get_the_umask_mode(tmp_path):
    """Records are readable by the other users of a shared results folder, as a plainly created file would be."""
    import stat

    plain = tmp_path / "plain"
    plain.write_text("x")
    atomic_write_text(tmp_path / "record.json", "{}")
    assert stat.S_IMODE((tmp_path / "record.json").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_attack_metrics_undefined_values_are_none():
    m = attack_metrics([_row("skipped")])
    assert m.attack_success_rate is None and m.mean_perturbed_pct is None and m.accuracy_under_attack == 0
    assert attack_metrics([]).clean_accuracy is None


def test_clean_margin_by_hand_with_three_classes():
    from bench.core.metrics import clean_margin, median_clean_margin

    rows = [ExampleLine(label=2, original_probs=[0.1, 0.3, 0.6], status="failed"),    # 0.6 − 0.3
            ExampleLine(label=0, original_probs=[0.5, 0.1, 0.4], status="success"),   # 0.5 − 0.4
            ExampleLine(label=1, original_probs=[0.2, 0.7, 0.1], status="failed"),    # 0.7 − 0.2
            ExampleLine(label=1, original_probs=[0.6, 0.3, 0.1], status="skipped")]   # misclassified: not attacked
    assert [round(clean_margin(r), 6) for r in rows] == [0.3, 0.1, 0.5, -0.3]
    assert median_clean_margin(rows) == pytest.approx(0.3)
    assert median_clean_margin(rows[3:]) is None


def test_record_cache_rereads_only_new_or_changed_files(tmp_path, monkeypatch):
    import bench.core.store as store

    reads = []
    real_load = store.load_record
    monkeypatch.setattr(store, "load_record", lambda path: reads.append(path.name) or real_load(path))
    for cell_id in ("aaa", "bbb"):
        atomic_write_json(tmp_path / "d" / f"{cell_id}.json", _record(cell_id))
    (tmp_path / "d" / "half.json").write_text('{"schema_version": 1, "cell_')
    cache = store.RecordCache(tmp_path)

    def ids(records):
        return [r.cell_id for r in records]

    def reference():  # every file read afresh, not counted as the cache's reads
        before = list(reads)
        result = ids(load_records(tmp_path)[0])
        reads[:] = before
        return result

    assert ids(cache.records()) == reference() == ["aaa", "bbb"]
    assert sorted(reads) == ["aaa.json", "bbb.json", "half.json"]
    reads.clear()
    assert ids(cache.records()) == ["aaa", "bbb"] and reads == []  # nothing new: nothing read
    atomic_write_json(tmp_path / "d" / "ccc.json", _record("ccc"))
    changed = _record("aaa")
    changed["metrics"] = {"x": 2, "padding": "longer"}
    atomic_write_json(tmp_path / "d" / "aaa.json", changed)
    (tmp_path / "d" / "bbb.json").unlink()
    records = cache.records()
    assert sorted(reads) == ["aaa.json", "ccc.json"]
    assert ids(records) == reference() == ["aaa", "ccc"]
    assert records[0].to_json() == changed
