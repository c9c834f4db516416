#!/usr/bin/env bash
# The GPU checks of issue 4, as one device call (see benchmarks/device_bundle.py, which packs .device/ first):
#   run(command="bash benchmarks/device_checks.sh", carry=[".device"], timeout_s=540)
# Uses the machine's own python3 (PyTorch, transformers) and the repository's source; writes JSON under $OUT.
# The whole working tree travels with a call, .device included, and must stay under 64 MiB: .device is about
# 50 MiB (the model in float16, SST-2, the synonyms), so move the committed study records (results/study,
# ~20 MiB and growing) out of the checkout for the call and back after it (not yet tried on a lent machine).
set -uo pipefail
export RIFT_BENCH_ASSETS="$PWD/.device/assets" HF_HUB_OFFLINE=1 RIFT_BENCH_CACHE=/tmp/rift-bench-cache
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
# Genetic search with 32 examples in flight vs the raw forward throughput of the same batches (target ≥ 0.7).
for flight in 32 64; do
  timeout 200 python3 benchmarks/bench_engine_throughput.py --n 96 --in-flight "$flight" --batch-size 1024 \
    --json "$OUT/engine-inflight$flight.json" 2>&1 | tail -25 | tee "$OUT/engine-inflight$flight.log"
done
