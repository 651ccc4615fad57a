"""Reference for parameter groups with layer-wise rate decay: torch.optim.AdamW with one
param_group per (depth, decay) class, three steps. Writes tests/train/fixtures/adamw_groups.safetensors
(initial weights, per-step gradients and rates, weights after the last step, group multipliers).

Run from the repository root:
    /work/venv/bin/python bench/optim/adamw_groups_ref.py
"""
import numpy as np
import torch
from safetensors.torch import save_file

torch.manual_seed(5)
torch.set_num_threads(1)

L = 2              # encoder layers
LAYER_DECAY = 0.8  # rate = lr * decay^(depth from top)
HEAD_MUL = 5.0     # heads' extra multiplier
WD = 0.05
STEPS = 3
BASE_LR = 1e-2
FACTORS = [0.5, 1.0, 0.75]  # schedule factors per step

# (name, shape, no_decay)
specs = [
    ("bert.embeddings.word_embeddings.weight", (10, 6), False),
    ("bert.embeddings.LayerNorm.bias", (6,), True),
    ("bert.encoder.layer.0.attention.self.query.weight", (6, 6), False),
    ("bert.encoder.layer.0.attention.self.query.bias", (6,), True),
    ("bert.encoder.layer.1.output.dense.weight", (6, 6), False),
    ("bert.encoder.layer.1.output.LayerNorm.weight", (6,), True),
    ("classifier.out_proj.weight", (3, 6), False),
    ("classifier.out_proj.bias", (3,), True),
]


def depth(name):
    if ".encoder.layer." in name:
        i = int(name.split(".encoder.layer.")[1].split(".")[0])
        return L - i, False
    if "embeddings" in name:
        return L + 1, False
    return 0, True


params, groups, out = [], [], {}
for name, shape, nd in specs:
    p = torch.nn.Parameter(torch.randn(shape) * 0.5)
    out["init." + name] = p.detach().clone()
    d, head = depth(name)
    mul = LAYER_DECAY ** d * (HEAD_MUL if head else 1.0)
    groups.append({"params": [p], "mul": mul, "weight_decay": 0.0 if nd else WD})
    out["mul." + name] = torch.tensor([mul], dtype=torch.float64)
    params.append(p)

opt = torch.optim.AdamW(groups, lr=BASE_LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=WD)
lrs = []
for step in range(STEPS):
    # the engine's schedule gives a float32 rate; each group's rate is that times its multiplier
    lr32 = float(np.float32(np.float32(BASE_LR) * np.float32(FACTORS[step])))
    lrs.append(lr32)
    for g in opt.param_groups:
        g["lr"] = lr32 * g["mul"]
    for (name, _, _), p in zip(specs, params):
        g = torch.randn(p.shape)
        out[f"grad{step}." + name] = g.clone()
        p.grad = g
    opt.step()
for (name, _, _), p in zip(specs, params):
    out["final." + name] = p.detach().clone()
out["lr"] = torch.tensor(lrs, dtype=torch.float32)
save_file({k: v.contiguous() for k, v in out.items()}, "tests/train/fixtures/adamw_groups.safetensors",
          metadata={"layer_decay": str(LAYER_DECAY), "head_lr_mul": str(HEAD_MUL),
                    "weight_decay": str(WD), "layers": str(L), "steps": str(STEPS)})
print("wrote tests/train/fixtures/adamw_groups.safetensors")
