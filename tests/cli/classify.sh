#!/usr/bin/env bash
# ordo classify end to end on the committed toy set (three topics; tests/fixtures/README.md):
# a tiny new BERT fully fine-tuned and one with LoRA learn it; eval and predict on the saved
# models agree with the evaluation at the end of training; the labels travel in config.json;
# the same seed gives the same losses; a run stopped at a checkpoint resumes to the same model.
set -u
ORDO=$1 SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/ordo-cli-classify-XXXXXX")
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
. "$(dirname "$0")/common.bash"
D=$SRC/tests/fixtures/classify
NEW=(--vocab-size 200 --layers 1 --hidden 32 --heads 2 --intermediate 64 --seq 16 --batch 8
     --epochs 30 --threads 1 --log-every 100)
value() { sed -n "s/^$1: //p" "$2"; } # value KEY FILE: a report line's number

# ---- full fine-tuning: learns the toy set, writes its files ----
expect_rc 0 "$ORDO" classify train --train "$D/toy_train.csv" --eval "$D/toy_test.csv" --out "$T/full" \
  "${NEW[@]}" --lr 3e-3
cp "$T/out" "$T/full.log"
expect_text "$T/full.log" "3 labels"
acc=$(value accuracy "$T/full.log")
if awk -v a="$acc" 'BEGIN {exit !(a >= 0.9)}'; then ok; else bad "full fine-tuning: accuracy $acc < 0.9"; fi
for f in config.json model.safetensors tokenizer.json metrics.csv metrics.jsonl eval.json checkpoint/manifest.json; do
  if [ -s "$T/full/$f" ]; then ok; else bad "$f not written"; fi
done
expect_text "$T/full/config.json" '"2":	"weather"'
expect_text "$T/full/config.json" '"cooking":	0'
expect_text "$T/full/eval.json" '"labels":["cooking","sports","weather"]'
if [ -d "$T/full/tb/eval" ] && [ -d "$T/full/tb/train" ]; then ok; else bad "tb/train and tb/eval"; fi
if [ "$(wc -l <"$T/full/metrics.csv")" -eq 226 ]; then ok; else bad "metrics.csv: $(wc -l <"$T/full/metrics.csv") lines, want 226"; fi

# eval of the saved model: the same figures, from CSV and from JSON-lines
expect_rc 0 "$ORDO" classify eval --model "$T/full" --data "$D/toy_test.csv" --seq 16 --out "$T/ev.json"
if [ "$(value accuracy "$T/out")" = "$acc" ] && [ "$(value macro_f1 "$T/out")" = "$(value macro_f1 "$T/full.log")" ]; then
  ok; else bad "eval after reload: $(value accuracy "$T/out") vs $acc"; fi
expect_text "$T/out" "weather"
expect_text "$T/out" "precision"
expect_rc 0 "$ORDO" classify eval --model "$T/full" --data "$D/toy_test.jsonl" --seq 16
if [ "$(value accuracy "$T/out")" = "$acc" ]; then ok; else bad "JSON-lines eval: $(value accuracy "$T/out")"; fi
if cmp -s "$T/ev.json" "$T/full/eval.json"; then ok; else bad "eval --out differs from the training's eval.json"; fi

# predict: one row per input, the labels' probability columns summing to 1, the argmax label
expect_rc 0 "$ORDO" classify predict --model "$T/full" --data "$D/toy_test.csv" --seq 16 --out "$T/pred.csv"
expect_text "$T/pred.csv" "row,label,p_cooking,p_sports,p_weather"
if [ "$(wc -l <"$T/pred.csv")" -eq 16 ]; then ok; else bad "pred.csv: $(wc -l <"$T/pred.csv") lines"; fi
bad_rows=$(awk -F, 'NR > 1 { s = $3 + $4 + $5; m = 3; for (i = 4; i <= 5; i++) if ($i > $m) m = i;
  want = m == 3 ? "cooking" : m == 4 ? "sports" : "weather";
  if (s < 0.999 || s > 1.001 || $2 != want) n++ } END { print n + 0 }' "$T/pred.csv")
if [ "$bad_rows" -eq 0 ]; then ok; else bad "$bad_rows prediction rows with probabilities not summing to 1 or a label not their argmax"; fi
right=$(paste -d, <(tail -n +2 "$D/toy_test.csv" | awk -F, '{print $NF}') <(tail -n +2 "$T/pred.csv" | cut -d, -f2) |
        awk -F, '$1 == $2 {n++} END {print n + 0}')
if awk -v r="$right" -v a="$acc" 'BEGIN {exit !(r / 15 == a + 0)}'; then ok; else bad "predict: $right/15 right, eval said $acc"; fi

# ---- the same seed: the same losses ----
expect_rc 0 "$ORDO" classify train --train "$D/toy_train.csv" --out "$T/full2" "${NEW[@]}" --lr 3e-3
if cmp -s <(cut -d, -f2 "$T/full/metrics.csv") <(cut -d, -f2 "$T/full2/metrics.csv"); then ok; else bad "losses differ between two runs with one seed"; fi

# ---- killed after a checkpoint and run again: resumes to the model of one whole run ----
"$ORDO" classify train --train "$D/toy_train.csv" --out "$T/part" "${NEW[@]}" --lr 3e-3 --save-every 20 \
  >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do [ -f "$T/part/checkpoint/manifest.json" ] && break; sleep 0.01; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
expect_rc 0 "$ORDO" classify train --train "$D/toy_train.csv" --out "$T/part" "${NEW[@]}" --lr 3e-3 --save-every 20
grep -o 'resumed from .*' "$T/err" | sed 's/^/  /'
if cmp -s "$T/full2/model.safetensors" "$T/part/model.safetensors"; then ok; else bad "resumed run: weights differ from one whole run"; fi
if cmp -s <(cut -d, -f1,2 "$T/full2/metrics.csv") <(cut -d, -f1,2 "$T/part/metrics.csv"); then ok; else bad "resumed run: losses differ"; fi

# ---- LoRA: few trainable parameters, the adapters saved, the merged model evaluates the same ----
expect_rc 0 "$ORDO" classify train --train "$D/toy_train.csv" --eval "$D/toy_test.csv" --out "$T/lora" \
  "${NEW[@]}" --lr 1e-2 --lora --lora-r 4 --lora-targets query,value,dense
cp "$T/out" "$T/lora.log"
expect_text "$T/lora.log" "with LoRA"
pct=$(sed -n 's/.*trainable (\([0-9.]*\)%).*/\1/p' "$T/lora.log")
if awk -v p="$pct" 'BEGIN {exit !(p > 0 && p < 20)}'; then ok; else bad "LoRA trainable share $pct%"; fi
lacc=$(value accuracy "$T/lora.log")
if awk -v a="$lacc" 'BEGIN {exit !(a >= 0.9)}'; then ok; else bad "LoRA: accuracy $lacc < 0.9"; fi
for f in adapter_model.safetensors adapter_config.json; do
  if [ -s "$T/lora/$f" ]; then ok; else bad "LoRA: $f not written"; fi
done
expect_rc 0 "$ORDO" classify eval --model "$T/lora" --data "$D/toy_test.csv" --seq 16
if [ "$(value macro_f1 "$T/out")" = "$(value macro_f1 "$T/lora.log")" ]; then ok; else bad "LoRA merged model: $(value macro_f1 "$T/out") vs $(value macro_f1 "$T/lora.log")"; fi

test_summary classify
