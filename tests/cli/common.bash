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
