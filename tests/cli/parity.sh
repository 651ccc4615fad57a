#!/usr/bin/env bash
# ordo parity on the committed fixtures (made by tools/ref/make_fixtures.py) and, when present,
# on ../shared/fixtures; unsupported fixtures must fail cleanly (exit 1, no crash).
set -u
ordo=$1 src=$2 shared=${3:-}
fail=0 pass=0
expect() { # expect STATUS DESCRIPTION CMD...
  local want=$1 what=$2; shift 2
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq "$want" ]; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL: $what: exit $rc, expected $want"; echo "$out" | tail -5; fi
  echo "$out" | grep -E '^parity: ' | sed "s|^|  $what: |"
}
for d in bert roberta_regression bert_lora; do
  for be in cpu cpu-ref; do
    expect 0 "$d/$be" "$ordo" parity "$src/tests/fixtures/hf/$d" --backend "$be"
  done
  # the check can fail: an impossible tolerance must FAIL
  expect 1 "$d/tol=1e-12" "$ordo" parity "$src/tests/fixtures/hf/$d" --tol 1e-12
done
if [ -n "$shared" ] && [ -d "$shared/hf/bert" ]; then
  for d in bert roberta_regression bert_lora; do expect 0 "shared/$d" "$ordo" parity "$shared/hf/$d"; done
else
  echo "skipped: shared fixtures not found"
fi
for d in albert_mlm electra_rtd roformer_mlm; do
  expect 1 "unsupported/$d" "$ordo" parity "$src/tests/fixtures/hf/$d"
done
expect 1 "missing dir" "$ordo" parity /nonexistent/fixture
expect 2 "bad flag" "$ordo" parity "$src/tests/fixtures/hf/bert" --tol abc
expect 0 "help" "$ordo" parity --help
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
