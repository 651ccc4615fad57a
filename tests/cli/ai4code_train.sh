#!/usr/bin/env bash
# CLI checks of `ordo ai4code train` and `predict`: a tiny ranker trained on a generated notebook
# tree (a few steps), a submission that `score` accepts, the weighted ensemble of two models,
# and the usage and input errors.
# usage: ai4code_train.sh ORDO_BINARY SOURCE_DIR [SHARED_FIXTURES_DIR]
set -u
ORDO=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/ordo-cli-ai4train-XXXXXX")
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
. "$(dirname "$0")/common.bash"

mk_nb_tree "$T/src"
"$ORDO" nb build --from "$T/src" --out "$T/ds" --seed 1 >/dev/null 2>&1 && ok || bad "nb build"

TINY=(--layers 1 --hidden 32 --heads 2 --intermediate 64 --vocab 400 --seq 64 --md-tokens 16
      --code-cells 4 --code-tokens 8 --batch 8 --max-steps 4 --slot-epochs 60 --slot-lr 0.01 --slot-hidden 8
      --val-frac 0.25 --seed 3 --threads 1 --point --cell-tokens 12 --dual-dim 8 --dual-cells 40
      --dual-epochs 2)

# ---- usage errors ----
expect_rc 0 "$ORDO" ai4code train --help
expect_text "$T/out" "usage: ordo ai4code train"
expect_rc 0 "$ORDO" ai4code predict --help
expect_text "$T/out" "usage: ordo ai4code predict"
expect_rc 2 "$ORDO" ai4code train --data "$T/ds"
expect_text "$T/err" "--data and --out are required"
expect_rc 2 "$ORDO" ai4code train --data "$T/ds" --out "$T/m" --layers zero
expect_text "$T/err" "--layers"
expect_rc 2 "$ORDO" ai4code train --data "$T/ds" --out "$T/m" --hidden 30 --heads 4
expect_rc 2 "$ORDO" ai4code train --data "$T/ds" --out "$T/m" --bogus
expect_rc 2 "$ORDO" ai4code predict --model "$T/m" --data "$T/ds"
expect_rc 2 "$ORDO" ai4code predict --model "$T/m,$T/m" --weights 1 --data "$T/ds" --out "$T/s.csv"
expect_text "$T/err" "1 weights for 2 models"
expect_rc 1 "$ORDO" ai4code train --data "$T/nowhere" --out "$T/m"
expect_text "$T/err" "nowhere"
expect_rc 1 "$ORDO" ai4code predict --model "$T/nomodel" --data "$T/ds" --out "$T/s.csv"
expect_text "$T/err" "nomodel/ranker.json"
expect_rc 1 "$ORDO" ai4code train --data "$T/ds" --out "$T/mdev" --device tpu
expect_text "$T/err" "--device: unknown device 'tpu'"
[ -e "$T/mdev" ] && bad "--device tpu wrote $T/mdev" || ok
expect_rc 1 "$ORDO" ai4code predict --model "$T/nomodel" --data "$T/ds" --out "$T/s.csv" --device tpu
expect_text "$T/err" "--device: unknown device 'tpu'"

# ---- train, predict, score ----
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/m" "${TINY[@]}"
expect_text "$T/out" "kendall_tau: "
train_tau=$(sed -n 's/^kendall_tau: //p' "$T/out")
cp "$T/out" "$T/train_m.out"
expect_text "$T/out" "pointwise: 4 steps"
expect_text "$T/out" "dual: "
for f in ranker.json config.json model.safetensors tokenizer.json dual/config.json dual/model.safetensors \
         metrics.jsonl heldout.jsonl tb/dual/events.out.tfevents.ordo tb/pointwise/events.out.tfevents.ordo \
         tb/slot_lex/events.out.tfevents.ordo tb/slot/events.out.tfevents.ordo; do
  [ -s "$T/m/$f" ] && ok || bad "run file $f missing"
