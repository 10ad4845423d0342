#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (JAX and PyTorch with CUDA installed, Keras
# carried in): the test suite on the JAX and torch GPU backends, then the
# speed benchmarks (loss kernels at K = 0 and 16384, on PyTorch eager and
# torch.compile side by side; step_overhead with every bank mode and the
# cached-teacher step; JAX's pass count), all output into one file.
# Worst case (every timeout hit): 12 minutes.
# Usage: bash benchmarks/gpu.sh [OUTPUT_FILE]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_results.txt}
PY=${PY:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
bench() {  # bench BACKEND SECONDS SCRIPT [ARGS...]
  local backend=$1 limit=$2 script=$3
  shift 3
  echo "== $script $*, KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend timeout "$limit" "$PY" "benchmarks/$script" "$@" \
    2>&1 | grep -v -i warn | tail -80
}
{
  echo "== $(date -u) on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
  for backend in jax torch; do
    echo "== tests, KERAS_BACKEND=$backend"
    KERAS_BACKEND=$backend timeout 120 "$PY" -m pytest -q -x \
      tests/losses tests/test_distiller.py tests/test_update.py -p no:cacheprovider 2>&1 | tail -5
  done
  bench jax 60 loss_speed.py --ks 0,16384 --repeats 10
  bench torch 120 loss_speed.py --ks 0,16384 --repeats 10 --modes eager,compile
  bench jax 120 step_overhead.py --repeats 10
  bench torch 120 step_overhead.py --repeats 10
  bench jax 60 loss_passes.py
} > "$OUT" 2>&1
echo "wrote $OUT"
