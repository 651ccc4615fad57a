#!/usr/bin/env bash
# Runs every fuzz target built by fuzz/build.sh for a short time (CI), on its committed seeds
# (fuzz/corpus/<target>/) and regression inputs (fuzz/regress/<target>/), with new inputs kept
# in a scratch folder. Any finding fails the run; its input is left in OUT/findings/.
#   bash fuzz/smoke.sh [OUT_DIR] [SECONDS_EACH]     (defaults build-fuzz, 20)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build-fuzz}
SECS=${2:-20}
TOKS=$ROOT/../shared/fixtures/tokenizers
export ORDO_FUZZ_TOKENIZERS=$ROOT/tests/tok/data/bpe_small.json:$ROOT/tests/tok/data/wp_seq_small.json
[ -d "$TOKS/gpt2_bpe" ] && ORDO_FUZZ_TOKENIZERS+=":$TOKS/gpt2_bpe/tokenizer.json"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$OUT/findings"
fail=0
for bin in "$OUT"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  target=${name#fuzz_}
  dirs=("$scratch/$target")
  mkdir -p "$scratch/$target"
  [ -d "$ROOT/fuzz/corpus/$target" ] && dirs+=("$ROOT/fuzz/corpus/$target")
  [ -d "$ROOT/fuzz/regress/$target" ] && dirs+=("$ROOT/fuzz/regress/$target")
  [ "$target" = tok_load ] && dirs+=("$ROOT/tests/tok/data")
  log=$scratch/$target.log
  if "$bin" -max_total_time="$SECS" -max_len=8192 -print_final_stats=1 \
       -artifact_prefix="$OUT/findings/$target-" "${dirs[@]}" >"$log" 2>&1; then
    echo "ok: $name: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') executions in ${SECS} s"
  else
    echo "FAIL: $name"; tail -40 "$log"; fail=1
  fi
done
exit $fail
