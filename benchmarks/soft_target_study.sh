#!/usr/bin/env bash
# The soft-target study of benchmarks/RESULTS.md ("Soft targets"): the
# protocol of `keras-supcrd compare`, for one student (mlp or cnn), in
# stages that each write a full report, so that a run stopped midway has
# its tables so far. Every finished student run is kept in OUT/runs (keyed
# by settings, teacher, backend and the package's code), so running this
# again continues where it stopped.
#
# On the MLP, the seven methods of the first study keep the settings it
# chose on the same validation split (benchmarks/results/study/results.json:
# 3-9 validation runs each, listed there) and the new losses and baselines
# are searched here. On the CNN every method is searched on the CNN itself
# (the first study's choices were made for the MLP). Each combination
# searches its parts' weights.
# Usage: bash benchmarks/soft_target_study.sh [mlp|cnn] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
STUDENT=${1:-mlp}
OUT=${2:-benchmarks/results/soft_study_$STUDENT}
export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow} TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$OUT"
PARAMS=()
if [ "$STUDENT" = mlp ]; then
  PARAMS=(--params benchmarks/results/study/results.json)
fi
STAGES=(
  "ce,kd,dkd,soft-supcrd,soft-supcrd-proto,soft-supcrd-decoupled"
  "kd-ls,dkd-ls,dist,supcrd,crd,lw-supcrd,lw-supcrd-decoupled"
  "crd+kd,supcrd+kd,soft-supcrd+kd,soft-supcrd+dkd-ls"
)
methods=""
for stage in "${STAGES[@]}"; do
  methods="${methods:+$methods,}$stage"
  echo "=== $(date -u +%H:%M:%S) methods: $methods" | tee -a "$OUT/log.txt"
  .venv/bin/keras-supcrd compare --student "$STUDENT" --methods "$methods" \
    "${PARAMS[@]}" --output "$OUT" \
    2>&1 | grep --line-buffered -v "^E0000\|^W0000\|^I0000\|cuInit\|absl::" \
    | tee -a "$OUT/log.txt"
done
