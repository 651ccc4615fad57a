#!/usr/bin/env bash
# `mpirun -np 2 ordo ai4code train` against one process taking the same global batches (two
# accumulated halves: --accum-steps 2, the notebook model's --notebook-batch doubled), on a small
# budget of nb-public, one thread per rank; rounds alternate (1 process, 2 ranks, ...) so that
# the load of a shared machine hits both alike. Prints each run's stage times and held-out tau.
#   bash bench/ai4code/dist_train.sh ORDO OUT [ROUNDS]   NB: the dataset (../shared/data/nb-public)
set -u
ordo=${1:?usage: dist_train.sh ORDO OUT [ROUNDS]} out=${2:?} rounds=${3:-2}
nb=${NB:-$(dirname "$0")/../../../shared/data/nb-public}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args=(--data "$nb" --max-train 300 --max-steps 20 --layers 1 --hidden 32 --heads 2
      --intermediate 128 --dual-epochs 1 --notebook-epochs 1 --threads 1 --point)
mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  for kind in one two; do
    rm -rf "$out/${kind}_$r"
    echo "round $r, $kind: load $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ $kind = one ]; then
      /usr/bin/time -f "wall %e s" "$ordo" ai4code train "${args[@]}" --accum-steps 2 \
        --notebook-batch 16 --out "$out/${kind}_$r" >"$out/${kind}_$r.out" 2>"$out/${kind}_$r.err"
    else
      /usr/bin/time -f "wall %e s" mpirun -np 2 --oversubscribe --bind-to none "$ordo" ai4code train \
        "${args[@]}" --notebook-batch 8 --out "$out/${kind}_$r" >"$out/${kind}_$r.out" 2>"$out/${kind}_$r.err"
    fi
    cat "$out/${kind}_$r.out"
    grep -E "^wall|lexical features:|evidence for the slot" "$out/${kind}_$r.err"
  done
done
