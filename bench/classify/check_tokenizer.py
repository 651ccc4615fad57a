#!/usr/bin/env python3
"""Checks `ordo tokenize` against HF tokenizers on the texts of a text,label CSV set: the ids of
every text must be equal (the file's own truncation and padding switched off, since ordo
takes both per call). Prints the agreement and the token-length statistics.
usage: python3 check_tokenizer.py ORDO TOKENIZER_DIR SET.csv..."""
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

from tokenizers import Tokenizer


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    ordo, tok_dir, sets = sys.argv[1], sys.argv[2], sys.argv[3:]
    texts = [r["text"] for s in sets for r in csv.DictReader(open(s, newline=""))]
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "texts.jsonl"), os.path.join(d, "ids.jsonl")
        with open(src, "w") as f:
            f.writelines(json.dumps(t) + "\n" for t in texts)
        subprocess.run([ordo, "tokenize", "--tokenizer", tok_dir, "--jsonl", src, "--out", out,
                        "--threads", "1"], check=True, stderr=subprocess.DEVNULL)
        ours = [json.loads(line) for line in open(out)]
    tok = Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    hf = [e.ids for e in tok.encode_batch(texts)]
    bad = [i for i in range(len(texts)) if hf[i] != ours[i]]
    lens = [len(x) for x in ours]
    print(f"{len(texts) - len(bad)} / {len(texts)} texts give the same ids as HF tokenizers; "
          f"tokens per text (with [CLS]/[SEP]): mean {statistics.mean(lens):.1f}, max {max(lens)}, "
          f"over 64: {sum(n > 64 for n in lens)}")
    if bad:
        print("first difference:", repr(texts[bad[0]][:200]), hf[bad[0]][:30], ours[bad[0]][:30])
        sys.exit(1)


if __name__ == "__main__":
    main()
