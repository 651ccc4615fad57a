#!/usr/bin/env python3
"""Compares two fixture trees made by make_fixtures.py (or laid out the same).

usage: compare_fixtures.py A B [--rtol R] [--atol T]

For every NAME/ folder in both trees, and every *.safetensors and *.json file
in it: reports missing or extra files and tensor names, differing shapes or
dtypes, and the largest absolute and relative difference of each file's
tensors. Exit status 0 when the layouts agree and every value is within
tolerance, 1 otherwise, 2 on a usage error.
"""

import argparse
import json
import os
import sys

import torch
from safetensors import safe_open

VERSION_KEYS = {"transformers_version"}


def load(path):
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def compare_json(pa, pb):
    a, b = json.load(open(pa)), json.load(open(pb))
    keys = (set(a) | set(b)) - VERSION_KEYS
    diff = sorted(k for k in keys if a.get(k) != b.get(k))
    return ["%s: %r != %r" % (k, a.get(k), b.get(k)) for k in diff]


def compare_tensors(pa, pb, rtol, atol):
    """Returns (layout problems, worst abs diff, worst name, values ok)."""
    a, b = load(pa), load(pb)
    problems = []
    for k in sorted(set(a) - set(b)):
        problems.append("only in A: " + k)
    for k in sorted(set(b) - set(a)):
        problems.append("only in B: " + k)
    worst, worst_name, ok = 0.0, "", True
    for k in sorted(set(a) & set(b)):
        ta, tb = a[k], b[k]
        if ta.dtype != tb.dtype or ta.shape != tb.shape:
            problems.append("%s: %s%s != %s%s" % (k, ta.dtype, tuple(ta.shape),
                                                tb.dtype, tuple(tb.shape)))
            continue
        d = (ta.double() - tb.double()).abs()
        m = d.max().item() if d.numel() else 0.0
        if m > worst:
            worst, worst_name = m, k
        if not torch.allclose(ta.double(), tb.double(), rtol=rtol, atol=atol):
            ok = False
    return problems, worst, worst_name, ok


def main(argv):
    ap = argparse.ArgumentParser(description="compare two fixture trees")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=1e-6)
    args = ap.parse_args(argv)
    for d in (args.a, args.b):
        if not os.path.isdir(d):
            ap.error("not a folder: " + d)

    layout_ok, values_ok = True, True
    def subdirs(d):
        return {n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n))}
    na, nb = subdirs(args.a), subdirs(args.b)
    for name in sorted(na ^ nb):
        print("%s: only in %s" % (name, "A" if name in na else "B"))
        layout_ok = False
    for name in sorted(na & nb):
        da, db = os.path.join(args.a, name), os.path.join(args.b, name)
        fa, fb = set(os.listdir(da)), set(os.listdir(db))
        for f in sorted(fa ^ fb):
            print("%s/%s: only in %s" % (name, f, "A" if f in fa else "B"))
            layout_ok = False
        for f in sorted(fa & fb):
            pa, pb = os.path.join(da, f), os.path.join(db, f)
            if f.endswith(".json"):
                diff = compare_json(pa, pb)
                print("%s/%s: %s" % (name, f, "same" if not diff else "; ".join(diff)))
                if diff:
                    values_ok = False
            elif f.endswith(".safetensors"):
                problems, worst, wname, ok = compare_tensors(pa, pb, args.rtol, args.atol)
                for p in problems:
                    print("%s/%s: %s" % (name, f, p))
                layout_ok &= not problems
                values_ok &= ok
                print("%s/%s: layout %s, max abs diff %.3g%s%s" % (
                    name, f, "same" if not problems else "DIFFERS", worst,
                    " (" + wname + ")" if wname else "", "" if ok else "  VALUES DIFFER"))
    print("layout: %s; values: %s" % ("same" if layout_ok else "differs",
                                        "within tolerance" if values_ok else "differ"))
    return 0 if layout_ok and values_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
