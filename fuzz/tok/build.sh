#!/usr/bin/env bash
# Builds the tok/ fuzz targets with clang + libFuzzer + ASan/UBSan (not part of the CMake build).
#   bash fuzz/tok/build.sh [OUT_DIR]        (default build-fuzz-tok)
# Run, e.g. for 10 minutes each:
#   ORDO_FUZZ_TOKENIZERS=../shared/fixtures/tokenizers/gpt2_bpe/tokenizer.json:... \
#     build-fuzz-tok/fuzz_encode -max_total_time=600 -max_len=4096 corpus_enc/
#   build-fuzz-tok/fuzz_load -max_total_time=600 -max_len=65536 corpus_load/ tests/fixtures/tok/
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/build-fuzz-tok}
mkdir -p "$OUT"
CFLAGS="-std=c11 -O1 -g -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fopenmp"
INC="-I$ROOT/include -I$ROOT/src $(pkg-config --cflags libcjson libutf8proc)"
LIBS="$(pkg-config --libs libcjson libutf8proc) -lm"
SRC="$ROOT/src/tok/*.c $ROOT/src/core/error.c"
for t in fuzz_encode fuzz_load; do
  clang $CFLAGS $INC "$ROOT/fuzz/tok/$t.c" $SRC $LIBS -o "$OUT/$t"
  echo "built $OUT/$t"
done
