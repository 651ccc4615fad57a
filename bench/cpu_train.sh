#!/usr/bin/env bash
# CPU training throughput, ordo (bench_train) next to PyTorch (torch_cpu_train.py), measured
# in the same run on the same machine with the same thread counts, alternating the two so
# that load changes hit both alike. Best of ROUNDS per cell. Prints a markdown table. Where
# ordo's products are its AVX-512 kernels, the same binary also runs on OpenBLAS's products
# (ORDO_SGEMM=openblas) in the same rounds, as its own column.
#
#   bash bench/cpu_train.sh [BUILD_DIR] [PYTHON]      (env: ROUNDS=3 STEPS=8 THREADS="1 2")
set -euo pipefail
build=${1:-build}
py=${2:-python3}
rounds=${ROUNDS:-3}
steps=${STEPS:-8}
threads=${THREADS:-"1 2"}
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$build/bench/bench_train" ] || cmake --build "$build" --target bench_train > /dev/null
model="--layers 4 --hidden 256 --heads 4 --intermediate 1024 --vocab 8192 --seq 128 --batch 16"
common="$model --steps $steps --warmup 2 --dropout 0.1"
best() { sed -n 's/.*"tokens_per_s":\([0-9.]*\).*/\1/p' | sort -g | tail -1; }
echo "model: BERT L4 H256 A4 I1024, vocab 8192, seq 128, batch 16 (2,048 tokens/step), fp32,"
echo "hidden dropout 0.1, attention dropout 0, AdamW, clip 1.0; best of $rounds rounds of $steps steps"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1 /proc/loadavg)"
echo
avx=0; ORDO_SGEMM= "$build/ordo" version 2> /dev/null | grep -q "products on AVX-512" && avx=1
if [ $avx = 1 ]; then
  echo "| MLM head | threads | PyTorch tokens/s | ordo tokens/s | ordo / PyTorch | ordo on OpenBLAS's products | its ratio |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
else
  echo "| MLM head | threads | PyTorch tokens/s | ordo tokens/s | ordo / PyTorch |"
  echo "| --- | --- | --- | --- | --- |"
fi
for head in full masked; do
  for t in $threads; do
    o=""; p=""; b=""
    for r in $(seq "$rounds"); do
      o+=$("$build/bench/bench_train" $common --attn-dropout 0 --threads "$t" --head "$head")$'\n'
      p+=$(OMP_NUM_THREADS=$t "$py" "$here/torch_cpu_train.py" $common --threads "$t" --head "$head")$'\n'
      [ $avx = 1 ] && b+=$(ORDO_SGEMM=openblas "$build/bench/bench_train" $common --attn-dropout 0 --threads "$t" --head "$head")$'\n'
    done
    ob=$(echo "$o" | best); pb=$(echo "$p" | best)
    if [ $avx = 1 ]; then
      bb=$(echo "$b" | best)
      printf "| %s | %s | %.0f | %.0f | %.2f | %.0f | %.2f |\n" "$head" "$t" "$pb" "$ob" "$(echo "$ob / $pb" | bc -l)" \
        "$bb" "$(echo "$bb / $pb" | bc -l)"
    else
      printf "| %s | %s | %.0f | %.0f | %.2f |\n" "$head" "$t" "$pb" "$ob" "$(echo "$ob / $pb" | bc -l)"
    fi
  done
done
