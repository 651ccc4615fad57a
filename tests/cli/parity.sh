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
# hf/: make_fixtures.py; hf_families/: make_family_fixtures.py (other widths, ALBERT groups,
# RoFormer's rotary_value, ELECTRA's generator, ALBERT's SOP and classification heads)
for d in hf/bert hf/roberta_regression hf/bert_lora hf/roformer_mlm hf/albert_mlm hf/electra_rtd \
         hf_families/roformer_proj hf_families/albert_groups hf_families/electra_proj \
         hf_families/electra_gen hf_families/electra_cls hf_families/roformer_cls \
         hf_families/albert_sop hf_families/albert_cls; do
  for be in cpu cpu-ref; do
    expect 0 "$d/$be" "$ordo" parity "$src/tests/fixtures/$d" --backend "$be"
  done
  # the check can fail: an impossible tolerance must FAIL
  expect 1 "$d/tol=1e-12" "$ordo" parity "$src/tests/fixtures/$d" --tol 1e-12
done
if [ -n "$shared" ] && [ -d "$shared/hf/bert" ]; then
  for d in bert roberta_regression bert_lora roformer_mlm albert_mlm electra_rtd; do
    expect 0 "shared/$d" "$ordo" parity "$shared/hf/$d"
  done
else
  echo "skipped: shared fixtures not found"
fi
# a family the driver does not run fails cleanly: ALBERT with two layers per group
tmp=$(mktemp -d)
cp -r "$src/tests/fixtures/hf/albert_mlm" "$tmp/"
sed -i 's/"inner_group_num": 1/"inner_group_num": 2/' "$tmp/albert_mlm/config.json"
expect 1 "unsupported/albert inner_group_num 2" "$ordo" parity "$tmp/albert_mlm"
rm -rf "$tmp"
expect 1 "missing dir" "$ordo" parity /nonexistent/fixture
expect 2 "bad flag" "$ordo" parity "$src/tests/fixtures/hf/bert" --tol abc
expect 0 "help" "$ordo" parity --help
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
