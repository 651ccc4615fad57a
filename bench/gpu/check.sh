#!/usr/bin/env bash
# The CUDA backend's checks in one call on a GPU machine (issue 10's GPU lines): the op tests
# against the reference, `ordo parity --device cuda` on the fixtures, the training comparisons
# of bench/gpu/train_check.sh (200 masked-LM steps fp32 and bf16, 8-bit AdamW, checkpoints moved
# between devices), compute-sanitizer on the op test, optionally `ordo ai4code train --device
# cuda` on nb-public, and, when the binary has NCCL, 20 steps through the NCCL path with one
# rank against 20 without it (the same weights and optimizer state bit for bit expected: one
# rank's sum is itself). Writes $OUT/report.txt with a summary at its top. The same
# pack carries bench/gpu/speed.sh (the speed table against PyTorch): `bash build-gpu/speed.sh run`
# there. The fused attention's test and speed table (cuda_test_flash_attention, src/cuda/
# flash_attention.cu) run after the op tests, the table into the summary.
#
#   bash bench/gpu/check.sh pack [--data]  here: builds build-cuda/ (CUDA and NCCL on, MPI
#                                          off; NCCL=OFF in the environment: without it)
#                                          and packs build-gpu/ (ignored; carry it): the
#                                          binaries, these scripts, the shared libraries a GPU
#                                          image lacks (xz; not libnccl: the image's PyTorch
#                                          wheel has one), ../shared/fixtures/hf and with
#                                          --data ../shared/data/nb-public (xz); with
#                                          BEFORE=FILE an earlier bench_train in
#                                          build-gpu/before/ (BEFORE_TAG names it; speed.sh
#                                          and one_call.sh set its rows beside)
#   bash build-gpu/check.sh run [--ai4code | --nccl-only]  there, from the repository root
#                                          (--nccl-only: the NCCL checks alone)
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
bins="ordo cpu_test_backend_ops cuda_test_backend_cuda cuda_test_cuda_mm cuda_test_flash_attention
      train_test_trainer_cuda train_test_dist_nccl train_test_trainer_nccl model_test_driver_cuda"