done
# every stage's records, a validation per epoch, one held-out notebook per line (5 held out)
for s in dual pointwise slot_lex slot; do
  expect_text "$T/m/metrics.jsonl" "{\"stage\": \"$s\", \"step\": 1,"
done
[ "$(grep -c '"stage": "slot_lex", .*"val_tau"' "$T/m/metrics.jsonl")" -eq 60 ] && ok || bad "60 slot_lex validations"
[ "$(wc -l <"$T/m/heldout.jsonl")" -eq 5 ] && ok || bad "heldout.jsonl: $(wc -l <"$T/m/heldout.jsonl") lines"
expect_rc 0 "$ORDO" report "$T/m" --out "$T/report.html"
for t in "Kendall tau per epoch" "Kendall tau by notebook length" "Held-out notebooks of" "predicted order" \
         "Stage <code>dual</code>" "Stage <code>slot</code>"; do
  expect_text "$T/report.html" "$t"
done
# the figure training prints is the kept model's, as predict gives it on the same held-out notebooks
expect_rc 0 "$ORDO" ai4code predict --model "$T/m" --data "$T/ds" --out "$T/sub_val.csv" --threads 1 \
  --split val --val-frac 0.25 --seed 3
[ "$(sed -n 's/^kendall_tau: //p' "$T/out")" = "$train_tau" ] && ok ||
  bad "train printed kendall_tau $train_tau, predict --split val $(sed -n 's/^kendall_tau: //p' "$T/out")"
expect_rc 0 "$ORDO" ai4code predict --model "$T/m" --data "$T/ds" --out "$T/sub.csv" --threads 1
expect_text "$T/out" "kendall_tau: "
expect_text "$T/err" "notebooks/s"
[ "$(($(wc -l <"$T/sub.csv") - 1))" -eq 20 ] && ok || bad "20 submission rows: $(wc -l <"$T/sub.csv")"
expect_rc 0 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv" --submission "$T/sub.csv"
tau=$(sed -n 's/^kendall_tau: //p' "$T/out")
awk -v t="$tau" 'BEGIN { exit !(t > 0.5) }' && ok || bad "tau $tau of the trained ranker on its notebooks"

# same seed, same model
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/m2" "${TINY[@]}"
cmp -s "$T/m/model.safetensors" "$T/m2/model.safetensors" && ok || bad "same seed: different weights"
cmp -s "$T/m/dual/model.safetensors" "$T/m2/dual/model.safetensors" && ok || bad "same seed: different dual weights"
# each encoder alone
expect_rc 0 "$ORDO" ai4code predict --model "$T/m" --data "$T/ds" --out "$T/sub_d.csv" --dual-only
expect_text "$T/out" "kendall_tau: "
expect_rc 0 "$ORDO" ai4code predict --model "$T/m" --data "$T/ds" --out "$T/sub_p.csv" --point-only
expect_rc 2 "$ORDO" ai4code predict --model "$T/m" --data "$T/ds" --out "$T/sub_p.csv" --point-only --dual-only
cmp -s "$T/m/ranker.json" "$T/m2/ranker.json" && ok || bad "same seed: different ranker.json"

# ---- cross-fitting the trained dual encoder (the default: 2 folds of the training groups) ----
for k in 1 2; do
  [ -s "$T/m/dual_fold$k/model.safetensors" ] && ok || bad "fold $k's dual encoder missing"
  expect_text "$T/m/metrics.jsonl" "{\"stage\": \"dual_fold$k\", \"step\": 1,"
