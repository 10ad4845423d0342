#!/usr/bin/env bash
# Runs the speed benchmarks on each backend, JSON into $1 (default
# benchmarks/out). Usage: bash benchmarks/run_all.sh [OUT] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/out}
shift || true
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
for backend in ${BACKENDS:-jax tensorflow torch}; do
  for bench in loss_speed step_overhead loss_passes; do
    echo "== $bench on $backend"
    TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=$backend \
      "$PY" benchmarks/$bench.py --output "$OUT/${bench}_${backend}.json" "$@" \
      > "$OUT/${bench}_${backend}.log" 2>&1
  done
done
