#!/usr/bin/env bash
# Held-out Kendall tau of the baselines and the rankers on a Kaggle-layout dataset (default
# ../shared/data/nb-public), split by ancestor group with --val-frac 0.1 --seed 42: the rankers
# train on the other groups (`ordo ai4code train` holds out the same groups), `predict` scores
# the held-out ones. Prints one line per method; timings go with it. Not a test.
# usage: bash bench/ai4code/heldout.sh [ORDO] [DATA] [OUT_DIR]   (EXTRA_TRAIN_FLAGS adds train flags)
set -euo pipefail
ORDO=${1:-build/ordo}
DATA=${2:-../shared/data/nb-public}
OUT=${3:-bench-ai4code-out}
SPLIT=(--val-frac 0.1 --seed 42)
mkdir -p "$OUT"
for m in first even tfidf; do
  tau=$("$ORDO" ai4code baseline --method $m --data "$DATA" --split val "${SPLIT[@]}" \
          --out "$OUT/val_$m.csv" 2>/dev/null | sed -n 's/^kendall_tau: //p')
  printf '%-40s %s\n' "baseline $m" "$tau"
done
t0=$(date +%s)
"$ORDO" ai4code train --data "$DATA" --out "$OUT/lex" --no-point "${SPLIT[@]}" --slot-max-nb 0 >"$OUT/lex.log" 2>&1
printf '%-40s %s   (%d s)\n' "slot ranker, lexical features only" \
  "$("$ORDO" ai4code predict --model "$OUT/lex" --data "$DATA" --split val "${SPLIT[@]}" --out "$OUT/val_lex.csv" 2>/dev/null | sed -n 's/^kendall_tau: //p')" $(($(date +%s) - t0))
t0=$(date +%s)
# shellcheck disable=SC2086
"$ORDO" ai4code train --data "$DATA" --out "$OUT/default" "${SPLIT[@]}" ${EXTRA_TRAIN_FLAGS:-} >"$OUT/default.log" 2>&1
grep -E '^(pointwise|slot ranker):' "$OUT/default.log" | sed 's/^/  /'
printf '%-40s %s   (%d s)\n' "ordo ai4code train defaults" \
  "$("$ORDO" ai4code predict --model "$OUT/default" --data "$DATA" --split val "${SPLIT[@]}" --out "$OUT/val_default.csv" 2>"$OUT/predict.log" | sed -n 's/^kendall_tau: //p')" $(($(date +%s) - t0))
sed 's/^/  /' "$OUT/predict.log" | grep notebooks/s
printf '%-40s %s\n' "weighted ensemble 0.5/0.5" \
  "$("$ORDO" ai4code predict --model "$OUT/lex,$OUT/default" --weights 0.5,0.5 --data "$DATA" --split val "${SPLIT[@]}" --out "$OUT/val_ens.csv" 2>/dev/null | sed -n 's/^kendall_tau: //p')"
