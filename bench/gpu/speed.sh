#!/usr/bin/env bash
# Training and inference speed, ordo against PyTorch eager and torch.compile, in one call on one
# GPU (issue 11's table): bf16 GEMM ceilings; BERT-base MLM (L12 H768, vocab 50,265, seq 512,
# batch 32) and the small encoder (L6 H384, seq 512, batch 64) trained by PyTorch (bf16
# autocast, eager and compiled) and by ordo's bench_train on --device cuda (fp32, and bf16
# storage: 16-bit arrays whose linear layers run as bf16 cuBLASLt products on tensor cores, fp32
# accumulation; attention's products on TF32 over fp32 views of 16-bit values, the pointwise ops
# fp32 kernels on fp32 views); RoBERTa-base inference (seq 512, batch 128); ordo's BERT-base step
# profiled by ncu (PROFILE= empty: not); with BEFORE=DIR/bench_train an earlier build's BERT-base
# bf16 row too. Each workload on full-length batches and on batches of lengths uniform
# in [64, 512] padded to 512 (both implementations compute the padding: tokens/s counts the
# positions computed, real tokens/s the real ones). Every part has its own time limit inside
# one budget for the call (BUDGET seconds, 390 by default); what ran is in $OUT/results.jsonl,
# the logs in $OUT/log.txt, the table in $OUT/report.txt.
#
#   bash bench/gpu/check.sh pack       here (the same pack as the checks; carry build-gpu/)
#   bash build-gpu/speed.sh run        there, from the repository root (PY: python3 with torch)
#   bash bench/gpu/speed.sh dry [BUILD] here: the same script on the CPU at tiny sizes (PyTorch
#                                      on the CPU at L1 H64, ordo --device cpu from BUILD,
#                                      build/ by default): a check of the script, not a measure
set -u
mode=${1:-}
case "$mode" in
run)
  OUT=${OUT:-$PWD/out-speed}; B=$PWD/build-gpu/bench dev=cuda
  . build-gpu/gpu_env.sh && gpu_env /tmp/ordo-speed
  py=(${PY:-python3} build-gpu/torch_speed.py)
  # name L H A V seq batch: BERT-base, the small encoder, RoBERTa-base inference
  base=(base 12 768 12 50265 512 32) small=(small 6 384 6 50265 512 64) inf=(infer 12 768 12 50265 512 128)
  minlen=64 tsteps=(--steps 10 --warmup 5) csteps=(--steps 10 --warmup 3) osteps=(--steps 5 --warmup 2)
  othreads=() ;;
dry)
  OUT=${OUT:-$PWD/out-speed-dry}; B=$PWD/${2:-build}/bench dev=cpu
  ORDO_LD_PATH=${LD_LIBRARY_PATH:-}
  py=(${PY:-python3} bench/gpu/torch_speed.py --device cpu)
  base=(base 1 64 2 1000 64 4) small=(small 1 32 2 1000 64 8) inf=(infer 1 64 2 1000 64 8)
  minlen=16 tsteps=(--steps 2 --warmup 1) csteps=(--steps 2 --warmup 1) osteps=(--steps 2 --warmup 1)
  othreads=(--threads 1) ;;
*) echo "usage: speed.sh run | dry [BUILD_DIR]   (packed by: bash bench/gpu/check.sh pack)" >&2; exit 2 ;;
esac
[ -x "$B/bench_train" ] || { echo "speed.sh: $B/bench_train is missing (build or pack it first)" >&2; exit 1; }
mkdir -p "$OUT" || exit 1
J=$OUT/results.jsonl L=$OUT/log.txt R=$OUT/report.txt
: >"$J"; : >"$L"; : >"$R"
deadline=$((SECONDS + ${BUDGET:-390}))
smi=$(command -v nvidia-smi)
{ date; [ -n "$smi" ] && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  "${py[0]}" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  LD_LIBRARY_PATH=$ORDO_LD_PATH "$B/bench_train" --help | head -1; } >>"$R" 2>&1

