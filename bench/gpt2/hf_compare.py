#!/usr/bin/env python3
"""ordo next to transformers on the CPU, on one GPT-2 checkpoint that ordo trained.

1. Held-out perplexity: the held-out files as ordo reads them (sorted paths, each file's
   tokens without special tokens followed by the EOS, packed into sequences of --seq tokens
   whose every position predicts the next token), scored by transformers' GPT2LMHeadModel;
   prints the mean loss and perplexity to set beside ordo's `eval step` line.
2. Generation: greedy continuation of a prompt (the first --prompt-tokens tokens of the first
   held-out file) for --new tokens, with and without the key/value cache, in transformers
   (generate, one thread) and in `ordo generate` (--threads 1); tokens/s of each (best of
   --repeats) and whether the ids agree.

usage: hf_compare.py ORDO MODEL_DIR HELDOUT_DIR [--seq 128] [--new 128] [--prompt-tokens 32]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch
import transformers
from tokenizers import Tokenizer


def heldout_stream(tok, folder, eos):
    paths = []
    for root, _, files in os.walk(folder):
        paths += [os.path.join(root, f) for f in files]
    ids = []
    for p in sorted(paths):
        ids += tok.encode(open(p, encoding="utf-8").read(), add_special_tokens=False).ids
        ids.append(eos)
    return ids


@torch.no_grad()
def perplexity(model, stream, T, B=16):
    n = (len(stream) - 1) // T
    total, count = 0.0, 0
    for s in range(0, n, B):
        rows = range(s, min(n, s + B))
        x = torch.tensor([stream[i * T:(i + 1) * T] for i in rows])
        y = torch.tensor([stream[i * T + 1:(i + 1) * T + 1] for i in rows])
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 y.reshape(-1), reduction="sum")
        total += loss.item()
        count += y.numel()
    return total / count, count


def hf_generate(model, prompt, new, cache, repeats):
    best, out = None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = model.generate(torch.tensor([prompt]), max_new_tokens=new, min_new_tokens=new,
                             do_sample=False, use_cache=cache, pad_token_id=0)
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return out[0, len(prompt):].tolist(), new / best


def ordo_generate(ordo, model_dir, prompt, new, cache, repeats):
    best, ids = None, None
    for _ in range(repeats):
        cmd = [ordo, "generate", "--model", model_dir, "--prompt-ids", ",".join(map(str, prompt)),
               "--max-new-tokens", str(new), "--ignore-eos", "--threads", "1"]
        if not cache:
            cmd.append("--no-cache")
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        ids = [int(v) for v in r.stdout.split()]
        tps = float(re.search(r"([0-9.]+) tokens/s", r.stderr).group(1))
        best = tps if best is None or tps > best else best
    return ids, best


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ordo")
    ap.add_argument("model")
    ap.add_argument("heldout")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    model = transformers.GPT2LMHeadModel.from_pretrained(a.model, attn_implementation="eager")
    model.eval()
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    eos = model.config.eos_token_id
    stream = heldout_stream(tok, a.heldout, eos)
    loss, count = perplexity(model, stream, a.seq)
    print("transformers held-out: %d tokens in the stream, loss %.4f perplexity %.2f over %d "
          "targets" % (len(stream), loss, torch.exp(torch.tensor(loss)).item(), count))
    prompt = stream[:a.prompt_tokens]
    print("generation: prompt %d tokens, %d new, greedy, one thread" % (len(prompt), a.new))
    print("| engine | cache | tokens/s |")
    print("| --- | --- | --- |")
    ref = None
    for cache in (True, False):
        ids, tps = hf_generate(model, prompt, a.new, cache, a.repeats)
        ref = ref or ids
        print("| transformers %s | %s | %.1f |" % (transformers.__version__,
                                                  "yes" if cache else "no", tps))
        oids, otps = ordo_generate(a.ordo, a.model, prompt, a.new, cache, a.repeats)
        print("| ordo | %s | %.1f |" % ("yes" if cache else "no", otps))
        same = sum(x == y for x, y in zip(oids, ids))
        print("  ids agree with transformers' (same cache setting): %d of %d%s" %
              (same, len(ids), "" if same == len(ids) else
               " (first difference at %d)" % next(i for i, (x, y) in enumerate(zip(oids, ids))
                                                  if x != y)))
    print("sample (greedy, transformers): %r" % tok.decode(prompt + ref))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
