"""PyTorch's side of bench/gpu/speed.sh, and the table that sets it beside ordo's bench_train.

  torch_speed.py gemm  [--device cuda|cpu] [--small]
      bf16 GEMM TFLOP/s at large and BERT-base shapes (--small: the shapes / 16); the largest
      is the ceiling the table's MFU is taken against.
  torch_speed.py train --layers L --hidden H --heads A --vocab V --seq S --batch B
                       --mode eager|compile [--min-len M] [--steps N] [--warmup N] [--device D]
      BertForMaskedLM steps (SDPA attention, bf16 autocast, fused AdamW, grad-norm clip 1.0,
      15% of the real tokens labelled, dropout 0.1: the anchor's step), first on full-length
      batches, then with --min-len on batches whose lengths are uniform in [M, S], padded to S.
  torch_speed.py infer --layers L --hidden H --heads A --vocab V --seq S --batch B [--min-len M]
      RobertaForSequenceClassification (one output) in bf16, eager, inference mode.
  torch_speed.py table FILE.jsonl...
      One table from every JSON line of the files (this script's and bench_train's).
  torch_speed.py profile FILE.csv...
      Where the GPU time went, from ncu's per-kernel durations (speed.sh's profile part).

Each measurement is printed as one JSON line as soon as it is taken (a run cut by its time
limit keeps what it printed). FLOPs of a training step (the anchor's count):
    6 * params * tokens + 12 * L * S * H * tokens
(6 per parameter per token for forward and backward, the tied vocabulary projection included
through the embedding matrix; 12 L S H per token for attention's two S x S products), where
tokens = batch * seq positions computed, padding included. Inference: a third of it
(2 * params * tokens + 4 * L * S * H * tokens)."""
import argparse, json, sys, time


def emit(**kw):
    print(json.dumps(kw), flush=True)


def sync(dev):
    import torch
    if dev == 'cuda':
        torch.cuda.synchronize()


