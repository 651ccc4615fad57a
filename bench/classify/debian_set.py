#!/usr/bin/env python3
"""Builds a labelled text set from Debian's package index (the output of `apt-cache dumpavail`,
read from stdin): one row per package, its Description line as the text and its Section as the
label, for the LABELS most frequent sections (section prefixes such as contrib/ dropped).
Packages are deduplicated by name (first stanza kept). The split is a function of the package
name only (a hash), so the same index always gives the same train.csv and test.csv.
Standard library only. Writes OUT/train.csv, OUT/test.csv (text,label) and OUT/labels.txt.

usage: apt-cache dumpavail | python3 debian_set.py OUT [--labels N] [--test-percent P]
"""
import argparse
import collections
import csv
import hashlib
import os
import sys


def stanzas(lines):
    cur = {}
    key = None
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            if cur:
                yield cur
            cur, key = {}, None
        elif line[0] in " \t":
            if key:
                cur[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            cur[key] = value.strip()
    if cur:
        yield cur


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--labels", type=int, default=12, help="most frequent sections kept (default 12)")
    ap.add_argument("--test-percent", type=int, default=10, help="held-out share in percent (default 10)")
    ap.add_argument("--force", action="store_true", help="replace OUT's files")
    a = ap.parse_args()
    if not 2 <= a.labels <= 100 or not 1 <= a.test_percent <= 90:
        sys.exit("debian_set.py: --labels must be in [2, 100] and --test-percent in [1, 90]")
    files = [os.path.join(a.out, n) for n in ("train.csv", "test.csv", "labels.txt")]
    if not a.force and any(os.path.exists(f) for f in files):
        sys.exit(f"debian_set.py: {a.out} already holds a set (use --force to replace it)")
    rows = {}
    for s in stanzas(sys.stdin):
        name, sec, desc = s.get("Package"), s.get("Section"), s.get("Description")
        if not name or not sec or not desc or name in rows:
            continue
        rows[name] = (" ".join(desc.split()), sec.split("/")[-1])
    if not rows:
        sys.exit("debian_set.py: no package stanzas on stdin (run `apt-get update` first)")
    counts = collections.Counter(sec for _, sec in rows.values())
    keep = [sec for sec, _ in counts.most_common(a.labels)]
    os.makedirs(a.out, exist_ok=True)
    n = {"train": 0, "test": 0}
    with open(files[0] + ".tmp", "w", newline="") as ftr, open(files[1] + ".tmp", "w", newline="") as fte:
        w = {"train": csv.writer(ftr), "test": csv.writer(fte)}
        for x in w.values():
            x.writerow(["text", "label"])
        for name in sorted(rows):
            text, sec = rows[name]
            if sec not in keep:
                continue
            h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
            part = "test" if h % 100 < a.test_percent else "train"
            w[part].writerow([text, sec])
            n[part] += 1
    with open(files[2] + ".tmp", "w") as f:
        for sec in keep:
            f.write(f"{sec}\t{counts[sec]}\n")
    for f in files:
        os.replace(f + ".tmp", f)
    print(f"{len(rows)} packages, {len(counts)} sections; kept the {len(keep)} largest: "
          f"{n['train']} train rows, {n['test']} test rows in {a.out}")


if __name__ == "__main__":
    main()
