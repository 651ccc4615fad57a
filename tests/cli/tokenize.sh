#!/usr/bin/env bash
# ordo tokenize end to end: encode → decode gives back the input lines, training writes a
# tokenizer that loads, usage errors exit 2, bad input exits 1 naming the line; with the shared
# fixtures, the output is byte-identical to cells_ids.jsonl for the three tokenizers.
#   bash tests/cli/tokenize.sh ORDO_BINARY SOURCE_DIR [SHARED_FIXTURES_DIR]
set -u
ORDO=$1
SRC=$2
SHARED=${3:-}
DATA=$SRC/tests/tok/data
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
check() { # name, then a command that must succeed
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
status() { # expected status, command...
  local want=$1
  shift
  "$@" > /dev/null 2> "$TMP/err"
  [ $? -eq "$want" ]
}

for tk in bpe_small wp_small; do
  check "$tk encode" "$ORDO" tokenize --tokenizer "$DATA/$tk.json" --jsonl "$DATA/edge.jsonl" --out "$TMP/$tk.ids"
  check "$tk one line per input" test "$(wc -l < "$TMP/$tk.ids")" -eq "$(wc -l < "$DATA/edge.jsonl")"
done
check "bpe encode without specials" "$ORDO" tokenize --tokenizer "$DATA/bpe_small.json" --no-special \
  --jsonl "$DATA/edge.jsonl" --out "$TMP/bpe_nosp.ids"
check "bpe decode" "$ORDO" tokenize --tokenizer "$DATA/bpe_small.json" --decode --jsonl "$TMP/bpe_nosp.ids" --out "$TMP/back.jsonl"
check "bpe decode gives back the input lines" cmp -s "$TMP/back.jsonl" "$DATA/edge.jsonl"
check "threads do not change the output" bash -c "'$ORDO' tokenize --tokenizer '$DATA/wp_small.json' --threads 1 \
  --jsonl '$DATA/edge.jsonl' --out '$TMP/wp1.ids' && cmp -s '$TMP/wp1.ids' '$TMP/wp_small.ids'"
check "max-len truncates" bash -c "'$ORDO' tokenize --tokenizer '$DATA/wp_small.json' --max-len 5 \
  --jsonl '$DATA/edge.jsonl' --out '$TMP/t.ids' && ! grep -qE '^\[([0-9]+, ){5}' '$TMP/t.ids'"

check "train bpe" "$ORDO" tokenize --train bpe --vocab-size 300 --min-frequency 1 --corpus "$DATA/corpus.txt" --out "$TMP/t.json"
check "trained bpe encodes" "$ORDO" tokenize --tokenizer "$TMP/t.json" --jsonl "$DATA/edge.jsonl" --out "$TMP/t.ids"
check "train wordpiece" "$ORDO" tokenize --train wordpiece --vocab-size 300 --corpus "$DATA/corpus.txt" --out "$TMP/w.json"

check "--help exits 0" status 0 "$ORDO" tokenize --help
check "no arguments exits 2" status 2 "$ORDO" tokenize
check "unknown flag exits 2" status 2 "$ORDO" tokenize --bogus
check "bad --train exits 2" status 2 "$ORDO" tokenize --train unigram --vocab-size 10 --corpus x --out y
check "bad --max-len exits 2" status 2 "$ORDO" tokenize --tokenizer x --jsonl y --out z --max-len 0
check "missing tokenizer exits 1" status 1 "$ORDO" tokenize --tokenizer "$TMP/none.json" --jsonl "$DATA/edge.jsonl" --out "$TMP/o"
printf '"ok"\nnot json\n' > "$TMP/bad.jsonl"
check "bad input line exits 1" status 1 "$ORDO" tokenize --tokenizer "$DATA/wp_small.json" --jsonl "$TMP/bad.jsonl" --out "$TMP/o"
check "error names the line" grep -q "bad.jsonl: line 2" "$TMP/err"
check "no partial output" test ! -e "$TMP/o"
printf '[1, 2, 99999]\n' > "$TMP/badids.jsonl"
check "id out of range exits 1" status 1 "$ORDO" tokenize --tokenizer "$DATA/wp_small.json" --decode --jsonl "$TMP/badids.jsonl" --out "$TMP/o"

if [ -n "$SHARED" ] && [ -f "$SHARED/tokenizers/cells.jsonl" ]; then
  for tk in gpt2_bpe bytelevel_bpe_16k wordpiece_uncased_8k; do
    check "$tk: cells_ids.jsonl byte-identical" bash -c "'$ORDO' tokenize --tokenizer '$SHARED/tokenizers/$tk' \
      --jsonl '$SHARED/tokenizers/cells.jsonl' --out '$TMP/c.ids' && cmp -s '$TMP/c.ids' '$SHARED/tokenizers/$tk/cells_ids.jsonl'"
  done
else
  echo "skipped: shared fixtures not found, cells_ids.jsonl comparison not run"
fi
echo "$fails failed"
[ "$fails" -eq 0 ]
