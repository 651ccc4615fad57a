#!/usr/bin/env bash
# ordo generate on a small GPT-2 trained here: text in, text streamed out; the key/value cache
# gives the tokens of the no-cache path; a seed fixes a sampled text; top-k 1 and a tiny top-p
# are greedy. (Greedy ids against transformers': tests/model/test_decode.c.)
set -u
ordo=$1 src=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
. "$src/tests/cli/common.bash"
export OMP_NUM_THREADS=1
mkdir -p "$T/corpus" && cp -r "$src/src/model" "$src/README.md" "$T/corpus/"
expect_rc 0 "$ordo" train --objective clm --corpus "$T/corpus" --out "$T/m" --layers 2 --hidden 32 \
  --heads 2 --intermediate 64 --seq 32 --batch 4 --steps 30 --vocab-size 400 --lr 3e-3 --threads 1
g=(generate --model "$T/m" --prompt "static void" --max-new-tokens 20 --threads 1)
expect_rc 0 "$ordo" "${g[@]}"; cp "$T/out" "$T/greedy"; cp "$T/err" "$T/greedy.err"
expect_text "$T/greedy" "static void"
expect_text "$T/greedy.err" "tokens/s (key/value cache"
[ "$(wc -c < "$T/greedy")" -gt 14 ] && ok || bad "no continuation: $(cat "$T/greedy")"
expect_rc 0 "$ordo" "${g[@]}" --no-cache
cmp -s "$T/out" "$T/greedy" && ok || bad "no-cache text differs: $(cat "$T/out") vs $(cat "$T/greedy")"
expect_text "$T/err" "tokens/s (no cache"
expect_rc 0 "$ordo" "${g[@]}" --device cpu-ref
cmp -s "$T/out" "$T/greedy" && ok || bad "--device cpu-ref text differs: $(cat "$T/out") vs $(cat "$T/greedy")"
expect_rc 1 "$ordo" "${g[@]}" --device nope
expect_text "$T/err" "--device: unknown device 'nope'"
expect_rc 0 "$ordo" "${g[@]}" --top-k 1 --temperature 0.7
cmp -s "$T/out" "$T/greedy" && ok || bad "top-k 1 is not greedy"
expect_rc 0 "$ordo" "${g[@]}" --top-p 0.000001
cmp -s "$T/out" "$T/greedy" && ok || bad "a tiny top-p is not greedy"
expect_rc 0 "$ordo" "${g[@]}" --temperature 1.5 --top-k 50 --top-p 0.95 --seed 7; cp "$T/out" "$T/s1"
expect_rc 0 "$ordo" "${g[@]}" --temperature 1.5 --top-k 50 --top-p 0.95 --seed 7 --no-cache
cmp -s "$T/out" "$T/s1" && ok || bad "the same seed gave another sample"
expect_rc 0 "$ordo" generate --model "$T/m" --prompt-ids "5 6 7" --max-new-tokens 4 --ignore-eos
[ "$(wc -w < "$T/out")" -eq 4 ] && ok || bad "--prompt-ids: expected 4 ids: $(cat "$T/out")"
expect_rc 0 "$ordo" generate --help
test_summary generate
