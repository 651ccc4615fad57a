#!/usr/bin/env bash
# Dual-encoder inference, ordo against PyTorch on the same model and the same cells: the cell
# vectors of the first NOTEBOOKS notebooks of DATA, as `ordo ai4code predict` computes them.
#   1. a small ranker (`ordo ai4code train`, a short budget) unless MODEL names one; its dual
#      encoder (MODEL/dual) is an HF checkpoint, RobertaForSequenceClassification;
#   2. bench_dual_infer dumps the token ids of every cell (the rows ordo runs) and its vectors;
#   3. per thread count, ROUNDS times in turn: ordo's pass (bench_dual_infer); PyTorch's
#      (torch_dual_infer.py) with cells in notebook order, length-sorted with dynamic padding in
#      batches of BATCH cells and in ordo's batches (2048 positions), and with the <s>-only last
#      layer written by hand; and, when BEFORE names another bench_dual_infer binary, that one
#      too. Best of ROUNDS each.
# Prints the vectors' largest relative difference and a markdown table.
#
#   bash bench/ai4code/dual_infer.sh [BUILD_DIR] [PYTHON]
#   env: DATA (../shared/data/nb-public) MODEL (trained into OUT/model when empty)
#        NOTEBOOKS (200) ROUNDS (3) THREADS ("1 2") BATCH (256, PyTorch's cells per batch)
#        OUT (/tmp/ordo-dual-infer) BEFORE (a bench_dual_infer binary of an earlier commit)
set -euo pipefail
build=${1:-build}
py=${2:-python3}
data=${DATA:-../shared/data/nb-public}
out=${OUT:-/tmp/ordo-dual-infer}
nbs=${NOTEBOOKS:-200}
rounds=${ROUNDS:-3}
threads=${THREADS:-"1 2"}
batch=${BATCH:-256}
here=$(cd "$(dirname "$0")" && pwd)
bench="$build/bench/bench_dual_infer"
[ -x "$bench" ] || cmake --build "$build" --target bench_dual_infer > /dev/null
[ -x "$build/ordo" ] || cmake --build "$build" --target ordo > /dev/null
mkdir -p "$out"
model=${MODEL:-}
if [ -z "$model" ]; then
  model="$out/model"
  if [ ! -f "$model/ranker.json" ]; then
    echo "training a small ranker into $model (300 notebooks, 1 dual epoch) ..." >&2
    "$build/ordo" ai4code train --data "$data" --out "$model" --force --max-train 300 \
      --dual-epochs 1 --no-notebook --slot-epochs 1 --slot-max-nb 100 > "$out/train.log" 2>&1
  fi
fi
"$bench" --model "$model" --data "$data" --notebooks "$nbs" --rounds 1 --force \
  --dump-ids "$out/ids.txt" --vectors "$out/z_ordo.bin" > /dev/null
field() { sed -n "s/.*\"$1\": *\([0-9.e+-]*\).*/\1/p"; }
best() { sort -g | tail -1; }
check=$("$py" "$here/torch_dual_infer.py" --model "$model/dual" --ids "$out/ids.txt" --threads 1 \
  --rounds 1 --batch "$batch" --compare "$out/z_ordo.bin" 2>/dev/null)
cells=$(echo "$check" | field cells)
tokens=$(awk 'NR > 1 { n += NF - 3 } END { print n }' "$out/ids.txt")
echo "model: $(grep -o '"hidden_size":[^,]*\|"num_hidden_layers":[^,]*\|"intermediate_size":[^,]*' "$model/dual/config.json" | tr -d '\t ' | tr '\n' ' ')"
echo "cells: $cells of $nbs notebooks ($tokens tokens with <s> and </s>), $(sed -n 's/.*"torch": *"\([^"]*\)".*/torch \1/p' <<< "$check")"
check2=$("$py" "$here/torch_dual_infer.py" --model "$model/dual" --ids "$out/ids.txt" --threads 1 \
  --rounds 1 --first-only --compare "$out/z_ordo.bin" 2>/dev/null)
echo "vectors, ordo against PyTorch: max |difference| / max |value| = $(echo "$check" | field max_rel_diff) (HF forward), $(echo "$check2" | field max_rel_diff) (<s>-only last layer by hand)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2), load $(cut -d' ' -f1 /proc/loadavg)"
echo "best of $rounds alternating rounds"
hb=""; [ -n "${BEFORE:-}" ] && hb=" ordo before |"
echo "cells/s; PyTorch: HF RobertaForSequenceClassification (notebook order: $batch cells a batch as they come; sorted: longest first, $batch cells or 2048 positions a batch), and the same with the <s>-only last layer written by hand; ratios against the best stock PyTorch figure and against the hand-written one"
echo
echo "| threads | PyTorch notebook order | PyTorch sorted, $batch cells | PyTorch sorted, 2048 positions | PyTorch sorted, <s>-only last layer |$hb ordo | ordo notebooks/s | ordo / best stock PyTorch | ordo / PyTorch <s>-only |"
echo "| --- | --- | --- | --- | --- |$([ -n "$hb" ] && echo ' --- |') --- | --- | --- | --- |"
torch_run() { # threads, then torch_dual_infer.py's flags
  local t=$1; shift
  OMP_NUM_THREADS=$t "$py" "$here/torch_dual_infer.py" --model "$model/dual" --ids "$out/ids.txt" \
    --threads "$t" --rounds 1 "$@" 2>/dev/null
}
ordo_run() { # binary, threads
  OMP_NUM_THREADS=$2 "$1" --model "$model" --data "$data" --notebooks "$nbs" --threads "$2" --rounds 1 2>/dev/null
}
for t in $threads; do
  o=""; pn=""; pc=""; pt=""; pf=""; ob=""
  for r in $(seq "$rounds"); do
    o+=$(ordo_run "$bench" "$t")$'\n'
    pn+=$(torch_run "$t" --order notebook --batch "$batch" --tokens 1000000000)$'\n'
    pc+=$(torch_run "$t" --order sorted --batch "$batch" --tokens 1000000000)$'\n'
    pt+=$(torch_run "$t" --order sorted --batch 256 --tokens 2048)$'\n'
    pf+=$(torch_run "$t" --order sorted --batch 256 --tokens 2048 --first-only)$'\n'
    [ -n "${BEFORE:-}" ] && ob+=$(ordo_run "$BEFORE" "$t")$'\n'
  done
  oc=$(echo "$o" | field cells_per_s | best); on=$(echo "$o" | field notebooks_per_s | best)
  pnc=$(echo "$pn" | field cells_per_s | best); pcc=$(echo "$pc" | field cells_per_s | best)
  ptc=$(echo "$pt" | field cells_per_s | best); pfc=$(echo "$pf" | field cells_per_s | best)
  pbest=$(printf '%s\n' "$pnc" "$pcc" "$ptc" | best)
  bcol=""; [ -n "${BEFORE:-}" ] && bcol=" $(printf "%.0f" "$(echo "$ob" | field cells_per_s | best)") |"
  printf "| %s | %.0f | %.0f | %.0f | %.0f |%s %.0f | %.1f | %.2f | %.2f |\n" "$t" "$pnc" "$pcc" "$ptc" "$pfc" \
    "$bcol" "$oc" "$on" "$(echo "$oc / $pbest" | bc -l)" "$(echo "$oc / $pfc" | bc -l)"
done
