"""The dual encoder's inference pass in PyTorch, on the exact token ids ordo runs.

Reads the ids dumped by `bench_dual_infer --dump-ids` and the dual encoder's HF checkpoint
(MODEL_DIR/dual: RobertaForSequenceClassification, whose logits are the cell vectors), and times
the pass over every cell: eval mode, torch.inference_mode, batches of at most --batch cells and
--tokens positions (cells x the longest cell), as ordo's (RK_DUAL_BATCH_TOKENS, maxB 256).
  --order sorted: cells sorted by length, each batch padded to its longest cell (dynamic padding,
                  what a careful user does);
  --order notebook: cells in notebook order, each batch padded to its longest cell.
--first-only: the shortcut ordo takes, written by hand over the checkpoint's modules: every layer
but the last as HF runs it (scaled_dot_product_attention with the padding mask), the last one at
<s> alone (its query only, its feed-forward on one row per cell).
Prints one JSON line (best of --rounds passes; one untimed batch first). --vectors writes the
cell vectors (float32, notebook order); --compare FILE reads ordo's (same layout) and adds the
largest difference, relative to the largest |value|, to the line.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
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


def batches(cells, order, size, tokens, pad):
    """Batches as ordo makes them: at most `size` cells and `tokens` positions (cells x the
    longest cell) each, a cell alone when it is longer."""
    idx = list(range(len(cells)))
    if order == "sorted":
        idx.sort(key=lambda k: -len(cells[k][1]))
    groups, cur, longest = [], [], 0
    for k in idx:
        n = len(cells[k][1])
        if cur and (len(cur) == size or (len(cur) + 1) * max(longest, n) > tokens):
            groups.append(cur)
            cur, longest = [], 0
        cur.append(k)
        longest = max(longest, n)
    if cur:
        groups.append(cur)
    out = []
    for part in groups:
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


def layer_forward(layer, h, keep, first):
    """One post-LN RoBERTa layer; keep (B, 1, 1, T) True for real keys; first: the <s> row only."""
    sa = layer.attention.self
    B, T, C = h.shape
    nh = sa.num_attention_heads
    hq = h[:, :1] if first else h
    q = sa.query(hq).view(B, hq.shape[1], nh, -1).transpose(1, 2)
    k = sa.key(h).view(B, T, nh, -1).transpose(1, 2)
    v = sa.value(h).view(B, T, nh, -1).transpose(1, 2)
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    a = layer.attention.output(a.transpose(1, 2).reshape(B, hq.shape[1], C), hq)
    return layer.output(layer.intermediate(a), a)


def first_only_logits(model, ids, mask, tt):
    rob = model.roberta
    h = rob.embeddings(input_ids=ids, token_type_ids=tt)
    keep = mask[:, None, None, :].bool()
    layers = rob.encoder.layer
    for i, layer in enumerate(layers):
        h = layer_forward(layer, h, keep, i == len(layers) - 1)
    return model.classifier(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="the dual encoder's HF checkpoint folder")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256, help="cells per batch at most")
    ap.add_argument("--tokens", type=int, default=2048, help="positions per batch at most")
    ap.add_argument("--order", choices=["sorted", "notebook"], default="sorted")
    ap.add_argument("--first-only", action="store_true")
    ap.add_argument("--vectors")
    ap.add_argument("--compare")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = RobertaForSequenceClassification.from_pretrained(a.model).eval()
    n_nb, cells = read_ids(a.ids)
    bs = batches(cells, a.order, a.batch, a.tokens, model.config.pad_token_id)
    L = model.config.num_labels
    z = np.zeros((len(cells), L), dtype=np.float32)
    if a.first_only:
        run = lambda ids, mask, tt: first_only_logits(model, ids, mask, tt)
    else:
        run = lambda ids, mask, tt: model(input_ids=ids, attention_mask=mask, token_type_ids=tt).logits
    with torch.inference_mode():
        _, ids, mask, tt = bs[0]
        run(ids, mask, tt)
        best = None
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            for part, ids, mask, tt in bs:
                out = run(ids, mask, tt)
                z[part] = out.numpy()
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    res = {"impl": "pytorch", "order": a.order, "first_only": a.first_only, "batches": len(bs), "threads": a.threads, "notebooks": n_nb,
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
