#!/usr/bin/env bash
# CLI checks of `ordo nb` and `ordo ai4code`: build a dataset from a small .ipynb tree, run the
# baselines, score, ensemble, and the usage and input errors. With ../shared/data/nb-public
# present, also the baselines' Kendall tau on all of it (the figures the task states).
# usage: ai4code.sh ORDO_BINARY SOURCE_DIR [SHARED_FIXTURES_DIR]
set -u
ORDO=$1
SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/ordo-cli-ai4code-XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/common.bash"

mk_nb() { # mk_nb PATH TOPIC: a notebook with 3 code and 3 markdown cells about TOPIC
  mkdir -p "$(dirname "$1")"
  cat >"$1" <<JSON
{"nbformat": 4, "nbformat_minor": 4, "metadata": {"kernelspec": {"language": "python"}},
 "cells": [
  {"cell_type": "markdown", "metadata": {}, "source": ["# Loading the $2 data\n", "with pandas read_csv"]},
  {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["import pandas as pd\n", "${2}_df = pd.read_csv('$2.csv')"]},
  {"cell_type": "markdown", "metadata": {}, "source": "Plot a histogram of $2"},
  {"cell_type": "code", "metadata": {}, "outputs": [], "source": "${2}_df.hist()"},
  {"cell_type": "raw", "metadata": {}, "source": "ignored"},
  {"cell_type": "markdown", "metadata": {}, "source": "Fit a regression model on $2"},
  {"cell_type": "code", "metadata": {}, "outputs": [], "source": "model = LinearRegression().fit(${2}_df[['a']], ${2}_df['b'])"}
 ]}
JSON
}
for t in apples pears plums figs; do mk_nb "$T/src/pkgA/$t.ipynb" "$t"; done
for t in cars boats trains; do mk_nb "$T/src/pkgB/sub/$t.ipynb" "$t"; done
mk_nb "$T/src/pkgC/kiwis.ipynb" kiwis && gzip "$T/src/pkgC/kiwis.ipynb"
cp "$T/src/pkgA/apples.ipynb" "$T/src/pkgC/apples-copy.ipynb"   # a duplicate
echo '{"nbformat": 4, "cells": [' >"$T/src/pkgC/broken.ipynb"    # malformed

# ---- nb build / info / split ----
expect_rc 0 "$ORDO" nb build --help
expect_text "$T/out" "usage: ordo nb build"
expect_rc 2 "$ORDO" nb build --out "$T/ds"
expect_rc 2 "$ORDO" nb build --from "$T/src" --out "$T/ds" --bogus
expect_rc 1 "$ORDO" nb build --from "$T/nowhere" --out "$T/ds"
expect_text "$T/err" "nowhere"
expect_rc 0 "$ORDO" nb build --from "$T/src" --out "$T/ds" --seed 3
expect_text "$T/out" "kept 8 (48 cells, 3 groups)"
expect_text "$T/out" "malformed 1"
expect_text "$T/out" "duplicates 1"
expect_text "$T/err" "broken.ipynb"
[ "$(ls "$T/ds/train" | wc -l)" -eq 8 ] && ok || bad "8 notebook files"
[ -z "$(ls -d "$T"/ds.tmp.* 2>/dev/null)" ] && ok || bad "temp folder left behind"
head -1 "$T/ds/train_orders.csv" | grep -qx 'id,cell_order' && ok || bad "orders header"
grep -qE '^[0-9a-f]{14},[0-9a-f]{8},$' "$T/ds/train_ancestors.csv" && ok || bad "ancestors rows"
expect_rc 1 "$ORDO" nb build --from "$T/src" --out "$T/ds" --seed 3
expect_text "$T/err" "already holds files"
expect_rc 0 "$ORDO" nb build --from "$T/src" --out "$T/ds2" --seed 3
cmp -s "$T/ds/train_orders.csv" "$T/ds2/train_orders.csv" && ok || bad "rebuild with the same seed differs"
expect_rc 0 "$ORDO" nb info --data "$T/ds" --val-frac 0.3 --seed 1
expect_text "$T/out" "notebooks 8, groups 3, repositories 0, cells 48 (code 24, markdown 24)"
expect_text "$T/out" "of 1 ancestor groups held out"
expect_rc 0 "$ORDO" nb split --data "$T/ds" --out "$T/split" --val-frac 0.3 --seed 1
n_tr=$(($(wc -l <"$T/split/train_orders.csv") - 1)); n_va=$(($(wc -l <"$T/split/val_orders.csv") - 1))
[ $((n_tr + n_va)) -eq 8 ] && [ "$n_va" -gt 0 ] && ok || bad "split sizes $n_tr + $n_va"
# --texts: the training side's notebooks as text, cells in true order, nothing held out
expect_rc 0 "$ORDO" nb split --data "$T/ds" --out "$T/split_t" --val-frac 0.3 --seed 1 --texts
cmp -s "$T/split/val_orders.csv" "$T/split_t/val_orders.csv" && ok || bad "--texts changed the split"
expect_text "$T/out" "train_texts: $n_tr notebooks"
[ "$(ls "$T/split_t/train_texts" | wc -l)" -eq "$n_tr" ] && ok || bad "train_texts file count"
for id in $(tail -n +2 "$T/split_t/val_orders.csv" | cut -d, -f1); do
  [ ! -e "$T/split_t/train_texts/$id.txt" ] && ok || bad "held-out notebook $id in train_texts"
