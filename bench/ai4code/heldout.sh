#!/usr/bin/env bash
# Held-out Kendall tau of the baselines and the rankers on a Kaggle-layout dataset (default
# ../shared/data/nb-public), split by ancestor group with --val-frac 0.1 --seed 42: the rankers
# train on the other groups (`ordo ai4code train` holds out the same groups), `predict` scores
# the held-out ones. Prints one line per method; timings go with it. Not a test.
# usage: bash bench/ai4code/heldout.sh [ORDO] [DATA] [OUT_DIR]
#   EXTRA_TRAIN_FLAGS adds flags to the default training; POINT=0 skips the pointwise ranker
#   (900 steps of 16, about 8 minutes with its predictions on 2 cores; a whole epoch is 7,161
#   steps). The default training takes about 41 minutes, the whole script about an hour.
set -euo pipefail
ORDO=${1:-build/ordo}
DATA=${2:-../shared/data/nb-public}
OUT=${3:-bench-ai4code-out}
SPLIT=(--val-frac 0.1 --seed 42)
mkdir -p "$OUT"
tau_of() { sed -n 's/^kendall_tau: //p'; }
predict() { # predict NAME MODEL[,MODEL] [FLAGS...]: held-out tau of a prediction
  local name=$1 model=$2
  shift 2
  "$ORDO" ai4code predict --model "$model" --data "$DATA" --split val "${SPLIT[@]}" \
    --out "$OUT/val_$name.csv" "$@" 2>"$OUT/predict_$name.log" | tau_of
}
for m in first even tfidf; do
  tau=$("$ORDO" ai4code baseline --method $m --data "$DATA" --split val "${SPLIT[@]}" \
          --out "$OUT/val_$m.csv" 2>/dev/null | tau_of)
  printf '%-48s %s\n' "baseline $m" "$tau"
done

t0=$(date +%s)
"$ORDO" ai4code train --data "$DATA" --out "$OUT/lex" --force --lexical-only "${SPLIT[@]}" --slot-max-nb 0 >"$OUT/lex.log" 2>&1
printf '%-48s %s   (train %d s)\n' "slot ranker, lexical features only" "$(predict lex "$OUT/lex")" $(($(date +%s) - t0))

t0=$(date +%s)
# shellcheck disable=SC2086
"$ORDO" ai4code train --data "$DATA" --out "$OUT/default" --force "${SPLIT[@]}" ${EXTRA_TRAIN_FLAGS:-} >"$OUT/default.log" 2>&1
train_s=$(($(date +%s) - t0))
grep -E '^(dual|slot ranker):' "$OUT/default.log" | sed 's/^/  /'
printf '%-48s %s\n' "dual encoder alone (predict --dual-only)" "$(predict dual "$OUT/default" --dual-only)"
printf '%-48s %s   (train %d s)\n' "ordo ai4code train defaults (slot + dual)" "$(predict default "$OUT/default")" "$train_s"
sed 's/^/  /' "$OUT/predict_default.log" | grep notebooks/s

if [ "${POINT:-1}" != 0 ]; then
  t0=$(date +%s)
  "$ORDO" ai4code train --data "$DATA" --out "$OUT/point" --force --point --no-dual --max-steps 900 "${SPLIT[@]}" \
    >"$OUT/point.log" 2>&1
  train_s=$(($(date +%s) - t0))
  grep -E '^(pointwise|slot ranker):' "$OUT/point.log" | sed 's/^/  /'
  printf '%-48s %s\n' "pointwise encoder alone (predict --point-only)" "$(predict point_only "$OUT/point" --point-only)"
  printf '%-48s %s   (train %d s)\n' "slot + pointwise (--point --no-dual)" "$(predict point "$OUT/point")" "$train_s"
  printf '%-48s %s\n' "weighted ensemble default,point 0.7/0.3" \
    "$(predict ens_point "$OUT/default,$OUT/point" --weights 0.7,0.3)"
fi
printf '%-48s %s\n' "weighted ensemble default,lexical 0.5/0.5" \
  "$(predict ens_lex "$OUT/default,$OUT/lex" --weights 0.5,0.5)"
if [ "${POINT:-1}" != 0 ]; then
  "$ORDO" ai4code ensemble --submissions "$OUT/val_default.csv,$OUT/val_point.csv" --weights 0.7,0.3 \
    --out "$OUT/val_rank_ens.csv" >/dev/null 2>&1
  "$ORDO" nb split --data "$DATA" --out "$OUT/split" --force "${SPLIT[@]}" >/dev/null
  printf '%-48s %s\n' "rank ensemble of submissions default,point 0.7/0.3" \
    "$("$ORDO" ai4code score --orders "$OUT/split/val_orders.csv" --submission "$OUT/val_rank_ens.csv" 2>&1 | tau_of)"
fi
