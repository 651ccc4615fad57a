# Helpers shared by the CLI tests (not a test: CMake registers tests/cli/*.sh only). Source it
# after setting T (the test's temporary folder).
# Counts checks in pass and fails; test_summary prints the closing line and sets the status.
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_rc() { # expect_rc CODE CMD...: runs CMD, output in $T/out and $T/err
  local want=$1; shift
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else bad "exit $rc (want $want): $* :: $(tail -2 "$T/err")"; fi
}
expect_text() { # expect_text FILE TEXT
  if grep -qF -- "$2" "$1"; then ok; else bad "'$2' not in $(basename "$1"): $(head -3 "$1")"; fi
}
expect_no_text() { # expect_no_text FILE TEXT
  if grep -qF -- "$2" "$1"; then bad "'$2' in $(basename "$1")"; else ok; fi
}
test_summary() { # test_summary [LABEL]: the closing line; the exit status of the test
  echo "${1:+$1: }$pass passed, $fails failed"
  [ "$fails" -eq 0 ]
}

# A tiny notebook tree for the ranker's tests: DIR/g0..g3/nb0..nb4.ipynb, each a heading, then
# code cells each preceded by a markdown naming its word.
WORDS=(apple river motor piano cloud tiger lemon rocket garden silver planet forest)
mk_word_nb() { # mk_word_nb PATH SEED: a heading, then code cells each preceded by a markdown naming its word
  mkdir -p "$(dirname "$1")"
  local s=$2 cells="" w
  cells="{\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"# Notebook $s\"}"
  for c in 0 1 2 3 4; do
    w=${WORDS[$(((s * 7 + c * 5) % ${#WORDS[@]}))]}
    cells="$cells, {\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"Then the $w table\"}"
    cells="$cells, {\"cell_type\": \"code\", \"metadata\": {}, \"outputs\": [], \"source\": \"${w}_df = make_$w($c)\"}"
  done
  echo "{\"nbformat\": 4, \"nbformat_minor\": 4, \"metadata\": {}, \"cells\": [$cells]}" >"$1"
}
mk_nb_tree() { # mk_nb_tree DIR
  local g j
  for g in 0 1 2 3; do for j in 0 1 2 3 4; do mk_word_nb "$1/g$g/nb$j.ipynb" $((g * 5 + j)); done; done
}
flip_fold_mean() { # flip_fold_mean MODEL COPY: COPY is MODEL using its cross-fitting folds the other way
  local other
  rm -rf "$2" && cp -r "$1" "$2"
  if grep -q '"fold_mean":[[:space:]]*true' "$1/ranker.json"; then other=false; else other=true; fi
  sed -i "s/\"fold_mean\":[[:space:]]*[a-z]*/\"fold_mean\": $other/" "$2/ranker.json"
  grep -q "\"fold_mean\": $other" "$2/ranker.json" && ok || bad "fold_mean not rewritten in $2"
}