done
[ ! -e "$T/m/dual_fold3" ] && ok || bad "a third fold's encoder"
grep -q '"folds":[[:space:]]*2' "$T/m/ranker.json" && ok || bad "ranker.json names no 2 folds"
expect_text "$T/train_m.out" "cross-fitting: val kendall_tau from the dual part trained on all"
cmp -s "$T/m/dual_fold2/model.safetensors" "$T/m2/dual_fold2/model.safetensors" && ok || bad "same seed: different fold weights"
# the other way of using the folds, forced in ranker.json, predicts too
flip_fold_mean "$T/m" "$T/mw"
expect_rc 0 "$ORDO" ai4code predict --model "$T/mw" --data "$T/ds" --split val --val-frac 0.25 --seed 3 --out "$T/sw.csv"
expect_text "$T/out" "kendall_tau: "
# --dual-from takes the folds' encoders as they are, and the model predicts as its own
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/mf" "${TINY[@]}" --no-point --dual-from "$T/m"
expect_text "$T/err" "dual fold 2/2: encoder taken from --dual-from"
cmp -s "$T/m/dual_fold1/model.safetensors" "$T/mf/dual_fold1/model.safetensors" && ok || bad "--dual-from: fold weights changed"
ftau=$(sed -n 's/^kendall_tau: //p' "$T/out")
expect_rc 0 "$ORDO" ai4code predict --model "$T/mf" --data "$T/ds" --split val --val-frac 0.25 --seed 3 --out "$T/sf.csv"
expect_text "$T/out" "kendall_tau: $ftau"
# the slot model with the dual encoder's evidence reads its vectors' similarities too
if grep -q '"use_dual":[[:space:]]*true' "$T/mf/ranker.json"; then
  grep -q '"use_dense":[[:space:]]*true' "$T/mf/ranker.json" && ok || bad "the slot model with evidence has no dense features"
fi
grep -q '"fold_hash":[[:space:]]*"[0-9a-f]\{16\}"' "$T/m/ranker.json" && ok || bad "ranker.json: no fold_hash"
# --dual-from's folds must be this run's: their count, their notebooks, and without folds its
# encoder on all would give in-sample evidence; a folder of fold encoders without ranker.json
expect_rc 1 "$ORDO" ai4code train --data "$T/ds" --out "$T/mf3" "${TINY[@]}" --no-point --dual-from "$T/m" --dual-folds 3
expect_text "$T/err" "--dual-from $T/m holds the encoders of 2 folds, this run deals 3"
expect_rc 1 "$ORDO" ai4code train --data "$T/ds" --out "$T/mf3" "${TINY[@]}" --no-point --dual-from "$T/m" --dual-folds 0
expect_text "$T/err" "its dual encoder was trained on every training notebook"
expect_rc 1 "$ORDO" ai4code train --data "$T/ds" --out "$T/mf3" "${TINY[@]}" --no-point --dual-from "$T/m" --max-train 10
expect_text "$T/err" "its folds were dealt other notebooks than this run's"
rm -rf "$T/mnr" && cp -r "$T/m" "$T/mnr" && rm "$T/mnr/ranker.json"
expect_rc 1 "$ORDO" ai4code train --data "$T/ds" --out "$T/mf3" "${TINY[@]}" --no-point --dual-from "$T/mnr"
expect_text "$T/err" "mnr/ranker.json: missing"
[ ! -e "$T/mf3" ] && ok || bad "a refused --dual-from run wrote $T/mf3"
# with nothing held out, predictions come from the encoder trained on all
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/mv0" "${TINY[@]}" --no-point --val-frac 0
grep -q '"fold_mean":[[:space:]]*false' "$T/mv0/ranker.json" && ok || bad "--val-frac 0: fold_mean not false"
# none when told so
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/mn" "${TINY[@]}" --no-point --dual-folds 0 --no-dense-features
grep -q '"use_dense":[[:space:]]*true' "$T/mn/ranker.json" && bad "--no-dense-features: use_dense set" || ok
[ ! -e "$T/mn/dual_fold1" ] && ok || bad "--dual-folds 0 trained fold encoders"
grep -q '"folds"' "$T/mn/ranker.json" && bad "--dual-folds 0: folds in ranker.json" || ok
expect_no_text "$T/out" "cross-fitting"
# a damaged fold encoder is an error naming its file
rm -rf "$T/mb" && cp -r "$T/m" "$T/mb" && head -c 100 "$T/m/dual_fold2/model.safetensors" >"$T/mb/dual_fold2/model.safetensors"
expect_rc 1 "$ORDO" ai4code predict --model "$T/mb" --data "$T/ds" --out "$T/sb.csv"
expect_text "$T/err" "mb/dual_fold2/model.safetensors"

