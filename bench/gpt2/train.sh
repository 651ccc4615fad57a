#!/usr/bin/env bash
# A small GPT-2 trained on notebook text (bench/gpt2/NOTES.md): the corpus split by repository
# (make_corpus.py), a byte-level BPE of 4096 tokens trained on the training side, 4 layers of
# 192, sequences of 128 packed with EOS between notebooks, held-out perplexity every 150 steps.
# usage: bench/gpt2/train.sh ORDO DATA_DIR WORK_DIR [extra ordo train flags]
set -eu
ordo=$1 data=$2 work=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$work/corpus/train" ] || python3 "$here/make_corpus.py" "$data" "$work/corpus" --max-heldout 40
"$ordo" train --objective clm --corpus "$work/corpus/train" --eval-corpus "$work/corpus/heldout" \
  --out "$work/model" --vocab-size 4096 --layers 4 --hidden 192 --heads 4 --intermediate 768 \
  --seq 128 --batch 16 --steps 450 --lr 2e-3 --warmup 30 --dropout 0.0 --eval-every 150 \
  --threads 1 --log-every 25 --seed 1 "$@"