case "${1:-}" in
pack)
  cd "$here"
  cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DORDO_CUDA=ON -DORDO_MPI=OFF \
    -DORDO_NCCL="${NCCL:-ON}" >/dev/null || exit 1
  cmake --build build-cuda -j"$(nproc)" --target $bins bench_ckpt_diff bench_train 2>&1 | grep -E 'error|warning'
  rm -rf build-gpu && mkdir -p build-gpu/lib build-gpu/bench
  for b in $bins; do cp "build-cuda/$b" build-gpu/ || exit 1; done
  cp build-cuda/bench/bench_ckpt_diff build-cuda/bench/bench_train build-gpu/bench/ || exit 1
  # BEFORE=FILE: an earlier build's bench_train, for speed.sh's rows of it
  if [ -n "${BEFORE:-}" ]; then
    mkdir -p build-gpu/before && cp "$BEFORE" build-gpu/before/bench_train || exit 1
    echo "${BEFORE_TAG:-before}" > build-gpu/before/tag
  fi
  cp bench/gpu/check.sh bench/gpu/train_check.sh bench/gpu/gpu_env.sh bench/gpu/speed.sh bench/gpu/one_call.sh \
    bench/gpu/torch_speed.py build-gpu/ || exit 1
  # the libraries of this machine's Debian that a GPU image does not have; CUDA's own come
  # from the image (its toolkit or PyTorch's wheels)
  (cd build-gpu && ldd $bins bench/bench_ckpt_diff bench/bench_train) | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -Ev 'libc\.so|libm\.so|libmvec|ld-linux|libpthread|libdl\.|librt\.|libgcc_s|libstdc|libcuda|libcublas|libcudart|libnccl|libz\.so' |
    while read -r l; do cp -L "$l" build-gpu/lib/; done
  xz -T0 -6 build-gpu/lib/*.so*
  tar -C ../shared/fixtures -cf - hf | xz -T0 -6 > build-gpu/fixtures-hf.tar.xz
  if [ "${2:-}" = "--data" ]; then
    tar -C ../shared/data -cf - nb-public | xz -T0 -6 > build-gpu/nb-public.tar.xz
  fi
  du -sh build-gpu build-gpu/* ;;
run)
  OUT=${OUT:-$PWD/out-gpu}; mkdir -p "$OUT"
  R=$OUT/report.txt; S=$OUT/summary.txt; : >"$S"
  W=/tmp/ordo-gpu; rm -rf "$W"
  . build-gpu/gpu_env.sh && gpu_env "$W"
  export LD_LIBRARY_PATH=$ORDO_LD_PATH
  tar -C "$W" -xJf build-gpu/fixtures-hf.tar.xz
  [ -f build-gpu/nb-public.tar.xz ] && tar -C "$W" -xJf build-gpu/nb-public.tar.xz
  B=$PWD/build-gpu ordo=$PWD/build-gpu/ordo
  result() { echo "$1" | tee -a "$S"; }
  step() { # step NAME LIMIT CMD...: runs CMD with a time limit, its output into the report
    local name=$1 lim=$2; shift 2
    echo "=== $name ($(date +%T))" >>"$R"
    local t0=$SECONDS
    timeout "$lim" "$@" >>"$R" 2>&1; local rc=$?
    echo "--- $name: rc=$rc in $((SECONDS - t0)) s" >>"$R"
    return $rc
  }
  {
    date; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    echo "cuBLASLt from $cudalib; cudart from $cudart; NCCL from $nccl"
    ldd "$ordo" | grep -E 'not found|cublas|cudart|nccl'
    "$ordo" version
  } >"$R" 2>&1
  "$ordo" version >/dev/null 2>&1 || { result "FATAL: ordo does not start"; cat "$R"; exit 1; }
  nccl_checks() { # the test binaries of the NCCL path, then ordo train through it
    for t in train_test_dist_nccl train_test_trainer_nccl; do
      step "$t" 120 "$B/$t"; local rc=$?
      case $rc in 0) result "$t: PASS" ;; 77) result "$t: skipped (see report)" ;; *) result "$t: FAIL (rc $rc)" ;; esac
    done
    # the NCCL path with one rank (no mpirun: a world of one with an NCCL communicator of one)
    # against no NCCL: 20 steps each, plain and with --zero 1 --accum-steps 2 (one shard: the
    # reduce-scatter and all-gather run too); bench_ckpt_diff must find nothing apart
    if ldd "$ordo" | grep -q libnccl; then
      N=$W/nccl; mkdir -p "$N/corpus" && cp -r src include "$N/corpus/"
      "$ordo" tokenize --train wordpiece --vocab-size 2000 --corpus $(find "$N/corpus" -name '*.c' | sort) \
        --out "$N/tok.json" >>"$R" 2>&1
      nb=(train --corpus "$N/corpus" --tokenizer "$N/tok.json" --layers 2 --hidden 128 --heads 2
          --intermediate 512 --seq 64 --batch 16 --lr 1e-3 --seed 7 --steps 20 --device cuda)
      for v in plain zero; do
        x=(); [ $v = zero ] && x=(--zero 1 --accum-steps 2)
        step "nccl $v: no NCCL" 120 "$ordo" "${nb[@]}" "${x[@]}" --out "$N/$v.ref" &&
          NCCL_DEBUG=WARN step "nccl $v: one NCCL rank" 120 "$ordo" "${nb[@]}" "${x[@]}" --nccl \
            --out "$N/$v.nccl" &&
          step "nccl $v: diff" 60 "$B/bench/bench_ckpt_diff" "$N/$v.ref/checkpoint" "$N/$v.nccl/checkpoint"
        d=$(sed -n "/^=== nccl $v: diff/,\$p" "$R" | grep '^max_f32_rel' | tail -1)
        case "$d" in
          "max_f32_rel 0 max_code_step 0 "*) result "nccl one rank vs none ($v, 20 steps): PASS, $d" ;;
          *) result "nccl one rank vs none ($v, 20 steps): FAIL (${d:-no diff: see report})" ;;
        esac
      done
    else result "nccl one rank vs none: skipped: ordo built without NCCL"; fi
  }
  if [ "${2:-}" = --nccl-only ]; then nccl_checks; cat "$S"; exit 0; fi
  for t in cpu_test_backend_ops cuda_test_backend_cuda cuda_test_cuda_mm model_test_driver_cuda; do
    step "$t" 180 "$B/$t" && result "$t: PASS" || result "$t: FAIL (rc $?)"
  done
  # the fused attention (src/cuda/flash_attention.cu): its checks, then its speed beside the op's
  step cuda_test_flash_attention 150 "$B/cuda_test_flash_attention" &&
    result "cuda_test_flash_attention: PASS" || result "cuda_test_flash_attention: FAIL (rc $?)"
  step "flash attention bench" 120 "$B/cuda_test_flash_attention" --bench ||
    result "cuda_test_flash_attention --bench: cut or failed (rc $?, see report)"
  sed -n '/^=== flash attention bench/,/^--- flash attention bench/p' "$R" | grep -E '^(\||attention speed)' >>"$S"
  grep -E '^(FAIL|.*cuda.*(FAIL|skipped))' "$R" | head -30 >>"$S"
  # parity: the committed fixtures and the shared ones (AdamW steps in hf/bert)
  for d in tests/fixtures/hf/* tests/fixtures/hf_families/* tests/fixtures/hf_gpt2/* \
           "$W"/hf/bert "$W"/hf/roberta_regression "$W"/hf/bert_lora "$W"/hf/gpt2_lm; do
    [ -f "$d/config.json" ] || continue
    step "parity $d" 60 "$ordo" parity "$d" --device cuda
    result "parity --device cuda $(basename "$d"): $(sed -n '/^=== parity/h; /^parity:/p' "$R" | tail -1)"
  done
  nccl_checks
  # training on both devices (bench/gpu/train_check.sh); the ai4code run last, as it is long
  if [ "${2:-}" = "--ai4code" ]; then export AI4CODE=1 NB=$W/nb-public; fi
  OUT=$OUT step "train_check" "${TRAIN_LIMIT:-420}" bash build-gpu/train_check.sh "$B"
  grep -E 'FAIL|PASS|relative|last loss|steps|wall|tau' "$OUT/train_report.txt" >>"$S"
  if command -v compute-sanitizer >/dev/null; then
    step "compute-sanitizer memcheck, op test on cuda" 150 compute-sanitizer --tool memcheck \
      --error-exitcode 9 "$B/cpu_test_backend_ops" --backend cuda &&
      result "compute-sanitizer: no errors" || result "compute-sanitizer: errors, refused or cut (see report)"
  else result "compute-sanitizer: not found"; fi
  cat "$S" ;;
*) echo "usage: check.sh pack [--data] | run [--ai4code | --nccl-only]" >&2; exit 2 ;;
esac