done
f=$(ls "$T/split_t/train_texts/"*.txt | head -1)
grep -n . "$f" | grep -E '^1:# Loading the|^4:import pandas' | wc -l | grep -qx 2 && ok || bad "text order: $(head -4 "$f")"
[ "$(grep -c '^$' "$f")" -eq 5 ] && ok || bad "a blank line between the 6 cells: $(cat "$f")"
# a sources.csv with a repo column: the split holds out whole repositories (one per notebook
# here, so a 0.3 split holds out two or three of them); --split-by group keeps the old split
cp -r "$T/ds" "$T/dsr"
{ echo "id,repo,path"; tail -n +2 "$T/ds/train_orders.csv" | cut -d, -f1 | awk '{print $1 ",org/r" NR ",x.ipynb"}'; } >"$T/dsr/sources.csv"
expect_rc 0 "$ORDO" nb info --data "$T/dsr" --val-frac 0.3 --seed 1
expect_text "$T/out" "repositories 8,"
grep -Eq "split --val-frac 0.3 --seed 1: 2 notebooks of 2 repositories held out: org/r[0-9], org/r[0-9]$" "$T/out" && ok || bad "repository split: $(tail -1 "$T/out")"
expect_rc 0 "$ORDO" nb info --data "$T/dsr" --val-frac 0.3 --seed 1 --split-by group
expect_text "$T/out" "of 1 ancestor groups held out"
expect_rc 2 "$ORDO" nb info --data "$T/dsr" --val-frac 0.3 --split-by folder
expect_text "$T/err" "--split-by: expected repo or group, got 'folder'"
expect_rc 2 "$ORDO" ai4code baseline --method first --data "$T/dsr" --out "$T/s.csv" --split-by x
expect_text "$T/err" "--split-by: expected repo or group"

# ---- baselines and score ----
expect_rc 0 "$ORDO" ai4code baseline --help
expect_rc 2 "$ORDO" ai4code baseline --method best --data "$T/ds" --out "$T/s.csv"
expect_rc 2 "$ORDO" ai4code baseline --method first --data "$T/ds"
expect_rc 2 "$ORDO" ai4code baseline --method first --data "$T/ds" --out "$T/s.csv" --split test
expect_rc 1 "$ORDO" ai4code baseline --method first --data "$T/nowhere" --out "$T/s.csv"
for m in first even tfidf; do
  expect_rc 0 "$ORDO" ai4code baseline --method $m --data "$T/ds" --out "$T/$m.csv"
  cp "$T/out" "$T/$m.tau"
  expect_rc 0 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv" --submission "$T/$m.csv"
  cmp -s "$T/out" "$T/$m.tau" && ok || bad "$m: score differs from the baseline's own tau"
done
# each markdown names words of the code cell after it: TF-IDF orders these notebooks perfectly,
# with stemmed terms (the default) and with whole words
expect_text "$T/tfidf.tau" "kendall_tau: 1.000000"
expect_rc 0 "$ORDO" ai4code baseline --method tfidf --no-stem --data "$T/ds" --out "$T/tfidf_whole.csv"
expect_text "$T/out" "kendall_tau: 1.000000"
expect_rc 0 "$ORDO" ai4code baseline --method tfidf --data "$T/ds" --split val --val-frac 0.3 --seed 1 --out "$T/val.csv"
expect_rc 0 "$ORDO" ai4code score --orders "$T/split/val_orders.csv" --submission "$T/val.csv"
expect_text "$T/out" "kendall_tau: 1.000000"
# the reversed true order scores -1
awk -F, 'NR == 1 { print; next } { n = split($2, c, " "); s = c[n]; for (i = n - 1; i >= 1; i--) s = s " " c[i]; print $1 "," s }' \
  "$T/ds/train_orders.csv" >"$T/rev.csv"
