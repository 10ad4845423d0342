#!/usr/bin/env bash
# The accuracy study of benchmarks/RESULTS.md: every method over 3 seeds,
# then the ablations, each a `keras-supcrd compare` run with the demo's
# budget (20% of Fashion-MNIST, 6 teacher epochs, 8 student epochs).
# Usage: KERAS_BACKEND=tensorflow bash benchmarks/study.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/study}
CLI=${CLI:-.venv/bin/keras-supcrd}
export TF_CPP_MIN_LOG_LEVEL=2
run() {
  local name=$1; shift
  mkdir -p "$OUT/$name"
  # All runs share one teacher: same data and teacher settings, same file.
  if [ -n "${TEACHER:-}" ]; then cp -n "$TEACHER" "$OUT/$name/"; fi
  "$CLI" compare --seeds 3 --output "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
}
run main --methods ce,kd,dkd,crd,supcrd,lw-supcrd,lw-supcrd-decoupled,crd+kd,lw-supcrd+kd
TEACHER=$(ls "$OUT"/main/teacher-*.keras)
run kd_temperature_1 --methods lw-supcrd --kd-temperature 1
run beta_over_alpha_1 --methods lw-supcrd --beta 1
run memory_0 --methods supcrd,lw-supcrd --memory-size 0
