#!/usr/bin/env bash
# ordo train --model-type / --position: a few masked-LM steps of every family and position
# scheme on real text; each run writes a checkpoint whose config names the family and scheme,
# the loss stays finite, and a run started from the checkpoint (--init) takes it over.
set -u
ordo=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/corpus" && cp -r "$src/src/model" "$src/README.md" "$tmp/corpus/"
base=(--corpus "$tmp/corpus" --layers 2 --hidden 32 --heads 2 --intermediate 48 --seq 32
      --batch 4 --steps 6 --vocab-size 400 --log-every 6 --threads 1 --seed 4)
fail=0 pass=0
run() { # run NAME EXPECTED_CONFIG_REGEX FLAGS...
  local name=$1 want=$2; shift 2
  if ! "$ordo" train "${base[@]}" "$@" --out "$tmp/$name" > "$tmp/$name.log" 2>&1; then
    echo "FAIL: $name: exit $?"; tail -3 "$tmp/$name.log"; fail=$((fail+1)); return
  fi
  local last; last=$(awk -F, 'END {print $2}' "$tmp/$name/metrics.csv")
  if ! awk -v l="$last" 'BEGIN {exit !(l > 0 && l < 20)}'; then
    echo "FAIL: $name: last loss '$last'"; fail=$((fail+1)); return
  fi
  if ! tr -d ' \t\n' < "$tmp/$name/config.json" | grep -Eq "$want"; then
    echo "FAIL: $name: config.json lacks $want"; fail=$((fail+1)); return
  fi
  echo "ok: $name (last loss $last)"; pass=$((pass+1))
}
run roformer '"model_type":"roformer"' --model-type roformer
run roformer_proj '"embedding_size":16' --model-type roformer --embedding-size 16
run albert '"num_hidden_groups":2' --model-type albert --embedding-size 16 --layers 4 --groups 2
run electra '"model_type":"electra".*"embedding_size":16' --model-type electra --embedding-size 16
run roberta '"model_type":"roberta"' --model-type roberta
for p in sinusoidal rope alibi relative; do
  run "bert_$p" "\"ordo_position\":\"$p\"" --position "$p"
done
run bert_whole_word '"model_type":"bert"' --whole-word
run electra_alibi '"ordo_position":"alibi"' --model-type electra --position alibi
# ELECTRA: generator and discriminator, shared embeddings; both saved
run electra_objective '"model_type":"electra".*"embedding_size":16' --objective electra \
    --embedding-size 16 --heads 4 --rtd-weight 10
if [ -s "$tmp/electra_objective/generator/model.safetensors" ] &&
   tr -d ' \t\n' < "$tmp/electra_objective/generator/config.json" | grep -q '"hidden_size":8,'; then
  echo "ok: the generator (1 of 4 heads: hidden 8) saved beside the discriminator"; pass=$((pass+1))
else
  echo "FAIL: electra generator not saved or not a quarter wide"; fail=$((fail+1))
fi
# ALBERT with sentence-order prediction: AlbertForPreTraining's pooler and SOP classifier saved
run albert_sop '"model_type":"albert"' --model-type albert --embedding-size 16 --sop
if grep -aq '"sop_classifier.classifier.weight"' "$tmp/albert_sop/model.safetensors" &&
   grep -aq '"albert.pooler.weight"' "$tmp/albert_sop/model.safetensors"; then
  echo "ok: albert --sop saved sop_classifier.classifier and albert.pooler"; pass=$((pass+1))
else
  echo "FAIL: albert --sop: no sop_classifier/pooler in model.safetensors"; fail=$((fail+1))
fi
# --max-minutes: the run stops after the first step past the budget (6 ms) and saves as at the end
run max_minutes '"model_type":"bert"' --steps 1000 --max-minutes 0.0001
stop=$(sed -n 's/^stopped at step \([0-9]*\) of 1000: --max-minutes.*/\1/p' "$tmp/max_minutes.log")
if [ -n "$stop" ] && [ "$stop" -lt 1000 ] &&
   [ "$(($(wc -l < "$tmp/max_minutes/metrics.csv") - 1))" -eq "$stop" ] &&
   [ -s "$tmp/max_minutes/model.safetensors" ] && [ -s "$tmp/max_minutes/checkpoint/model.safetensors" ]; then
  echo "ok: --max-minutes stopped at step $stop of 1000 and saved the model and its checkpoint"; pass=$((pass+1))
else
  echo "FAIL: --max-minutes: $(grep -E '^(stopped|done)' "$tmp/max_minutes.log")"; fail=$((fail+1))
fi
# the checkpoint is the next run's start: same family and scheme, loss continues from it
run albert_again '"num_hidden_groups":2' --init "$tmp/albert" --tokenizer "$tmp/albert"
run relative_again '"ordo_position":"relative"' --init "$tmp/bert_relative" --tokenizer "$tmp/bert_relative"
# what does not fit is refused with a usage error or a clear message
n_bad=0
expect_rc() { # expect_rc RC WHAT FLAGS...: refused with RC, into a fresh folder left empty
  local want=$1 what=$2; shift 2
  n_bad=$((n_bad+1)); local out="$tmp/bad$n_bad"
  "$ordo" train "${base[@]}" "$@" --out "$out" > "$tmp/bad.log" 2>&1; local rc=$?
  if [ $rc -ne "$want" ]; then fail=$((fail+1)); echo "FAIL: $what: exit $rc, expected $want"
  elif [ -n "$(ls -A "$out" 2>/dev/null)" ]; then fail=$((fail+1)); echo "FAIL: $what: refused but wrote $(ls "$out")"
  else pass=$((pass+1)); echo "ok: refused: $what ($(tail -1 "$tmp/bad.log"))"; fi
}
expect_rc 2 "unknown family" --model-type t5
expect_rc 2 "unknown position" --position xpos
expect_rc 2 "--position with --init" --init "$tmp/albert" --position rope
expect_rc 1 "roformer without rope" --model-type roformer --position alibi
expect_rc 1 "bert with a projection" --embedding-size 16
grep -q "bert has no embedding projection" "$tmp/bad.log" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: projection message"; }
expect_rc 1 "groups not dividing layers" --model-type albert --groups 3
grep -q "does not divide" "$tmp/bad.log" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: groups message"; }
expect_rc 2 "unknown objective" --objective xlnet
expect_rc 2 "electra objective on bert" --objective electra --model-type bert
expect_rc 2 "electra objective from --init" --objective electra --init "$tmp/albert"
expect_rc 2 "electra objective in bf16" --objective electra --precision bf16
expect_rc 2 "negative --max-minutes" --max-minutes -1
expect_rc 2 "--sop with the electra objective" --sop --objective electra
expect_rc 2 "--sop on bert" --sop --model-type bert
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
