#!/usr/bin/env bash
# CLI checks of `ordo ai4code train --init` on the frozen route (the default on the CPU): a tiny
# BERT checkpoint made here starts the dual encoder; its cell vectors are cached in the model,
# reused by a rerun, refused when they come from other settings; predict works from the saved
# model (with and without the cache) and gives the tau training measured; bad --init folders
# are clear errors.
# usage: ai4code_frozen.sh ORDO_BINARY SOURCE_DIR [SHARED_FIXTURES_DIR]
set -u
ORDO=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/ordo-cli-frozen-XXXXXX")
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
. "$(dirname "$0")/common.bash"

mk_nb_tree "$T/src"
"$ORDO" nb build --from "$T/src" --out "$T/ds" --seed 1 >/dev/null 2>&1 && ok || bad "nb build"
# a tiny BERT masked LM with its WordPiece tokenizer: the checkpoint --init takes
"$ORDO" train --corpus "$T/ds/train" --layers 2 --hidden 32 --heads 2 \
  --intermediate 48 --seq 32 --batch 4 --steps 2 --vocab-size 300 --threads 1 --out "$T/bert" \
  >/dev/null 2>&1 && [ -s "$T/bert/tokenizer.json" ] && ok || bad "tiny BERT checkpoint"
RUN=(--data "$T/ds" --val-frac 0.25 --seed 3 --threads 1 --cell-tokens 12 --dual-dim 8
     --frozen-hidden 16 --frozen-epochs 3 --slot-epochs 3 --notebook-epochs 2)

# ---- the frozen route: vectors computed and cached, then reused ----
expect_rc 0 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --out "$T/m"
expect_text "$T/err" "dual model (frozen): bert L2 H32"
expect_text "$T/err" "mean pooling"
expect_text "$T/err" "dual (frozen) fold 3/3: MLPs trained on" # cross-fitting, the default
grep -Eq "cell vectors: [1-9][0-9]* computed .*, [0-9]+ from the cache" "$T/err" && ok || bad "first run: $(grep 'cell vectors' "$T/err")"
for f in frozen/config.json frozen/model.safetensors frozen/cell_vectors.safetensors \
         dual/head.safetensors tokenizer.json ranker.json; do
  [ -s "$T/m/$f" ] && ok || bad "frozen route: $f missing"
done
[ ! -e "$T/m/dual/model.safetensors" ] && ok || bad "frozen route wrote a trained dual encoder"
tau1=$(sed -n 's/^kendall_tau: //p' "$T/out")
dual1=$(sed -n 's/^dual: .*val kendall_tau //p' "$T/out")
# a rerun into the same folder (no --force needed: it holds the cache to reuse) computes nothing
expect_rc 0 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --out "$T/m"
expect_text "$T/err" "cell vectors: 0 computed"
[ "$(sed -n 's/^kendall_tau: //p' "$T/out")" = "$tau1" ] && ok || bad "rerun from the cache: tau $(sed -n 's/^kendall_tau: //p' "$T/out") vs $tau1"

# ---- a cache of other settings is refused, naming the file and both origins ----
expect_rc 1 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --init-pool first --out "$T/m"
expect_text "$T/err" "$T/m/frozen/cell_vectors.safetensors: cell vectors of"
expect_text "$T/err" "pooling mean"
expect_text "$T/err" "pooling first"
expect_text "$T/err" "remove the file"
"$ORDO" train --corpus "$T/ds/train" --tokenizer "$T/bert" --layers 2 --hidden 32 --heads 2 \
  --intermediate 48 --seq 32 --batch 4 --steps 3 --threads 1 --seed 9 --out "$T/bert2" >/dev/null 2>&1 || bad "second checkpoint"
expect_rc 1 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert2" --out "$T/m"
expect_text "$T/err" "cell_vectors.safetensors: cell vectors of weights"

# ---- predict from the saved model: the tau training measured, with or without the cache ----
expect_rc 0 "$ORDO" ai4code predict --model "$T/m" --data "$T/ds" --split val --val-frac 0.25 --seed 3 --out "$T/s.csv"
expect_text "$T/out" "kendall_tau: $tau1"
expect_text "$T/err" "notebooks/s"
cp -r "$T/m" "$T/m_nocache" && rm "$T/m_nocache/frozen/cell_vectors.safetensors"
expect_rc 0 "$ORDO" ai4code predict --model "$T/m_nocache" --data "$T/ds" --split val --val-frac 0.25 --seed 3 --out "$T/s2.csv"
expect_text "$T/out" "kendall_tau: $tau1"
cmp -s "$T/s.csv" "$T/s2.csv" && ok || bad "predict without the cache wrote another submission"
expect_rc 0 "$ORDO" ai4code predict --model "$T/m" --data "$T/ds" --split val --val-frac 0.25 --seed 3 --out "$T/s3.csv" --dual-only
expect_text "$T/out" "kendall_tau: $dual1"
# a damaged head is an error naming it
head -c 50 "$T/m/dual/head.safetensors" >"$T/m_nocache/dual/head.safetensors"
expect_rc 1 "$ORDO" ai4code predict --model "$T/m_nocache" --data "$T/ds" --out "$T/s4.csv"
expect_text "$T/err" "m_nocache/dual/head.safetensors"

