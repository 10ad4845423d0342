#!/usr/bin/env bash
# The loss kernels in every compile mode a user can pick, side by side in
# one run per backend: JAX jit; TensorFlow tf.function and XLA
# (jit_compile=True); PyTorch eager and torch.compile. K = 0 and 16384.
# Usage: bash benchmarks/compile_modes.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/compile_modes}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
declare -A MODES=([jax]=jit [tensorflow]=function,xla [torch]=eager,compile)
for backend in ${BACKENDS:-jax tensorflow torch}; do
  TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=$backend "$PY" benchmarks/loss_speed.py \
    --ks 0,16384 --modes "${MODES[$backend]}" \
    --output "$OUT/loss_speed_${backend}.json" > "$OUT/loss_speed_${backend}.log" 2>&1
done
