#!/usr/bin/env python3
"""Checks ordo's TensorBoard event files with TensorBoard's own reader.

For every stage of a run directory (RUN/tb/<stage>/), TensorBoard's EventAccumulator must return
exactly the scalars of RUN/metrics.jsonl: the same tags ("<stage>/<name>"), steps, wall times and
values (each JSON value rounded to float32, as the event stores it; null for a value that is not
finite). Prints one line per stage and exits 1 on any difference.

usage: python3 tools/ref/check_tb_events.py RUN_DIR [RUN_DIR ...]
needs: pip install tensorboard
"""
import json
import math
import os
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def expected_scalars(run):
    """{stage: {tag: [(step, wall, value)]}} from metrics.jsonl."""
    out = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            stage, step, wall = rec.pop("stage"), rec.pop("step"), rec.pop("wall")
            tags = out.setdefault(stage, {})
            for name, v in rec.items():
                tags.setdefault(f"{stage}/{name}", []).append((step, wall, v))
    return out


def check_run(run):
    bad = 0
    for stage, tags in sorted(expected_scalars(run).items()):
        acc = EventAccumulator(os.path.join(run, "tb", stage), size_guidance={"scalars": 0})
        acc.Reload()
        got_tags = set(acc.Tags()["scalars"])
        if got_tags != set(tags):
            print(f"{run}: {stage}: tags differ: events {sorted(got_tags)} json {sorted(tags)}")
            bad += 1
            continue
        n = 0
        for tag, want in tags.items():
            got = [(e.step, e.wall_time, e.value) for e in acc.Scalars(tag)]
            if len(got) != len(want):
                print(f"{run}: {tag}: {len(got)} scalars in the events, {len(want)} in metrics.jsonl")
                bad += 1
                continue
            for (gs, gw, gv), (ws, ww, wv) in zip(got, want):
                same_value = (not math.isfinite(gv)) if wv is None else gv == f32(wv)
                if gs != ws or gw != ww or not same_value:
                    print(f"{run}: {tag}: events (step {gs}, wall {gw!r}, {gv!r}) vs "
                          f"metrics.jsonl (step {ws}, wall {ww!r}, {wv!r})")
                    bad += 1
                n += 1
        print(f"{run}: {stage}: {len(tags)} tags, {n} scalars: "
              f"{'identical' if not bad else 'DIFFERENT'}")
    return bad


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    bad = sum(check_run(r) for r in sys.argv[1:])
    print("check_tb_events: " + ("PASS" if bad == 0 else f"FAIL ({bad} differences)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
