#!/usr/bin/env python3
"""Derives the constants of src/cpu/vecmath.h (ordo's own vectorizable exp and normal CDF).

Run by hand only: nothing in the build or the tests runs it; its printed constants are pasted
into vecmath.h. numpy and scipy (erfcx) are all it needs.

  python3 tools/ref/fit_vecmath.py [--exp-degree 5] [--q-degree 5]

Two fits, each a near-minimax fit of the relative error (least squares reweighted by Lawson's
rule until the error curve levels out):

- exp(r) on the reduced range |r| <= ln2/2 (plus a margin for the low part of a two-part
  argument) as 1 + r (c1 + r (c2 + ...)): the constant term is exactly 1, so exp(0) = 1.
- Q(a) = Phi(-a) exp(a^2 / 2) = erfcx(a / sqrt 2) / 2 on 0 <= a <= Q_MAX as a rational function
  P(a) / D(a) of equal degrees with D(0) = 1. Then Phi(-a) = exp(-a^2/2) Q(a) holds its
  relative accuracy in the whole negative tail, and Phi(a) = 1 - exp(-a^2/2) Q(a).
"""
import argparse
import math

import numpy as np
from scipy.special import erfcx

Q_MAX = 16.0  # beyond it GELU(-a) and its derivative are 0 in float (a Phi(-a) < 1e-56)
R_MAX = 0.5 * math.log(2.0) + 2e-3  # |r| of exp's reduction, with room for its roundings


def lawson(basis, target, weight0, iters=400):
    """Coefficients minimising max |basis @ c - target| * weight0 (approximately)."""
    w = np.ones(len(target)) / len(target)
    best = None
    for _ in range(iters):
        sw = np.sqrt(w) * weight0
        c, *_ = np.linalg.lstsq(basis * sw[:, None], target * sw, rcond=None)
        err = np.abs(basis @ c - target) * weight0
        if best is None or err.max() < best[1]:
            best = (c, err.max())
        w = w * err
        w /= w.sum()
    return best


def fit_exp(deg):
    r = np.linspace(-R_MAX, R_MAX, 20001)
    e = np.exp(r)
    # e - 1 = r c1 + r^2 c2 + ... ; relative error weight 1 / e
    basis = np.stack([r ** k for k in range(1, deg + 1)], axis=1)
    c, err = lawson(basis, e - 1.0, 1.0 / e)
    # round to float one coefficient at a time, low order first, refitting the ones above it
    c32 = np.zeros(deg)
    for k in range(deg):
        rest = basis[:, k:]
        ck, _ = lawson(rest, e - 1.0 - basis[:, :k] @ c32[:k], 1.0 / e, iters=200)
        c32[k] = float(np.float32(ck[0]))
    err32 = np.abs((1.0 + basis @ c32) / e - 1.0).max()
    return c32, err, err32


def q_of(a):
    return 0.5 * erfcx(a / math.sqrt(2.0))


def g_of(a):
    """1 / M(a) - a, M(a) = sqrt(2 pi) Q(a) the Mills ratio (1 - Phi(a)) / phi(a)"""
    return 1.0 / (math.sqrt(2.0 * math.pi) * q_of(a)) - a


