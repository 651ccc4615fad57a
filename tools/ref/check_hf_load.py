#!/usr/bin/env python3
"""Proves that HuggingFace transformers loads a checkpoint folder saved by ordo.

usage: check_hf_load.py DIR [--fixture FIXDIR] [--inputs FILE] [--outputs FILE]
                            [--class NAME] [--atol T]

DIR holds config.json and model.safetensors. The model class is chosen from
config.json's model_type and the head weights present in model.safetensors
(or forced with --class, e.g. BertForMaskedLM). Loading must be complete: a
weight the class expects but the file lacks (other than a tied copy) or a
weight the file has but the class does not know is a failure, since
transformers would otherwise fill it with random values without complaint.

GPT-2's Conv1D weights are (in, out) in the file: a transposed save shows as
mismatched shapes (square ones only in the outputs).

The inputs (input_ids, attention_mask, token_type_ids when the model has
token types) come from --inputs or FIXDIR/inputs.safetensors; the expected
values from --outputs or FIXDIR/outputs.safetensors. Every expected tensor the
model can produce (last_hidden_state, pooler_output, mlm_logits, logits,
rtd_logits) is compared and its max abs diff printed.

Exit status: 0 when it loads cleanly and every compared tensor is within
--atol (with no inputs given: when it loads cleanly), 1 otherwise, 2 on a
usage error.
"""

import argparse
import inspect
import json
import os
import sys

import torch
from safetensors import safe_open

import transformers

# model_type -> ((key prefix that marks a head, class name), ..., bare class)
HEADS = {
    "bert": ((("cls.seq_relationship.", "BertForPreTraining"),
              ("cls.predictions.", "BertForMaskedLM"),
              ("classifier.", "BertForSequenceClassification")), "BertModel"),
    "roberta": ((("lm_head.", "RobertaForMaskedLM"),
                 ("classifier.", "RobertaForSequenceClassification")), "RobertaModel"),
    "electra": ((("discriminator_predictions.", "ElectraForPreTraining"),
                 ("generator_lm_head.", "ElectraForMaskedLM"),
                 ("classifier.", "ElectraForSequenceClassification")), "ElectraModel"),
    "roformer": ((("cls.predictions.", "RoFormerForMaskedLM"),
                  ("classifier.", "RoFormerForSequenceClassification")), "RoFormerModel"),
    "albert": ((("predictions.", "AlbertForMaskedLM"),
                ("classifier.", "AlbertForSequenceClassification")), "AlbertModel"),
    "gpt2": ((("lm_head.", "GPT2LMHeadModel"),), "GPT2Model"),
}


def fail_usage(msg):
    print("check_hf_load: " + msg, file=sys.stderr)
    sys.exit(2)


def read_keys(path):
    with safe_open(path, "pt") as f:
        return list(f.keys())


def read_tensors(path):
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def pick_class(model_type, keys, forced):
    if forced:
        cls = getattr(transformers, forced, None)
        if cls is None:
            fail_usage("transformers has no class %s" % forced)
        return cls
    if model_type not in HEADS:
        fail_usage("config.json: model_type %r is not one of %s (use --class)"
                   % (model_type, ", ".join(sorted(HEADS))))
    heads, bare = HEADS[model_type]
    for prefix, name in heads:
        if any(k.startswith(prefix) for k in keys):
            return getattr(transformers, name)
    return getattr(transformers, bare)


def load_model(d, forced):
    cfg_path = os.path.join(d, "config.json")
    st_path = os.path.join(d, "model.safetensors")
    for p in (cfg_path, st_path):
        if not os.path.isfile(p):
            fail_usage("%s: no such file" % p)
    try:
        model_type = json.load(open(cfg_path)).get("model_type")
    except (ValueError, OSError) as e:
        fail_usage("%s: not valid JSON (%s)" % (cfg_path, e))
    keys = read_keys(st_path)
    cls = pick_class(model_type, keys, forced)
    extra = {}
    # A bare encoder saved without a pooler (as under LoRA or a token-level head) is
    # complete: build the class without one rather than report it missing.
    if ("add_pooling_layer" in inspect.signature(cls.__init__).parameters
            and not any(k.startswith("pooler.") or ".pooler." in k for k in keys)):
        extra["add_pooling_layer"] = False
    model, info = cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager",
                                      output_loading_info=True, **extra)
    model.eval()
    return model, cls.__name__, info, keys


