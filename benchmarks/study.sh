#!/usr/bin/env bash
# The accuracy study of benchmarks/RESULTS.md under the protocol of
# `keras-supcrd compare` (its defaults): the cached CNN teacher, then for
# every method a coordinate search on the 5,000-image validation split from
# the literature settings, then 5 seeds on the test set.
# Usage: bash benchmarks/study.sh [OUT]   (KERAS_BACKEND defaults to tensorflow)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/study}
export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow} TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$OUT"
.venv/bin/keras-supcrd compare --output "$OUT" 2>&1 | tee "$OUT/log.txt"
