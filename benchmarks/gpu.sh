#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (JAX and PyTorch with CUDA installed, Keras
# carried in): the test suite on the JAX and torch GPU backends, then both
# speed benchmarks, all output into one file. Budget: under 8 minutes.
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
    KERAS_BACKEND=$backend timeout 150 "$PY" -m pytest -q -x \
      tests/losses tests/test_distiller.py -p no:cacheprovider 2>&1 | tail -5
  done
  for backend in jax torch; do
    for bench in loss_speed step_overhead; do
      echo "== $bench, KERAS_BACKEND=$backend"
      KERAS_BACKEND=$backend timeout 100 "$PY" benchmarks/$bench.py \
        --repeats 10 2>&1 | grep -v -i warn | tail -60
    done
  done
} > "$OUT" 2>&1
echo "wrote $OUT"
