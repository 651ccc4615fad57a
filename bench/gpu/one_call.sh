#!/usr/bin/env bash
# Every GPU measurement of the project in one call on a lent machine, with the results packed so
# that they come back whole (the machine returns at most 8 files): the CUDA checks
# (check.sh run, optionally with the AI4Code training), `ordo ai4code predict --device cuda` on a
# carried model (throughput), then the speed table (speed.sh run, with BUDGET seconds). Each
# part is capped so the call ends inside LIMIT seconds (default 540).
#
#   here:  bash bench/gpu/check.sh pack [--data]     (BEFORE=FILE for an earlier bench_train)
#          cp -r MODEL_DIR build-gpu/ai_model         (optional: a model of `ordo ai4code train`)
#   there: [CPU_AI4CODE=1] bash build-gpu/one_call.sh [--ai4code]   (repository root, OUT set)
# Back in $OUT: summary.txt (the checks' summary, predict's figures, the speed table) and
# all.tar.xz (every report and log).
set -u
OUT=${OUT:?OUT: the folder whose files come back}
LIMIT=${LIMIT:-540}
deadline=$((SECONDS + LIMIT))
S=$OUT/summary.txt W=$OUT/work
mkdir -p "$W/check" "$W/speed"
left() { echo $((deadline - SECONDS)); }
# CPU_AI4CODE=1: `ordo ai4code train --device cpu` with the defaults on nb-public beside the rest,
# on the cores from 4 up (the GPU work keeps cores 0-3), its log back in the tarball; ended at
# the deadline if it has not finished
cpu_pid=
if [ "${CPU_AI4CODE:-0}" = 1 ] && [ -f build-gpu/nb-public.tar.xz ]; then
  n=$(nproc); mkdir -p /tmp/ordo-cpu && tar -C /tmp/ordo-cpu -xJf build-gpu/nb-public.tar.xz
  ( . build-gpu/gpu_env.sh && gpu_env /tmp/ordo-cpu && cd /tmp/ordo-cpu &&
    LD_LIBRARY_PATH=$ORDO_LD_PATH exec taskset -c 4-$((n - 1)) "$OLDPWD/build-gpu/ordo" ai4code train \
      --data nb-public --out ai --device cpu --threads $((n - 4)) --max-minutes 0 ) \
    >"$W/ai4code_cpu.log" 2>&1 &
  cpu_pid=$!
  pin=(taskset -c 0-3)
else pin=(); fi
{
  echo "== checks ($(date +%T))"
  OUT=$W/check TRAIN_LIMIT=${TRAIN_LIMIT:-150} timeout $(( $(left) - 60 )) "${pin[@]}" bash build-gpu/check.sh run ${1:-} 2>&1 | tail -70
  if [ -d build-gpu/ai_model ] && [ -d /tmp/ordo-gpu/nb-public ]; then
    . build-gpu/gpu_env.sh && gpu_env /tmp/ordo-predict
    for dev in ${PREDICT_DEVICES:-cuda}; do
      echo "== ai4code predict --device $dev, held-out split ($(date +%T))"
      LD_LIBRARY_PATH=$ORDO_LD_PATH timeout 90 build-gpu/ordo ai4code predict --model build-gpu/ai_model \
        --data /tmp/ordo-gpu/nb-public --split val --device $dev --out "$W/predict_$dev.csv" \
        >"$W/predict_$dev.log" 2>&1
      echo "rc $?"; grep -v '^predict [0-9]*/' "$W/predict_$dev.log" | tail -6
    done
  fi
  echo "== speed ($(date +%T), $(left) s left)"
  b=$(( $(left) - 25 ))
  if [ "$b" -gt 60 ]; then
    if [ -f build-gpu/before/bench_train ]; then
      export BEFORE=build-gpu/before/bench_train BEFORE_TAG=$(cat build-gpu/before/tag 2>/dev/null || echo before)
    fi
    OUT=$W/speed BUDGET=$b "${pin[@]}" bash build-gpu/speed.sh run 2>&1 | tail -80
  else echo "speed: skipped, $b s left"; fi
  if [ -n "$cpu_pid" ]; then
    while kill -0 "$cpu_pid" 2>/dev/null && [ "$(left)" -gt 15 ]; do sleep 5; done
    kill "$cpu_pid" 2>/dev/null && echo "== ai4code train --device cpu: cut at the deadline"
    echo "== ai4code train --device cpu ($(nproc) cores, the last 4 less)"
    grep -E '^(dual epoch|slot ranker|notebook model|decoding|kendall_tau|total)' "$W/ai4code_cpu.log"
  fi
} >"$S" 2>&1
tar -C "$W" -cJf "$OUT/all.tar.xz" . && rm -rf "$W"
cat "$S"
