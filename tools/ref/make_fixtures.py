#!/usr/bin/env python3
"""Whole-model parity fixtures for ordo, made with HuggingFace transformers.

Writes OUT/NAME/{config.json, model.safetensors, inputs.safetensors,
outputs.safetensors, grads.safetensors} for the tiny random models below, plus
bert/adamw.json + bert/adamw_after_3_steps.safetensors and bert_lora/lora.json.
The layout is described in tests/fixtures/README.md.

How randomness is drawn (this is what makes the files reproducible):
  * torch.manual_seed(seed) once, then the models are built in the fixed order
    of MODELS, each taking its initial weights from the global stream where
    the previous one stopped. All models are always built, even the ones not
    written (--only), so that a model's weights never depend on that flag.
    peft's LoRA init and the redraw of lora_B continue the same stream.
  * the data comes from private generators: seed+1 for the token ids and the
    masked-LM positions, seed+2 for the regression targets, seed+3 for the
    replaced-token labels, seed+4 for the LoRA regression target, seed+5 for
    the --jitter noise.
With the defaults this reproduces ../shared/fixtures/hf (weights and inputs
bit for bit).

Everything runs on the CPU in float32, dropout 0, GELU in its exact erf form,
"eager" attention, one thread (so that sums are taken in one fixed order).
"""

import argparse
import json
import math
import os
import sys
import tempfile

import torch
import torch.nn.functional as F

import safetensors.torch
import transformers

MODELS = ["bert", "roberta_regression", "roformer_mlm", "albert_mlm",
          "electra_rtd", "bert_lora"]

MLM_FRACTION = 0.3      # share of real tokens that carry an MLM label
REPLACED_FRACTION = 0.2  # share of real tokens marked "replaced" (ELECTRA)
FIRST_TOKEN_ID = 5       # ids below this are left to special tokens (pad...)


# ---------------------------------------------------------------- writing ----
def write_atomic(path, data):
    """Writes bytes to path through a temporary file in the same folder."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_tensors(path, tensors):
    """safetensors file of detached, contiguous copies (tied weights would
    otherwise share storage, which safetensors refuses)."""
    plain = {k: v.detach().clone().contiguous() for k, v in tensors.items()}
    write_atomic(path, safetensors.torch.save(plain))


def save_json(path, obj, indent=1):
    text = json.dumps(obj, indent=indent) if indent else json.dumps(obj)
    write_atomic(path, text.encode())


def save_config(path, config):
    write_atomic(path, (config.to_json_string()).encode())


def param_grads(model):
    """d loss / d parameter by HF name. named_parameters() lists a tied
    parameter once, under the first name it was registered with, and its
    .grad already holds the sum over all of its uses."""
    return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


# ------------------------------------------------------------------- data ----
def make_batch(a):
    """Token ids, right padding and MLM labels shared by every model.

    input_ids (B, T) int64 in [FIRST_TOKEN_ID, vocab); row i has
    T - i*ceil(T/8) real tokens (at least 1) so rows pad by different amounts;
    token_type_ids are 0 on the first half of the row and 1 after; labels
    (B, T) hold the original id at about MLM_FRACTION of the real tokens and
    -100 elsewhere (the input keeps the id: it is a parity test, not MLM data).
    The caller writes the pad id into the padded places."""
    B, T = a.batch, a.seq
    g = torch.Generator().manual_seed(a.seed + 1)
    ids = torch.randint(FIRST_TOKEN_ID, a.vocab, (B, T), generator=g)
    pick = torch.rand(B, T, generator=g) < MLM_FRACTION
    step = math.ceil(T / 8)
    lengths = [max(1, T - i * step) for i in range(B)]
    mask = torch.zeros(B, T, dtype=torch.int64)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    types = torch.zeros(B, T, dtype=torch.int64)
    types[:, T // 2:] = 1
    labels = torch.where(pick & (mask == 1), ids, torch.full_like(ids, -100))
    if not (labels != -100).any():  # the MLM losses would be 0/0
        sys.exit("make_fixtures: no MLM label drawn for --seed %d --seq %d --batch %d; "
                 "pick another seed or a longer batch" % (a.seed, a.seq, a.batch))
    return ids, mask, types, labels


def padded(ids, mask, pad_id):
    return torch.where(mask == 1, ids, torch.full_like(ids, pad_id))


def mlm_loss(logits, labels):
    """Mean cross-entropy over positions whose label != -100."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                           labels.reshape(-1), ignore_index=-100)