expect_rc 0 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv" --submission "$T/rev.csv"
expect_text "$T/out" "kendall_tau: -1.000000"
# errors name what is wrong
first_id=$(sed -n 2p "$T/ds/train_orders.csv" | cut -d, -f1)
grep -v "^$first_id," "$T/first.csv" >"$T/missing.csv"
expect_rc 1 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv" --submission "$T/missing.csv"
expect_text "$T/err" "missing: $first_id"
(cat "$T/first.csv"; echo "ffffffffffffff,aaaaaaaa") >"$T/extra.csv"
expect_rc 1 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv" --submission "$T/extra.csv"
expect_text "$T/err" "not in the orders: ffffffffffffff"
sed "2s/ [0-9a-f]*\$/ 0badce11/" "$T/first.csv" >"$T/unknown.csv"
expect_rc 1 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv" --submission "$T/unknown.csv"
expect_text "$T/err" "unknown cell id 0badce11"
sed -E "2s/,([0-9a-f]{8}) ([0-9a-f]{8})/,\1 \1/" "$T/first.csv" >"$T/dup.csv"
expect_rc 1 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv" --submission "$T/dup.csv"
expect_text "$T/err" "listed twice"
printf 'id,cells\n' >"$T/header.csv"
expect_rc 1 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv" --submission "$T/header.csv"
expect_text "$T/err" "header.csv:1"
expect_rc 2 "$ORDO" ai4code score --orders "$T/ds/train_orders.csv"

# ---- ensemble ----
expect_rc 0 "$ORDO" ai4code ensemble --submissions "$T/tfidf.csv,$T/rev.csv" --weights 1,0 --out "$T/ens.csv"
cmp -s "$T/ens.csv" "$T/tfidf.csv" && ok || bad "weights 1,0 must give the first submission"
expect_rc 0 "$ORDO" ai4code ensemble --submissions "$T/tfidf.csv,$T/rev.csv" --weights 0.2,0.8 --out "$T/ens2.csv"
cmp -s "$T/ens2.csv" "$T/rev.csv" && ok || bad "weights 0.2,0.8 must follow the second submission"
expect_rc 2 "$ORDO" ai4code ensemble --submissions "$T/tfidf.csv,$T/rev.csv" --weights 1 --out "$T/e.csv"
expect_rc 1 "$ORDO" ai4code ensemble --submissions "$T/tfidf.csv,$T/missing.csv" --out "$T/e.csv"
# weights chosen against the true orders: the first share that orders every notebook as the
# TF-IDF orders do (0.5 of the reversed ones would tie)
expect_rc 0 "$ORDO" ai4code ensemble --submissions "$T/rev.csv,$T/tfidf.csv" --fit-weights "$T/ds/train_orders.csv" \
  --grid 4 --out "$T/ens3.csv"
expect_text "$T/out" "weights 0.250 0.750 (of 5 tried): kendall_tau 1.000000"
cmp -s "$T/ens3.csv" "$T/tfidf.csv" && ok || bad "fitted weights must give the better submission"
expect_rc 2 "$ORDO" ai4code ensemble --submissions "$T/rev.csv,$T/tfidf.csv" --fit-weights "$T/ds/train_orders.csv" \
  --weights 1,1 --out "$T/e.csv"
expect_rc 1 "$ORDO" ai4code ensemble --submissions "$T/rev.csv,$T/tfidf.csv" --fit-weights "$T/nowhere.csv" --out "$T/e.csv"
expect_text "$T/err" "nowhere.csv"
expect_rc 2 "$ORDO" ai4code nosuch

# ---- the shared development set, when present ----
NBP="$SRC/../shared/data/nb-public"
if [ -f "$NBP/train_orders.csv" ]; then
  # the task's figures: markdown first 0.312, spread evenly 0.424 (rounding of the spread
  # moves it by a few thousandths), TF-IDF nearest code cell 0.639 (ours tokenizes
  # identifiers finer and must not do worse)
  for spec in first:0.3115:0.3125 even:0.414:0.434 tfidf:0.639:1 "tfidf --no-stem:0.639:1"; do
    IFS=: read -r m lo hi <<<"$spec"
    expect_rc 0 "$ORDO" ai4code baseline --method $m --data "$NBP" --out "$T/nbp_${m%% *}.csv"
    tau=$(sed -n 's/^kendall_tau: //p' "$T/out")
    echo "nb-public $m: kendall_tau $tau"
    awk -v t="$tau" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(t != "" && t >= lo && t <= hi) }' && ok ||
      bad "nb-public $m: tau '$tau' outside [$lo, $hi]"
  done
else
  echo "skipped: $NBP not present (nb-public baseline figures not checked)"
fi

test_summary