# the shared trainer's techniques on the pointwise encoder
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/m3" "${TINY[@]}" --accum-steps 2 \
  --precision bf16 --optim adamw8 --recompute layer --layer-decay 0.9
expect_text "$T/out" "kendall_tau: "
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/lex2" --lexical-only --accum-steps 2 --optim adamw8 --val-frac 0.25 --threads 1
expect_text "$T/out" "kendall_tau: "
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/m5" "${TINY[@]}" --group-by-length
expect_text "$T/err" "length-grouped batches"
# on top of that dual encoder: the notebook model over its distributions, read by the slot ranker
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/nbm" "${TINY[@]}" --no-point --dual-from "$T/m" \
  --notebook-over dual --notebook-epochs 2
expect_text "$T/err" "dual model: taken from"
expect_text "$T/out" "notebook model over the dual encoder: "
for f in notebook/config.json notebook/model.safetensors dual/model.safetensors tokenizer.json tb/notebook/events.out.tfevents.ordo; do
  [ -s "$T/nbm/$f" ] && ok || bad "run file $f missing"
done
cmp -s "$T/m/dual/model.safetensors" "$T/nbm/dual/model.safetensors" && ok || bad "--dual-from: dual weights changed"
expect_rc 0 "$ORDO" ai4code predict --model "$T/nbm" --data "$T/ds" --out "$T/sub_n.csv" --notebook-only
expect_text "$T/out" "kendall_tau: "
expect_rc 0 "$ORDO" ai4code predict --model "$T/nbm" --data "$T/ds" --out "$T/sub_n2.csv"
expect_rc 1 "$ORDO" ai4code predict --model "$T/lex2" --data "$T/ds" --out "$T/sub_n3.csv" --notebook-only
expect_text "$T/err" "has no notebook-level model"
expect_rc 2 "$ORDO" ai4code predict --model "$T/nbm" --data "$T/ds" --out "$T/sub_n.csv" --notebook-only --dual-only
expect_rc 2 "$ORDO" ai4code train --data "$T/ds" --out "$T/nbm2" --notebook-over code
expect_rc 2 "$ORDO" ai4code train --data "$T/ds" --out "$T/nbm2" --dual-from "$T/m" --no-dual
expect_rc 2 "$ORDO" ai4code train --data "$T/ds" --out "$T/nbm2" --notebook-hidden 30
expect_rc 1 "$ORDO" ai4code train --data "$T/ds" --out "$T/nbm2" "${TINY[@]}" --no-point --dual-from "$T/nowhere"
expect_text "$T/err" "nowhere: cannot open"
expect_rc 2 "$ORDO" ai4code train --data "$T/ds" --out "$T/m4" --precision fp8
expect_text "$T/err" "--precision must be"

# checkpoint/resume: killed (SIGKILL) after the first epoch's validation, started again: the
# same model as the uninterrupted run
resume_check() { # resume_check NAME CKPT_SUBDIR KILL_AT_STEP MODEL_FILE FLAGS...
  local name=$1 sub=$2 at=$3 file=$4 s pid
  shift 4
  expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/${name}_ref" "$@"
  "$ORDO" ai4code train --data "$T/ds" --out "$T/$name" "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    s=$(sed -n 's/.*"step":[[:space:]]*\([0-9]*\),/\1/p' "$T/$name/$sub/manifest.json" 2>/dev/null | head -1)
    [ -n "$s" ] && [ "$s" -ge "$at" ] && break
    sleep 0.02
  done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/$name" "$@"
  expect_text "$T/err" "resumed from $T/$name/$sub"
  cmp -s "$T/${name}_ref/$file" "$T/$name/$file" && ok || bad "$name: resumed encoder differs"
  cmp -s "$T/${name}_ref/ranker.json" "$T/$name/ranker.json" && ok || bad "$name: resumed ranker.json differs"
}
resume_check r checkpoint 14 model.safetensors "${TINY[@]}" --max-steps 0 --epochs 3 --save-every 2
# the dual encoder's stage (its checkpoints in checkpoint_dual)
resume_check rd checkpoint_dual 4 dual/model.safetensors "${TINY[@]}" --no-point --max-steps 0 \
  --dual-epochs 4 --save-every 2
