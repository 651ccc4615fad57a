#!/usr/bin/env python3
"""PyTorch CPU masked-LM training throughput of a small BERT: the competitor's
number for bench/bench_train.c (same model, data and step).

usage: torch_cpu_train.py [--layers 4] [--hidden 256] [--heads 4] [--intermediate 1024]
                          [--vocab 8192] [--seq 128] [--batch 16] [--steps 10]
                          [--warmup 2] [--threads N] [--dropout 0.1] [--head full|masked]
                          [--seed 7]

Random init (HF BertForMaskedLM, tied decoder), float32, eager attention. Each step
takes a batch from a fixed random token stream (ids uniform in [5, vocab), no padding,
15% of positions labelled with their own id), runs forward + backward, clips the
global gradient norm to 1 and takes an AdamW step (lr 1e-4, weight decay 0.01 on
matrices and embeddings, none on biases and LayerNorm). Hidden dropout is --dropout,
attention dropout 0. --head full computes the MLM logits on every position, as HF
does; --head masked only on the labelled ones (what ordo train does).

The batches are made before the clock starts; --warmup steps are run untimed, then
--steps timed. Prints one JSON line:
{"impl":"pytorch","head":...,"threads":N,"tokens_per_s":...,"step_ms":...,
 "cpu_ms":...,"loss_first":...,"loss_last":...}
step_ms is wall time per timed step; cpu_ms the process's CPU time per step
(all threads), which shows how much of the wall time a loaded machine took
away (cpu_ms well below threads x step_ms). loss_first is the loss of the
first (warmup) step, loss_last of the last one.
"""

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

import transformers

MASK_FRACTION = 0.15
FIRST_TOKEN_ID = 5


def parse_args(argv):
    ap = argparse.ArgumentParser(description="PyTorch CPU masked-LM training throughput")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--head", choices=("full", "masked"), default="full")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    for k in ("layers", "hidden", "heads", "intermediate", "seq", "batch", "steps"):
        if getattr(a, k) < 1:
            ap.error("--%s must be positive" % k)
    if a.warmup < 0 or a.threads < 0:
        ap.error("--warmup and --threads must not be negative")
    if a.hidden % a.heads:
        ap.error("--hidden %d is not a multiple of --heads %d" % (a.hidden, a.heads))
    if a.vocab <= FIRST_TOKEN_ID:
        ap.error("--vocab must exceed %d" % FIRST_TOKEN_ID)
    if not 0.0 <= a.dropout < 1.0:
        ap.error("--dropout must be in [0, 1)")
    return a


def make_batches(a, n):
    """n batches of (ids (B, T) int64, labels (B, T) int64 with -100 = no label)
    from one generator, so every run sees the same tokens."""
    g = torch.Generator().manual_seed(a.seed)
    out = []
    for _ in range(n):
        ids = torch.randint(FIRST_TOKEN_ID, a.vocab, (a.batch, a.seq), generator=g)
        pick = torch.rand(a.batch, a.seq, generator=g) < MASK_FRACTION
        labels = torch.where(pick, ids, torch.full_like(ids, -100))
        out.append((ids, labels))
    return out


def build(a):
    cfg = transformers.BertConfig(
        vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
        num_attention_heads=a.heads, intermediate_size=a.intermediate,
        max_position_embeddings=max(a.seq, 512), hidden_act="gelu",
        hidden_dropout_prob=a.dropout, attention_probs_dropout_prob=0.0,
        attn_implementation="eager")
    torch.manual_seed(a.seed)
    model = transformers.BertForMaskedLM(cfg)
    model.train()
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.dim() == 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    return model, opt


def step(model, opt, ids, labels, head):
    opt.zero_grad(set_to_none=True)
    if head == "full":
        loss = model(input_ids=ids, labels=labels).loss
    else:
        seq = model.bert(input_ids=ids).last_hidden_state      # (B, T, H)
        sel = labels != -100
        logits = model.cls(seq[sel])                           # (n_masked, V)
        loss = F.cross_entropy(logits, labels[sel])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def main(argv):
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error()
    model, opt = build(a)
    batches = make_batches(a, a.warmup + a.steps)
    timed, cpu, loss_first, loss_last = 0.0, 0.0, None, None
    for s, (ids, labels) in enumerate(batches):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step(model, opt, ids, labels, a.head)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if s >= a.warmup:
            timed += dt
            cpu += dc
        if loss_first is None:
            loss_first = loss
        loss_last = loss
    tokens = a.steps * a.batch * a.seq
    print(json.dumps({"impl": "pytorch", "head": a.head, "threads": torch.get_num_threads(),
                      "tokens_per_s": round(tokens / timed, 1),
                      "step_ms": round(1e3 * timed / a.steps, 2),
                      "cpu_ms": round(1e3 * cpu / a.steps, 2),
                      "loss_first": round(loss_first, 4), "loss_last": round(loss_last, 4)},
                     separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
