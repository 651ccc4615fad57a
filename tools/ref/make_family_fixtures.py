#!/usr/bin/env python3
"""Parity fixtures for the model families in shapes the main set does not cover.

make_fixtures.py gives one RoFormer, ALBERT and ELECTRA each with the embedding width
equal to the hidden size (ALBERT aside) and one layer group. This script adds, in the same
layout (tests/fixtures/README.md):

  roformer_proj   RoFormerForMaskedLM, embedding_size != hidden_size (embeddings_project
                  and a head transform H -> E), rotary_value=True (v rotated too)
  albert_groups   AlbertForMaskedLM, 4 layers in 2 groups (layers 0-1 share group 0,
                  2-3 group 1), embedding 8 -> hidden 12
  electra_proj    ElectraForPreTraining, embedding_size != hidden_size (embeddings_project)
  electra_gen     ElectraForMaskedLM (the generator: generator_predictions + generator_lm_head
                  tied to the word embeddings), embedding_size != hidden_size
  electra_cls     ElectraForSequenceClassification, num_labels=1, MSE (GELU head)
  roformer_cls    RoFormerForSequenceClassification, num_labels=1, MSE (GELU head)
  albert_sop      AlbertForPreTraining: the masked LM plus sentence-order prediction (the
                  pooler and sop_classifier.classifier), loss = MLM + SOP cross-entropy
  albert_cls      AlbertForSequenceClassification, num_labels=1, MSE (the classifier on the
                  pooler)

Randomness: torch.manual_seed(seed), then the models in the order above from the global
stream; the batch, labels and replaced flags come from make_fixtures.make_batch and the
private generators it documents. CPU, float32, one thread, dropout 0, exact-erf GELU.
"""

import argparse
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

MODELS = ["roformer_proj", "albert_groups", "electra_proj", "electra_gen", "electra_cls",
          "roformer_cls", "albert_sop", "albert_cls"]


def make_configs(a):
    c = mf.common(a)
    return {
        "roformer_proj": transformers.RoFormerConfig(**c, embedding_size=a.embedding,
                                                     rotary_value=True),
        "albert_groups": transformers.AlbertConfig(**dict(c, num_hidden_layers=2 * a.layers),
                                                   embedding_size=a.embedding,
                                                   num_hidden_groups=2,
                                                   classifier_dropout_prob=0.0),
        "electra_proj": transformers.ElectraConfig(**c, embedding_size=a.embedding),
        "electra_gen": transformers.ElectraConfig(**c, embedding_size=a.embedding),
        "electra_cls": transformers.ElectraConfig(**c, embedding_size=a.embedding, num_labels=1),
        "roformer_cls": transformers.RoFormerConfig(**c, embedding_size=a.embedding, num_labels=1),
        "albert_sop": transformers.AlbertConfig(**c, embedding_size=a.embedding,
                                                classifier_dropout_prob=0.0),
        "albert_cls": transformers.AlbertConfig(**c, embedding_size=a.embedding, num_labels=1,
                                                classifier_dropout_prob=0.0),
    }


def build_models(cfg):
    T = transformers
    models = {
        "roformer_proj": T.RoFormerForMaskedLM(cfg["roformer_proj"]),
        "albert_groups": T.AlbertForMaskedLM(cfg["albert_groups"]),
        "electra_proj": T.ElectraForPreTraining(cfg["electra_proj"]),
        "electra_gen": T.ElectraForMaskedLM(cfg["electra_gen"]),
        "electra_cls": T.ElectraForSequenceClassification(cfg["electra_cls"]),
        "roformer_cls": T.RoFormerForSequenceClassification(cfg["roformer_cls"]),
        "albert_sop": T.AlbertForPreTraining(cfg["albert_sop"]),
        "albert_cls": T.AlbertForSequenceClassification(cfg["albert_cls"]),
    }
    for m in models.values():
        m.eval()
    return models


def run_electra_gen(m, batch, a):
    ids, mask, types, labels = batch
    ids = mf.padded(ids, mask, m.config.pad_token_id)
    seq = m.electra(input_ids=ids, attention_mask=mask, token_type_ids=types,
                    return_dict=False)[0]
    logits = m.generator_lm_head(m.generator_predictions(seq))
    loss = mf.mlm_loss(logits, labels)
    loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
    outputs = dict(last_hidden_state=seq, mlm_logits=logits, loss=loss.reshape(1))
    return inputs, outputs


