#!/usr/bin/env bash
# The CPU bits of training, for comparing two builds (bench/NOTES.md, "Training behind the
# backend interface"): a fixed set of small runs (8- and 32-bit AdamW, bf16, fp16 with loss
# scaling and recompute, LoRA, causal LM, resume, mpirun -np 2 with and without ZeRO-1, ai4code
# train + predict on a generated notebook tree), every output hashed into OUT/HASHES.
#   bash bench/train_bits.sh ORDO OUT SNAPSHOT   SNAPSHOT: a folder holding src/ and include/ of
#                                                one fixed tree (the corpus), the same for both
#   diff OUT_A/HASHES OUT_B/HASHES
set -u
ordo=${1:?usage: train_bits.sh ORDO OUT SNAPSHOT} out=${2:?} snap=${3:?}
rm -rf "$out"; mkdir -p "$out/data"
W=$out/data C=$out/data/corpus
mkdir -p $C && cp -r "$snap/src" "$snap/include" $C/
"$ordo" tokenize --train wordpiece --vocab-size 600 --corpus $(find $C -name '*.c' | sort) --out $W/tok.json > /dev/null 2>&1
base=(--corpus $C --tokenizer $W/tok.json --layers 2 --hidden 64 --heads 2 --intermediate 128
      --seq 32 --batch 4 --lr 1e-3 --seed 5 --threads 1 --log-every 100)
run() { local name=$1; shift; "$ordo" train "$@" --out "$out/$name" > "$out/$name.log" 2>&1 || echo "FAILED $name"; }
run a8 "${base[@]}" --steps 12 --optim adamw8 --accum-steps 2 --clip 0.5 --save-every 6 --keep32 LayerNorm
run a32 "${base[@]}" --steps 10 --optim adamw --precision bf16 --l2 0.01 --l2-layers encoder.layer.1.
run f16 "${base[@]}" --steps 10 --optim adamw8 --precision fp16 --recompute layer --save-every 10
run lora "${base[@]}" --steps 8 --lora-r 4 --save-every 8
run clm --objective clm "${base[@]}" --steps 8 --save-every 8 --accum-steps 2
# resume: 6 steps, then the same run extended to 12
run res "${base[@]}" --steps 6 --optim adamw8 --accum-steps 2 --clip 0.5 --save-every 6 --keep32 LayerNorm
run res "${base[@]}" --steps 12 --optim adamw8 --accum-steps 2 --clip 0.5 --save-every 6 --keep32 LayerNorm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if command -v mpirun > /dev/null; then
  mpirun -np 2 --oversubscribe --bind-to none "$ordo" train "${base[@]}" --steps 6 --save-every 6 --optim adamw8 --out "$out/mpi" > "$out/mpi.log" 2>&1 || echo "FAILED mpi"
  mpirun -np 2 --oversubscribe --bind-to none "$ordo" train "${base[@]}" --steps 6 --save-every 6 --optim adamw8 --zero 1 --out "$out/mpiz" > "$out/mpiz.log" 2>&1 || echo "FAILED mpiz"
fi
# ai4code: a tiny ranker on a generated notebook tree
WORDS=(apple river motor piano cloud tiger lemon rocket garden silver planet forest)
  for g in 0 1 2 3; do for j in 0 1 2 3 4; do s=$((g*5+j)); mkdir -p $W/nbsrc/g$g
    cells="{\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"# Notebook $s\"}"
    for c in 0 1 2 3 4; do w=${WORDS[$(((s*7+c*5)%12))]}
      cells="$cells, {\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"Then the $w table\"}"
      cells="$cells, {\"cell_type\": \"code\", \"metadata\": {}, \"outputs\": [], \"source\": \"${w}_df = make_$w($c)\"}"
    done
    echo "{\"nbformat\": 4, \"nbformat_minor\": 4, \"metadata\": {}, \"cells\": [$cells]}" > $W/nbsrc/g$g/nb$j.ipynb
  done; done
"$ordo" nb build --from $W/nbsrc --out $W/ds --seed 1 > /dev/null 2>&1
TINY=(--layers 1 --hidden 32 --heads 2 --intermediate 64 --vocab 400 --seq 64 --md-tokens 16
      --code-cells 4 --code-tokens 8 --batch 8 --max-steps 4 --slot-epochs 60 --slot-lr 0.01 --slot-hidden 8
      --val-frac 0.25 --seed 3 --threads 1 --point --cell-tokens 12 --dual-dim 8 --dual-cells 40 --dual-epochs 2)
"$ordo" ai4code train --data $W/ds --out "$out/ai" "${TINY[@]}" > "$out/ai.log" 2>&1 || echo "FAILED ai"
"$ordo" ai4code predict --model "$out/ai" --data $W/ds --out "$out/ai_pred.csv" --threads 1 > "$out/aip.log" 2>&1 || echo "FAILED aipred"
rm -rf "$W"
cd "$out" && find . -type f \( -name '*.safetensors' -o -name 'metrics.csv' -o -name '*.csv' -o -name '*.bin' -o -name '*.json' \) ! -name 'run.json' | sort | while read f; do
  case "$f" in *metrics.csv) echo "$(cut -d, -f1-4 "$f" | sha256sum | cut -c1-16) $f(cols1-4)";; *manifest.json) echo "$(grep -v '"h64"\|time' "$f" | sha256sum | cut -c1-16) $f";; *) echo "$(sha256sum < "$f" | cut -c1-16) $f";; esac
done > "$out/HASHES"
