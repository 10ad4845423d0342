#!/usr/bin/env bash
# Accuracy of each `bank_mode` under the study's protocol: the
# logit-weighted SupCRD at the settings the study chose
# (benchmarks/results/study), 5 seeds each, one run per mode, then the
# paired differences between modes (same seeds, same cached teacher).
# Usage: bash benchmarks/bank_modes.sh [OUT]   (KERAS_BACKEND: tensorflow)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/bank_modes}
export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow} TF_CPP_MIN_LOG_LEVEL=2
MODES="exact exact_no_grad stored"
for mode in $MODES; do
  mkdir -p "$OUT/$mode"
  .venv/bin/keras-supcrd compare --methods lw-supcrd --no-tune \
    --params benchmarks/results/study/results.json --bank-mode "$mode" \
    --output "$OUT/$mode" 2>&1 | tee "$OUT/$mode/log.txt"
done
.venv/bin/python benchmarks/paired_runs.py $(for m in $MODES; do
  echo "$OUT/$m/results.json"; done) | tee "$OUT/paired.md"
