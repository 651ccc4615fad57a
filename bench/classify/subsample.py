#!/usr/bin/env python3
"""Writes N rows of a text,label CSV chosen by a seeded shuffle (the same N rows for a given
seed), header kept. usage: python3 subsample.py IN.csv OUT.csv N [SEED]"""
import csv
import random
import sys

if len(sys.argv) not in (4, 5):
    sys.exit(__doc__)
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))
head, body = rows[0], rows[1:]
random.Random(int(sys.argv[4]) if len(sys.argv) == 5 else 1).shuffle(body)
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(head)
    w.writerows(body[: int(sys.argv[3])])
