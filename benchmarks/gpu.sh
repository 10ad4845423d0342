#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (JAX and PyTorch with CUDA installed, Keras
# carried in): the test suite on the JAX and torch GPU backends, then both
# speed benchmarks (step_overhead with every bank mode and the cached-teacher
# step), all output into one file. Worst case (every timeout hit): 12 minutes.
# Usage: bash benchmarks/gpu.sh [OUTPUT_FILE]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_results.txt}
PY=${PY:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
  echo "== $(date -u) on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
  for backend in jax torch; do
    echo "== tests, KERAS_BACKEND=$backend"
    KERAS_BACKEND=$backend timeout 120 "$PY" -m pytest -q -x \
      tests/losses tests/test_distiller.py tests/test_update.py -p no:cacheprovider 2>&1 | tail -5
  done
  for backend in jax torch; do
    for bench in loss_speed step_overhead; do
      echo "== $bench, KERAS_BACKEND=$backend"
      limit=$([ "$bench" = step_overhead ] && echo 140 || echo 100)
      KERAS_BACKEND=$backend timeout "$limit" "$PY" benchmarks/$bench.py \
        --repeats 10 2>&1 | grep -v -i warn | tail -60
    done
  done
} > "$OUT" 2>&1
echo "wrote $OUT"
