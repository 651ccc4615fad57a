#!/usr/bin/env bash
# Bad input to ordo classify: each case exits 1 or 2 (never a crash) with a message naming the
# file or flag and what is wrong, and leaves the files that existed unchanged: an empty or
# one-class dataset, unknown labels at eval, checkpoints of the wrong family or without a
# classification head, malformed sets, absurd flags, outputs that exist.
set -u
ORDO=$1 SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/ordo-cli-classify-bad-XXXXXX")
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
. "$(dirname "$0")/common.bash"
D=$SRC/tests/fixtures/classify
NEW=(--vocab-size 200 --layers 1 --hidden 16 --heads 2 --intermediate 32 --seq 16 --batch 4
     --steps 3 --threads 1)
RUN=(--seq 16 --batch 4 --steps 3 --threads 1) # with --init: the checkpoint has the sizes
snap() { find "$@" -type f -exec sha256sum {} + 2>/dev/null | sort -k2; }

# a trained model to evaluate with
expect_rc 0 "$ORDO" classify train --train "$D/toy_train.csv" --out "$T/model" "${NEW[@]}"

# ---- datasets: empty, header only, one class ----
: >"$T/empty.csv"
expect_rc 1 "$ORDO" classify train --train "$T/empty.csv" --out "$T/odev" "${NEW[@]}" --device tpu
expect_text "$T/err" "--device: unknown device 'tpu'"
[ -e "$T/odev" ] && bad "--device tpu wrote $T/odev" || ok
expect_rc 1 "$ORDO" classify train --train "$T/empty.csv" --out "$T/o1" "${NEW[@]}"
expect_text "$T/err" "$T/empty.csv holds no rows"
printf 'text,label\n' >"$T/header.csv"
expect_rc 1 "$ORDO" classify train --train "$T/header.csv" --out "$T/o1" "${NEW[@]}"
expect_text "$T/err" "$T/header.csv holds no rows"
printf 'text,label\nfirst,a\nsecond,a\n' >"$T/one.csv"
expect_rc 1 "$ORDO" classify train --train "$T/one.csv" --out "$T/o1" "${NEW[@]}"
expect_text "$T/err" "$T/one.csv: every row has the label 'a': classification needs at least two labels"
if [ -e "$T/o1" ]; then bad "a refused training wrote $T/o1"; else ok; fi
expect_rc 1 "$ORDO" classify eval --model "$T/model" --data "$T/empty.csv"
expect_text "$T/err" "$T/empty.csv holds no rows"

# ---- labels the model does not know: at eval, and in train's --eval before any training ----
printf 'text,label\nrain falls,weather\nthe soup boils,dessert\n' >"$T/unknown.csv"
expect_rc 1 "$ORDO" classify eval --model "$T/model" --data "$T/unknown.csv"
expect_text "$T/err" "$T/unknown.csv: line 3 has the label 'dessert', which the model does not know (its 3 labels: cooking, sports, ...)"
expect_rc 1 "$ORDO" classify train --train "$D/toy_train.csv" --eval "$T/unknown.csv" --out "$T/o2" "${NEW[@]}"
expect_text "$T/err" "line 3 has the label 'dessert'"
if [ -e "$T/o2" ]; then bad "train with a bad --eval wrote $T/o2"; else ok; fi

# a checkpoint brings its own sizes: a new model's flags beside --init are refused
expect_rc 2 "$ORDO" classify train --train "$D/toy_train.csv" --init "$T/model" --out "$T/o6" --layers 3 "${RUN[@]}"
expect_text "$T/err" "--layers describes a new model; --init $T/model brings its own"
if [ -e "$T/o6" ]; then bad "a refused --init wrote $T/o6"; else ok; fi
# a classifier of 3 labels as the start of one of 2: the shape named, nothing written
printf 'text,label\nrain falls,weather\nthe soup boils,cooking\n' >"$T/two.csv"
expect_rc 1 "$ORDO" classify train --train "$T/two.csv" --init "$T/model" --out "$T/o6" "${RUN[@]}"
expect_text "$T/err" "$T/model/model.safetensors: tensor 'classifier.out_proj.bias': expected shape [2], found [3]"
if [ -e "$T/o6" ]; then bad "a refused --init wrote $T/o6"; else ok; fi

# ---- checkpoints: another family, no classification head, no model at all ----
mkdir -p "$T/gpt2"
printf '{"model_type": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2, "vocab_size": 50}\n' >"$T/gpt2/config.json"
expect_rc 1 "$ORDO" classify eval --model "$T/gpt2" --data "$D/toy_test.csv"
expect_text "$T/err" "$T/gpt2/config.json: "
expect_text "$T/err" "model_type 'gpt2'"
expect_rc 1 "$ORDO" classify train --train "$D/toy_train.csv" --init "$T/gpt2" --out "$T/o3" "${RUN[@]}"
expect_text "$T/err" "$T/gpt2/config.json: "
expect_text "$T/err" "model_type 'gpt2'"
if [ -e "$T/o3" ]; then bad "train from a gpt2 checkpoint wrote $T/o3"; else ok; fi
# ALBERT: its classifier sits on the pooler, which this head is not
mkdir -p "$T/albert"
printf '{"model_type": "albert", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "vocab_size": 200, "embedding_size": 8}\n' >"$T/albert/config.json"
expect_rc 1 "$ORDO" classify train --train "$D/toy_train.csv" --init "$T/albert" --out "$T/o3" "${RUN[@]}"
expect_text "$T/err" "$T/albert/config.json: model_type 'albert' is not an encoder family ordo classify runs"
# an encoder without the head (a masked-LM checkpoint of ordo train)
expect_rc 0 "$ORDO" train --corpus "$SRC/tests/tok/data/corpus.txt" --tokenizer "$SRC/tests/tok/data/wp_small.json" \
  --layers 1 --hidden 16 --heads 2 --intermediate 32 --seq 16 --batch 2 --steps 1 --threads 1 --out "$T/mlm"