def tied_names(model):
    """Names that share storage with an earlier-registered parameter: the file
    may legitimately omit them."""
    seen, tied = {}, set()
    for n, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            tied.add(n)
        else:
            seen[id(p)] = n
    return tied


def base_of(model):
    """The bare encoder inside a model with a head (model.bert, ...)."""
    prefix = getattr(model, "base_model_prefix", "")
    return getattr(model, prefix, model) if prefix else model


@torch.no_grad()
def run(model, inputs):
    """Returns every output we know how to name: (B, T, H) last_hidden_state,
    (B, H) pooler_output, and the head's logits under the fixture's name."""
    base = base_of(model)
    kw = dict(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"))
    if "token_type_ids" in inputs and getattr(model.config, "type_vocab_size", 0) > 1:
        kw["token_type_ids"] = inputs["token_type_ids"]
    out = {}
    b = base(**kw)
    out["last_hidden_state"] = b.last_hidden_state
    if getattr(b, "pooler_output", None) is not None:
        out["pooler_output"] = b.pooler_output
    if model is not base:
        h = model(**kw)
        if hasattr(h, "prediction_logits"):           # BertForPreTraining
            out["mlm_logits"] = h.prediction_logits
        elif type(model).__name__.endswith("ForMaskedLM"):
            out["mlm_logits"] = h.logits
        elif type(model).__name__ == "ElectraForPreTraining":
            out["rtd_logits"] = h.logits
        else:
            out["logits"] = h.logits
    return out


def main(argv):
    ap = argparse.ArgumentParser(description="check that transformers loads an ordo checkpoint")
    ap.add_argument("dir", help="folder with config.json and model.safetensors")
    ap.add_argument("--fixture", help="fixture folder with inputs/outputs.safetensors")
    ap.add_argument("--inputs", help="safetensors with input_ids, attention_mask, ...")
    ap.add_argument("--outputs", help="safetensors with the expected outputs")
    ap.add_argument("--class", dest="cls", help="transformers class to load with")
    ap.add_argument("--atol", type=float, default=1e-4,
                    help="largest accepted abs diff (default 1e-4: float32 through a few layers)")
    a = ap.parse_args(argv)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)

    inputs_path = a.inputs or (a.fixture and os.path.join(a.fixture, "inputs.safetensors"))
    outputs_path = a.outputs or (a.fixture and os.path.join(a.fixture, "outputs.safetensors"))
    for p in (inputs_path, outputs_path):
        if p and not os.path.isfile(p):
            fail_usage("%s: no such file" % p)
    if bool(inputs_path) != bool(outputs_path):
        fail_usage("give both inputs and outputs (--fixture, or --inputs and --outputs)")

    model, cname, info, keys = load_model(a.dir, a.cls)
    tied = tied_names(model)
    missing = [k for k in info.get("missing_keys", []) if k not in tied]
    unexpected = list(info.get("unexpected_keys", []))
    mismatched = list(info.get("mismatched_keys", []))
    ok = not (missing or unexpected or mismatched)
    print("loaded %s with %s: %d tensors in the file, %d missing, %d unexpected, %d mismatched"
          % (a.dir, cname, len(keys), len(missing), len(unexpected), len(mismatched)))
    for what, names in (("missing", missing), ("unexpected", unexpected),
                        ("mismatched", mismatched)):
        for n in names:
            print("  %s: %s" % (what, n))

    if inputs_path:
        inputs = read_tensors(inputs_path)
        if "input_ids" not in inputs:
            fail_usage("%s: no input_ids tensor" % inputs_path)
        expected = read_tensors(outputs_path)
        got = run(model, inputs)
        compared = 0
        for name in sorted(expected):
            if name not in got:
                continue
            e, g = expected[name].float(), got[name].float()
            if e.shape != g.shape:
                print("%s: shape %s, expected %s" % (name, tuple(g.shape), tuple(e.shape)))
                ok = False
                continue
            d = (e - g).abs().max().item()
            compared += 1
            good = d <= a.atol
            ok &= good
            print("%s: max abs diff %.3g %s" % (name, d, "ok" if good else "> %g FAIL" % a.atol))
        if compared == 0:
            print("no output of %s matches a tensor in %s" % (cname, outputs_path))
            ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
