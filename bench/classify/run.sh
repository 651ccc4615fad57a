#!/usr/bin/env bash
# The classification bench on the Debian package-index set: ordo classify from the pretrained
# all-MiniLM-L6-v2 and from scratch (the same 6-layer, 384-wide BERT, random init, MiniLM's
# tokenizer), each fully fine-tuned and with LoRA, against TF-IDF + logistic regression on the
# same split. Each ordo run trains on N_TRAIN rows drawn from train.csv (seeded) for EPOCHS
# epochs with --threads 1 and is measured by /usr/bin/time -v (wall time, peak resident memory);
# every method is scored on the whole held-out test.csv. Not a test.
# usage: bash bench/classify/run.sh [ORDO] [WORK_DIR]   (PARALLEL=2 runs two ordo runs at once)
set -euo pipefail
ORDO=${1:-build/ordo}
W=${2:-bench-classify-out}
HERE=$(cd "$(dirname "$0")" && pwd)
N_TRAIN=${N_TRAIN:-4000} EPOCHS=${EPOCHS:-2} SEQ=${SEQ:-64} BATCH=${BATCH:-16}
mkdir -p "$W"
[ -e "$W/deb/train.csv" ] || bash "$HERE/debian_set.sh" "$W/deb"
[ -e "$W/minilm/model.safetensors" ] || bash "$HERE/fetch_minilm.sh" "$W/minilm"
python3 "$HERE/subsample.py" "$W/deb/train.csv" "$W/train_sub.csv" "$N_TRAIN" 1
COMMON=(--train "$W/train_sub.csv" --eval "$W/deb/test.csv" --epochs "$EPOCHS" --seq "$SEQ"
        --batch "$BATCH" --threads 1 --log-every 100 --force)
SCRATCH=(--tokenizer "$W/minilm" --layers 6 --hidden 384 --heads 12 --intermediate 1536)
run() { # run NAME FLAGS...
  local name=$1; shift
  /usr/bin/time -v "$ORDO" classify train --out "$W/$name" "${COMMON[@]}" "$@" \
    >"$W/$name.log" 2>"$W/$name.time"
}
jobs_wait() { while [ "$(jobs -rp | wc -l)" -ge "${PARALLEL:-1}" ]; do sleep 5; done; }
for spec in "minilm_full --init $W/minilm --lr 1e-4" \
            "minilm_lora --init $W/minilm --lora --lr 1e-3" \
            "scratch_full ${SCRATCH[*]} --lr 3e-4" \
            "scratch_lora ${SCRATCH[*]} --lora --lr 1e-3"; do
  # shellcheck disable=SC2086
  jobs_wait; run $spec &
done
wait
python3 "$HERE/tfidf_lr.py" "$W/train_sub.csv" "$W/deb/test.csv" >"$W/tfidf_sub.json"
python3 "$HERE/tfidf_lr.py" "$W/deb/train.csv" "$W/deb/test.csv" >"$W/tfidf_all.json"
printf '| %-13s | %12s | %10s | %7s | %7s | %8s | %8s |\n' run "trainable" "peak MB" "wall s" "cpu s" accuracy macro-F1
for name in minilm_full minilm_lora scratch_full scratch_lora; do
  tp=$(sed -n 's/.*M parameters, \([0-9.]*M\) trainable.*/\1/p' "$W/$name.log")
  mb=$(awk '/Maximum resident set size/ {printf "%.0f", $NF / 1024}' "$W/$name.time")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.0f", s}' "$W/$name.time")
  cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {printf "%.0f", s}' "$W/$name.time")
  acc=$(sed -n 's/^accuracy: //p' "$W/$name.log")
  f1=$(sed -n 's/^macro_f1: //p' "$W/$name.log")
  printf '| %-13s | %12s | %10s | %7s | %7s | %8s | %8s |\n' "$name" "$tp" "$mb" "$wall" "$cpu" "$acc" "$f1"
done
for f in tfidf_sub tfidf_all; do
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('| %-13s | %12s | %10s | %7s | %7s | %8s | %8s |' % ('$f', str(d['features'])+' feats', '-', d['train_s'], '-', d['accuracy'], d['macro_f1']))" "$W/$f.json"
done
