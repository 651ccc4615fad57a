#!/usr/bin/env bash
# Bad input through the CLI, as a careless or hostile user gives it: each case checks the exit
# code (1 or 2, never a crash), the message, and that every file that existed before is
# unchanged. The nine reliability findings, then every fuzzer reproducer in fuzz/regress/.
# usage: bad_input.sh ORDO_BINARY SOURCE_DIR [SHARED_FIXTURES_DIR]
set -u
ORDO=$1 SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/ordo-cli-bad-XXXXXX")
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
. "$(dirname "$0")/common.bash"
snap() { find "$@" -type f -exec sha256sum {} + 2>/dev/null | sort -k2; } # contents of files
expect_same() { # expect_same SNAPSHOT_FILE PATH...: the files under PATH are as snapshotted
  if cmp -s "$1" <(snap "${@:2}"); then ok; else bad "files changed: ${*:2}"; fi
}

TOK=$SRC/tests/tok/data/wp_small.json
CORPUS=$SRC/tests/tok/data/corpus.txt
TRAIN=(train --corpus "$CORPUS" --tokenizer "$TOK" --layers 1 --hidden 16 --heads 2
       --intermediate 32 --seq 16 --batch 2 --steps 2 --threads 1)
mk_config() { # mk_config FILE KEY=VALUE...: a small BERT config.json, keys overridden or added
  local f=$1 kv='"model_type": "bert"' o k
  shift
  declare -A v=([vocab_size]=200 [hidden_size]=16 [num_hidden_layers]=1 [num_attention_heads]=2
                [intermediate_size]=32 [max_position_embeddings]=64)
  for o in "$@"; do v[${o%%=*}]=${o#*=}; done
  for k in "${!v[@]}"; do kv="$kv, \"$k\": ${v[$k]}"; done
  echo "{$kv}" >"$f"
}
# a small Kaggle-layout dataset: notebooks of 3 code and 3 markdown cells
mk_kaggle_nb() { # mk_kaggle_nb FILE N_PAIRS: cells c0.., m0..
  local f=$1 n=$2
  awk -v n="$n" 'BEGIN {
    printf "{\"cell_type\": {";
    for (i = 0; i < n; i++) printf "%s\"c%07x\": \"code\", \"m%07x\": \"markdown\"", (i ? ", " : ""), i, i;
    printf "}, \"source\": {";
    for (i = 0; i < n; i++) printf "%s\"c%07x\": \"x_%d = load(%d)\", \"m%07x\": \"Load part %d\"", (i ? ", " : ""), i, i, i, i, i;
    printf "}}\n" }' >"$f"
}
order_of() { # order_of N_PAIRS: the true order m0 c0 m1 c1 ...
  awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "%sm%07x c%07x", (i ? " " : ""), i, i; printf "\n" }'
}
mk_dataset() { # mk_dataset DIR [ID N_PAIRS]...: train/{id}.json and train_orders.csv
  local d=$1; shift
  mkdir -p "$d/train"
  echo "id,cell_order" >"$d/train_orders.csv"
  while [ $# -ge 2 ]; do
    mk_kaggle_nb "$d/train/$1.json" "$2"
    echo "$1,$(order_of "$2")" >>"$d/train_orders.csv"
    shift 2
  done
}
mk_dataset "$T/ds" 0000000000000a 3 0000000000000b 3 0000000000000c 4 0000000000000d 3 \
  0000000000000e 5 0000000000000f 3

# ---- 1. a notebook of 20,000 cells: refused by name and size, the rest is processed ----
mk_dataset "$T/huge" 0000000000000a 3 0000000000000b 4 0000000000000c 3 00000000000bad 10000
snap "$T/huge" >"$T/huge.snap"
expect_rc 0 "$ORDO" ai4code baseline --method tfidf --data "$T/huge" --out "$T/huge.csv"
expect_text "$T/err" "notebook 00000000000bad has 20000 cells, more than the 2048"
expect_no_text "$T/huge.csv" "00000000000bad"
expect_rc 0 "$ORDO" ai4code train --data "$T/huge" --out "$T/huge_model" --lexical-only \
  --slot-epochs 2 --val-frac 0.3 --threads 1
expect_text "$T/err" "00000000000bad.json: notebook 00000000000bad has 20000 cells"
expect_rc 0 "$ORDO" ai4code predict --model "$T/huge_model" --data "$T/huge" --out "$T/huge_pred.csv"
expect_text "$T/err" "20000 cells, more than the 2048 a notebook may have"
expect_same "$T/huge.snap" "$T/huge"

# ---- 2. tokenize --max-len shorter than the special tokens ----
echo '"hello world"' >"$T/in.jsonl"
echo keep >"$T/tok_out.jsonl"
snap "$T/tok_out.jsonl" >"$T/tok.snap"
expect_rc 2 "$ORDO" tokenize --tokenizer "$TOK" --jsonl "$T/in.jsonl" --out "$T/tok_out.jsonl" --max-len 1
expect_text "$T/err" "--max-len 1:"
expect_no_text "$T/err" "internal error"
expect_same "$T/tok.snap" "$T/tok_out.jsonl"
expect_rc 0 "$ORDO" tokenize --tokenizer "$TOK" --jsonl "$T/in.jsonl" --out "$T/tok_ok.jsonl" --max-len 2

# ---- 3. outputs that are not regular files are refused, and stay what they were ----
# Never a system device: as root, device nodes of our own in $T (a build that still replaced
# its output would replace those); otherwise the pipe and the folder alone.
mkfifo "$T/fifo"
mkdir -p "$T/a_dir"
nonreg=("$T/fifo" "$T/a_dir")
if [ "$(id -u)" -eq 0 ] && mknod "$T/full" c 1 7 && mknod "$T/null" c 1 3; then
  nonreg+=("$T/full" "$T/null")
fi
for out in "${nonreg[@]}"; do
  expect_rc 1 "$ORDO" tokenize --tokenizer "$TOK" --jsonl "$T/in.jsonl" --out "$out"
  expect_text "$T/err" "not a regular file: refusing to replace it"
  expect_rc 1 "$ORDO" ai4code baseline --method first --data "$T/ds" --out "$out"
  expect_text "$T/err" "not a regular file: refusing to replace it"
done
[ -p "$T/fifo" ] && [ -d "$T/a_dir" ] && ok || bad "an output replaced a pipe or folder"
if [ -e "$T/full" ]; then
  [ -c "$T/full" ] && [ -c "$T/null" ] && ok || bad "an output replaced a device"
  expect_rc 1 "$ORDO" tokenize --train wordpiece --vocab-size 100 --corpus "$CORPUS" --out "$T/full"
  expect_text "$T/err" "is a character device"
fi
expect_rc 1 "$ORDO" ai4code ensemble --submissions "$T/huge.csv,$T/huge.csv" --out "$T/fifo"
expect_text "$T/err" "is a pipe, not a regular file"
expect_rc 1 "$ORDO" tokenize --train wordpiece --vocab-size 100 --corpus "$CORPUS" --out "$T/a_dir"
expect_text "$T/err" "is a folder"
# a symbolic link: the file it points to is replaced, the link stays a link
echo old >"$T/target.csv"
ln -s "$T/target.csv" "$T/link.csv"
expect_rc 0 "$ORDO" ai4code baseline --method first --data "$T/ds" --out "$T/link.csv"
[ -L "$T/link.csv" ] && head -1 "$T/target.csv" | grep -qx 'id,cell_order' && ok || bad "symlink output"

# ---- 4. OUT/checkpoint that is not a checkpoint: refused before the first step ----
mkdir -p "$T/run4/checkpoint" && echo "my notes" >"$T/run4/checkpoint/notes.txt"
snap "$T/run4" >"$T/run4.snap"
expect_rc 1 "$ORDO" "${TRAIN[@]}" --out "$T/run4"
expect_text "$T/err" "already holds files"
expect_rc 1 "$ORDO" "${TRAIN[@]}" --out "$T/run4" --force
expect_text "$T/err" "run4/checkpoint: exists and is not a checkpoint"
expect_no_text "$T/out" "step 1/"
expect_same "$T/run4.snap" "$T/run4"
[ ! -e "$T/run4/metrics.csv" ] && ok || bad "a refused run wrote metrics.csv"
echo "not a folder" >"$T/run4b"
expect_rc 1 "$ORDO" "${TRAIN[@]}" --out "$T/run4b"
expect_text "$T/err" "exists and is not a folder"

# ---- 5. a position table shorter than --seq ----
mk_config "$T/short_pos.json" max_position_embeddings=8
expect_rc 1 "$ORDO" "${TRAIN[@]}" --config "$T/short_pos.json" --out "$T/run5"
expect_text "$T/err" "--seq 16 with $T/short_pos.json: sequences of 16 tokens do not fit the model's position table (8 positions"
expect_no_text "$T/err" "internal error"

# ---- 6. a folder holding a trained model is never replaced without --force ----
expect_rc 0 "$ORDO" "${TRAIN[@]}" --out "$T/model6"
rm -rf "$T/model6/checkpoint" # a model as published: config.json + model.safetensors
snap "$T/model6" >"$T/model6.snap"
expect_rc 1 "$ORDO" "${TRAIN[@]}" --out "$T/model6"
expect_text "$T/err" "model6: already holds files"
expect_text "$T/err" "use --force"
expect_same "$T/model6.snap" "$T/model6"
expect_rc 1 "$ORDO" ai4code train --data "$T/ds" --out "$T/model6" --lexical-only --slot-epochs 2
expect_text "$T/err" "model6: already holds files"
expect_same "$T/model6.snap" "$T/model6"
if [ -d "$SRC/tests/fixtures/hf/bert" ]; then
  expect_rc 1 "$ORDO" parity "$SRC/tests/fixtures/hf/bert" --save-model "$T/model6"
  expect_text "$T/err" "--save-model $T/model6: already holds files"
  expect_same "$T/model6.snap" "$T/model6"
  expect_rc 0 "$ORDO" parity "$SRC/tests/fixtures/hf/bert" --save-model "$T/model6" --force
fi
expect_rc 1 "$ORDO" nb build --from "$T/ds" --out "$T/model6"
expect_text "$T/err" "model6: already holds files"
# nb split into the dataset itself would replace its train_orders.csv
snap "$T/ds" >"$T/ds.snap"
expect_rc 1 "$ORDO" nb split --data "$T/ds" --out "$T/ds" --val-frac 0.3
expect_text "$T/err" "ds: already holds files"
expect_same "$T/ds.snap" "$T/ds"
# with --force the same commands go ahead; a run's own checkpoint is resumed without it
expect_rc 0 "$ORDO" "${TRAIN[@]}" --out "$T/model6" --force
expect_rc 0 "$ORDO" "${TRAIN[@]}" --out "$T/model6" --steps 3
expect_text "$T/err" "resumed from $T/model6/checkpoint at step 2"

# ---- 7. --val-frac 0: no tau is printed, and nothing is chosen on one ----
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/model7" --val-frac 0 --no-point \
  --layers 1 --hidden 16 --heads 2 --intermediate 32 --vocab 300 --cell-tokens 8 --dual-dim 4 \
  --dual-cells 16 --dual-epochs 1 --max-steps 2 --slot-epochs 2 --threads 1
expect_text "$T/out" "kendall_tau: not measured (no held-out notebooks"
expect_no_text "$T/out" "-1.000000"
expect_text "$T/err" "no held-out notebooks to compare on: keeping the one with the encoder evidence"
expect_text "$T/err" "val tau not measured"
expect_no_text "$T/err" "val tau -1"

# ---- 8. a failed write is reported, and no success after it ----
expect_rc 1 "$ORDO" ai4code baseline --method first --data "$T/ds" --out /proc/ordo_no_such_dir/x.csv
expect_text "$T/err" "cannot create"
expect_no_text "$T/err" "predicted"
expect_no_text "$T/out" "kendall_tau"

# ---- 9. sizes in config.json are bounded like the flags ----
mk_config "$T/layers.json" num_hidden_layers=100000
expect_rc 1 "$ORDO" "${TRAIN[@]}" --config "$T/layers.json" --out "$T/run9"
expect_text "$T/err" "$T/layers.json: \"num_hidden_layers\" is 100000, expected an integer in [1, 128]"
mk_config "$T/labels.json" num_labels=2000000000
expect_rc 1 "$ORDO" "${TRAIN[@]}" --config "$T/labels.json" --out "$T/run9"
expect_text "$T/err" "\"num_labels\" is 2e+09, expected an integer in [1, 65536]"
mk_config "$T/big.json" vocab_size=1000000 hidden_size=16384 num_attention_heads=16 intermediate_size=65536 num_hidden_layers=20
expect_rc 1 "$ORDO" "${TRAIN[@]}" --config "$T/big.json" --out "$T/run9"
expect_text "$T/err" "more than the 4.29G supported"
expect_rc 2 "$ORDO" "${TRAIN[@]}" --layers 129 --out "$T/run9"
expect_text "$T/err" "--layers must be an integer in [1, 128]"
expect_rc 2 "$ORDO" "${TRAIN[@]}" --batch 65536 --seq 8192 --out "$T/run9"
expect_text "$T/err" "536870912 tokens per micro-batch, more than 1048576"
expect_rc 2 "$ORDO" "${TRAIN[@]}" --zero 2 --out "$T/run9"
expect_text "$T/err" "--zero must be an integer in [0, 1], got '2'"
expect_rc 2 "$ORDO" "${TRAIN[@]}" --bucket-mb -1 --out "$T/run9"
expect_text "$T/err" "--bucket-mb must be a number in [0, 1e+06], got '-1'"

# ---- fuzzer reproducers (fuzz/regress/<target>/), each through the command that reads it ----
R=$SRC/fuzz/regress
for f in "$R"/io_hfconfig/*; do
  [ -f "$f" ] || continue
  cp "$f" "$T/repro_config.json"
  expect_rc 1 "$ORDO" "${TRAIN[@]}" --config "$T/repro_config.json" --out "$T/run_r"
  expect_text "$T/err" "$T/repro_config.json: "
done
for f in "$R"/io_safetensors/*; do
  [ -f "$f" ] || continue
  rm -rf "$T/init_r" && mkdir -p "$T/init_r" && mk_config "$T/init_r/config.json"
  cp "$TOK" "$T/init_r/tokenizer.json" && cp "$f" "$T/init_r/model.safetensors"
  expect_rc 1 "$ORDO" "${TRAIN[@]}" --init "$T/init_r" --out "$T/run_r2"
  expect_text "$T/err" "$T/init_r/model.safetensors: "
done
for f in "$R"/data_notebook/*; do
  [ -f "$f" ] || continue
  rm -rf "$T/nb_r" && cp -r "$T/ds" "$T/nb_r" && cp "$f" "$T/nb_r/train/00000000000bad.json"
  snap "$T/nb_r" >"$T/nb_r.snap"
  "$ORDO" ai4code baseline --method tfidf --data "$T/nb_r" --out "$T/nb_r.csv" >"$T/out" 2>"$T/err"
  rc=$?
  [ $rc -le 1 ] && ok || bad "notebook reproducer $(basename "$f"): exit $rc"
  # either ordered like any notebook, or skipped with a message naming its file
  grep -q 00000000000bad "$T/nb_r.csv" 2>/dev/null || grep -q "skipped: .*00000000000bad.json" "$T/err" &&
    ok || bad "notebook reproducer $(basename "$f"): neither ordered nor named"
  expect_same "$T/nb_r.snap" "$T/nb_r"
done
for f in "$R"/data_orders/*; do
  [ -f "$f" ] || continue
  # the fuzzer's input is the orders file, a 0xff byte, the submission file
  LC_ALL=C awk 'BEGIN { RS = "\377" } NR == 1 { printf "%s", $0 > A } NR == 2 { printf "%s", $0 > B }' \
    A="$T/o_r.csv" B="$T/s_r.csv" "$f"
  touch "$T/o_r.csv" "$T/s_r.csv"
  "$ORDO" ai4code score --orders "$T/o_r.csv" --submission "$T/s_r.csv" >"$T/out" 2>"$T/err"
  rc=$?
  [ $rc -le 1 ] && ok || bad "orders reproducer $(basename "$f"): exit $rc"
done
for f in "$R"/train_manifest/*; do
  [ -f "$f" ] || continue
  rm -rf "$T/run_m" && expect_rc 0 "$ORDO" "${TRAIN[@]}" --out "$T/run_m"
  cp "$f" "$T/run_m/checkpoint/manifest.json"
  expect_rc 1 "$ORDO" "${TRAIN[@]}" --out "$T/run_m" --steps 3
  expect_text "$T/err" "$T/run_m/checkpoint/manifest.json"
done

# generate: a prompt past the context, a model of the wrong family, absurd flags
G=$SRC/tests/fixtures/hf_gpt2/gpt2_lm
expect_rc 1 "$ORDO" generate --model "$G" --prompt-ids "5 6 7" --max-new-tokens 100
expect_text "$T/err" "the prompt (3 tokens) plus --max-new-tokens 100 is 103 tokens, more than the model's context of 80"
expect_rc 1 "$ORDO" generate --model "$SRC/tests/fixtures/hf/bert" --prompt-ids "5 6"
expect_text "$T/err" "model_type bert is not a causal LM: generate needs gpt2"
expect_rc 1 "$ORDO" generate --model "$G" --prompt "hello"
expect_text "$T/err" "has no tokenizer.json"
expect_rc 1 "$ORDO" generate --model "$G" --prompt-ids "5,x"
expect_text "$T/err" "--prompt-ids: 'x' is not a token id in [0, 97)"
expect_rc 1 "$ORDO" generate --model "$G" --prompt-ids "5 97"
expect_rc 1 "$ORDO" generate --model "$T/no_such_model" --prompt-ids "5"
expect_text "$T/err" "$T/no_such_model/config.json"
expect_rc 2 "$ORDO" generate --model "$G" --prompt-ids "5" --top-p 2
expect_text "$T/err" "--top-p must be a number in"
expect_rc 2 "$ORDO" generate --model "$G" --prompt-ids "5" --temperature -1
expect_rc 2 "$ORDO" generate --model "$G" --prompt-ids "5" --max-new-tokens 0
expect_rc 2 "$ORDO" generate --model "$G" --prompt-ids "5" --greedy --top-k 5
expect_rc 2 "$ORDO" generate --model "$G" --prompt-ids "5" --temperature 0 --top-p 0.5
expect_rc 2 "$ORDO" generate --model "$G" --prompt "a" --prompt-ids "5"

test_summary bad_input
