#!/usr/bin/env bash
# The hand-written gradient of the contrastive logsumexps against autodiff
# of the same maths, side by side in one run per backend (loss_speed's
# `*_autodiff` variants), at K = 0 and 16384.
# Usage: bash benchmarks/custom_gradient.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/custom_gradient}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
for backend in ${BACKENDS:-jax tensorflow torch}; do
  TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=$backend "$PY" benchmarks/loss_speed.py \
    --ks 0,16384 --output "$OUT/loss_speed_${backend}.json" > "$OUT/loss_speed_${backend}.log" 2>&1
done