def fit_q(deg, iters=60):
    """P / D with D(0) = 1, linearised (P - Q D = 0 weighted by 1 / (Q D_prev)), Lawson weights."""
    a = np.concatenate([np.linspace(0.0, Q_MAX, 30001)])
    q = g_of(a)
    # the error that reaches M = 1 / (a + g) relatively: |g_fit - g| / (a + g)
    rel = a + q
    scale = Q_MAX / 2.0  # fit in t = a / scale: better conditioned, rescaled at the end
    t = a / scale
    pb = np.stack([t ** k for k in range(deg + 1)], axis=1)
    db = np.stack([t ** k for k in range(1, deg + 1)], axis=1)
    d_prev = np.ones_like(t)
    w = np.ones_like(t) / len(t)
    best = None
    for _ in range(iters):
        for _ in range(20):
            sw = np.sqrt(w) / (rel * d_prev)
            A = np.concatenate([pb, -(q[:, None] * db)], axis=1) * sw[:, None]
            sol, *_ = np.linalg.lstsq(A, q * sw, rcond=None)
            p_c, d_c = sol[: deg + 1], np.concatenate([[1.0], sol[deg + 1 :]])
            num = pb @ p_c
            den = np.stack([t ** k for k in range(deg + 1)], axis=1) @ d_c
            err = np.abs(num / den - q) / rel
            if best is None or err.max() < best[2]:
                best = (p_c, d_c, err.max())
            w = w * err
            w /= w.sum()
        d_prev = den
    p_c, d_c, err = best
    # back to powers of a
    p_a = np.array([p_c[k] / scale ** k for k in range(deg + 1)])
    d_a = np.array([d_c[k] / scale ** k for k in range(deg + 1)])
    # scaled so that P(0) = 1: D(0) = 1 / g(0) = sqrt(pi / 2) is then within 1.2e-10 of its
    # float, where g(0) = sqrt(2 / pi) as a float is 4.9e-8 off (the value at a = 0 rests on it).
    # D rounded to float and kept; P refitted with it, one float coefficient at a time
    # Then P scaled by sqrt(2 pi): N / (a sqrt(2 pi) N + sqrt(2 pi) M) is Q = R / sqrt(2 pi) itself.
    b = math.sqrt(2.0 * math.pi)
    d_a, p_a = d_a / p_a[0], p_a / p_a[0] * b
    q, rel = q * b, rel * b
    d32 = d_a.astype(np.float32).astype(np.float64)
    A = np.stack([a ** k for k in range(deg + 1)], axis=1)
    den = A @ d32
    p32 = np.zeros(deg + 1)
    for k in range(deg + 1):
        pk, _ = lawson(A[:, k:], q * den - A[:, :k] @ p32[:k], 1.0 / (rel * den), iters=200)
        p32[k] = float(np.float32(pk[0]))
    err32 = (np.abs((A @ p32) / (A @ d32) - q) / rel).max()
    return p32, d32, err, err32


S_MAX = 0.25  # |x| below which GELU takes the odd polynomial


def fit_s(deg):
    """(Phi(x) - 1/2) / x = S(x^2) on |x| <= S_MAX, weighted for GELU's relative error:
    GELU = x / 2 + x^2 S(x^2), so an error dS moves GELU by x dS relative to Phi(x)."""
    from scipy.special import ndtr

    x = np.linspace(1e-6, S_MAX, 20001)
    f = (ndtr(x) - 0.5) / x
    y = x * x
    basis = np.stack([y ** k for k in range(deg + 1)], axis=1)
    wt = x / ndtr(x)
    c32 = np.zeros(deg + 1)
    for k in range(deg + 1):
        ck, _ = lawson(basis[:, k:], f - basis[:, :k] @ c32[:k], wt, iters=200)
        c32[k] = float(np.float32(ck[0]))
    err32 = (np.abs(basis @ c32 - f) * wt).max()
    return c32, err32


def show(name, cs):
    for i, c in enumerate(cs):
        print(f"#define {name}{i} {np.float32(c)!r:>16}f".replace("np.float32(", "").replace(")", ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exp-degree", type=int, default=5)
    ap.add_argument("--q-degree", type=int, default=5)
    ap.add_argument("--s-degree", type=int, default=3)
    args = ap.parse_args()
    c, err, err32 = fit_exp(args.exp_degree)
    print(f"/* exp: degree {args.exp_degree} on |r| <= {R_MAX:.4f}: relative error {err:.3g} "
          f"(float coefficients {err32:.3g}) */")
    show("VM_EXP_C", np.concatenate([[1.0], c]))
    p, d, err, err32 = fit_q(args.q_degree)
    print(f"/* g: degree {args.q_degree}/{args.q_degree} on [0, {Q_MAX}]: relative error {err:.3g} "
          f"(float coefficients {err32:.3g}) */")
    show("VM_G_P", p)
    show("VM_G_D", d)
    c, err32 = fit_s(args.s_degree)
    print(f"/* S: degree {args.s_degree} in x^2 on |x| <= {S_MAX}: error passed to GELU {err32:.3g} */")
    show("VM_S_C", c)


if __name__ == "__main__":
    main()
