"""HF tokenizers' encode throughput on the same corpus as bench_tok.c, and the corpus maker.

  hf_tok.py make-corpus OUT.jsonl PY_DIR CELLS.jsonl   Python sources cut into ~4 KB documents
                                                      (at line ends) plus the notebook cells
  hf_tok.py bench CORPUS.jsonl NAME=TOKENIZER_JSON...  one table row per tokenizer

"1 thread" is encode() document by document (encode runs on the calling thread);
"N threads" is encode_batch on all cores; CPU efficiency = CPU time of the 1-thread run / CPU time of the batch.
Both without special tokens, as bench_tok.c.
"""
import json
import os
import pathlib
import sys
import time


def make_corpus(out, py_dir, cells):
    docs = []
    for path in sorted(pathlib.Path(py_dir).rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        cur = []
        size = 0
        for line in text.splitlines(keepends=True):
            cur.append(line)
            size += len(line)
            if size >= 4096:
                docs.append("".join(cur))
                cur, size = [], 0
        if cur:
            docs.append("".join(cur))
    docs += [json.loads(l) for l in open(cells, encoding="utf-8")]
    with open(out, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    print(f"wrote {out}: {len(docs)} documents, {mb:.1f} MB")


def bench(corpus, specs):
    import tokenizers
    from tokenizers import Tokenizer

    docs = [json.loads(l) for l in open(corpus, encoding="utf-8")]
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    nth = os.cpu_count()
    print(f"# HF tokenizers {tokenizers.__version__}, {len(docs)} documents, {mb:.1f} MB")
    for spec in specs:
        name, path = spec.split("=", 1)
        tok = Tokenizer.from_file(path)
        for d in docs[:200]:
            tok.encode(d, add_special_tokens=False)
        t0 = time.perf_counter()
        c1 = time.process_time()
        n1 = sum(len(tok.encode(d, add_special_tokens=False).ids) for d in docs)
        t1 = time.perf_counter() - t0
        c1 = time.process_time() - c1
        t0 = time.perf_counter()
        c0 = time.process_time()
        nb = sum(len(e.ids) for e in tok.encode_batch(docs, add_special_tokens=False))
        tn = time.perf_counter() - t0
        cn = time.process_time() - c0
        assert n1 == nb
        # no 1-thread batch here (rayon's pool size is fixed at import): scaling is against encode()
        print(f"| {name} | HF | {mb / t1:.2f} | {mb / c1:.2f} | - | {mb / tn:.2f} | {t1 / tn:.2f}x | {c1 / cn:.2f} | {n1} |",
              flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "make-corpus":
        make_corpus(*sys.argv[2:5])
    else:
        bench(sys.argv[2], sys.argv[3:])