# ---- cross-fitting (the frozen route's default: as many folds as the 3 training groups) ----
for k in 1 2 3; do [ -s "$T/m/dual/head_fold$k.safetensors" ] && ok || bad "fold $k's MLPs missing"; done
grep -q '"folds":[[:space:]]*3' "$T/m/ranker.json" && ok || bad "ranker.json names no 3 folds"
expect_rc 0 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --dual-folds 2 --out "$T/mx"
expect_text "$T/out" "cross-fitting: val kendall_tau from the dual part trained on all"
[ -s "$T/mx/dual/head_fold2.safetensors" ] && [ ! -e "$T/mx/dual/head_fold3.safetensors" ] && ok || bad "--dual-folds 2: fold files"
taux=$(sed -n 's/^kendall_tau: //p' "$T/out")
expect_rc 0 "$ORDO" ai4code predict --model "$T/mx" --data "$T/ds" --split val --val-frac 0.25 --seed 3 --out "$T/sx.csv"
expect_text "$T/out" "kendall_tau: $taux"
# the other way of using the folds, forced in ranker.json, predicts too
flip_fold_mean "$T/mx" "$T/mw"
expect_rc 0 "$ORDO" ai4code predict --model "$T/mw" --data "$T/ds" --split val --val-frac 0.25 --seed 3 --out "$T/sw.csv"
expect_text "$T/out" "kendall_tau: "
expect_rc 0 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --dual-folds 0 --no-dense-features --out "$T/m0"
expect_no_text "$T/out" "cross-fitting"
# the slot model with evidence reads the encoder's similarities unless told not to
grep -q '"use_dense":[[:space:]]*false' "$T/m0/ranker.json" && ok || bad "--no-dense-features: use_dense set"
if grep -q '"use_dual":[[:space:]]*true' "$T/mx/ranker.json"; then
  grep -q '"use_dense":[[:space:]]*true' "$T/mx/ranker.json" && ok || bad "the slot model with evidence has no dense features"
fi
[ ! -e "$T/m0/dual/head_fold1.safetensors" ] && ok || bad "--dual-folds 0 wrote folds"
grep -q '"folds"' "$T/m0/ranker.json" && bad "--dual-folds 0: folds in ranker.json" || ok
# a damaged fold is an error naming its file
rm -rf "$T/mb" && cp -r "$T/mx" "$T/mb" && head -c 50 "$T/mx/dual/head_fold2.safetensors" >"$T/mb/dual/head_fold2.safetensors"
expect_rc 1 "$ORDO" ai4code predict --model "$T/mb" --data "$T/ds" --out "$T/sb.csv"
expect_text "$T/err" "mb/dual/head_fold2.safetensors"
# more folds than training groups, one fold, folds without a dual part: clear errors
expect_rc 1 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --dual-folds 4 --out "$T/x8"
expect_text "$T/err" "--dual-folds 4: the training side holds only 3 ancestor groups"
expect_rc 2 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --dual-folds 1 --out "$T/x9"
expect_text "$T/err" "--dual-folds 1: cross-fitting needs 2 folds or more"
expect_rc 2 "$ORDO" ai4code train "${RUN[@]}" --no-dual --dual-folds 2 --out "$T/x10"
expect_text "$T/err" "--dual-folds cross-fits the dual part: not with --no-dual"
expect_rc 2 "$ORDO" ai4code train "${RUN[@]}" --lexical-only --dual-folds 2 --out "$T/x11"
expect_text "$T/err" "--dual-folds cross-fits"
for d in x8 x9 x10 x11; do [ ! -e "$T/$d" ] && ok || bad "a refused run wrote $T/$d"; done

# ---- the fine-tuning route on request: the whole encoder trains, as a dual encoder ----
expect_rc 0 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --init-route finetune --dual-epochs 1 --out "$T/mft"
[ -s "$T/mft/dual/model.safetensors" ] && [ ! -e "$T/mft/frozen" ] && ok || bad "--init-route finetune"

# ---- bad --init folders and flags ----
mkdir -p "$T/notok" && cp "$T/bert/config.json" "$T/bert/model.safetensors" "$T/notok/"
expect_rc 1 "$ORDO" ai4code train "${RUN[@]}" --init "$T/notok" --out "$T/x1"
expect_text "$T/err" "--init $T/notok: no tokenizer.json"
[ ! -e "$T/x1" ] && ok || bad "a refused --init wrote $T/x1"
mkdir -p "$T/gpt" && cp "$T/bert/tokenizer.json" "$T/bert/model.safetensors" "$T/gpt/"
echo '{"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 2, "vocab_size": 300, "n_positions": 64}' >"$T/gpt/config.json"
expect_rc 1 "$ORDO" ai4code train "${RUN[@]}" --init "$T/gpt" --out "$T/x2"
expect_text "$T/err" "is a decoder"
expect_text "$T/err" "BERT-family"
expect_rc 1 "$ORDO" ai4code train "${RUN[@]}" --init "$T/nowhere" --out "$T/x3"
expect_text "$T/err" "--init $T/nowhere: not a folder"
mkdir -p "$T/noweights" && cp "$T/bert/tokenizer.json" "$T/bert/config.json" "$T/noweights/"
expect_rc 1 "$ORDO" ai4code train "${RUN[@]}" --init "$T/noweights" --out "$T/x4"
expect_text "$T/err" "no model.safetensors"
expect_rc 2 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --init-route thawed --out "$T/x5"
expect_text "$T/err" "--init-route: expected frozen or finetune"
expect_rc 2 "$ORDO" ai4code train "${RUN[@]}" --init-route frozen --out "$T/x6"
expect_text "$T/err" "give --init"
expect_rc 2 "$ORDO" ai4code train "${RUN[@]}" --init "$T/bert" --init-pool max --out "$T/x7"
expect_text "$T/err" "--init-pool: expected mean or first"
for d in x2 x3 x4 x5 x6 x7; do [ ! -e "$T/$d" ] && ok || bad "a refused run wrote $T/$d"; done

test_summary