# ---------------------------------------------------------------- configs ----
def common(a):
    return dict(vocab_size=a.vocab, hidden_size=a.hidden,
                num_attention_heads=a.heads, num_hidden_layers=a.layers,
                intermediate_size=a.intermediate,
                max_position_embeddings=a.max_pos, hidden_act="gelu",
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                initializer_range=a.init_range, layer_norm_eps=1e-12,
                attn_implementation="eager")


def make_configs(a):
    c = common(a)
    albert = dict(c, embedding_size=a.albert_embedding, classifier_dropout_prob=0.0)
    return {
        "bert": transformers.BertConfig(**c),
        "roberta_regression": transformers.RobertaConfig(
            **c, num_labels=1, type_vocab_size=1, pad_token_id=1,
            bos_token_id=0, eos_token_id=2),
        "roformer_mlm": transformers.RoFormerConfig(**c, embedding_size=a.hidden),
        "albert_mlm": transformers.AlbertConfig(**albert),
        "electra_rtd": transformers.ElectraConfig(**c, embedding_size=a.hidden),
        "bert_lora": transformers.BertConfig(**c),
    }


def build_models(cfg):
    """Builds every model in MODELS order from the global RNG stream."""
    T = transformers
    models = {}
    models["bert"] = T.BertForPreTraining(cfg["bert"])
    models["roberta_regression"] = T.RobertaForSequenceClassification(cfg["roberta_regression"])
    models["roformer_mlm"] = T.RoFormerForMaskedLM(cfg["roformer_mlm"])
    models["albert_mlm"] = T.AlbertForMaskedLM(cfg["albert_mlm"])
    models["electra_rtd"] = T.ElectraForPreTraining(cfg["electra_rtd"])
    models["bert_lora"] = T.BertModel(cfg["bert_lora"], add_pooling_layer=False)
    for m in models.values():
        m.eval()  # dropout is 0 anyway; eval() makes that independent of config
    return models


# ----------------------------------------------------------------- models ----
def run_bert(m, batch, a):
    """BertForPreTraining: MLM head with the decoder tied to the word
    embeddings, pooler_output from the same BertModel; the loss is MLM only,
    so the pooler and the NSP head get no gradient."""
    ids, mask, types, labels = batch
    ids = padded(ids, mask, m.config.pad_token_id)
    seq, pooled = m.bert(input_ids=ids, attention_mask=mask,
                         token_type_ids=types, return_dict=False)[:2]
    logits = m.cls.predictions(seq)                       # (B, T, V)
    loss = mlm_loss(logits, labels)
    loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
    outputs = dict(last_hidden_state=seq, mlm_logits=logits,
                   pooler_output=pooled, loss=loss.reshape(1))
    return inputs, outputs


def run_roberta(m, batch, a):
    """RobertaForSequenceClassification, num_labels=1, MSE against a target
    (B, 1). Pads carry pad_token_id, so HF numbers the real tokens from
    pad_token_id+1 and gives pads the position pad_token_id."""
    ids, mask, _, _ = batch
    ids = padded(ids, mask, m.config.pad_token_id)
    g = torch.Generator().manual_seed(a.seed + 2)
    target = torch.randn(a.batch, 1, generator=g)
    seq = m.roberta(input_ids=ids, attention_mask=mask, return_dict=False)[0]
    logits = m.classifier(seq)                            # (B, 1) from <s>
    loss = F.mse_loss(logits, target)
    loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, target=target)
    outputs = dict(last_hidden_state=seq, logits=logits, loss=loss.reshape(1))
    return inputs, outputs


def run_roformer(m, batch, a):
    ids, mask, types, labels = batch
    ids = padded(ids, mask, m.config.pad_token_id)
    seq = m.roformer(input_ids=ids, attention_mask=mask, token_type_ids=types,
                     return_dict=False)[0]
    logits = m.cls(seq)
    loss = mlm_loss(logits, labels)
    loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
    outputs = dict(last_hidden_state=seq, mlm_logits=logits, loss=loss.reshape(1))
    return inputs, outputs