# a cross-fitting fold's encoder (its checkpoints in checkpoint_dual_fold1)
resume_check rf checkpoint_dual_fold1 2 dual_fold1/model.safetensors "${TINY[@]}" --no-point \
  --max-steps 0 --dual-epochs 4 --save-every 2 --dual-cells 10

# a lexical-only model, and the weighted ensemble of both
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/lex" --lexical-only --slot-epochs 60 --slot-lr 0.01 --val-frac 0.25 --threads 1
[ ! -e "$T/lex/model.safetensors" ] && [ ! -e "$T/lex/dual" ] && ok || bad "--lexical-only wrote an encoder"
expect_rc 0 "$ORDO" ai4code predict --model "$T/m,$T/lex" --weights 0.3,0.7 --data "$T/ds" --out "$T/ens.csv"
expect_text "$T/err" "with 2 models"
expect_rc 0 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv" --submission "$T/ens.csv"

# a damaged model is an error naming the file: a truncated dual encoder, a config that does not
# fit the ranker, a ranker.json without its slot model
cp -r "$T/m" "$T/mbad"
head -c 100 "$T/m/dual/model.safetensors" >"$T/mbad/dual/model.safetensors"
expect_rc 1 "$ORDO" ai4code predict --model "$T/mbad" --data "$T/ds" --out "$T/s.csv"
expect_text "$T/err" "mbad/dual/model.safetensors"
cp "$T/m/dual/model.safetensors" "$T/mbad/dual/model.safetensors"
sed -i 's/"type_vocab_size":[[:space:]]*2/"type_vocab_size": 1/' "$T/mbad/dual/config.json"
expect_rc 1 "$ORDO" ai4code predict --model "$T/mbad" --data "$T/ds" --out "$T/s.csv"
expect_text "$T/err" "type_vocab_size 1"

# similarities of cell vectors asked of a model with no dual encoder
rm -rf "$T/lexd" && cp -r "$T/lex" "$T/lexd"
sed -i 's/"use_dense":[[:space:]]*false/"use_dense": true/' "$T/lexd/ranker.json"
expect_rc 1 "$ORDO" ai4code predict --model "$T/lexd" --data "$T/ds" --out "$T/s.csv"
expect_text "$T/err" "lexd/ranker.json: \"use_dense\": the slot model reads the cell vectors' similarities"

echo '{"format": "ordo-ai4code-ranker", "version": 1}' >"$T/lex/ranker.json"
expect_rc 1 "$ORDO" ai4code predict --model "$T/lex" --data "$T/ds" --out "$T/s.csv"
expect_text "$T/err" "ranker.json"
expect_text "$T/err" "slot"

# an ALBERT checkpoint of the masked LM alone (no pooler) starts the encoders: the pooler and
# the classifier on it are new (AlbertForSequenceClassification's names)
expect_rc 0 "$ORDO" train --corpus "$T/ds/train" --tokenizer "$T/m/tokenizer.json" --model-type albert \
  --embedding-size 16 --layers 2 --hidden 32 --heads 2 --intermediate 64 --seq 32 --batch 4 --steps 2 \
  --threads 1 --out "$T/alb"
expect_rc 0 "$ORDO" ai4code train --data "$T/ds" --out "$T/malb" "${TINY[@]}" --init "$T/alb" --init-route finetune
expect_text "$T/err" "albert.pooler.weight not in the checkpoint: newly initialized"
tr -d ' \t\n' <"$T/malb/dual/config.json" | grep -q '"model_type":"albert"' && ok || bad "dual encoder not ALBERT"

test_summary