expect_rc 1 "$ORDO" classify eval --model "$T/mlm" --data "$D/toy_test.csv"
expect_text "$T/err" "$T/mlm: the checkpoint has no classification head"
expect_rc 1 "$ORDO" classify predict --model "$T/nowhere" --data "$D/toy_test.csv" --out "$T/p.csv"
expect_text "$T/err" "--model $T/nowhere: no such folder"
expect_rc 2 "$ORDO" classify train --train "$D/toy_train.csv" --init "$T/nowhere" --out "$T/o7"
expect_text "$T/err" "--init $T/nowhere: no such folder"
expect_rc 1 "$ORDO" classify eval --model "$T/model" --data "$T/missing.csv"
expect_text "$T/err" "$T/missing.csv"

# ---- malformed sets ----
printf 'words,label\na,b\n' >"$T/nohead.csv"
expect_rc 1 "$ORDO" classify eval --model "$T/model" --data "$T/nohead.csv"
expect_text "$T/err" "$T/nohead.csv: the header (line 1) must name a \"text\" and a \"label\" column"
printf 'text,label\n"never closed,weather\n' >"$T/quote.csv"
expect_rc 1 "$ORDO" classify eval --model "$T/model" --data "$T/quote.csv"
expect_text "$T/err" "$T/quote.csv: line 2: a quoted field is not closed"
printf 'text,label\nrain,\xff\n' >"$T/utf8.csv"
expect_rc 1 "$ORDO" classify train --train "$T/utf8.csv" --out "$T/o4" "${NEW[@]}"
expect_text "$T/err" "$T/utf8.csv: line 2 has a label that is not valid UTF-8"
printf '{"text": "rain", "label": "weather"}\n[1, 2]\n' >"$T/bad.jsonl"
expect_rc 1 "$ORDO" classify eval --model "$T/model" --data "$T/bad.jsonl"
expect_text "$T/err" "$T/bad.jsonl: line 2: expected a JSON object with a string \"text\""

# ---- flags ----
expect_rc 2 "$ORDO" classify fit --train "$D/toy_train.csv"
expect_text "$T/err" "unknown mode 'fit'"
expect_rc 2 "$ORDO" classify train --train "$D/toy_train.csv" --out "$T/o5" --seq 2
expect_text "$T/err" "--seq must be an integer in [4, 8192], got '2'"
expect_rc 2 "$ORDO" classify train --train "$D/toy_train.csv" --out "$T/o5" --lr fast
expect_text "$T/err" "--lr must be a number"
expect_rc 1 "$ORDO" classify train --train "$D/toy_train.csv" --out "$T/o5" --lora --lora-targets query,nothing "${NEW[@]}"
expect_text "$T/err" "--lora-targets"
expect_rc 1 "$ORDO" classify train --train "$D/toy_train.csv" --out "$T/o5" --lora-targets query "${NEW[@]}"
expect_text "$T/err" "--lora-targets needs --lora"
expect_rc 2 "$ORDO" classify train --train "$D/toy_train.csv" --out "$T/o5" --group-by-length
expect_text "$T/err" "--group-by-length"
expect_rc 2 "$ORDO" classify eval --model "$T/model"
expect_text "$T/err" "eval needs --model DIR --data FILE"
expect_rc 1 "$ORDO" classify eval --model "$T/model" --data "$D/toy_test.csv" --seq 1000
expect_text "$T/err" "--seq 1000 with $T/model/config.json"

# ---- outputs that exist are kept without --force ----
expect_rc 0 "$ORDO" classify predict --model "$T/model" --data "$D/toy_test.csv" --out "$T/pred.csv"
snap "$T/pred.csv" "$T/model" >"$T/before.snap"
expect_rc 1 "$ORDO" classify predict --model "$T/model" --data "$D/toy_test.csv" --out "$T/pred.csv"
expect_text "$T/err" "--out $T/pred.csv exists (use --force to replace it)"
expect_rc 1 "$ORDO" classify train --train "$D/toy_train.csv" --out "$T/model" "${NEW[@]}" --steps 1 --seed 9
expect_text "$T/err" "$T/model"
if cmp -s "$T/before.snap" <(snap "$T/pred.csv" "$T/model"); then ok; else bad "files changed by refused commands"; fi
mkdir -p "$T/adir"
expect_rc 1 "$ORDO" classify predict --model "$T/model" --data "$D/toy_test.csv" --out "$T/adir" --force
expect_text "$T/err" "$T/adir"

test_summary classify_bad_input
