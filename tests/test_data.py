from collections import Counter

import pytest

from bench.core.assets import AssetConfig
from bench.core.data import DataSizes, Example, load_split, prepare_task, read_jsonl_examples, stratified_sample
from bench.core.errors import BenchError
from bench.core.registry import DATASETS


def _examples(counts: dict[int, int]) -> list[Example]:
    return [Example(f"x:{label}:{i}", f"text {i}", label) for label, n in counts.items() for i in range(n)]


def test_stratified_sample_keeps_proportions_and_is_seeded():
    pool = _examples({0: 300, 1: 600, 2: 100})
    a = stratified_sample(pool, 100, seed=3)
    b = stratified_sample(pool, 100, seed=3)
    c = stratified_sample(pool, 100, seed=4)
    assert [e.uid for e in a] == [e.uid for e in b]
    assert [e.uid for e in a] != [e.uid for e in c]
    assert Counter(e.label for e in a) == {0: 30, 1: 60, 2: 10}
    assert len({e.uid for e in a}) == 100


def test_stratified_sample_largest_remainder():
    pool = _examples({0: 1, 1: 1, 2: 1})
    assert len(stratified_sample(pool, 2, seed=0)) == 2
    assert sorted(e.uid for e in stratified_sample(pool, None, seed=0)) == sorted(e.uid for e in pool)


def test_sst2_loads_real_rows(assets):
    spec = DATASETS.get("sst2")
    test = load_split(spec, "test", assets)
    assert len(test.value) == 872 and test.source.endswith("sst2/dev.jsonl")
    assert test.value[0] == Example("test:0", "it 's a charming and often affecting journey . ", 1)


def test_snli_pairs_and_train_on_dev_is_recorded(assets):
    task = prepare_task("snli", DataSizes(n_train=90, n_dev=30, n_test=30, data_seed=0), assets)
    assert task.provenance["train_split"] == "dev"
    assert any("trained on the 'snli' dev split" in n for n in task.provenance["notes"])
    ex = task.test[0]
    assert ex.text_pair is not None and ex.inputs == (ex.text, ex.text_pair)
    assert Counter(e.label for e in task.train) == {0: 30, 1: 30, 2: 30}
    train_ids, dev_ids = {e.uid for e in task.train}, {e.uid for e in task.dev}
    assert not train_ids & dev_ids  # dev (model selection) is carved from the training pool, disjointly
    assert all(u.startswith("dev:") for u in train_ids) and all(e.uid.startswith("test:") for e in task.test)


def test_ag_news_without_train_split_halves_the_test_split(assets):
    task = prepare_task("ag_news", DataSizes(n_train=40, n_dev=8, n_test=20), assets)
    assert task.provenance["train_split"] == "test[half]"
    assert not {e.uid for e in task.train + task.dev} & {e.uid for e in task.test}


def test_same_data_seed_same_split(assets):
    sizes = DataSizes(n_train=50, n_dev=10, n_test=10, data_seed=1)
    a, b = prepare_task("mr", sizes, assets), prepare_task("mr", sizes, assets)
    assert [e.uid for e in a.train] == [e.uid for e in b.train] and [e.uid for e in a.test] == [e.uid for e in b.test]


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "label": 1}\n{"text": "missing label"}\n')
    with pytest.raises(BenchError, match=r"bad.jsonl:2: not a valid sst2 row"):
        read_jsonl_examples(DATASETS.get("sst2"), path, "test")


def test_missing_dataset_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("RIFT_BENCH_ASSETS", raising=False)
    with pytest.raises(BenchError, match="dataset 'imdb' split 'test' is missing"):
        prepare_task("imdb", DataSizes(10, 5, 5), AssetConfig(root=tmp_path, offline=True))
