#!/usr/bin/env bash
# Checkpoint/resume of `ordo train`: a run killed with SIGKILL (after a checkpoint, and again in
# the middle of writing one) and started again gives bit-identical losses to an uninterrupted
# run; also with 8-bit AdamW, fp16 loss scaling and accumulation, and GPT-2's causal LM (with
# LoRA); and, on the AVX-512 products, resumed on another thread count.
set -u
ordo=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/corpus" && cp -r "$src/src" "$tmp/corpus/"
fail=0
# one tokenizer for every run (training it is not what is tested here)
"$ordo" tokenize --train wordpiece --vocab-size 600 --corpus $(find "$tmp/corpus" -name '*.c') --out "$tmp/tok.json" > /dev/null 2>&1 || { echo "FAIL: tokenizer"; exit 1; }
run_case() { # NAME EXTRA_ARGS...
  local name=$1; shift
  local args=(--corpus "$tmp/corpus" --tokenizer "$tmp/tok.json" --layers 2 --hidden 32 --heads 2
              --intermediate 64 --seq 32 --batch 4 --steps 20 --lr 1e-3 --seed 5 --threads 2
              --log-every 100 --save-every 4 "$@")
  "$ordo" train "${args[@]}" --out "$tmp/$name.ref" > "$tmp/$name.ref.log" 2>&1 || { echo "FAIL: $name reference run"; tail "$tmp/$name.ref.log"; fail=1; return; }
  # interrupted run: SIGKILL once a checkpoint exists, then again at a random later moment
  "$ordo" train "${args[@]}" --out "$tmp/$name" > /dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do [ -f "$tmp/$name/checkpoint/manifest.json" ] && break; sleep 0.05; done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  "$ordo" train "${args[@]}" --out "$tmp/$name" > /dev/null 2>&1 &
  pid=$!; sleep 0.$((RANDOM % 9 + 1)); kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  "$ordo" train "${args[@]}" --threads "${RESUME_THREADS:-2}" --out "$tmp/$name" > "$tmp/$name.log" 2>&1 || { echo "FAIL: $name resumed run"; tail "$tmp/$name.log"; fail=1; return; }
  grep -q "resumed from" "$tmp/$name.log" || { echo "FAIL: $name did not resume"; fail=1; }
  if cmp -s <(cut -d, -f1,2 "$tmp/$name.ref/metrics.csv") <(cut -d, -f1,2 "$tmp/$name/metrics.csv"); then
    echo "ok: $name: resumed run bit-identical to the uninterrupted one ($(grep -o 'resumed.*' "$tmp/$name.log" | head -1))"
  else
    echo "FAIL: $name: losses differ after resuming"; diff <(cut -d, -f1,2 "$tmp/$name.ref/metrics.csv") <(cut -d, -f1,2 "$tmp/$name/metrics.csv") | head; fail=1
  fi
  cmp -s "$tmp/$name.ref/model.safetensors" "$tmp/$name/model.safetensors" || { echo "FAIL: $name final weights differ"; fail=1; }
}
run_case fp32
run_case mixed --optim adamw8 --precision fp16 --accum-steps 2 --recompute layer
run_case clm --objective clm
run_case clm_lora --objective clm --lora-r 4 --precision bf16 --accum-steps 2
# on ordo's AVX-512 products the bits do not depend on the thread count: a 2-thread run resumes
# on 1 thread and still ends with the uninterrupted 2-thread run's weights
if "$ordo" version | grep -q "products on AVX-512"; then
  RESUME_THREADS=1 run_case fp32_resumed_on_1_thread
else
  echo "skip: resuming on another thread count needs the AVX-512 products"
fi
[ $fail -eq 0 ] && echo "train_resume: PASS"
exit $fail