# part NAME CAP CMD...: CMD under min(CAP, what is left of the budget), its JSON lines into
# results.jsonl, everything into log.txt; with nvidia-smi, the device's peak used memory
# sampled every 100 ms while it ran (the CUDA context and every process included)
part() {
  local name=$1 cap=$2; shift 2
  local left=$((deadline - SECONDS)) lim=$cap t0=$SECONDS rc spid=
  [ "$left" -lt "$lim" ] && lim=$left
  if [ "$lim" -lt 15 ]; then echo "$name: skipped, ${left} s left of the call's budget" | tee -a "$R"; return; fi
  echo "=== $name (limit $lim s): $*" >>"$L"
  if [ -n "$smi" ]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$OUT/smi.$name" 2>/dev/null &
    spid=$!
  fi
  timeout -k 10 "$lim" "$@" >"$OUT/part.out" 2>>"$L"; rc=$?
  [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  cat "$OUT/part.out" >>"$L"
  grep '^{' "$OUT/part.out" >>"$J"
  local peak=
  [ -n "$spid" ] && peak=", nvidia-smi peak $(sort -n "$OUT/smi.$name" | tail -1) MiB"
  echo "$name: rc=$rc in $((SECONDS - t0)) s$peak" | tee -a "$R"
}
torch_train() { # torch_train WORKLOAD MODE STEPS...
  local -n w=$1; local m=$2; shift 2
  part "torch-${w[0]}-$m" "$([ "$m" = compile ] && echo 150 || echo 90)" "${py[@]}" train \
    --layers "${w[1]}" --hidden "${w[2]}" --heads "${w[3]}" --vocab "${w[4]}" --seq "${w[5]}" \
    --batch "${w[6]}" --min-len "$minlen" --mode "$m" "$@"
}
ordo_part() { # ordo_part NAME WORKLOAD FLAGS...: bench_train on the workload
  local name=$1; local -n w=$2; shift 2
  part "ordo-${w[0]}-$name" 75 env LD_LIBRARY_PATH="$ORDO_LD_PATH" "$B/bench_train" --device "$dev" \
    --layers "${w[1]}" --hidden "${w[2]}" --heads "${w[3]}" --intermediate $((4 * ${w[2]})) \
    --vocab "${w[4]}" --seq "${w[5]}" --batch "${w[6]}" "${osteps[@]}" "${othreads[@]}" "$@"
}

# ordo's step profile: every kernel of one training step of the BERT-base bf16 run (setup included)
# under ncu (one metric, the kernel's duration; ncu runs kernels one at a time), summed per
# kernel by `torch_speed.py profile`; skipped where ncu is absent or cannot read the device
profile_part() {
  local ncu; ncu=$(command -v ncu) || { echo "profile: skipped, no ncu" | tee -a "$R"; return; }
  local -n w=$1
  local n
  n=$(wc -l <"$J")
  part profile 120 env LD_LIBRARY_PATH="$ORDO_LD_PATH" "$ncu" --clock-control none \
    --metrics gpu__time_duration.sum --csv --page raw --print-units base --log-file "$OUT/profile.csv" \
    "$B/bench_train" --device "$dev" --layers "${w[1]}" --hidden "${w[2]}" --heads "${w[3]}" \
    --intermediate $((4 * ${w[2]})) --vocab "${w[4]}" --seq "${w[5]}" --batch "${w[6]}" \
    --steps 1 --warmup 0 --head full --precision bf16
  head -n "$n" "$J" >"$J.tmp" && mv "$J.tmp" "$J" # its step, slowed by ncu, is no row of the table
  { echo; echo "profile: ${w[0]} bf16, head full, one step and its setup (ncu)"
    "${py[0]}" "${py[1]}" profile "$OUT/profile.csv"; } >>"$R" 2>&1
}
# BEFORE=DIR/bench_train (BEFORE_TAG names it): the same work on an earlier build, its rows
# marked @TAG
before_part() {
  [ -n "${BEFORE:-}" ] || return 0
  local name=$1 n; shift
  n=$(wc -l <"$J")
  B=$(dirname "$BEFORE") ordo_part "$name" "$@"
  sed -i "$((n + 1)),\$s/^{\"impl\":\"ordo\",/{\"impl\":\"ordo\",\"build\":\"${BEFORE_TAG:-before}\",/" "$J"
}

# the most wanted first: a part cut by the budget leaves the rest of the table standing
part gemm 30 "${py[@]}" gemm $([ "$mode" = dry ] && echo --small)
torch_train base eager "${tsteps[@]}"
ordo_part bf16-full base --head full --precision bf16
torch_train base compile "${csteps[@]}"
ordo_part fp32-full base --head full
before_part bf16-full-before base --head full --precision bf16
part torch-infer 75 "${py[@]}" infer --layers "${inf[1]}" --hidden "${inf[2]}" --heads "${inf[3]}" \
  --vocab "${inf[4]}" --seq "${inf[5]}" --batch "${inf[6]}" --min-len "$minlen" "${tsteps[@]}"
ordo_part bf16 inf --infer --arch roberta --dropout 0 --precision bf16
[ -n "${PROFILE:-1}" ] && [ "$mode" = run ] && profile_part base
ordo_part bf16-masked base --head masked --precision bf16
torch_train small eager "${tsteps[@]}"
torch_train small compile "${csteps[@]}"
ordo_part bf16-full small --head full --precision bf16
ordo_part fp32 inf --infer --arch roberta --dropout 0
ordo_part bf16-full-varlen base --head full --precision bf16 --min-len "$minlen"
ordo_part fp32-full small --head full
ordo_part bf16-full-varlen small --head full --precision bf16 --min-len "$minlen"
ordo_part bf16-varlen inf --infer --arch roberta --dropout 0 --precision bf16 --min-len "$minlen"

{ echo; "${py[0]}" "${py[1]}" table "$J"; } >>"$R" 2>&1
cat "$R"
