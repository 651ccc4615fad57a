#!/usr/bin/env python3
"""A parity fixture from a checkpoint: transformers runs the weights of CKPT (e.g. a model
that `ordo train` wrote) on a batch and records outputs and every gradient, so that
`ordo parity OUT` checks ordo against transformers on trained weights, not only on fresh
random ones. The layout is tests/fixtures/README.md's.

  python tools/ref/make_checkpoint_fixture.py CKPT OUT [--seq 24] [--batch 3] [--seed 7]

The class comes from the head weights in the file (check_hf_load.pick_class): masked-LM
models get labels, ElectraForPreTraining the replaced flags, GPT2LMHeadModel its next-token
labels. Loading must be complete (no
missing or unexpected weight), as in check_hf_load.py. Token ids are drawn below the
model's vocabulary from ids FIRST_TOKEN_ID up (make_fixtures.make_batch).
"""

import argparse
import os
import shutil
import sys
import types

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_hf_load as chk  # noqa: E402
import make_fixtures as mf  # noqa: E402
import make_gpt2_fixtures as mg  # noqa: E402


def run_masked_lm(m, batch, a):
    ids, mask, types_, labels = batch
    ids = mf.padded(ids, mask, m.config.pad_token_id)
    out = m(input_ids=ids, attention_mask=mask, token_type_ids=types_, output_hidden_states=True)
    loss = mf.mlm_loss(out.logits, labels)
    loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types_, labels=labels)
    outputs = dict(last_hidden_state=out.hidden_states[-1], mlm_logits=out.logits,
                   loss=loss.reshape(1))
    return inputs, outputs


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ckpt")
    ap.add_argument("out")
    ap.add_argument("--seq", type=int, default=24)
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    model, _, info, _ = chk.load_model(a.ckpt, None)
    tied = chk.tied_names(model)
    missing = [k for k in info.get("missing_keys", []) if k not in tied]
    if missing or info.get("unexpected_keys") or info.get("mismatched_keys"):
        sys.exit("%s: incomplete load: missing %s, unexpected %s, mismatched %s"
                 % (a.ckpt, missing, info.get("unexpected_keys"), info.get("mismatched_keys")))
    model.eval()
    # RoFormer builds its rotary table frozen, but from_pretrained hands it back trainable;
    # freeze it again so that the fixture is the model as constructed
    for n, p in model.named_parameters():
        if n.endswith("encoder.embed_positions.weight"):
            p.requires_grad_(False)
    cfg = model.config
    if cfg.model_type == "roberta" and a.seq + cfg.pad_token_id + 1 > cfg.max_position_embeddings:
        sys.exit("--seq %d does not fit RoBERTa's position table" % a.seq)
    b = types.SimpleNamespace(batch=a.batch, seq=a.seq, seed=a.seed, vocab=cfg.vocab_size)
    batch = mf.make_batch(b)
    name = type(model).__name__
    if name.endswith("ForMaskedLM"):
        inputs, outputs = run_masked_lm(model, batch, b)
    elif name == "ElectraForPreTraining":
        inputs, outputs = mf.run_electra(model, batch, b)
    elif name == "GPT2LMHeadModel":  # HF's next-token loss (make_gpt2_fixtures.run_lm)
        inputs, outputs = mg.run_lm(model, batch)
    else:
        sys.exit("%s: no fixture recipe for %s" % (a.ckpt, name))
    os.makedirs(a.out, exist_ok=True)
    shutil.copy(os.path.join(a.ckpt, "config.json"), os.path.join(a.out, "config.json"))
    shutil.copy(os.path.join(a.ckpt, "model.safetensors"), os.path.join(a.out, "model.safetensors"))
    mf.save_tensors(os.path.join(a.out, "inputs.safetensors"), inputs)
    mf.save_tensors(os.path.join(a.out, "outputs.safetensors"), outputs)
    mf.save_tensors(os.path.join(a.out, "grads.safetensors"), mf.param_grads(model))
    print("%s: %s loss %.6f" % (a.out, name, outputs["loss"].item()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
