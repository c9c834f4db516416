#!/usr/bin/env bash
# The GPU checks of issues 4 and 25, as one device call (see benchmarks/device_bundle.py, which packs .device/ first;
# what it printed on an H200 is in benchmarks/device-results/2026-12-04-h200/, the run records in
# results/study/precision/runs):
#   run(command="bash benchmarks/device_checks.sh", carry=[".device"], timeout_s=560)
# Uses the machine's own python3 (PyTorch, transformers) and the repository's source; writes under $OUT.
# The whole working tree travels with a call, .device included, and must stay under 64 MiB: .device is about
# 50 MiB (the model in float16, SST-2, the synonyms) and the committed study records (results/study/runs) are more,
# so device_bundle.py prints what a call would carry and, when it is too much, the two commands that stage the
# records out of the working tree for the call and back after it (they are committed: `git checkout --
# results/study/runs` restores them too).
# Each step has its own time limit (they add up to 520 s) so that the packing at the end always runs: a call brings
# back at most 8 files, so the logs, benchmark JSON and run records come back as two archives beside gpu.txt.
set -uo pipefail
export RIFT_BENCH_ASSETS="$PWD/.device/assets" HF_HUB_OFFLINE=1 RIFT_BENCH_CACHE=/tmp/rift-bench-cache
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 OUT="${OUT:-/tmp/out}"
WORK=/tmp/device-checks
mkdir -p "$OUT" "$WORK/checks" "$WORK/precision-runs"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
# Genetic search with 32 examples in flight vs the raw forward throughput of the same batches (target ≥ 0.7), in
# fp32 and in bf16 (issue 25: the attack-time speed-up is the ratio of the two raw_texts_per_s).
for run in "32 fp32 80" "32 bf16 80" "64 fp32 50"; do
  set -- $run
  timeout "$3" python3 benchmarks/bench_engine_throughput.py --n 96 --in-flight "$1" --batch-size 1024 --precision "$2" \
    --json "$WORK/checks/engine-inflight$1-$2.json" 2>&1 | tail -25 | tee "$WORK/checks/engine-inflight$1-$2.log"
done
# Step time of the methods in fp32 and in bf16 autocast on the GPU, in one round-robin run (issue 25).
timeout 80 python3 benchmarks/bench_methods.py --device cuda --precisions fp32 bf16 \
  --methods standard adv-base rift --batch-size 32 --rounds 5 2>&1 | tee "$WORK/checks/methods-precision.log"
# The effect of bf16 on the results (issue 25): Standard, Adv-Base and RIFT at the study's settings, PWWS on 500
# examples, in fp32 and in bf16 (results/study/precision/grid.yaml).
timeout 230 python3 -c "import sys; from bench.cli import main; sys.exit(main())" run \
  --grid results/study/precision/grid.yaml --results "$WORK/precision-runs" --device cuda 2>&1 \
  | tee "$WORK/checks/precision-grid.log"
tar -czf "$OUT/checks.tar.gz" -C "$WORK" checks
tar -czf "$OUT/precision-runs.tar.gz" -C "$WORK" precision-runs
ls -la "$OUT"
