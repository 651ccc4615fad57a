#!/usr/bin/env bash
# Encode throughput, ordo vs HF tokenizers, same corpus, same run:
#   bash bench/tok/bench_tok.sh [BUILD_DIR]     (BUILD_DIR holds libordo_tok.a; default build)
# Corpus: the local Python install's standard-library sources in ~4 KB documents plus the
# 6,023 notebook cells of ../shared/fixtures/tokenizers. Tokenizers: the three fixtures.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
PY=${PYTHON:-python3}
PYSRC=${PYSRC:-$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])")}
FIX=${FIX:-$ROOT/../shared/fixtures/tokenizers}
WORK=${WORK:-$BUILD/bench_tok}
mkdir -p "$WORK"
cmake --build "$BUILD" --target ordo_tok ordo_core -j2 > /dev/null
cc -O3 -march=native -std=c11 -D_GNU_SOURCE -fopenmp -I"$ROOT/include" "$ROOT/bench/tok/bench_tok.c" \
  "$BUILD/libordo_tok.a" "$BUILD/libordo_core.a" $(pkg-config --libs libcjson libutf8proc) -lm -o "$WORK/bench_tok"
[ -f "$WORK/corpus.jsonl" ] || "$PY" "$ROOT/bench/tok/hf_tok.py" make-corpus "$WORK/corpus.jsonl" "$PYSRC" "$FIX/cells.jsonl"
SPECS="gpt2_bpe=$FIX/gpt2_bpe/tokenizer.json wordpiece_8k=$FIX/wordpiece_uncased_8k/tokenizer.json bytelevel_bpe_16k=$FIX/bytelevel_bpe_16k/tokenizer.json"
echo "## $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$WORK/bench_tok" "$WORK/corpus.jsonl" $SPECS
"$PY" "$ROOT/bench/tok/hf_tok.py" bench "$WORK/corpus.jsonl" $SPECS | grep '^|'
