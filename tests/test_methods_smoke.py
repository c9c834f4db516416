"""Every robust fine-tuning method trains end to end through ``bench run`` on real data (tiny sizes), with a tiny
random BERT given as a local model folder (``tiny_encoder_dir``; the embedded model's runs are
``test_end_to_end``'s)."""

from __future__ import annotations

import json
import math

ADVERSARIAL = ["adv-base", "adv-ptwd", "adv-mixout", "rift", "rift-ist"]
TINY = ["--set", "n_train=16", "--set", "n_dev=8", "--set", "n_test=3", "--set", "epochs=1", "--set", "batch_size=8",
        "--set", "max_length=32", "--set", "log_every=1", "--set", "method.ascc_steps=2"]


def _records(folder):
    """The result records under ``folder`` (not the model cache's logs and manifests, which may live below it)."""
    from bench.core.store import load_records

    return {r.config.method: r.to_json() for r in load_records(folder)[0]}


def test_every_adversarial_method_runs_through_bench_run(tmp_path, shared, tiny_encoder_dir):
    from bench.cli import main

    model = ["--models", str(tiny_encoder_dir)]
    args = ["run", "--results", str(tmp_path / "a"), "--cache", str(tmp_path / "cache"), "--datasets", "sst2", *model,
            "--methods", *ADVERSARIAL, "--attacks", "ascc", "--offline", *TINY]
    assert main(args) == 0
    records = _records(tmp_path / "a")
    assert sorted(records) == sorted(ADVERSARIAL)
    for method, record in records.items():
        training = record["training"]
        assert training["selection_metric"] == "dev_ascc_robust_accuracy"
        assert record["config"]["hparams"]["beta"] == 10.0  # SST-2 is a single-text task
        assert "resolved_hparams" not in training  # one set of hyperparameters per record
        steps = training["step_log"]
        assert steps and all(math.isfinite(s["loss"]) for s in steps)
        assert all(0 < s["perturbable_share"] <= s["perturbable_of_substitutable"] <= 1 for s in steps)
        assert record["metrics"]["n_examples"] == 3
    assert records["rift"]["config"]["hparams"]["alpha"] == 0.1
    assert all("info_bound" in s for s in records["rift-ist"]["training"]["step_log"])
    assert all(s["weight_distance"] > 0 for s in records["adv-ptwd"]["training"]["step_log"])
    # a cached Mixout model loads back into the plain architecture (same parameter names, no extra state)
    assert main(["run", "--results", str(tmp_path / "b"), "--cache", str(tmp_path / "cache"), "--datasets", "sst2", *model,
                 "--methods", "adv-mixout", "--attacks", "ascc", "--offline", *TINY]) == 0
    again = _records(tmp_path / "b")["adv-mixout"]
    untimed = lambda m: {k: v for k, v in m.items() if "second" not in k}  # noqa: E731
    assert again["training"]["from_cache"]
    assert untimed(again["metrics"]) == untimed(records["adv-mixout"]["metrics"])


def test_pair_task_perturbs_the_hypothesis_with_pair_defaults(tmp_path, shared, tiny_encoder_dir):
    """SNLI (a pair task): only the hypothesis is attacked, and β, α take the pair-task defaults."""
    from bench.cli import main

    args = ["run", "--results", str(tmp_path), "--cache", str(tmp_path / "cache"), "--datasets", "snli",
            "--models", str(tiny_encoder_dir),
            "--methods", "rift", "--attacks", "ascc", "--offline", *TINY]
    assert main(args) == 0
    record = _records(tmp_path)["rift"]
    assert (record["config"]["hparams"]["beta"], record["config"]["hparams"]["alpha"]) == (5.0, 0.7)
    rows = [json.loads(line) for line in next(tmp_path.rglob("*.examples.jsonl")).read_text().splitlines()]
    assert rows and all(r["adversarial"][0] == r["original"][0] for r in rows)
