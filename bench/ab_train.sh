#!/usr/bin/env bash
# Two or more bench_train binaries (builds of different commits) on the CPU table's model,
# taking turns round by round so that load changes on a shared machine hit them alike; prints
# each binary's best tokens/s and its last loss (the same loss: the same training bits).
#
#   bash bench/ab_train.sh ROUNDS HEAD THREADS BENCH_TRAIN...     (HEAD: masked | full)
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: ab_train.sh ROUNDS HEAD THREADS BENCH_TRAIN..." >&2; exit 2; }
rounds=$1 head=$2 threads=$3
shift 3
for b in "$@"; do [ -x "$b" ] || { echo "ab_train.sh: $b is not an executable" >&2; exit 2; }; done
common="--layers 4 --hidden 256 --heads 4 --intermediate 1024 --vocab 8192 --seq 128 --batch 16"
common+=" --steps 8 --warmup 2 --dropout 0.1 --attn-dropout 0 --threads $threads --head $head"
echo "head $head, $threads thread(s), best of $rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A best loss
for r in $(seq "$rounds"); do
  for b in "$@"; do
    out=$("$b" $common 2> /dev/null)
    v=$(echo "$out" | sed -n 's/.*"tokens_per_s":\([0-9.]*\).*/\1/p')
    loss[$b]=$(echo "$out" | sed -n 's/.*"loss_last":\([0-9.]*\).*/\1/p')
    if [ -z "${best[$b]:-}" ] || [ "$(echo "$v > ${best[$b]}" | bc)" = 1 ]; then best[$b]=$v; fi
  done
done
for b in "$@"; do printf "%-40s %8.1f tokens/s  loss %s\n" "$b" "${best[$b]}" "${loss[$b]}"; done
echo "load after $(cut -d' ' -f1-3 /proc/loadavg)"
