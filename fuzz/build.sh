#!/usr/bin/env bash
# Builds every libFuzzer target, fuzz/<module>/fuzz_<name>.c -> OUT/fuzz_<module>_<name>, with
# clang, libFuzzer and ASan + UBSan (not part of the CMake build). The library sources are
# compiled once, instrumented, into OUT/libordo_fuzz.a; each target links what it uses.
#   bash fuzz/build.sh [OUT_DIR]          (default build-fuzz)
# Run one for 10 minutes, its seeds after a scratch corpus folder (libFuzzer adds to the first):
#   build-fuzz/fuzz_io_safetensors -max_total_time=600 corpus/ fuzz/corpus/io_safetensors/
# The tokenizer encoder needs its tokenizers:
#   ORDO_FUZZ_TOKENIZERS=../shared/fixtures/tokenizers/gpt2_bpe/tokenizer.json:... \
#     build-fuzz/fuzz_tok_encode -max_total_time=600 -max_len=4096 corpus_enc/
# fuzz/smoke.sh runs each target briefly (CI).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build-fuzz}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT/obj"
OB_PC=/usr/lib/$(gcc -print-multiarch)/openblas-openmp/pkgconfig
[ -d "$OB_PC" ] && export PKG_CONFIG_PATH="$OB_PC${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
PKGS="libcjson libutf8proc zlib openblas"
BASE="-std=c11 -O1 -g -D_GNU_SOURCE -fopenmp -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
INC="-I$ROOT/include -I$ROOT/src $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lm"
NEWEST_H=$(ls -t "$ROOT"/include/ordo/*.h "$ROOT"/src/*/*.h | head -1)
export BASE INC OUT ROOT NEWEST_H

# the library, once (only sources newer than their object are recompiled)
ls "$ROOT"/src/{core,io,data,tok,cpu,model,train,task}/*.c | xargs -P "$JOBS" -I{} bash -c '
  src={}; rel=${src#$ROOT/src/}; obj="$OUT/obj/${rel//\//_}.o"
  [ "$obj" -nt "$src" ] && [ "$obj" -nt "$NEWEST_H" ] && exit 0
  clang $BASE -fsanitize=fuzzer-no-link $INC -c "$src" -o "$obj"'
rm -f "$OUT/libordo_fuzz.a"
ar rcs "$OUT/libordo_fuzz.a" "$OUT"/obj/*.o

for t in "$ROOT"/fuzz/*/fuzz_*.c; do
  mod=$(basename "$(dirname "$t")")
  name=fuzz_${mod}_$(basename "$t" .c | sed 's/^fuzz_//')
  clang $BASE -fsanitize=fuzzer $INC "$t" "$OUT/libordo_fuzz.a" $LIBS -o "$OUT/$name"
  echo "built $OUT/$name"
done