def run_albert(m, batch, a):
    ids, mask, types, labels = batch
    ids = padded(ids, mask, m.config.pad_token_id)
    seq = m.albert(input_ids=ids, attention_mask=mask, token_type_ids=types,
                   return_dict=False)[0]
    logits = m.predictions(seq)
    loss = mlm_loss(logits, labels)
    loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
    outputs = dict(last_hidden_state=seq, mlm_logits=logits, loss=loss.reshape(1))
    return inputs, outputs


def run_electra(m, batch, a):
    """ElectraForPreTraining (discriminator): BCE-with-logits of the (B, T)
    logits against `replaced`, averaged over positions with attention_mask 1."""
    ids, mask, types, _ = batch
    ids = padded(ids, mask, m.config.pad_token_id)
    g = torch.Generator().manual_seed(a.seed + 3)
    replaced = (torch.rand(a.batch, a.seq, generator=g) < REPLACED_FRACTION).long()
    replaced = replaced * mask
    seq = m.electra(input_ids=ids, attention_mask=mask, token_type_ids=types,
                    return_dict=False)[0]
    logits = m.discriminator_predictions(seq)             # (B, T)
    real = mask == 1
    loss = F.binary_cross_entropy_with_logits(logits[real], replaced[real].float())
    loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types, replaced=replaced)
    outputs = dict(last_hidden_state=seq, rtd_logits=logits, loss=loss.reshape(1))
    return inputs, outputs


LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["query", "value"]}


def wrap_lora(base, lora=LORA, fan_in_fan_out=False):
    """peft LoRA on lora's target modules (default query and value; fan_in_fan_out
    for Conv1D layers such as GPT-2's); lora_B is drawn N(0, 0.02) instead of
    peft's zeros so that the adapter changes the output and every LoRA
    parameter gets a nonzero gradient."""
    import peft
    cfg = peft.LoraConfig(r=lora["r"], lora_alpha=lora["lora_alpha"],
                          target_modules=lora["target_modules"], lora_dropout=0.0,
                          fan_in_fan_out=fan_in_fan_out)
    pm = peft.get_peft_model(base, cfg)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                torch.nn.init.normal_(p, mean=0.0, std=0.02)
    pm.eval()
    return pm


def run_bert_lora(pm, batch, a):
    """loss = sum over real tokens of |last_hidden_state - target|^2 divided
    by the number of real tokens; only lora_A / lora_B are trainable."""
    ids, mask, types, _ = batch
    ids = padded(ids, mask, 0)
    g = torch.Generator().manual_seed(a.seed + 4)
    target = torch.randn(a.batch, a.seq, a.hidden, generator=g)
    seq = pm(input_ids=ids, attention_mask=mask, token_type_ids=types,
             return_dict=False)[0]
    w = mask.unsqueeze(-1).float()                         # (B, T, 1)
    loss = (((seq - target) ** 2) * w).sum() / mask.sum()
    loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types, target=target)
    outputs = dict(last_hidden_state=seq, loss=loss.reshape(1))
    return inputs, outputs


RUNNERS = {"bert": run_bert, "roberta_regression": run_roberta,
           "roformer_mlm": run_roformer, "albert_mlm": run_albert,
           "electra_rtd": run_electra, "bert_lora": run_bert_lora}


def jitter_vectors(models, a):
    """HF starts biases at 0 and LayerNorm weights at 1, which would hide a
    forward pass that forgets a bias or swaps a LayerNorm's weight and bias.
    Adds N(0, jitter) from generator seed+5 to every 1-D parameter, in MODELS
    order; tied parameters are one tensor, so they stay tied. The padding rows
    of the embeddings are 2-D and keep HF's zeros."""
    g = torch.Generator().manual_seed(a.seed + 5)
    with torch.no_grad():
        for name in MODELS:
            for _, p in models[name].named_parameters():
                if p.dim() == 1:
                    p.add_(torch.randn(p.shape, generator=g) * a.jitter)


# ------------------------------------------------------------------ AdamW ----
ADAMW = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
         "weight_decay": 0.01, "steps": 3,
         "grad_of_step": "grads.safetensors times (1+step), step=0,1,2"}


def adamw_after_steps(model, grads):
    """Parameters after ADAMW["steps"] steps of torch.optim.AdamW where the
    gradient of step s is grads * (1 + s). A parameter without a gradient is
    skipped by AdamW, weight decay included, so it does not move."""
    named = list(model.named_parameters())
    opt = torch.optim.AdamW([p for _, p in named], lr=ADAMW["lr"],
                            betas=(ADAMW["beta1"], ADAMW["beta2"]),
                            eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"],
                            foreach=False)
    for s in range(ADAMW["steps"]):
        for n, p in named:
            p.grad = grads[n] * (1 + s) if n in grads else None
        opt.step()
    return {n: p for n, p in named}


