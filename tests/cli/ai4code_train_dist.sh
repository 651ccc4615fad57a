#!/usr/bin/env bash
# `mpirun -np 2 ordo ai4code train` on a tiny generated notebook tree, every learned stage
# (dual encoder, pointwise encoder, slot MLPs, notebook model) with a short budget:
#  - 2 ranks x batch B give the weights of 1 process taking the 2B batch as two accumulated
#    halves (--accum-steps 2; the notebook model's --notebook-batch 2 against 1), within 1e-6 of
#    each tensor's largest magnitude (bench_ckpt_diff; measured: 0, bit for bit), and the same
#    tokenizer, term prior, slot ranker and held-out orders; both models predict the same
#    submission;
#  - rank 1 writes and prints nothing (each rank runs in a folder of its own with a relative
#    --out, its output in files of its own);
#  - the time cap stops both ranks at the same step (rank 0's clock), and the checkpoints of a
#    2-rank run stopped by it resume on 1 process (ranks x --accum-steps kept) and end where the
#    uninterrupted run ends; a resume with another product is refused by name.
# Exit 77 (ctest: skipped) when ordo is built without MPI.
# usage: ai4code_train_dist.sh ORDO_BINARY SOURCE_DIR [SHARED_FIXTURES_DIR]
set -u
ORDO=$(realpath "$1")
if ! "$ORDO" version | grep -q "multi-process: MPI" || ! command -v mpirun >/dev/null; then
  echo "skipped: MPI not built (install libopenmpi-dev and reconfigure)"; exit 77
fi
DIFF=$(dirname "$ORDO")/bench/bench_ckpt_diff
T=$(mktemp -d "${TMPDIR:-/tmp}/ordo-cli-ai4dist-XXXXXX")
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are reported as leaks at exit under the sanitizer build
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
. "$(dirname "$0")/common.bash"
[ -x "$DIFF" ] || { echo "FAIL: $DIFF not built"; exit 1; }
launch=(timeout 300 mpirun -np 2 --oversubscribe --bind-to none)

mk_nb_tree "$T/src"
"$ORDO" nb build --from "$T/src" --out "$T/ds" --seed 1 >/dev/null 2>&1 && ok || bad "nb build"
# every notebook trains every stage (--slot-max-nb 0), so that each stage has steps to share
TINY=(--data "$T/ds" --layers 1 --hidden 32 --heads 2 --intermediate 64 --vocab 400 --seq 64
      --md-tokens 16 --code-cells 4 --code-tokens 8 --batch 4 --max-steps 4 --slot-epochs 3
      --slot-lr 0.01 --slot-hidden 8 --val-frac 0.25 --seed 3 --threads 1 --point --cell-tokens 12
      --dual-dim 8 --dual-cells 40 --dual-epochs 2 --slot-max-nb 0 --notebook-epochs 2
      --dist-timeout 60)

# ---- 1 process with two accumulated halves against 2 ranks ----
expect_rc 0 "$ORDO" ai4code train --out "$T/one" "${TINY[@]}" --accum-steps 2 --notebook-batch 2
cp "$T/out" "$T/one.out"
# each rank in a folder of its own, --out relative: whatever rank 1 wrote would be under r1/;
# each rank's stdout and stderr in files of its own
mkdir -p "$T/r0" "$T/r1"
printf '%s\n' 'R=$OMPI_COMM_WORLD_RANK' \
  "cd \"$T/r\$R\" && exec \"\$@\" >\"$T/rank\$R.out\" 2>\"$T/rank\$R.err\"" >"$T/rank_dir.sh"
expect_rc 0 "${launch[@]}" bash "$T/rank_dir.sh" "$ORDO" ai4code train --out two "${TINY[@]}" --notebook-batch 1
cp "$T/rank0.out" "$T/two.out"
expect_text "$T/rank0.err" "data parallel: 2 ranks"
[ -z "$(ls -A "$T/r1")" ] && ok || bad "rank 1 wrote $(cd "$T/r1" && find . -mindepth 1 | head -5 | tr "\n" " ")"
[ ! -s "$T/rank1.out" ] && [ ! -s "$T/rank1.err" ] && ok || bad "rank 1 printed: $(head -c 300 "$T/rank1.out" "$T/rank1.err")"
two=$T/r0/two
for f in dual/model.safetensors model.safetensors notebook/model.safetensors; do
  if [ ! -f "$T/one/$f" ] || [ ! -f "$two/$f" ]; then bad "$f missing"; continue; fi
  d=$("$DIFF" "$T/one/$f" "$two/$f" | awk '/^max_f32_rel/ {print $2}')
  echo "$f: 2 ranks against 1 process, largest difference $d of a tensor's largest magnitude"
  awk -v d="${d:-inf}" 'BEGIN {exit !(d != "inf" && d + 0 <= 1e-6)}' && ok || bad "$f differs by $d"
done
for f in tokenizer.json term_prior.json ranker.json heldout.jsonl config.json dual/config.json; do
  cmp -s "$T/one/$f" "$two/$f" && ok || bad "$f differs between 1 process and 2 ranks"
