#!/usr/bin/env bash
# `make demo`: notebooks in, cell order out, on a fresh Debian machine.
#  1. installs Debian's documentation packages that ship Jupyter notebooks (when missing);
#  2. builds a Kaggle-layout dataset from them (one ancestor group per package);
#  3. splits it by group (about 20% of the notebooks held out, seed 42);
#  4. scores the simple baselines on the held-out groups, trains a small ranker on the other
#     groups and scores it on the held-out ones, and prints a table;
#  5. writes demo/submission.csv (the held-out notebooks) from the best method.
# usage: bash scripts/demo.sh [path/to/ordo]   (DEMO_DIR overrides the output folder, default demo)
set -euo pipefail
ORDO=${1:-build/ordo}
DEMO=${DEMO_DIR:-demo}
SEED=42
VAL_FRAC=0.2  # few, uneven groups (one per package): 0.2 holds out about 100 notebooks
[ -x "$ORDO" ] || { echo "demo: $ORDO is not an executable (build it first: make)" >&2; exit 2; }
mkdir -p "$DEMO"

# Packages whose /usr/share/doc holds .ipynb or .ipynb.gz files (checked with dpkg -L).
PKGS=(python-sklearn-doc python-skimage-doc python-statsmodels-doc python-sympy-doc
      python-lmfit-doc python-xarray-doc python-astropy-doc)

has_notebooks() { [ -n "$(find "$1" \( -name '*.ipynb' -o -name '*.ipynb.gz' \) -print -quit 2>/dev/null)" ]; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The folder under /usr/share/doc that holds a package's notebooks (not always the package's
# own name: python-lmfit-doc ships them in python3-lmfit). Some images drop /usr/share/doc at
# install time (dpkg path-exclude): then the package is unpacked into the demo folder instead.
doc_dir() { # doc_dir ROOT PKG: prints ROOT/usr/share/doc/<folder> holding PKG's notebooks
  local list
  if [ -z "$1" ]; then list=$(dpkg -L "$2" 2>/dev/null || true)
  else list=$(cd "$1" && find . -type f | sed 's|^\.||'); fi
  awk -F/ -v r="$1" '/\.ipynb(\.gz)?$/ { print r "/" $2 "/" $3 "/" $4 "/" $5; exit }' <<<"$list"
}
FROM=()
for p in "${PKGS[@]}"; do
  d=$(doc_dir "" "$p")
  if [ -n "$d" ] && has_notebooks "$d"; then
    FROM+=("$d")
  else
    echo "demo: no notebooks of $p under /usr/share/doc here; unpacking the package into $DEMO/pkgs"
    rm -rf "${DEMO:?}/pkgs/$p" && mkdir -p "$DEMO/pkgs/deb" "$DEMO/pkgs/$p"
    (cd "$DEMO/pkgs/deb" && apt-get download "$p" >/dev/null 2>&1)
    dpkg-deb -x "$DEMO"/pkgs/deb/"${p}"_*.deb "$DEMO/pkgs/$p"
    d=$(doc_dir "$DEMO/pkgs/$p" "$p")
    [ -n "$d" ] && FROM+=("$d") || echo "demo: $p ships no notebooks, left out"
  fi
done

echo
echo "== dataset: ordo nb build (one group per package) =="
# --group-depth 0: the group is the --from folder itself, i.e. the package
"$ORDO" nb build --from "${FROM[@]}" --out "$DEMO/data" --seed $SEED --group-depth 0 --force
"$ORDO" nb info --data "$DEMO/data" --val-frac $VAL_FRAC --seed $SEED
"$ORDO" nb split --data "$DEMO/data" --out "$DEMO/split" --val-frac $VAL_FRAC --seed $SEED --force >/dev/null

echo
echo "== held-out groups: Kendall tau =="
declare -A TAU
for m in first even tfidf; do
  TAU[$m]=$("$ORDO" ai4code baseline --method $m --data "$DEMO/data" --split val --val-frac $VAL_FRAC \
              --seed $SEED --out "$DEMO/val_$m.csv" 2>/dev/null | sed -n 's/^kendall_tau: //p')
done

# ---- the trained ranker: `ordo ai4code train` on the train side of the same group split (it holds
# ---- out the same groups: same --val-frac and --seed), `ordo ai4code predict` on the held-out side.
# The dual encoder (a small transformer reading every cell alone, trained to match each markdown
# with the code cells around its slot; under a minute on 2 cores), cross-fitted (two more
# encoders, each trained on half of the training groups, give every training notebook evidence
# from an encoder that never saw it), and the slot model over lexical features and the dual
# encoders' evidence; RANKER_MINUTES caps each encoder's training.
echo
echo "== ranker: ordo ai4code train (train side), ordo ai4code predict (held-out side) =="
"$ORDO" ai4code train --data "$DEMO/data" --out "$DEMO/model" --force --val-frac $VAL_FRAC --seed $SEED \
  --vocab 4000 --dual-epochs 8 --max-minutes "${RANKER_MINUTES:-4}"
TAU[ranker]=$("$ORDO" ai4code predict --model "$DEMO/model" --data "$DEMO/data" --split val \
                --val-frac $VAL_FRAC --seed $SEED --out "$DEMO/val_ranker.csv" | sed -n 's/^kendall_tau: //p')
TAU[dual]=$("$ORDO" ai4code predict --model "$DEMO/model" --data "$DEMO/data" --split val --dual-only \
              --val-frac $VAL_FRAC --seed $SEED --out "$DEMO/val_dual.csv" 2>/dev/null | sed -n 's/^kendall_tau: //p')
echo

printf '%-36s %s\n' "method" "kendall_tau"
printf '%-36s %s\n' "markdown first" "${TAU[first]}"
printf '%-36s %s\n' "markdown spread evenly" "${TAU[even]}"
printf '%-36s %s\n' "TF-IDF: before the most similar code" "${TAU[tfidf]}"
printf '%-36s %s\n' "its dual encoder alone (transformer)" "${TAU[dual]}"
printf '%-36s %s\n' "trained ranker (ordo ai4code train)" "${TAU[ranker]}"

best=first
for m in even tfidf dual ranker; do
  awk -v a="${TAU[$m]}" -v b="${TAU[$best]}" 'BEGIN { exit !(a > b) }' && best=$m
done
cp "$DEMO/val_$best.csv" "$DEMO/submission.csv.tmp" && mv "$DEMO/submission.csv.tmp" "$DEMO/submission.csv"
"$ORDO" ai4code score --orders "$DEMO/split/val_orders.csv" --submission "$DEMO/submission.csv" 2>/dev/null |
  sed "s/^/submission ($best): /"
echo "wrote $DEMO/submission.csv ($(($(wc -l <"$DEMO/submission.csv") - 1)) held-out notebooks, method $best)"
