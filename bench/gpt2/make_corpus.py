#!/usr/bin/env python3
"""Plain-text notebook corpus for the GPT-2 benchmark, split by repository.

Reads a dataset in the Kaggle AI4Code layout with sources.csv (../shared/data/nb-public):
each notebook becomes one text file, its cells' sources in their true order
(train_orders.csv) separated by blank lines. Repositories (sources.csv's `repo`) are split,
not notebooks: every repository whose sha1(name) mod 10 == 0 is held out, so no repository
is on both sides. At most --max-train / --max-heldout notebooks are written (the first by
id), to keep the run short.

usage: make_corpus.py DATA_DIR OUT_DIR [--max-train N] [--max-heldout N]
Writes OUT_DIR/train/ID.txt and OUT_DIR/heldout/ID.txt and prints the counts.
"""
import argparse
import csv
import hashlib
import json
import os
import sys


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--max-train", type=int, default=600)
    ap.add_argument("--max-heldout", type=int, default=120)
    a = ap.parse_args(argv)
    repo = {r["id"]: r["repo"] for r in csv.DictReader(open(os.path.join(a.data, "sources.csv")))}
    order = {r["id"]: r["cell_order"].split()
             for r in csv.DictReader(open(os.path.join(a.data, "train_orders.csv")))}
    held_repos = sorted({r for r in repo.values()
                         if int(hashlib.sha1(r.encode()).hexdigest(), 16) % 10 == 0})
    counts = {"train": 0, "heldout": 0}
    caps = {"train": a.max_train, "heldout": a.max_heldout}
    for side in counts:
        os.makedirs(os.path.join(a.out, side), exist_ok=True)
    for nid in sorted(repo):
        side = "heldout" if repo[nid] in held_repos else "train"
        if counts[side] >= caps[side] or nid not in order:
            continue
        nb = json.load(open(os.path.join(a.data, "train", nid + ".json")))
        text = "\n\n".join(nb["source"][c] for c in order[nid]) + "\n"
        with open(os.path.join(a.out, side, nid + ".txt"), "w") as f:
            f.write(text)
        counts[side] += 1
    print("held-out repositories (%d): %s" % (len(held_repos), ", ".join(held_repos)))
    print("notebooks written: train %d, heldout %d" % (counts["train"], counts["heldout"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
