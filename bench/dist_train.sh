#!/usr/bin/env bash
# Data-parallel masked-LM training on this machine's CPU cores: the same global batch on one
# process (1 and 2 threads) and on 2 MPI ranks of 1 thread (gradients reduced after the backward
# pass; in buckets during it; ZeRO-1), alternating the runs ROUNDS times so that load changes hit
# all alike; best tokens/s of the rounds, the collectives' share of a step (the time spent in
# them: starting and waiting, so what the backward pass did not hide), and the optimizer state
# each rank holds.
#
#   bash bench/dist_train.sh [BUILD_DIR]      (env: ROUNDS=2 STEPS=6)
set -euo pipefail
build=${1:-build}
rounds=${ROUNDS:-2}
steps=${STEPS:-6}
ordo=$build/ordo
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$tmp/corpus" && cp -r "$here/src" "$here/include" "$tmp/corpus/"
"$ordo" tokenize --train wordpiece --vocab-size 4096 --corpus $(find "$tmp/corpus" -type f) --out "$tmp/tok.json" > /dev/null 2>&1
model="--layers 4 --hidden 256 --heads 4 --intermediate 1024 --seq 128"
common="--corpus $tmp/corpus --tokenizer $tmp/tok.json $model --steps $steps --warmup 0 --lr 1e-4 --log-every 1000"
load0=$(cut -d' ' -f1 /proc/loadavg)
declare -A tps coll state
run() { # KEY CMD...
  local key=$1; shift
  "$@" > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
  params=$(sed -n "s/.*, \([0-9.]*M\) parameters.*/\1/p" "$tmp/log" | head -1)
  local t c
  t=$(grep -o "[0-9]* tokens/s, loss" "$tmp/log" | grep -o "^[0-9]*")
  c=$(sed -n 's/^collectives: \([0-9.]*\) s per step of \([0-9.]*\) s (\([0-9.]*\)%).*/\1 s of \2 s (\3%)/p' "$tmp/log")
  if [ -z "${tps[$key]:-}" ] || [ "$t" -gt "${tps[$key]}" ]; then tps[$key]=$t; coll[$key]=$c; fi
  state[$key]=$(sed -n 's/.*optimizer state \([0-9.]* MB\).*/\1/p' "$tmp/log" | head -1)
}
for r in $(seq "$rounds"); do
  run one1 "$ordo" train $common --batch 16 --threads 1 --out "$tmp/a$r"
  run two_end mpirun -np 2 --oversubscribe --bind-to none "$ordo" train $common --batch 8 --threads 1 --no-overlap --out "$tmp/b$r"
  run two_ov mpirun -np 2 --oversubscribe --bind-to none "$ordo" train $common --batch 8 --threads 1 --out "$tmp/d$r"
  run two_zero mpirun -np 2 --oversubscribe --bind-to none "$ordo" train $common --batch 8 --threads 1 --zero 1 --out "$tmp/e$r"
  run one2 "$ordo" train $common --batch 16 --threads 2 --out "$tmp/c$r"
done
echo "model: BERT L4 H256 A4 I1024 ($params parameters; vocab 4096), seq 128, global batch 16"
echo "(2,048 tokens/step), fp32 AdamW, dropout 0.1; $steps steps per run, best of $rounds"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $load0 -> $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| run | tokens/s | collectives per step | optimizer state per rank |"
echo "| --- | --- | --- | --- |"
echo "| 1 process, --threads 1, --batch 16 | ${tps[one1]} | - | ${state[one1]} |"
echo "| mpirun -np 2, --threads 1, --batch 8, --no-overlap | ${tps[two_end]} | ${coll[two_end]} | ${state[two_end]} |"
echo "| mpirun -np 2, --threads 1, --batch 8 (4 MB buckets during backward) | ${tps[two_ov]} | ${coll[two_ov]} | ${state[two_ov]} |"
echo "| mpirun -np 2, --threads 1, --batch 8, --zero 1 | ${tps[two_zero]} | ${coll[two_zero]} | ${state[two_zero]} |"
echo "| 1 process, --threads 2, --batch 16 | ${tps[one2]} | - | ${state[one2]} |"
