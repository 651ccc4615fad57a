"""The dual encoder's inference pass in PyTorch, on the exact token ids ordo runs.

Reads the ids dumped by `bench_dual_infer --dump-ids` and the dual encoder's HF checkpoint
(MODEL_DIR/dual: RobertaForSequenceClassification, whose logits are the cell vectors), and times
the pass over every cell: eval mode, torch.inference_mode, batches of --batch cells.
  --order sorted: cells sorted by length, each batch padded to its longest cell (dynamic padding,
                  what a careful user does);
  --order notebook: cells in notebook order, each batch padded to its longest cell.
Prints one JSON line (best of --rounds passes; one untimed batch first). --vectors writes the
cell vectors (float32, notebook order); --compare FILE reads ordo's (same layout) and adds the
largest difference, relative to the largest |value|, to the line.
"""
import argparse
import json
import time

import numpy as np
import torch
from transformers import RobertaForSequenceClassification


def read_ids(path):
    cells = []
    with open(path) as f:
        head = f.readline().split()
        assert head[:2] == ["#", "cells"], f"{path}: not a bench_dual_infer --dump-ids file"
        n_nb = int(head[4])
        for line in f:
            v = line.split()
            cells.append((int(v[2]), [int(x) for x in v[3:]]))
    return n_nb, cells


def batches(cells, order, size, pad):
    idx = list(range(len(cells)))
    if order == "sorted":
        idx.sort(key=lambda k: -len(cells[k][1]))
    out = []
    for s in range(0, len(idx), size):
        part = idx[s:s + size]
        T = max(len(cells[k][1]) for k in part)
        ids = torch.full((len(part), T), pad, dtype=torch.long)
        mask = torch.zeros((len(part), T), dtype=torch.long)
        tt = torch.zeros((len(part), T), dtype=torch.long)
        for r, k in enumerate(part):
            n = len(cells[k][1])
            ids[r, :n] = torch.tensor(cells[k][1])
            mask[r, :n] = 1
            tt[r, :n] = cells[k][0]
        out.append((part, ids, mask, tt))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="the dual encoder's HF checkpoint folder")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--order", choices=["sorted", "notebook"], default="sorted")
    ap.add_argument("--vectors")
    ap.add_argument("--compare")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = RobertaForSequenceClassification.from_pretrained(a.model).eval()
    n_nb, cells = read_ids(a.ids)
    bs = batches(cells, a.order, a.batch, model.config.pad_token_id)
    L = model.config.num_labels
    z = np.zeros((len(cells), L), dtype=np.float32)
    with torch.inference_mode():
        _, ids, mask, tt = bs[0]
        model(input_ids=ids, attention_mask=mask, token_type_ids=tt)
        best = None
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            for part, ids, mask, tt in bs:
                out = model(input_ids=ids, attention_mask=mask, token_type_ids=tt).logits
                z[part] = out.numpy()
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    res = {"impl": "pytorch", "order": a.order, "threads": a.threads, "notebooks": n_nb,
           "cells": len(cells), "seconds": round(best, 4), "cells_per_s": round(len(cells) / best, 1),
           "notebooks_per_s": round(n_nb / best, 2), "torch": torch.__version__}
    if a.vectors:
        z.tofile(a.vectors)
    if a.compare:
        o = np.fromfile(a.compare, dtype=np.float32).reshape(z.shape)
        res["max_rel_diff"] = float(np.abs(o - z).max() / np.abs(z).max())
    print(json.dumps(res))


if __name__ == "__main__":
    main()
