#!/usr/bin/env bash
# A 50-step masked-LM run of a small BERT on real text (this project's own sources and docs):
# the loss must fall, and two runs with the same seed (both on 2 threads) must give
# bit-identical losses (same thread count: OpenBLAS splits a product by its thread count); on
# ordo's AVX-512 products 1 thread must give the same model as 2.
set -u
ordo=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# a fixed snapshot of the corpus, so both runs read the same bytes
mkdir -p "$tmp/corpus" && cp -r "$src/src" "$src/include" "$src/README.md" "$tmp/corpus/"
args=(--corpus "$tmp/corpus" --layers 2 --hidden 64 --heads 2 --intermediate 256 --seq 64
      --batch 8 --steps 50 --vocab-size 1500 --lr 1e-3 --seed 3 --log-every 25)
fail=0
"$ordo" train "${args[@]}" --out "$tmp/a" --threads 2 > "$tmp/a.log" 2>&1 || { echo "FAIL: run a"; cat "$tmp/a.log"; exit 1; }
"$ordo" train "${args[@]}" --out "$tmp/b" --threads 2 > "$tmp/b.log" 2>&1 || { echo "FAIL: run b"; cat "$tmp/b.log"; exit 1; }
grep -E '^(step|done)' "$tmp/a.log"
if cmp -s <(cut -d, -f2 "$tmp/a/metrics.csv") <(cut -d, -f2 "$tmp/b/metrics.csv"); then
  echo "ok: bit-identical losses over 50 steps (two runs, same seed)"
else
  echo "FAIL: losses differ between two runs with the same seed"; paste -d' ' "$tmp/a/metrics.csv" "$tmp/b/metrics.csv" | head; fail=1
fi
# ordo's AVX-512 products split the output among threads, never the inner dimension, and every
# other op of the step is written to sum in a fixed order: then 1 thread gives 2 threads' model
if "$ordo" version | grep -q "products on AVX-512"; then
  "$ordo" train "${args[@]}" --out "$tmp/one" --threads 1 > "$tmp/one.log" 2>&1 || { echo "FAIL: run one"; cat "$tmp/one.log"; exit 1; }
  if cmp -s "$tmp/a/model.safetensors" "$tmp/one/model.safetensors"; then
    echo "ok: 1 and 2 threads give the same model, bit for bit (AVX-512 products)"
  else
    echo "FAIL: 1 and 2 threads give different models on the AVX-512 products"; fail=1
  fi
else
  echo "skip: thread-count independence needs the AVX-512 products ($("$ordo" version))"
fi
# mean loss of the first and last 10 steps
first=$(awk -F, 'NR>1 && NR<=11 {s+=$2} END {printf "%.4f", s/10}' "$tmp/a/metrics.csv")
last=$(awk -F, 'NR>41 {s+=$2} END {printf "%.4f", s/10}' "$tmp/a/metrics.csv")
if awk -v f="$first" -v l="$last" 'BEGIN {exit !(l < f - 0.5)}'; then
  echo "ok: loss falls, mean of steps 1-10 $first -> steps 41-50 $last"
else
  echo "FAIL: loss did not fall by 0.5: $first -> $last"; fail=1
fi
for f in config.json model.safetensors tokenizer.json metrics.csv; do
  [ -s "$tmp/a/$f" ] || { echo "FAIL: $f not written"; fail=1; }
done
# bad flags are usage errors, not crashes
"$ordo" train --corpus "$tmp/corpus" --out "$tmp/c" --steps -3 > /dev/null 2>&1; [ $? -eq 2 ] || { echo "FAIL: --steps -3 not rejected"; fail=1; }
"$ordo" train --corpus /nonexistent --out "$tmp/c" > /dev/null 2>&1; [ $? -eq 1 ] || { echo "FAIL: missing corpus not an error"; fail=1; }
# an unknown or absent --device is refused by name before anything is written
for d in tpu cuda; do
  [ $d = cuda ] && nvidia-smi -L > /dev/null 2>&1 && continue # a GPU here: cuda would train
  "$ordo" train --corpus "$tmp/corpus" --out "$tmp/dev" --device $d > "$tmp/dev.log" 2>&1; rc=$?
  if [ $rc -eq 1 ] && grep -q -- "--device" "$tmp/dev.log" && [ ! -e "$tmp/dev" ]; then
    echo "ok: --device $d refused: $(head -1 "$tmp/dev.log")"
  else
    echo "FAIL: --device $d: exit $rc, $(ls "$tmp/dev" 2>/dev/null | wc -l) files written"; cat "$tmp/dev.log"; fail=1
  fi
done
# --nccl is for a device with its own memory: on the CPU it is refused by name, nothing written
"$ordo" train --corpus "$tmp/corpus" --out "$tmp/nccl" --nccl > "$tmp/nccl.log" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q -- "--nccl: .*--device cpu" "$tmp/nccl.log" && [ ! -e "$tmp/nccl" ]; then
  echo "ok: --nccl on the CPU refused: $(head -1 "$tmp/nccl.log")"
else
  echo "FAIL: --nccl on the CPU: exit $rc, $(ls "$tmp/nccl" 2>/dev/null | wc -l) files written"; cat "$tmp/nccl.log"; fail=1
fi
[ $fail -eq 0 ] && echo "train_mlm: PASS"
exit $fail