# ------------------------------------------------------------------- main ----
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder to write NAME/ folders into")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--vocab", type=int, default=503)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=256)
    ap.add_argument("--seq", type=int, default=24)
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--max-pos", dest="max_pos", type=int, default=128)
    ap.add_argument("--albert-embedding", dest="albert_embedding", type=int, default=16,
                    help="ALBERT's factorized embedding width")
    ap.add_argument("--init-range", dest="init_range", type=float, default=0.02,
                    help="std of the random weight matrices (HF initializer_range)")
    ap.add_argument("--jitter", type=float, default=0.0,
                    help="std of the noise added to every 1-D parameter (biases, "
                         "LayerNorm), which HF starts at 0 or 1")
    ap.add_argument("--only", default=",".join(MODELS),
                    help="comma-separated subset of: " + ",".join(MODELS))
    a = ap.parse_args(argv)
    only = [s for s in a.only.split(",") if s]
    bad = [s for s in only if s not in MODELS]
    if bad:
        ap.error("unknown model(s) in --only: %s (known: %s)" % (",".join(bad), ",".join(MODELS)))
    a.only = only
    if a.hidden % a.heads:
        ap.error("--hidden %d is not a multiple of --heads %d" % (a.hidden, a.heads))
    if a.seq + 2 > a.max_pos:  # RoBERTa positions run up to pad_token_id + seq
        ap.error("--max-pos %d must be at least --seq + 2 = %d" % (a.max_pos, a.seq + 2))
    if a.vocab <= FIRST_TOKEN_ID:
        ap.error("--vocab must exceed %d" % FIRST_TOKEN_ID)
    if a.init_range <= 0 or a.jitter < 0:
        ap.error("--init-range must be positive and --jitter not negative")
    for k in ("vocab", "hidden", "heads", "layers", "intermediate", "seq", "batch"):
        if getattr(a, k) < 1:
            ap.error("--%s must be positive" % k)
    return a


def main(argv):
    a = parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()

    cfg = make_configs(a)
    torch.manual_seed(a.seed)
    models = build_models(cfg)
    models["bert_lora"] = wrap_lora(models["bert_lora"])  # continues the global stream
    if a.jitter > 0:
        jitter_vectors(models, a)
    batch = make_batch(a)

    os.makedirs(a.out, exist_ok=True)
    for name in MODELS:
        if name not in a.only:
            continue
        m = models[name]
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        # weights before the backward pass (and before AdamW moves them)
        state = {k: v.clone() for k, v in m.state_dict().items()}
        inputs, outputs = RUNNERS[name](m, batch, a)
        grads = param_grads(m)
        save_config(os.path.join(d, "config.json"), cfg[name])
        save_tensors(os.path.join(d, "model.safetensors"), state)
        save_tensors(os.path.join(d, "inputs.safetensors"), inputs)
        save_tensors(os.path.join(d, "outputs.safetensors"), outputs)
        save_tensors(os.path.join(d, "grads.safetensors"), grads)
        if name == "bert":
            save_json(os.path.join(d, "adamw.json"), ADAMW)
            save_tensors(os.path.join(d, "adamw_after_3_steps.safetensors"),
                         adamw_after_steps(m, grads))
        if name == "bert_lora":
            lora = dict(LORA, scaling=LORA["lora_alpha"] / LORA["r"])
            save_json(os.path.join(d, "lora.json"), lora, indent=None)
        print("%-20s loss %.6f  %d weights, %d grads" %
              (name, outputs["loss"].item(), len(state), len(grads)))

    manifest = dict(seed=a.seed, vocab=a.vocab, hidden=a.hidden, heads=a.heads,
                    layers=a.layers, intermediate=a.intermediate, seq=a.seq,
                    batch=a.batch, max_pos=a.max_pos,
                    albert_embedding=a.albert_embedding, init_range=a.init_range,
                    jitter=a.jitter,
                    torch=torch.__version__, transformers=transformers.__version__)
    save_json(os.path.join(a.out, "MANIFEST.json"), manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
