"""Cross-check: HF tokenizers' ids against an `ordo tokenize` output, line by line.

usage: hf_compare.py TOKENIZER.json TEXTS.jsonl ORDO_IDS.jsonl
Prints how many lines agree; exits 1 when any differs (showing the first)."""
import json
import sys

from tokenizers import Tokenizer


def main():
    tok_path, texts_path, ids_path = sys.argv[1:4]
    tok = Tokenizer.from_file(tok_path)
    texts = [json.loads(l) for l in open(texts_path, encoding="utf-8")]
    ours = [json.loads(l) for l in open(ids_path, encoding="utf-8")]
    assert len(texts) == len(ours), (len(texts), len(ours))
    encs = tok.encode_batch(texts)
    bad = [i for i, (e, o) in enumerate(zip(encs, ours)) if e.ids != o]
    print(f"{tok_path}: {len(texts) - len(bad)} / {len(texts)} lines agree with HF tokenizers "
          f"(vocab {tok.get_vocab_size()})")
    if bad:
        i = bad[0]
        print("first difference, line", i + 1, repr(texts[i][:200]))
        print(" hf  ", encs[i].ids[:40])
        print(" ordo", ours[i][:40])
        sys.exit(1)


if __name__ == "__main__":
    main()