done
for f in metrics.jsonl tb/dual tb/pointwise tb/slot tb/notebook; do
  [ -e "$two/$f" ] && ok || bad "2 ranks: no $f"
done
# the same figures (training losses and held-out tau) printed by both
grep -v "total\|steps in\| s, val\|ranker: " "$T/one.out" >"$T/one.tau"
grep -v "total\|steps in\| s, val\|ranker: " "$T/two.out" >"$T/two.tau"
cmp -s "$T/one.tau" "$T/two.tau" && ok || bad "printed results differ: $(diff "$T/one.tau" "$T/two.tau" | head -4)"
for m in one two; do
  dir=$T/$m; [ $m = two ] && dir=$two
  expect_rc 0 "$ORDO" ai4code predict --model "$dir" --data "$T/ds" --split val --val-frac 0.25 --seed 3 --threads 1 --out "$T/$m.csv"
done
cmp -s "$T/one.csv" "$T/two.csv" && ok || bad "the two models predict differently"

# ---- the time cap, checkpoints, and resume on another rank count ----
# --max-minutes 1e-5: rank 0's clock is past it after the first step; every rank stops there
expect_rc 0 "${launch[@]}" "$ORDO" ai4code train --out "$T/cap" "${TINY[@]}" --notebook-batch 1 --save-every 1 --max-minutes 0.00001
expect_text "$T/err" "dual: stopping after"
expect_text "$T/out" "dual: 1 steps"
[ -f "$T/cap/checkpoint_dual/manifest.json" ] && [ -f "$T/cap/checkpoint/manifest.json" ] && ok || bad "no checkpoints"
cp -r "$T/cap" "$T/cap2"
# resumed as 1 process with the same global batch: the uninterrupted run's weights
expect_rc 0 "$ORDO" ai4code train --out "$T/cap" "${TINY[@]}" --accum-steps 2 --notebook-batch 2 --save-every 1
expect_text "$T/err" "dual: resumed from"
expect_text "$T/err" "pointwise: resumed from"
for f in dual/model.safetensors model.safetensors; do
  d=$("$DIFF" "$T/one/$f" "$T/cap/$f" | awk '/^max_f32_rel/ {print $2}')
  echo "$f: 2 ranks stopped, resumed on 1 process, against the uninterrupted run: $d"
  awk -v d="${d:-inf}" 'BEGIN {exit !(d != "inf" && d + 0 <= 1e-6)}' && ok || bad "resumed $f differs by $d"
done
# another global batch: refused, naming both
expect_rc 1 "$ORDO" ai4code train --out "$T/cap2" "${TINY[@]}" --save-every 1
expect_text "$T/err" "micro-batches (ranks x --accum-steps), this run's are of 1"

# ---- a rank killed (SIGKILL) mid-run: the job ends with a message naming it; the last
# checkpoint is whole and resumes ----
LONG=("${TINY[@]}" --notebook-batch 1 --save-every 1 --max-steps 100000 --dual-epochs 1000 --dist-timeout 10)
timeout 120 "${launch[@]:2}" "$ORDO" ai4code train --out "$T/kill" "${LONG[@]}" >"$T/kill.log" 2>&1 &
job=$!
for _ in $(seq 1 1200); do [ -f "$T/kill/checkpoint_dual/manifest.json" ] && break; sleep 0.05; done
r1=""
for p in $(pgrep -P "$(pgrep -P $job -x mpirun)"); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && r1=$p
done
if [ -z "$r1" ] || [ ! -f "$T/kill/checkpoint_dual/manifest.json" ]; then
  bad "no checkpoint or no rank 1 to kill"; kill $job
fi
t0=$(date +%s.%N)
[ -n "$r1" ] && kill -KILL "$r1"
wait $job; rc=$?
took=$(echo "$(date +%s.%N) - $t0" | bc)
echo "rank 1 killed: the job ended $(printf %.1f "$took") s later (exit $rc): $(grep -Eo "mpirun noticed that process rank 1 .*|.*rank\(s\) 1 .*" "$T/kill.log" | head -1)"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "the job exited $rc after rank 1 was killed"
# within 1.5 timeouts (dist.h), 10 s more for the launcher on a loaded machine
awk -v t="$took" 'BEGIN {exit !(t <= 25)}' && ok || bad "the job took $took s to end"
grep -Eq "rank 1 |rank\(s\) 1 " "$T/kill.log" && ok || bad "no message names rank 1: $(tail -3 "$T/kill.log")"
expect_rc 0 "${launch[@]}" "$ORDO" ai4code train --out "$T/kill" "${LONG[@]}" --max-minutes 0.00001
expect_text "$T/err" "dual: resumed from"

# the commands that are not data-parallel refuse mpirun instead of racing on the same files
expect_rc 2 "${launch[@]}" "$ORDO" ai4code predict --model "$T/kill" --data "$T/ds" --out "$T/mpi_pred.csv"
expect_text "$T/err" "only \`ordo train\` and \`ordo ai4code train\` are data-parallel"
[ ! -e "$T/mpi_pred.csv" ] && ok || bad "a refused predict wrote its CSV"

test_summary ai4code_train_dist
