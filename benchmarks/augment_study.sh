#!/usr/bin/env bash
# The consistent-teaching study (issue 31; benchmarks/RESULTS.md section
# 8): the protocol of `keras-supcrd compare` (settings searched on the
# validation split in each regime, the test set once, 5 seeds, paired
# intervals, the KD gate, geometry) for one student (mlp or cnn) on
# Fashion-MNIST, flips off (left and right shoes are one class, but the
# study keeps the data's own orientation), in regimes:
#   a  fixed views, the teacher's outputs cached (the studies so far);
#   b  crop + mixup, the teacher run on the student's view (consistent);
#   c  crop + mixup, the teacher on the clean image (what a cache under
#      augmentation gives);
#   d  b at 4x the epochs (patient), for the two best methods of b by
#      validation accuracy (or METHODS_D), at the settings b chose (no
#      search);
#   e  a at 4x the epochs for the same methods, at the settings a chose:
#      what patience alone gives, without augmentation.
# Every finished student run is kept in OUT/REGIME/runs (keyed by settings,
# teacher, backend and the package's code): running this again continues
# where it stopped.
# Usage: bash benchmarks/augment_study.sh [mlp|cnn] [REGIMES] [OUT]
#        e.g. bash benchmarks/augment_study.sh mlp a,b,c
set -euo pipefail
cd "$(dirname "$0")/.."
STUDENT=${1:-mlp}
REGIMES=${2:-a,b,c}
OUT=${3:-benchmarks/results/augment_study_$STUDENT}
METHODS=${METHODS:-ce,kd,dkd-ls,dist,crd,soft-supcrd,soft-supcrd+dkd-ls}
EPOCHS=${EPOCHS:-40}
AUGMENT=(--augment crop,mixup --crop-scale 0.35 --mixup-alpha 0.2)
export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow} TF_CPP_MIN_LOG_LEVEL=2

run() {  # regime, then compare's arguments
  local regime=$1
  shift
  mkdir -p "$OUT/$regime"
  echo "=== $(date -u +%H:%M:%S) regime $regime: $*" | tee -a "$OUT/log.txt"
  .venv/bin/keras-supcrd compare --student "$STUDENT" --output "$OUT/$regime" \
    "$@" 2>&1 \
    | grep --line-buffered -v "^E0000\|^W0000\|^I0000\|cuInit\|absl::" \
    | tee -a "$OUT/log.txt"
}

best_of_b() {  # the two best methods of b by validation accuracy
  .venv/bin/python - "$OUT/b/results.json" <<'PY'
import json, sys
methods = json.load(open(sys.argv[1]))["methods"]
best = {m: max(t["val_accuracy"] for t in row["tuning"])
        for m, row in methods.items() if row["tuning"]}
print(",".join(sorted(best, key=best.get, reverse=True)[:2]))
PY
}

for regime in ${REGIMES//,/ }; do
  [[ $regime == [de] ]] && METHODS_D=${METHODS_D:-$(best_of_b)}
  case $regime in
    a) run a --methods "$METHODS" --epochs "$EPOCHS" ;;
    b) run b --methods "$METHODS" --epochs "$EPOCHS" "${AUGMENT[@]}" ;;
    c) run c --methods "$METHODS" --epochs "$EPOCHS" "${AUGMENT[@]}" \
         --teacher-view clean ;;
    d) run d --methods "ce,$METHODS_D" --epochs $((4 * EPOCHS)) \
         "${AUGMENT[@]}" --params "$OUT/b/results.json" ;;
    e) run e --methods "ce,$METHODS_D" --epochs $((4 * EPOCHS)) \
         --params "$OUT/a/results.json" ;;
  esac
done
