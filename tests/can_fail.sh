#!/usr/bin/env bash
# Each test of the run metrics and the report can fail: every line below breaks the code on
# purpose (a copy of the tree, one sed), rebuilds the test, and expects it to FAIL.
# Not part of `make test` (a rebuild per mutation). usage: tests/can_fail.sh
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/ordo-can-fail-XXXXXX")
trap 'rm -rf "$W"' EXIT
caught=0 missed=0
# mutate FILE SED_EXPR TARGET TEST_COMMAND...: the test must fail on the mutated code
mutate() {
  local file=$1 expr=$2 target=$3; shift 3
  rm -rf "$W/t" && mkdir -p "$W/t" && (cd "$SRC" && git ls-files -z | xargs -0 cp --parents -t "$W/t")
  sed -i "$expr" "$W/t/$file"
  if cmp -s "$SRC/$file" "$W/t/$file"; then echo "NOT APPLIED: $file: $expr"; missed=$((missed + 1)); return; fi
  cmake -S "$W/t" -B "$W/t/build" -DCMAKE_BUILD_TYPE=Release >/dev/null 2>&1
  cmake --build "$W/t/build" --target "$target" -j2 >/dev/null 2>&1 || { echo "BUILD FAILED: $file: $expr"; missed=$((missed + 1)); return; }
  if (cd "$W/t/build" && "$@" >/dev/null 2>&1); then
    echo "MISSED: $file: $expr"; missed=$((missed + 1))
  else
    echo "caught: $file: $expr"; caught=$((caught + 1))
  fi
}
mutate src/core/events.c 's/0x82f63b78u/0x82f63b79u/' core_test_metrics ./core_test_metrics
mutate src/core/events.c 's/pb_key(&val, 2, 5)/pb_key(\&val, 3, 5)/' core_test_metrics ./core_test_metrics
mutate src/core/metrics.c 's/atoll(st + 8) <= k->keep_step/atoll(st + 8) < k->keep_step/' core_test_metrics ./core_test_metrics
mutate src/core/events.c 's/if (n > len - off - 12 || len - off - 12 - n < 4)/if (n > len - off - 12)/' core_test_metrics ./core_test_metrics
mutate src/report/report_html.c 's/d > 0 ? "early" : "late"/d > 0 ? "late" : "early"/' report_test_report ./report_test_report
mutate src/report/run_load.c 's/if (series_has(s, er.s\[k\].step)) continue;/continue;/' report_test_report ./report_test_report
mutate src/report/run_load.c 's/else if (\*line || !nl) bad++/else if (0) bad++/' report_test_report ./report_test_report
mutate src/core/progress.c 's/(%.0f%%)/%.0f%%/' ordo bash "$W/t/tests/cli/report.sh" "$W/t/build/ordo" "$W/t"
echo "$caught caught, $missed missed"
[ "$missed" -eq 0 ]
