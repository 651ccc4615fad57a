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
# RoFormer's rotary_value, ELECTRA's generator, ALBERT's SOP and classification heads);
# hf_gpt2/: make_gpt2_fixtures.py (GPT-2 with gelu_new and gelu, LoRA on every Conv1D)
for d in hf/bert hf/roberta_regression hf/bert_lora hf/roformer_mlm hf/albert_mlm hf/electra_rtd \
         hf_families/roformer_proj hf_families/albert_groups hf_families/electra_proj \
         hf_families/electra_gen hf_families/electra_cls hf_families/roformer_cls \
         hf_families/albert_sop hf_families/albert_cls \
         hf_gpt2/gpt2_lm hf_gpt2/gpt2_gelu hf_gpt2/gpt2_lora_all; do
  for be in cpu cpu-ref; do
    expect 0 "$d/$be" "$ordo" parity "$src/tests/fixtures/$d" --device "$be"
  done
  # the check can fail: an impossible tolerance must FAIL
  expect 1 "$d/tol=1e-12" "$ordo" parity "$src/tests/fixtures/$d" --tol 1e-12
done
if [ -n "$shared" ] && [ -d "$shared/hf/bert" ]; then
  for d in bert roberta_regression bert_lora roformer_mlm albert_mlm electra_rtd; do
    expect 0 "shared/$d" "$ordo" parity "$shared/hf/$d"
  done
  if [ -d "$shared/hf/gpt2_lm" ]; then
    for d in gpt2_lm gpt2_lora; do
      for be in cpu cpu-ref; do expect 0 "shared/$d/$be" "$ordo" parity "$shared/hf/$d" --device "$be"; done
    done
  fi
else
  echo "skipped: shared fixtures not found"
fi
# a family the driver does not run fails cleanly: ALBERT with two layers per group
tmp=$(mktemp -d)
cp -r "$src/tests/fixtures/hf/albert_mlm" "$tmp/"
sed -i 's/"inner_group_num": 1/"inner_group_num": 2/' "$tmp/albert_mlm/config.json"
expect 1 "unsupported/albert inner_group_num 2" "$ordo" parity "$tmp/albert_mlm"
# GPT-2 run with the exact GELU where the model has the tanh form must FAIL: the activation matters
cp -r "$src/tests/fixtures/hf_gpt2/gpt2_lm" "$tmp/"
sed -i 's/"activation_function": "gelu_new"/"activation_function": "gelu"/' "$tmp/gpt2_lm/config.json"
expect 1 "gpt2 with the wrong activation" "$ordo" parity "$tmp/gpt2_lm"
rm -rf "$tmp"
expect 1 "missing dir" "$ordo" parity /nonexistent/fixture
expect 2 "bad flag" "$ordo" parity "$src/tests/fixtures/hf/bert" --tol abc
expect 0 "help" "$ordo" parity --help
# --backend is --device's alias; an unknown or absent device is refused by name (exit 1)
expect 0 "--backend alias" "$ordo" parity "$src/tests/fixtures/hf/bert" --backend cpu-ref
expect 1 "unknown device" "$ordo" parity "$src/tests/fixtures/hf/bert" --device nope
"$ordo" parity "$src/tests/fixtures/hf/bert" --device nope 2>&1 | grep -q -- "--device: unknown device 'nope'" \
  && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: the unknown device is not named"; }
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