def run_regression(m, batch, a):
    """num_labels=1 on the first token, MSE against a target (B, 1) from generator seed+2,
    as make_fixtures' roberta_regression."""
    ids, mask, types_, _ = batch
    ids = mf.padded(ids, mask, m.config.pad_token_id)
    g = torch.Generator().manual_seed(a.seed + 2)
    target = torch.randn(a.batch, 1, generator=g)
    base = getattr(m, m.base_model_prefix)
    seq = base(input_ids=ids, attention_mask=mask, token_type_ids=types_, return_dict=False)[0]
    logits = m.classifier(seq)
    loss = torch.nn.functional.mse_loss(logits, target)
    loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types_, target=target)
    outputs = dict(last_hidden_state=seq, logits=logits, loss=loss.reshape(1))
    return inputs, outputs


def run_albert_sop(m, batch, a):
    """AlbertForPreTraining: masked-LM cross-entropy plus the sentence-order cross-entropy of
    the pooled first token against sentence_order_label (B,) from generator seed+4."""
    ids, mask, types, labels = batch
    ids = mf.padded(ids, mask, m.config.pad_token_id)
    g = torch.Generator().manual_seed(a.seed + 4)
    order = torch.randint(0, m.config.num_labels, (a.batch,), generator=g)
    out = m(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels,
            sentence_order_label=order, return_dict=True)
    seq = m.albert(input_ids=ids, attention_mask=mask, token_type_ids=types,
                   return_dict=False)[0]
    out.loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels,
                  sentence_order_label=order)
    outputs = dict(last_hidden_state=seq.detach(), mlm_logits=out.prediction_logits,
                   sop_logits=out.sop_logits, loss=out.loss.reshape(1))
    return inputs, outputs


def run_albert_regression(m, batch, a):
    """AlbertForSequenceClassification (the classifier on the pooler), num_labels=1, MSE
    against a target (B, 1) from generator seed+2, as run_regression."""
    ids, mask, types_, _ = batch
    ids = mf.padded(ids, mask, m.config.pad_token_id)
    g = torch.Generator().manual_seed(a.seed + 2)
    target = torch.randn(a.batch, 1, generator=g)
    out = m(input_ids=ids, attention_mask=mask, token_type_ids=types_, labels=target,
            output_hidden_states=True, return_dict=True)
    out.loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types_, target=target)
    outputs = dict(last_hidden_state=out.hidden_states[-1], logits=out.logits,
                   loss=out.loss.reshape(1))
    return inputs, outputs


RUNNERS = {"roformer_proj": mf.run_roformer, "albert_groups": mf.run_albert,
           "electra_proj": mf.run_electra, "electra_gen": run_electra_gen,
           "electra_cls": run_regression, "roformer_cls": run_regression,
           "albert_sop": run_albert_sop, "albert_cls": run_albert_regression}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--vocab", type=int, default=89)
    ap.add_argument("--hidden", type=int, default=20)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=36)
    ap.add_argument("--seq", type=int, default=13)
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--max-pos", dest="max_pos", type=int, default=20)
    ap.add_argument("--embedding", type=int, default=6,
                    help="embedding_size of every model here (!= --hidden)")
    ap.add_argument("--init-range", dest="init_range", type=float, default=0.4)
    ap.add_argument("--jitter", type=float, default=0.1)
    a = ap.parse_args(argv)
    if a.hidden % a.heads or (a.hidden // a.heads) % 2:
        ap.error("--hidden / --heads must be an even integer (rotary pairs)")
    if a.embedding == a.hidden:
        ap.error("--embedding must differ from --hidden: that is what these fixtures test")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    cfg = make_configs(a)
    torch.manual_seed(a.seed)
    models = build_models(cfg)
    if a.jitter > 0:
        g = torch.Generator().manual_seed(a.seed + 5)
        with torch.no_grad():
            for name in MODELS:
                for _, p in models[name].named_parameters():
                    if p.dim() == 1:
                        p.add_(torch.randn(p.shape, generator=g) * a.jitter)
    batch = mf.make_batch(a)
    os.makedirs(a.out, exist_ok=True)
    for name in MODELS:
        m = models[name]
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        state = {k: v.clone() for k, v in m.state_dict().items()}
        inputs, outputs = RUNNERS[name](m, batch, a)
        grads = mf.param_grads(m)
        mf.save_config(os.path.join(d, "config.json"), cfg[name])
        mf.save_tensors(os.path.join(d, "model.safetensors"), state)
        mf.save_tensors(os.path.join(d, "inputs.safetensors"), inputs)
        mf.save_tensors(os.path.join(d, "outputs.safetensors"), outputs)
        mf.save_tensors(os.path.join(d, "grads.safetensors"), grads)
        print("%-16s loss %.6f  %d weights, %d grads" %
              (name, outputs["loss"].item(), len(state), len(grads)))
    manifest = {k: v for k, v in vars(a).items() if k != "out"}
    manifest.update(torch=torch.__version__, transformers=transformers.__version__)
    mf.save_json(os.path.join(a.out, "MANIFEST.json"), manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
