"""Makes the expected ids of tests/tok/test_tok_edge.c with HF tokenizers.

For each tokenizer tests/tok/data/*_small.json (trained by `ordo tokenize --train` on
tests/tok/data/corpus.txt, and variants of those files with another normalizer or added-token
options) and each string of tests/tok/data/edge.jsonl, writes
tests/tok/data/edge_<name>.jsonl: one JSON object per string with
  ids      encode(text) with the post-processor's special tokens
  pair     encode(text, next text) truncated to 16 and padded to 20: ids, type_ids, mask
  decoded  decode(ids) (skip_special_tokens=True)
usage: /work/venv/bin/python bench/tok/make_edge_fixtures.py
"""
import json
import pathlib

from tokenizers import Tokenizer

DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "tok" / "data"


def main():
    texts = [json.loads(l) for l in open(DATA / "edge.jsonl", encoding="utf-8")]
    for path in sorted(DATA.glob("*_small.json")):
        tok = Tokenizer.from_file(str(path))
        pair_tok = Tokenizer.from_file(str(path))
        pair_tok.enable_truncation(16)
        pad = tok.token_to_id("<pad>")
        if pad is None:
            pad = tok.token_to_id("[PAD]")
        pad_tok = "<pad>" if tok.token_to_id("<pad>") is not None else "[PAD]"
        pair_tok.enable_padding(length=20, pad_id=pad, pad_token=pad_tok)
        out = []
        for i, t in enumerate(texts):
            e = tok.encode(t)
            p = pair_tok.encode(t, texts[(i + 1) % len(texts)])
            out.append(json.dumps({"ids": e.ids,
                                   "pair": {"ids": p.ids, "type_ids": p.type_ids, "mask": p.attention_mask},
                                   "decoded": tok.decode(e.ids)}, ensure_ascii=False))
        name = path.stem
        (DATA / f"edge_{name}.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
        print(f"wrote edge_{name}.jsonl: {len(out)} strings")


if __name__ == "__main__":
    main()
