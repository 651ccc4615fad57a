#!/usr/bin/env python3
"""Parity fixtures for GPT-2 (GPT2LMHeadModel) in shapes other than the shared ones.

Same layout as make_fixtures.py (tests/fixtures/README.md):

  gpt2_lm        GPT2LMHeadModel, gelu_new, n_inner != 4 n_embd, three layers, three heads;
                 generate.safetensors: `prompt` (1 x 5 ids) and `greedy`, the 64 ids that
                 greedy decoding (argmax of the last position's logits, no EOS stop) appends
  gpt2_gelu      the same sizes with activation_function "gelu" (exact erf form)
  gpt2_lora_all  peft LoRA r=4, alpha=8 on c_attn, c_proj (attention and MLP) and c_fc with
                 fan_in_fan_out (Conv1D), lora_B drawn N(0, 0.02); grads only for the adapters

Loss: HF's own next-token loss (labels = input_ids with -100 on pads; logits[:, t] against
labels[:, t + 1]). Randomness: torch.manual_seed(seed), then the models in the order above;
the batch comes from make_fixtures.make_batch (right padding of different lengths, pad id 0,
attention_mask 0 there); 1-D parameters jittered by N(0, jitter) from generator seed + 5 so
that a forgotten bias or a swapped LayerNorm shows. CPU, float32, one thread, dropout 0.
"""

import argparse
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

MODELS = ["gpt2_lm", "gpt2_gelu", "gpt2_lora_all"]
LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["c_attn", "c_proj", "c_fc"]}


def make_config(a, act):
    return transformers.GPT2Config(
        vocab_size=a.vocab, n_embd=a.hidden, n_head=a.heads, n_layer=a.layers,
        n_inner=a.intermediate, n_positions=a.max_pos, activation_function=act,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
        initializer_range=a.init_range, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        attn_implementation="eager")


def run_lm(m, batch):
    ids, mask, _, _ = batch
    ids = mf.padded(ids, mask, 0)
    labels = torch.where(mask == 1, ids, torch.full_like(ids, -100))
    out = m(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    out.loss.backward()
    inputs = dict(input_ids=ids, attention_mask=mask, labels=labels)
    outputs = dict(last_hidden_state=out.hidden_states[-1], logits=out.logits,
                   loss=out.loss.reshape(1))
    return inputs, outputs


@torch.no_grad()
def greedy(m, prompt, n):
    ids = prompt.clone()
    for _ in range(n):
        logits = m(input_ids=ids).logits
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[:, prompt.shape[1]:]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--vocab", type=int, default=97)
    ap.add_argument("--hidden", type=int, default=24)
    ap.add_argument("--heads", type=int, default=3)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--intermediate", type=int, default=40)
    ap.add_argument("--seq", type=int, default=13)
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--max-pos", dest="max_pos", type=int, default=80)
    ap.add_argument("--init-range", dest="init_range", type=float, default=0.3)
    ap.add_argument("--jitter", type=float, default=0.1)
    ap.add_argument("--new-tokens", dest="new_tokens", type=int, default=64)
    a = ap.parse_args(argv)
    if a.hidden % a.heads:
        ap.error("--hidden must be a multiple of --heads")
    if a.max_pos < 5 + a.new_tokens:
        ap.error("--max-pos must hold the prompt (5) and --new-tokens")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    torch.manual_seed(a.seed)
    models = {"gpt2_lm": transformers.GPT2LMHeadModel(make_config(a, "gelu_new")),
              "gpt2_gelu": transformers.GPT2LMHeadModel(make_config(a, "gelu")),
              "gpt2_lora_all": transformers.GPT2LMHeadModel(make_config(a, "gelu_new"))}
    if a.jitter > 0:
        g = torch.Generator().manual_seed(a.seed + 5)
        with torch.no_grad():
            for name in MODELS:
                for _, p in models[name].named_parameters():
                    if p.dim() == 1:
                        p.add_(torch.randn(p.shape, generator=g) * a.jitter)
    models["gpt2_lora_all"] = mf.wrap_lora(models["gpt2_lora_all"], LORA, fan_in_fan_out=True)
    for m in models.values():
        m.eval()
    batch = mf.make_batch(a)
    os.makedirs(a.out, exist_ok=True)
    for name in MODELS:
        m = models[name]
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        state = {k: v.clone() for k, v in m.state_dict().items()}
        inputs, outputs = run_lm(m, batch)
        grads = mf.param_grads(m)
        base = m.base_model.model if name == "gpt2_lora_all" else m
        mf.save_config(os.path.join(d, "config.json"), base.config)
        mf.save_tensors(os.path.join(d, "model.safetensors"), state)
        mf.save_tensors(os.path.join(d, "inputs.safetensors"), inputs)
        mf.save_tensors(os.path.join(d, "outputs.safetensors"), outputs)
        mf.save_tensors(os.path.join(d, "grads.safetensors"), grads)
        if name == "gpt2_lora_all":
            mf.save_json(os.path.join(d, "lora.json"), dict(LORA, fan_in_fan_out=True))
        if name == "gpt2_lm":
            g = torch.Generator().manual_seed(a.seed + 6)
            prompt = torch.randint(mf.FIRST_TOKEN_ID, a.vocab, (1, 5), generator=g)
            mf.save_tensors(os.path.join(d, "generate.safetensors"),
                            dict(prompt=prompt, greedy=greedy(m, prompt, a.new_tokens)))
        print("%-14s loss %.6f  %d weights, %d grads" %
              (name, outputs["loss"].item(), len(state), len(grads)))
    manifest = {k: v for k, v in vars(a).items() if k != "out"}
    manifest.update(torch=torch.__version__, transformers=transformers.__version__)
    mf.save_json(os.path.join(a.out, "MANIFEST.json"), manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
