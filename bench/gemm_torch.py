"""The products of bench_gemm_libs timed in PyTorch (its CPU matrix products: MKL in the
PyPI wheels), same shapes, transposes and thread count, best of --reps. Prints GFLOP/s per
product and one step's total in the same rows as bench_gemm_libs, to read beside it.

    python bench/gemm_torch.py [--threads N] [--reps N]
"""
import argparse
import time

import torch

T, H, I, V, MASK = 2048, 256, 1024, 8192, 308
SHAPES = [  # what, M, N, K, A transposed, B transposed, times per step (masked head)
    ("qkv fwd", T, 3 * H, H, 0, 1, 4), ("qkv dX", T, H, 3 * H, 0, 0, 4), ("qkv dW", 3 * H, H, T, 1, 0, 4),
    ("attn-out fwd", T, H, H, 0, 1, 4), ("attn-out dX", T, H, H, 0, 0, 4), ("attn-out dW", H, H, T, 1, 0, 4),
    ("ffn-up fwd", T, I, H, 0, 1, 4), ("ffn-up dX", T, H, I, 0, 0, 4), ("ffn-up dW", I, H, T, 1, 0, 4),
    ("ffn-down fwd", T, H, I, 0, 1, 4), ("ffn-down dX", T, I, H, 0, 0, 4), ("ffn-down dW", H, I, T, 1, 0, 4),
    ("head fwd (masked)", MASK, V, H, 0, 1, 1), ("head dX (masked)", MASK, H, V, 0, 0, 1),
    ("head dW (masked)", V, H, MASK, 1, 0, 1),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, BLAS: {torch.backends.mkl.is_available() and 'MKL' or 'other'}, "
          f"{a.threads} thread(s), best of {a.reps}")
    print("| product | M x N x K | PyTorch GFLOP/s |\n| --- | --- | --- |")
    step = 0.0
    for what, m, n, k, ta, tb, per in SHAPES:
        A = torch.rand(k, m) - 0.5 if ta else torch.rand(m, k) - 0.5
        B = torch.rand(n, k) - 0.5 if tb else torch.rand(k, n) - 0.5
        A, B = (A.t() if ta else A), (B.t() if tb else B)
        C = torch.empty(m, n)
        best = 1e30
        for _ in range(a.reps):
            t0 = time.perf_counter()
            torch.mm(A, B, out=C)
            best = min(best, time.perf_counter() - t0)
        step += per * best
        print(f"| {what} | {m} x {n} x {k} | {2 * m * n * k / best * 1e-9:.1f} |")
    print(f"| **one step's products, masked head (ms)** | | {step * 1e3:.1f} |")


if __name__ == "__main__":
    main()
