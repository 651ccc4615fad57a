#!/usr/bin/env bash
# `ordo report` on real runs: a tiny masked-LM run (its metrics.jsonl matches metrics.csv, its
# event file holds every scalar), a comparison of two runs, a run whose files were torn by a kill
# (a report of what is readable, the skipped parts named on the page and on stderr), and the
# usage errors. Progress lines when stderr is not a terminal.
# usage: report.sh ORDO_BINARY SOURCE_DIR
set -u
ORDO=$1 SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/ordo-cli-report-XXXXXX")
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
. "$(dirname "$0")/common.bash"

RUN=(--corpus "$SRC/src/core" --layers 1 --hidden 32 --heads 2 --intermediate 64 --seq 32
     --batch 4 --steps 30 --vocab-size 300 --threads 1 --seed 2)
expect_rc 0 "$ORDO" train "${RUN[@]}" --out "$T/a"
# not a terminal: plain progress lines with the rate and the time left
expect_text "$T/err" "train 30/30 (100%)"
expect_text "$T/err" "steps/s"
expect_text "$T/err" "left"
expect_rc 0 "$ORDO" train "${RUN[@]}" --out "$T/b" --optim adamw8
[ "$(wc -l <"$T/a/metrics.jsonl")" -eq 30 ] && ok || bad "30 JSON lines: $(wc -l <"$T/a/metrics.jsonl")"
# the JSON lines' losses are metrics.csv's (printed there with 6 decimals)
diff <(tail -n +2 "$T/a/metrics.csv" | cut -d, -f2) \
     <(sed 's/.*"loss": \([^,]*\),.*/\1/' "$T/a/metrics.jsonl" | awk '{printf "%.6f\n", $1}') >/dev/null \
  && ok || bad "metrics.jsonl losses differ from metrics.csv"
[ -s "$T/a/tb/train/events.out.tfevents.ordo" ] && ok || bad "no event file"

# ---- usage ----
expect_rc 0 "$ORDO" report --help
expect_text "$T/out" "usage: ordo report RUN_DIR"
expect_rc 2 "$ORDO" report "$T/a"
expect_text "$T/err" "--out are required"
expect_rc 2 "$ORDO" report "$T/a" "$T/b" --out "$T/x.html"
expect_rc 2 "$ORDO" report "$T/a" --out "$T/x.html" --bogus
expect_rc 1 "$ORDO" report "$T/nowhere" --out "$T/x.html"
expect_text "$T/err" "$T/nowhere"
mkdir -p "$T/empty"
expect_rc 1 "$ORDO" report "$T/empty" --out "$T/x.html"
expect_text "$T/err" "no readable metrics"

# ---- a run, and two compared ----
expect_rc 0 "$ORDO" report "$T/a" --out "$T/a.html"
for t in ">Loss<" ">Learning rate<" ">Gradient norm (before clipping)<" ">Throughput<" ">Memory<" \
         "optimizer step" "Files read"; do
  expect_text "$T/a.html" "$t"
done
[ "$(grep -o '<polyline' "$T/a.html" | wc -l)" -eq 6 ] && ok || bad "6 curves: $(grep -o '<polyline' "$T/a.html" | wc -l)"
expect_rc 0 "$ORDO" report "$T/a" --compare "$T/b" --out "$T/ab.html"
expect_text "$T/ab.html" "Training report: a compared with b"
[ "$(grep -o '<polyline' "$T/ab.html" | wc -l)" -eq 12 ] && ok || bad "12 curves: $(grep -o '<polyline' "$T/ab.html" | wc -l)"

# ---- torn files: the last JSON line cut short, the event file cut inside a record ----
cp -r "$T/a" "$T/torn"
truncate -s -20 "$T/torn/metrics.jsonl"
truncate -s -7 "$T/torn/tb/train/events.out.tfevents.ordo"
expect_rc 0 "$ORDO" report "$T/torn" --out "$T/torn.html"
expect_text "$T/torn.html" "Some files could not be read whole"
expect_text "$T/torn.html" "metrics.jsonl: 29 records read; 1 line is not complete (first: line 30"
expect_text "$T/torn.html" "events.out.tfevents.ordo: 30 records read, then a record torn at byte"
expect_text "$T/err" "report: $T/torn/metrics.jsonl: 29 records read"
expect_text "$T/torn.html" ">Loss<"
# a resumed run (its checkpoint at step 30) drops the torn line (step 30's record is lost) and
# goes on: steps 1-29 and 31-34
expect_rc 0 "$ORDO" train "${RUN[@]}" --steps 34 --out "$T/torn"
[ "$(cut -d, -f2 "$T/torn/metrics.jsonl" | tr -d ' "step:' | tr '\n' ' ')" = \
  "$(seq 1 29 | tr '\n' ' ')31 32 33 34 " ] && ok || bad "resumed: steps $(cut -d, -f2 "$T/torn/metrics.jsonl" | tr -d ' "step:' | tr '\n' ' ')"
expect_rc 0 "$ORDO" report "$T/torn" --out "$T/torn2.html"
expect_text "$T/torn2.html" "Files read"

test_summary