def gemm(a):
    import torch
    dev = a.device
    shapes = [(8192, 8192, 8192), (16384, 768, 768), (16384, 768, 2304), (16384, 768, 3072),
              (16384, 3072, 768), (16384, 768, 50265), (16384, 768, 50304)]
    if a.small:
        shapes = [(m // 16, k // 16, n // 16) for m, k, n in shapes]
    for m, k, n in shapes:
        x = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
        w = torch.randn(k, n, device=dev, dtype=torch.bfloat16)
        for _ in range(3):
            x @ w
        sync(dev)
        reps, t0 = 0, time.perf_counter()
        while True:
            x @ w
            reps += 1
            if reps % 5 == 0:
                sync(dev)
                if time.perf_counter() - t0 > 0.3:
                    break
        dt = (time.perf_counter() - t0) / reps
        emit(impl='torch', kind='gemm', m=m, k=k, n=n, tflops=round(2 * m * k * n / dt / 1e12, 2))
        del x, w


def batch_inputs(a, g, full):
    """ids, mask, labels of one batch: full length, or lengths uniform in [min_len, seq]."""
    import torch
    B, S, dev = a.batch, a.seq, a.device
    ids = torch.randint(5, a.vocab, (B, S), device=dev, generator=g)
    if full:
        lens = torch.full((B,), S, device=dev)
    else:
        lens = torch.randint(a.min_len, S + 1, (B,), device=dev, generator=g)
    mask = (torch.arange(S, device=dev)[None, :] < lens[:, None]).long()
    ids = ids * mask
    pick = (torch.rand(B, S, device=dev, generator=g) < 0.15) & mask.bool()
    labels = torch.where(pick, ids, torch.full_like(ids, -100))
    return ids, mask, labels, int(lens.sum())


def peak_reset(dev):
    import torch
    if dev == 'cuda':
        torch.cuda.reset_peak_memory_stats()


def peak_mb(dev):
    import torch
    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if dev == 'cuda' else None


def graphs_compiled():
    """Graphs torch.compile has made so far in this process (one made inside the timed steps
    would put compilation in the figure)."""
    from torch._dynamo.utils import counters
    return counters['stats']['unique_graphs']


def train(a):
    import torch, transformers as T
    dev = a.device
    torch.manual_seed(0)
    cfg = T.BertConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                       num_attention_heads=a.heads, intermediate_size=4 * a.hidden,
                       max_position_embeddings=max(512, a.seq))
    cfg._attn_implementation = 'sdpa'
    m = T.BertForMaskedLM(cfg).to(dev).train()
    params = sum(p.numel() for p in m.parameters())
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, fused=(dev == 'cuda'))
    model = torch.compile(m) if a.mode == 'compile' else m
    g = torch.Generator(device=dev).manual_seed(0)

    def step(ids, mask, labels):
        with torch.autocast(dev, dtype=torch.bfloat16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    works = [('full', True)] + ([('varlen', False)] if a.min_len else [])
    for work, full in works:
        t_start = time.perf_counter()
        for _ in range(a.warmup):
            step(*batch_inputs(a, g, full)[:3])
        sync(dev)
        warm_s = time.perf_counter() - t_start
        batches = [batch_inputs(a, g, full) for _ in range(a.steps)]
        peak_reset(dev)
        graphs0 = graphs_compiled()
        sync(dev)
        t0 = time.perf_counter()
        for ids, mask, labels, _ in batches:
            loss = step(ids, mask, labels)
        sync(dev)
        dt = (time.perf_counter() - t0) / a.steps
        recompiled = graphs_compiled() - graphs0
        real = sum(b[3] for b in batches) / a.steps
        emit(impl='torch', kind='train', mode=a.mode, precision='bf16', work=work, device=dev,
             L=a.layers, H=a.hidden, V=a.vocab, seq=a.seq, batch=a.batch, min_len=a.min_len if not full else a.seq,
             params=params, step_ms=round(dt * 1e3, 2), tokens_per_s=round(a.batch * a.seq / dt, 1),
             real_tokens_per_s=round(real / dt, 1), mem_MB=peak_mb(dev), warmup_s=round(warm_s, 1),
             graphs_compiled_in_timing=recompiled,
             loss=round(loss.item(), 4), torch=torch.__version__,
             gpu=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu')


def infer(a):
    import torch, transformers as T
    dev = a.device
    torch.manual_seed(0)
    cfg = T.RobertaConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                          num_attention_heads=a.heads, intermediate_size=4 * a.hidden,
                          max_position_embeddings=a.seq + 2, num_labels=1)
    cfg._attn_implementation = 'sdpa'
    m = T.RobertaForSequenceClassification(cfg).to(dev).eval().to(torch.bfloat16)
    params = sum(p.numel() for p in m.parameters())
    g = torch.Generator(device=dev).manual_seed(0)
    works = [('full', True)] + ([('varlen', False)] if a.min_len else [])
    with torch.inference_mode():
        for work, full in works:
            for _ in range(a.warmup):
                ids, mask, _, _ = batch_inputs(a, g, full)
                m(input_ids=ids, attention_mask=mask)
            batches = [batch_inputs(a, g, full) for _ in range(a.steps)]
            peak_reset(dev)
            sync(dev)
            t0 = time.perf_counter()
            for ids, mask, _, _ in batches:
                m(input_ids=ids, attention_mask=mask)
            sync(dev)
            dt = (time.perf_counter() - t0) / a.steps
            real = sum(b[3] for b in batches) / a.steps
            emit(impl='torch', kind='infer', mode='eager', precision='bf16', work=work, device=dev,
                 L=a.layers, H=a.hidden, V=a.vocab, seq=a.seq, batch=a.batch,
                 min_len=a.min_len if not full else a.seq, params=params,
                 step_ms=round(dt * 1e3, 2), seq_per_s=round(a.batch / dt, 1),
                 tokens_per_s=round(a.batch * a.seq / dt, 1), real_tokens_per_s=round(real / dt, 1),
                 mem_MB=peak_mb(dev))


def is_infer(r):
    return r.get('kind') == 'infer' or r.get('mode') == 'infer'


def flops_per_token(r):
    """The training step's FLOPs per position (see the top); inference a third."""
    f = 6 * r['params'] + 12 * r['L'] * r['seq'] * r['H']
    return f / 3 if is_infer(r) else f


def table(files):
    rows, ceiling = [], None
    for fn in files:
        try:
            lines = open(fn).read().splitlines()
        except OSError as e:
            print(f'{fn}: {e.strerror}', file=sys.stderr)
            continue
        for i, line in enumerate(lines):
            if not line.startswith('{'):
                continue
            try:
                r = json.loads(line)
            except ValueError:
                print(f'{fn}:{i + 1}: not a JSON line, left out', file=sys.stderr)
                continue
            if r.get('kind') == 'gemm':
                ceiling = max(ceiling or 0, r['tflops'])
                print(f"bf16 GEMM {r['m']} x {r['k']} x {r['n']}: {r['tflops']} TFLOP/s")
            else:
                rows.append(r)
    print(f"ceiling for MFU: {ceiling} TFLOP/s (the largest bf16 GEMM above)\n" if ceiling else
          "ceiling for MFU: not measured\n")
    def key(r):
        return (is_infer(r), -r['L'], -r['H'], r['V'], r['seq'], r['batch'], -r['min_len'])

    def who(r):
        if r['impl'] == 'torch':
            return f"torch {r['mode']}" + (' (compiled while timed)' if r.get('graphs_compiled_in_timing') else '')
        return (f"ordo {r['device']}" + ('' if is_infer(r) else f" head {r['head']}")
                + (f" @{r['build']}" if r.get('build') else ''))

    # the reference of each workload: torch.compile for training, PyTorch eager for inference
    refs = {key(r): r for r in rows if r['impl'] == 'torch' and r['mode'] == ('eager' if is_infer(r) else 'compile')}
    order = {'torch eager': 0, 'torch compile': 1}
    rows.sort(key=lambda r: (key(r), order.get(who(r), 2), who(r)))
    head = ('| model | who | precision | work | tokens/s (computed) | real tokens/s | sequences/s '
            '| TFLOP/s | MFU | peak MB | vs reference |')
    print(head)
    print('|' + ' --- |' * (head.count('|') - 1))
    for r in rows:
        infer = is_infer(r)
        model = f"L{r['L']} H{r['H']} V{r['V']} seq {r['seq']} batch {r['batch']}" + (' infer' if infer else '')
        if r['impl'] == 'torch':
            prec = 'bf16' + ('' if infer else ' autocast')
        else:
            prec = 'fp32' if r['precision'] == 'f32' else f"{r['precision']} storage, 16-bit products"
        work = 'full length' if r['min_len'] >= r['seq'] else f"lengths {r['min_len']}-{r['seq']}, padded"
        tf = flops_per_token(r) * r['tokens_per_s'] / 1e12
        mfu = f'{100 * tf / ceiling:.1f}%' if ceiling else '-'
        sps = r.get('seq_per_s') or r['tokens_per_s'] / r['seq']
        ref = refs.get(key(r))
        vs = f"{r['tokens_per_s'] / ref['tokens_per_s']:.2f}x {who(ref)}" if ref and ref is not r else '-'
        print(f"| {model} | {who(r)} | {prec} | {work} | {r['tokens_per_s']:,.0f} | {r['real_tokens_per_s']:,.0f} "
              f"| {sps:,.1f} | {tf:.2f} | {mfu} | {r['mem_MB'] if r['mem_MB'] is not None else '-'} | {vs} |")
    print('\nTFLOP/s: (6 * params + 12 * L * seq * H) FLOPs per position computed, padding included '
          '(inference: a third); for ordo\'s masked head that counts the full head\'s work it skipped. '
          'peak MB: torch.cuda.max_memory_allocated; ordo: the device memory its backend holds '
          '(cudaMemGetInfo less the CUDA context), everything being allocated before the first step.')


def profile(files):
    """Where the GPU time of ncu's kernels went (ncu --csv --page raw --print-units base with the
    metric gpu__time_duration.sum): per kernel family and per kernel, launches, milliseconds and
    the share of the total. ncu runs the kernels one at a time, so the sum is the GPU's busy time
    with nothing overlapped."""
    import csv
    per = {}
    for fn in files:
        rows = list(csv.reader(open(fn, errors='replace')))
        hdr = next((i for i, r in enumerate(rows) if 'Kernel Name' in r and 'gpu__time_duration.sum' in r), None)
        if hdr is None:
            print(f'{fn}: no ncu table with Kernel Name and gpu__time_duration.sum', file=sys.stderr)
            continue
        ki, ti = rows[hdr].index('Kernel Name'), rows[hdr].index('gpu__time_duration.sum')
        for r in rows[hdr + 1:]:
            try:
                ns = float(r[ti].replace(',', ''))
            except (ValueError, IndexError):
                continue  # the units row
            name = r[ki]
            n, t = per.get(name, (0, 0.0))
            per[name] = (n + 1, t + ns)
    total = sum(t for _, t in per.values())
    if not total:
        print('no kernel times found')
        return

    def family(name):
        low = name.lower()
        for fam, keys in [('matrix products (cuBLASLt)', ('gemm', 'xmma', 'cutlass', 'sm90_', 'sm80_', 'splitk', 'reduce_kernel')),
                          ('attention softmax and its backward', ('softmax', 'dbias_sum')),
                          ('layernorm', ('layernorm',)), ('dropout', ('dropout',)),
                          ('activations', ('gelu', 'tanh_')), ('optimizer and norms', ('adam', 'sumsq')),
                          ('conversions and rounding', ('convert', 'round_', 'scale_block')),
                          ('embedding', ('embed',)), ('losses', ('crossentropy', 'mse_', 'bce_', 'mean_f64')),
                          ('bias broadcast and column sums', ('bias_rows', 'colsum')),
                          ('residual adds, axpy, scale, fill', ('add_kernel', 'residual', 'axpy', 'scale_kernel', 'fill_kernel'))]:
            if any(k in low for k in keys):
                return fam
        return 'other'
    fams = {}
    for name, (n, t) in per.items():
        f = family(name)
        fn_, ft = fams.get(f, (0, 0.0))
        fams[f] = (fn_ + n, ft + t)
    print(f'GPU kernel time: {total / 1e6:.2f} ms over {sum(n for n, _ in per.values())} launches\n')
    print('| kernel family | launches | ms | share |\n| --- | --- | --- | --- |')
    for f, (n, t) in sorted(fams.items(), key=lambda x: -x[1][1]):
        print(f'| {f} | {n} | {t / 1e6:.2f} | {100 * t / total:.1f}% |')
    print('\n| kernel (top 15) | launches | ms | share |\n| --- | --- | --- | --- |')
    for name, (n, t) in sorted(per.items(), key=lambda x: -x[1][1])[:15]:
        short = name if len(name) <= 70 else name[:67] + '...'
        print(f'| {short} | {n} | {t / 1e6:.2f} | {100 * t / total:.1f}% |')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=['gemm', 'train', 'infer', 'table', 'profile'])
    p.add_argument('files', nargs='*')
    p.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    p.add_argument('--small', action='store_true')
    for f, d in [('layers', 12), ('hidden', 768), ('heads', 12), ('vocab', 50265), ('seq', 512),
                 ('batch', 32), ('min_len', 0), ('steps', 10), ('warmup', 5)]:
        p.add_argument('--' + f.replace('_', '-'), type=int, default=d)
    p.add_argument('--mode', default='eager', choices=['eager', 'compile'])
    a = p.parse_args()
    for f in ['layers', 'hidden', 'heads', 'vocab', 'seq', 'batch', 'steps']:
        if getattr(a, f) < 1:
            p.error(f'--{f} must be at least 1, got {getattr(a, f)}')
    if a.hidden % a.heads:
        p.error(f'--hidden {a.hidden} is not a multiple of --heads {a.heads}')
    if a.min_len and not 1 <= a.min_len <= a.seq:
        p.error(f'--min-len {a.min_len} is not in [1, --seq {a.seq}]')
    if a.what == 'table':
        table(a.files)
    elif a.what == 'profile':
        profile(a.files)
    else:
        dict(gemm=gemm, train=train, infer=infer)[a.what](a)


if __name__ == '__main__':
    main()
