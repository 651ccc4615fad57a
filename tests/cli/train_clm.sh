#!/usr/bin/env bash
# Causal-LM training of a small GPT-2 (ordo train --objective clm) on text, code and a
# notebook: the loss falls, held-out perplexity is measured and recorded, every technique flag
# runs, and misuse is refused (resuming: train_resume.sh).
set -u
ordo=$1 src=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
. "$src/tests/cli/common.bash"
mkdir -p "$T/corpus" "$T/held"
cp -r "$src/src/model" "$src/src/train" "$src/README.md" "$T/corpus/"
cp -r "$src/src/tok" "$T/held/"
cat > "$T/corpus/small.ipynb" <<'EOF'
{"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": {"name": "python"}},
 "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Loading the data\n"]},
           {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [],
            "source": ["import pandas as pd\n", "df = pd.read_csv('train.csv')\n"]}]}
EOF
base=(--objective clm --layers 2 --hidden 32 --heads 2 --intermediate 64 --seq 32 --batch 4
      --vocab-size 600 --lr 2e-3 --seed 5 --threads 1 --log-every 10)
expect_rc 0 "$ordo" train "${base[@]}" --corpus "$T/corpus" --eval-corpus "$T/held" --steps 40 \
  --eval-every 20 --out "$T/a"
cp "$T/out" "$T/a.log"
expect_text "$T/a.log" "eval step 20: held-out loss"
expect_text "$T/a.log" "eval step 40: held-out loss"
expect_text "$T/a/metrics.jsonl" '"eval_ppl"'
grep -qE '"model_type":\s*"gpt2"' "$T/a/config.json" && ok || bad "config.json is not gpt2's"
grep -qE '"eos_token_id":\s*2,' "$T/a/config.json" && ok || bad "config.json lacks the BPE's </s> as eos"

first=$(awk -F, 'NR>1 && NR<=6 {s+=$2} END {printf "%.4f", s/5}' "$T/a/metrics.csv")
last=$(awk -F, 'NR>36 {s+=$2} END {printf "%.4f", s/5}' "$T/a/metrics.csv")
if awk -v f="$first" -v l="$last" 'BEGIN {exit !(l < f - 0.5)}'; then ok; else
  bad "loss did not fall by 0.5: $first -> $last"; fi
# perplexity falls between the two evaluations
p20=$(grep -o 'eval step 20: held-out loss [0-9.]*' "$T/a.log" | awk '{print $NF}')
p40=$(grep -o 'eval step 40: held-out loss [0-9.]*' "$T/a.log" | awk '{print $NF}')
if awk -v a="$p20" -v b="$p40" 'BEGIN {exit !(b < a)}'; then ok; else bad "held-out loss $p20 -> $p40"; fi

# every technique flag, a few steps each
nf=0
for flags in "--accum-steps 2" "--precision bf16" "--precision fp16" "--optim adamw8" \
             "--recompute layer" "--recompute attention" "--lora-r 4 --lora-targets c_attn,c_fc"; do
  d="$T/f$((++nf))"
  # shellcheck disable=SC2086
  expect_rc 0 "$ordo" train "${base[@]}" --corpus "$T/corpus" --steps 4 --out "$d" $flags
  [ -s "$d/model.safetensors" ] && ok || bad "$flags: no model written"
done
[ -s "$T/f7/adapter/adapter_model.safetensors" ] && ok || bad "LoRA adapters not written"
grep -qE '"fan_in_fan_out":\s*true' "$T/f7/adapter/adapter_config.json" && ok || bad "adapter config"


# resume: tests/cli/train_resume.sh (clm cases)

# misuse
expect_rc 2 "$ordo" train "${base[@]}" --corpus "$T/corpus" --out "$T/x" --model-type bert
expect_text "$T/err" "--objective clm trains a decoder"
expect_rc 2 "$ordo" train --corpus "$T/corpus" --out "$T/x" --eval-corpus "$T/held"
expect_text "$T/err" "--eval-corpus measures perplexity"
expect_rc 2 "$ordo" train "${base[@]}" --corpus "$T/corpus" --out "$T/x" --whole-word
expect_rc 2 "$ordo" train "${base[@]}" --corpus "$T/corpus" --out "$T/x" --group-by-length
expect_rc 2 "$ordo" train "${base[@]}" --corpus "$T/corpus" --out "$T/x" --lora-alpha 8
expect_rc 1 "$ordo" train "${base[@]}" --corpus "$T/corpus" --out "$T/x" --lora-r 4 --lora-targets query
expect_text "$T/err" "--lora-targets: LoRA target 'query' matches no layer of gpt2"
expect_rc 1 "$ordo" train --corpus "$T/corpus" --out "$T/x" --model-type gpt2 --steps 2
expect_text "$T/err" "a causal LM trains with --objective clm"
expect_rc 1 "$ordo" train "${base[@]}" --corpus "$T/corpus" --out "$T/x" --init "$src/tests/fixtures/hf/bert"
expect_text "$T/err" "--objective clm trains a causal LM (gpt2)"
expect_rc 1 "$ordo" train "${base[@]}" --corpus "$T/corpus" --out "$T/x" --eval-corpus /nonexistent
expect_text "$T/err" "--eval-corpus"
test_summary train_clm
