/* The fast CPU backend (ops_cpu) against the reference (ops_cpu_ref) on random inputs of odd
 * sizes, every gradient starting from the same random nonzero buffer (so += is compared too),
 * and bit-identical repeats of the fast path. Where the fast path partitions the work itself
 * by the sizes only ((batch, head) pairs, column blocks, fixed loss chunks, pointwise blocks),
 * the ops are also checked to give the same bits at 1 OpenMP thread and at several. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/ops.h"
#include "ordo/rng.h"

/* Tolerances, each with its reason:
 * - products through sgemm: OpenBLAS blocks and vectorizes the K-sum (K <= 160 here) in
 *   another order than the reference loop; fp32 reordering error grows like sqrt(K) * 6e-8,
 *   about 1e-6, so 1e-5 bounds it while a wrong index or missing term gives > 1e-2. */
#define TOL_GEMM 1e-5
/* - SIMD reductions (layernorm mean/var, softmax sums over <= 101 terms) reorder sums the
 *   same way; the layernorm input gradient also subtracts two such means (cancellation). */
#define TOL_REDUCE 1e-5
/* - pointwise ops and same-order sums: the same formula; FMA contraction may differ between
 *   the vectorized and scalar code, the fast path's tanhf is glibc's vector version and its
 *   GELU ordo's own exp and normal CDF (within 4 ulp of double, tests/cpu/test_vecmath.c),
 *   a few ulp from the scalar libm ones (GELU: 3.5e-8 here): bounded by 1e-6. */
#define TOL_POINT 1e-6

static int g_verbose;

#define EXPECT_REL(what, a, b, n, tol)                                                    \
  do {                                                                                    \
    double e_ = rel_err_f32(a, b, n);                                                         \
    if (g_verbose) printf("  %-24s rel err %.3g (bound %g)\n", what, e_, (double)(tol));  \
    EXPECT(e_ <= (tol), "%s: rel err %.3g > %g", what, e_, (double)(tol));                \
  } while (0)
#define EXPECT_SAME(what, a, b, n) \
  EXPECT(memcmp(a, b, (size_t)(n) * sizeof(float)) == 0, "%s: repeat not bit-identical", what)

static float *frand(ordo_rng *r, int64_t n, float lo, float hi) {
  float *f = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) f[i] = lo + (hi - lo) * rng_uniform(r);
  return f;
}
static float *fcopy(const float *s, int64_t n) {
  float *f = malloc((size_t)n * sizeof(float));
  memcpy(f, s, (size_t)n * sizeof(float));
  return f;
}

static const ordo_ops *R, *F;
static int nthr; /* the thread count in force at start, restored after 1-thread runs */

/* ---- embeddings ----------------------------------------------------------------------- */
static void test_embed(ordo_rng *r) {
  enum { BT = 37, C = 48, V = 101, P = 13, TT = 2 };
  int32_t ids[BT], pos[BT], tt[BT];
  for (int i = 0; i < BT; i++) ids[i] = (int32_t)rng_below(r, 20), pos[i] = i % P, tt[i] = i % TT;
  float *wte = frand(r, V * C, -1, 1), *wpe = frand(r, P * C, -1, 1), *wtt = frand(r, TT * C, -1, 1);
  float *o1 = frand(r, BT * C, 0, 1), *o2 = frand(r, BT * C, 0, 1), *o3 = frand(r, BT * C, 0, 1);
  R->embed_forward(NULL, o1, ids, pos, tt, wte, wpe, wtt, BT, C);
  F->embed_forward(NULL, o2, ids, pos, tt, wte, wpe, wtt, BT, C);
  F->embed_forward(NULL, o3, ids, pos, tt, wte, wpe, wtt, BT, C);
  EXPECT_REL("embed fwd", o2, o1, BT * C, TOL_POINT);
  EXPECT_SAME("embed fwd", o2, o3, BT * C);

  float *d = frand(r, BT * C, -1, 1);
  float *g[3][3]; /* [ref, fast, fast again][wte, wpe, wtt] */
  float *base[3] = {frand(r, V * C, -1, 1), frand(r, P * C, -1, 1), frand(r, TT * C, -1, 1)};
  const int64_t n[3] = {V * C, P * C, TT * C};
  for (int k = 0; k < 3; k++)
    for (int j = 0; j < 3; j++) g[k][j] = fcopy(base[j], n[j]);
  R->embed_backward(NULL, g[0][0], g[0][1], g[0][2], d, ids, pos, tt, BT, C);
  F->embed_backward(NULL, g[1][0], g[1][1], g[1][2], d, ids, pos, tt, BT, C);
  omp_set_num_threads(1);
  F->embed_backward(NULL, g[2][0], g[2][1], g[2][2], d, ids, pos, tt, BT, C);
  omp_set_num_threads(nthr);
  const char *nm[3] = {"embed dwte", "embed dwpe", "embed dwtt"};
  for (int j = 0; j < 3; j++) {
    EXPECT_REL(nm[j], g[1][j], g[0][j], n[j], TOL_POINT);
    EXPECT_SAME(nm[j], g[1][j], g[2][j], n[j]); /* 1 thread vs all: same bits */
  }
  for (int k = 0; k < 3; k++)
    for (int j = 0; j < 3; j++) free(g[k][j]);
  for (int j = 0; j < 3; j++) free(base[j]);
  free(wte), free(wpe), free(wtt), free(o1), free(o2), free(o3), free(d);
}

/* ---- layernorm ------------------------------------------------------------------------ */
static void test_layernorm(ordo_rng *r) {
  enum { N = 37, C = 48 };
  float *x = frand(r, N * C, -2, 3), *w = frand(r, C, 0.5f, 1.5f), *b = frand(r, C, -1, 1);
  float o1[N * C], o2[N * C], o3[N * C], m1[N], m2[N], m3[N], s1[N], s2[N], s3[N];
  R->layernorm_forward(NULL, o1, m1, s1, x, w, b, 1e-5f, N, C);
  F->layernorm_forward(NULL, o2, m2, s2, x, w, b, 1e-5f, N, C);
  F->layernorm_forward(NULL, o3, m3, s3, x, w, b, 1e-5f, N, C);
  EXPECT_REL("ln fwd", o2, o1, N * C, TOL_REDUCE);
  EXPECT_REL("ln mean", m2, m1, N, TOL_REDUCE);
  EXPECT_REL("ln rstd", s2, s1, N, TOL_REDUCE);
  EXPECT_SAME("ln fwd", o2, o3, N * C);

  float *d = frand(r, N * C, -1, 1), *bx = frand(r, N * C, -1, 1), *bw = frand(r, C, -1, 1),
        *bb = frand(r, C, -1, 1);
  float *gx[3], *gw[3], *gb[3];
  for (int k = 0; k < 3; k++) gx[k] = fcopy(bx, N * C), gw[k] = fcopy(bw, C), gb[k] = fcopy(bb, C);
  R->layernorm_backward(NULL, gx[0], ORDO_ACCUMULATE, gw[0], gb[0], d, x, w, m1, s1, N, C);
  F->layernorm_backward(NULL, gx[1], ORDO_ACCUMULATE, gw[1], gb[1], d, x, w, m1, s1, N, C);
  omp_set_num_threads(1);
  F->layernorm_backward(NULL, gx[2], ORDO_ACCUMULATE, gw[2], gb[2], d, x, w, m1, s1, N, C);
  omp_set_num_threads(nthr);
  EXPECT_REL("ln dinp", gx[1], gx[0], N * C, TOL_REDUCE);
  EXPECT_REL("ln dw", gw[1], gw[0], C, TOL_POINT);
  EXPECT_REL("ln db", gb[1], gb[0], C, TOL_POINT);
  EXPECT_SAME("ln dinp", gx[1], gx[2], N * C);
  EXPECT_SAME("ln dw", gw[1], gw[2], C);
  EXPECT_SAME("ln db", gb[1], gb[2], C);
  for (int k = 0; k < 3; k++) free(gx[k]), free(gw[k]), free(gb[k]);
  free(x), free(w), free(b), free(d), free(bx), free(bw), free(bb);
}

/* ---- acc = ORDO_OVERWRITE ---------------------------------------------------------------
 * On both backends: the input gradient written over a buffer of NaNs (never read) is the same
 * bits as the one accumulated onto zeros, and the parameter gradients still accumulate. */
static void test_overwrite_backend(ordo_rng *r, const ordo_ops *o) {
  enum { N = 37, C = 48, P = 3 * 4096 + 77 }; /* P: several pointwise blocks and a tail */
  float *x = frand(r, P, -4, 4), *d = frand(r, P, -1, 1), *w = frand(r, C, 0.5f, 1.5f);
  float *zero = calloc(P, sizeof(float)), *nan = malloc(P * sizeof(float));
  float m[N], s[N], ln[N * C], t[P];
  o->layernorm_forward(NULL, ln, m, s, x, w, NULL, 1e-5f, N, C);
  o->tanh_forward(NULL, t, x, P);
  for (int k = 0; k < 4; k++) {
    float dw[2][C] = {{0}};
    for (int i = 0; i < P; i++) nan[i] = NAN;
    memset(zero, 0, P * sizeof(float));
    const char *what = k == 0 ? "ln" : k == 1 ? "gelu" : k == 2 ? "gelu_tanh" : "tanh";
    int n = k == 0 ? N * C : P;
    if (k == 0) {
      o->layernorm_backward(NULL, zero, ORDO_ACCUMULATE, dw[0], NULL, d, x, w, m, s, N, C);
      o->layernorm_backward(NULL, nan, ORDO_OVERWRITE, dw[1], NULL, d, x, w, m, s, N, C);
      EXPECT_SAME("overwrite ln dw", dw[0], dw[1], C);
    } else if (k == 1) {
      o->gelu_backward(NULL, zero, ORDO_ACCUMULATE, x, d, P);
      o->gelu_backward(NULL, nan, ORDO_OVERWRITE, x, d, P);
    } else if (k == 2) {
      o->gelu_tanh_backward(NULL, zero, ORDO_ACCUMULATE, x, d, P);
      o->gelu_tanh_backward(NULL, nan, ORDO_OVERWRITE, x, d, P);
    } else {
      o->tanh_backward(NULL, zero, ORDO_ACCUMULATE, t, d, P);
      o->tanh_backward(NULL, nan, ORDO_OVERWRITE, t, d, P);
    }
    EXPECT(memcmp(zero, nan, (size_t)n * sizeof(float)) == 0, "%s %s: overwrite differs from += onto zeros",
           o->name, what);
    if (k == 0) /* past the rows: untouched */
      EXPECT(isnan(nan[N * C]), "%s ln: overwrite wrote past its rows", o->name);
  }
  free(x), free(d), free(w), free(zero), free(nan);
  /* attention_backward's dqkv, with attention dropout (its products' beta on the fast path) */
  enum { B = 2, T = 9, AC = 16, NH = 2 };
  float *qkv = frand(r, B * T * 3 * AC, -1, 1), *dout = frand(r, B * T * AC, -1, 1);
  float out[B * T * AC], att[B * NH * T * T], scr[B * NH * T * T], g0[B * T * 3 * AC],
      g1[B * T * 3 * AC];
  for (float p = 0.0f; p < 0.3f; p += 0.2f) {
    o->attention_forward(NULL, out, att, scr, qkv, NULL, 0, NULL, p, 7, 3, B, T, AC, NH);
    memset(g0, 0, sizeof g0);
    for (int i = 0; i < B * T * 3 * AC; i++) g1[i] = NAN;
    o->attention_backward(NULL, g0, ORDO_ACCUMULATE, NULL, scr, dout, qkv, att, NULL, p, 7, 3, B,
                          T, AC, NH);
    o->attention_backward(NULL, g1, ORDO_OVERWRITE, NULL, scr, dout, qkv, att, NULL, p, 7, 3, B,
                          T, AC, NH);
    EXPECT(memcmp(g0, g1, sizeof g0) == 0, "%s attention p=%g: overwrite differs from += onto zeros",
           o->name, p);
  }
  free(qkv), free(dout);
  /* crossentropy_backward's dlogits: the ignored rows written as zeros */
  enum { CN = 9, CV = 37, IGN = -100 };
  int32_t tg[CN];
  for (int i = 0; i < CN; i++) tg[i] = i % 3 == 1 ? IGN : (int32_t)rng_below(r, CV);
  float *cl = frand(r, CN * CV, -3, 3), pr[CN * CV], c0[CN * CV] = {0}, c1[CN * CV], loss;
  o->crossentropy_forward(NULL, &loss, pr, cl, tg, IGN, CN, CV);
  for (int i = 0; i < CN * CV; i++) c1[i] = NAN;
  o->crossentropy_backward(NULL, c0, ORDO_ACCUMULATE, pr, tg, IGN, -0.3f, CN, CV);
  o->crossentropy_backward(NULL, c1, ORDO_OVERWRITE, pr, tg, IGN, -0.3f, CN, CV);
  EXPECT(memcmp(c0, c1, sizeof c0) == 0, "%s crossentropy: overwrite differs from += onto zeros",
         o->name);
  free(cl);
}
static void test_overwrite(ordo_rng *r) {
  test_overwrite_backend(r, R);
  test_overwrite_backend(r, F);
}

/* ---- linear layer --------------------------------------------------------------------- */
static void test_matmul_size(ordo_rng *r, int N, int IN, int OUT) {
  float *x = frand(r, (int64_t)N * IN, -1, 1), *w = frand(r, (int64_t)OUT * IN, -1, 1);
  float *b = frand(r, OUT, -1, 1);
  int64_t no = (int64_t)N * OUT, ni = (int64_t)N * IN, nw = (int64_t)OUT * IN;
  float *o1 = frand(r, no, 0, 1), *o2 = frand(r, no, 0, 1), *o3 = frand(r, no, 0, 1);
  for (int withb = 0; withb < 2; withb++) {
    const float *bias = withb ? b : NULL;
    R->matmul_forward(NULL, o1, x, w, bias, N, IN, OUT);
    F->matmul_forward(NULL, o2, x, w, bias, N, IN, OUT);
    F->matmul_forward(NULL, o3, x, w, bias, N, IN, OUT);
    EXPECT_REL(withb ? "mm fwd" : "mm fwd no bias", o2, o1, no, TOL_GEMM);
    EXPECT_SAME("mm fwd", o2, o3, no);
  }
  float *d = frand(r, no, -1, 1), *bx = frand(r, ni, -1, 1), *bw = frand(r, nw, -1, 1),
        *bb = frand(r, OUT, -1, 1);
  float *gx[3], *gw[3], *gb[3];
  for (int k = 0; k < 3; k++) gx[k] = fcopy(bx, ni), gw[k] = fcopy(bw, nw), gb[k] = fcopy(bb, OUT);
  R->matmul_backward(NULL, gx[0], gw[0], gb[0], d, x, w, N, IN, OUT);
  F->matmul_backward(NULL, gx[1], gw[1], gb[1], d, x, w, N, IN, OUT);
  F->matmul_backward(NULL, gx[2], gw[2], gb[2], d, x, w, N, IN, OUT);
  EXPECT_REL("mm dinp", gx[1], gx[0], ni, TOL_GEMM);
  EXPECT_REL("mm dw", gw[1], gw[0], nw, TOL_GEMM);
  EXPECT_REL("mm dbias", gb[1], gb[0], OUT, TOL_POINT);
  EXPECT_SAME("mm dinp", gx[1], gx[2], ni);
  EXPECT_SAME("mm dw", gw[1], gw[2], nw);
  EXPECT_SAME("mm dbias", gb[1], gb[2], OUT);
  /* NULL gradients: the others unchanged */
  float *gw3 = fcopy(bw, nw);
  F->matmul_backward(NULL, NULL, gw3, NULL, d, x, w, N, IN, OUT);
  EXPECT_SAME("mm dw alone", gw3, gw[1], nw);
  free(gw3);
  for (int k = 0; k < 3; k++) free(gx[k]), free(gw[k]), free(gb[k]);
  free(x), free(w), free(b), free(o1), free(o2), free(o3), free(d), free(bx), free(bw), free(bb);
}

/* ---- attention ------------------------------------------------------------------------ */
/* At dropout probability pdrop (0: the plain op, forward scratch NULL). */
static void test_attention_p(ordo_rng *r, float pdrop, int causal) {
  enum { B = 4, T = 13, C = 48, NH = 3 };
  enum { NQ = B * T * 3 * C, NO = B * T * C, NA = B * NH * T * T };
  const uint64_t seed = 77, offset = ((uint64_t)5 << 40) + 3; /* partial first Philox block */
  const int len[B] = {13, 7, 1, 0}; /* full, partial, one token, all padding */
  int32_t mask[B * T];
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) mask[b * T + t] = t < len[b];
  float *qkv = frand(r, NQ, -2, 2);
  /* sequence 0, head 0: large q and k, so that many scores lie more than 87 below the max */
  for (int t = 0; t < T; t++)
    for (int i = 0; i < C / NH; i++) qkv[t * 3 * C + i] *= 8.0f, qkv[t * 3 * C + C + i] *= 8.0f;
  float *o[3], *a[3], *g[3], *s = malloc(NA * sizeof(float));
  float *d = frand(r, NO, -1, 1), *base = frand(r, NQ, -1, 1);
  float *fs[3] = {NULL, NULL, NULL}; /* forward scratch: one per call, all needed when p > 0 */
  for (int k = 0; k < 3; k++) {
    o[k] = frand(r, NO, 0, 1), a[k] = frand(r, NA, 0, 1), g[k] = fcopy(base, NQ);
    if (pdrop > 0.0f) fs[k] = frand(r, NA, 0, 1);
  }
  R->attention_forward(NULL, o[0], a[0], fs[0], qkv, mask, causal, NULL, pdrop, seed, offset, B, T, C, NH);
  F->attention_forward(NULL, o[1], a[1], fs[1], qkv, mask, causal, NULL, pdrop, seed, offset, B, T, C, NH);
  F->attention_forward(NULL, o[2], a[2], fs[2], qkv, mask, causal, NULL, pdrop, seed, offset, B, T, C, NH);
  EXPECT_REL(pdrop > 0 ? "att fwd dropout" : "att fwd", o[1], o[0], NO, TOL_GEMM);
  EXPECT_REL(pdrop > 0 ? "att probs dropout" : "att probs", a[1], a[0], NA, TOL_GEMM);
  EXPECT_SAME("att fwd", o[1], o[2], NO);
  EXPECT_SAME("att probs", a[1], a[2], NA);
  int zeros = 1;
  for (int bh = 0; bh < B * NH; bh++)
    for (int t = 0; t < T; t++)
      for (int u = 0; u < T; u++)
        if (!mask[(bh / NH) * T + u]) zeros &= a[1][((int64_t)bh * T + t) * T + u] == 0.0f;
  EXPECT(zeros, "fast: padded keys get probability exactly 0");
  if (causal) {
    int future = 1;
    for (int bh = 0; bh < B * NH; bh++)
      for (int t = 0; t < T; t++)
        for (int u = t + 1; u < T; u++) future &= a[1][((int64_t)bh * T + t) * T + u] == 0.0f;
    EXPECT(future, "fast causal: keys after the query get probability exactly 0");
  }
  if (pdrop > 0.0f) {
    /* Both backends drop exactly the elements of the stated mask: Pd (left in scratch by
     * both) is zero exactly where philox_uniform(seed, offset + i) < p, for every element with
     * P > 0 (kept fractions: test_dropout.c). */
    int same = 1;
    for (int64_t i = 0; i < NA; i++) {
      int keep = philox_uniform(seed, offset + (uint64_t)i) >= pdrop;
      if (a[0][i] > 0.0f && a[1][i] > 0.0f) /* (the fast path flushes P below 1e-38) */
        same &= (fs[0][i] != 0.0f) == keep && (fs[1][i] != 0.0f) == keep;
    }
    EXPECT(same, "att dropout: fast and reference masks identical");
  }
  R->attention_backward(NULL, g[0], ORDO_ACCUMULATE, NULL, s, d, qkv, a[0], mask, pdrop, seed, offset, B, T, C, NH);
  F->attention_backward(NULL, g[1], ORDO_ACCUMULATE, NULL, s, d, qkv, a[0], mask, pdrop, seed, offset, B, T, C, NH);
  omp_set_num_threads(1); /* one sgemm per (batch, head) pair: same bits on 1 thread */
  F->attention_backward(NULL, g[2], ORDO_ACCUMULATE, NULL, s, d, qkv, a[0], mask, pdrop, seed, offset, B, T, C, NH);
  omp_set_num_threads(nthr);
  EXPECT_REL(pdrop > 0 ? "att dqkv dropout" : "att dqkv", g[1], g[0], NQ, TOL_GEMM);
  EXPECT_SAME("att dqkv", g[1], g[2], NQ);
  if (pdrop > 0.0f) {
    /* forward on 1 thread: the same bits (the mask depends on the element only) */
    float *o3 = frand(r, NO, 0, 1);
    omp_set_num_threads(1);
    F->attention_forward(NULL, o3, a[2], fs[2], qkv, mask, causal, NULL, pdrop, seed, offset, B, T, C, NH);
    omp_set_num_threads(nthr);
    EXPECT_SAME("att fwd dropout 1 thread", o3, o[1], NO);
    free(o3);
  }
  /* mask NULL == all real */
  F->attention_forward(NULL, o[2], a[2], fs[2], qkv, NULL, causal, NULL, pdrop, seed, offset, B, T, C, NH);
  R->attention_forward(NULL, o[0], a[0], fs[0], qkv, NULL, causal, NULL, pdrop, seed, offset, B, T, C, NH);
  EXPECT_REL("att fwd no mask", o[2], o[0], NO, TOL_GEMM);
  for (int k = 0; k < 3; k++) free(o[k]), free(a[k]), free(g[k]), free(fs[k]);
  free(qkv), free(s), free(d), free(base);
}

/* The cached (decoder) attention: the last Tq rows of one sequence's causal attention, from q
 * rows and the keys/values of every position, in both backends; Tq == T is the whole sequence. */
static void test_attention_cached(ordo_rng *r) {
  enum { T = 11, C = 24, NH = 3 };
  float *qkv = frand(r, T * 3 * C, -2, 2), *full = frand(r, T * C, 0, 1);
  float *att = frand(r, NH * T * T, 0, 1), *o0 = frand(r, T * C, 0, 1), *o1 = frand(r, T * C, 0, 1);
  R->attention_forward(NULL, full, att, NULL, qkv, NULL, 1, NULL, 0.0f, 1, 0, 1, T, C, NH);
  const int tqs[3] = {1, 3, T};
  for (int k = 0; k < 3; k++) {
    int Tq = tqs[k];
    const float *q = qkv + (size_t)(T - Tq) * 3 * C;
    R->attention_cached_forward(NULL, o0, att, q, qkv + C, qkv + 2 * C, 3 * C, 3 * C, Tq, T, C, NH);
    F->attention_cached_forward(NULL, o1, att, q, qkv + C, qkv + 2 * C, 3 * C, 3 * C, Tq, T, C, NH);
    EXPECT_REL("att cached ref = causal rows", o0, full + (size_t)(T - Tq) * C, Tq * C, TOL_GEMM);
    EXPECT_REL("att cached fast = ref", o1, o0, Tq * C, TOL_GEMM);
  }
  free(qkv), free(full), free(att), free(o0), free(o1);
}

static void test_attention(ordo_rng *r) {
  test_attention_cached(r);
  for (int causal = 0; causal < 2; causal++) {
    test_attention_p(r, 0.0f, causal);
    test_attention_p(r, 0.3f, causal);
  }
}

/* A (NH, T, T) score bias: forward, d qkv and d bias (summed over the batch) against the
 * reference, and the same bits at one thread. */
static void test_attention_bias(ordo_rng *r) {
  enum { B = 3, T = 11, C = 18, NH = 3 };
  enum { NQ = B * T * 3 * C, NO = B * T * C, NA = B * NH * T * T, NB = NH * T * T };
  int32_t mask[B * T];
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) mask[b * T + t] = t < T - 4 * b;
  float *qkv = frand(r, NQ, -2, 2), *bias = frand(r, NB, -3, 1), *d = frand(r, NO, -1, 1);
  float *o0 = frand(r, NO, 0, 1), *o1 = frand(r, NO, 0, 1), *a0 = frand(r, NA, 0, 1);
  float *a1 = frand(r, NA, 0, 1), *s = frand(r, NA, 0, 1);
  float *gb[3], *gq[3], *base = frand(r, NB, -1, 1), *qbase = frand(r, NQ, -1, 1);
  for (int k = 0; k < 3; k++) gb[k] = fcopy(base, NB), gq[k] = fcopy(qbase, NQ);
  R->attention_forward(NULL, o0, a0, NULL, qkv, mask, 0, bias, 0.0f, 1, 0, B, T, C, NH);
  F->attention_forward(NULL, o1, a1, NULL, qkv, mask, 0, bias, 0.0f, 1, 0, B, T, C, NH);
  EXPECT_REL("att+bias fwd", o1, o0, NO, TOL_GEMM);
  EXPECT_REL("att+bias probs", a1, a0, NA, TOL_GEMM);
  R->attention_backward(NULL, gq[0], ORDO_ACCUMULATE, gb[0], s, d, qkv, a0, mask, 0.0f, 1, 0, B, T, C, NH);
  F->attention_backward(NULL, gq[1], ORDO_ACCUMULATE, gb[1], s, d, qkv, a0, mask, 0.0f, 1, 0, B, T, C, NH);
  omp_set_num_threads(1);
  F->attention_backward(NULL, gq[2], ORDO_ACCUMULATE, gb[2], s, d, qkv, a0, mask, 0.0f, 1, 0, B, T, C, NH);
  omp_set_num_threads(nthr);
  EXPECT_REL("att+bias dqkv", gq[1], gq[0], NQ, TOL_GEMM);
  EXPECT_REL("att+bias dbias", gb[1], gb[0], NB, TOL_REDUCE);
  EXPECT_SAME("att+bias dbias 1 thread", gb[1], gb[2], NB);
  for (int k = 0; k < 3; k++) free(gb[k]), free(gq[k]);
  free(qkv), free(bias), free(d), free(o0), free(o1), free(a0), free(a1), free(s), free(base);
  free(qbase);
}

/* Rotary positions: the same formula per element, so equal up to FMA contraction. */
static void test_rope(ordo_rng *r) {
  enum { BT = 29, C = 24, NH = 3, N = BT * 3 * C };
  int32_t pos[BT];
  for (int i = 0; i < BT; i++) pos[i] = (i * 37) % 300;
  for (int nseg = 2; nseg <= 3; nseg++) {
    float *x = frand(r, N, -2, 2), *y0 = fcopy(x, N), *y1 = fcopy(x, N);
    R->rope_forward(NULL, y0, pos, 0.5f, 10000.0f, nseg, BT, C, NH);
    F->rope_forward(NULL, y1, pos, 0.5f, 10000.0f, nseg, BT, C, NH);
    EXPECT_REL("rope fwd", y1, y0, N, TOL_POINT);
    R->rope_backward(NULL, y0, pos, 0.5f, 10000.0f, nseg, BT, C, NH);
    F->rope_backward(NULL, y1, pos, 0.5f, 10000.0f, nseg, BT, C, NH);
    EXPECT_REL("rope bwd", y1, y0, N, TOL_POINT);
    EXPECT_REL("rope bwd undoes fwd", y1, x, N, TOL_POINT);
    free(x), free(y0), free(y1);
  }
}

/* ---- pointwise ------------------------------------------------------------------------ */
static void test_pointwise(ordo_rng *r) {
  enum { N = 10001 }; /* three pointwise blocks, the last one partial */
  float *x = frand(r, N, -6, 6), *y = frand(r, N, -1, 1), *d = frand(r, N, -1, 1);
  float *bg = frand(r, N, -1, 1);
  float o1[N], o2[N], o3[N];
  float *g1 = fcopy(bg, N), *g2 = fcopy(bg, N), *g3 = fcopy(bg, N);
  R->gelu_forward(NULL, o1, x, N), F->gelu_forward(NULL, o2, x, N);
  omp_set_num_threads(1); /* fixed blocks: the same bits on 1 thread */
  F->gelu_forward(NULL, o3, x, N);
  omp_set_num_threads(nthr);
  EXPECT_REL("gelu fwd", o2, o1, N, TOL_POINT);
  EXPECT_SAME("gelu fwd", o2, o3, N);
  R->gelu_backward(NULL, g1, ORDO_ACCUMULATE, x, d, N), F->gelu_backward(NULL, g2, ORDO_ACCUMULATE, x, d, N), F->gelu_backward(NULL, g3, ORDO_ACCUMULATE, x, d, N);
  EXPECT_REL("gelu bwd", g2, g1, N, TOL_POINT);
  EXPECT_SAME("gelu bwd", g2, g3, N);

  memcpy(g1, bg, sizeof o1), memcpy(g2, bg, sizeof o1), memcpy(g3, bg, sizeof o1);
  R->gelu_tanh_forward(NULL, o1, x, N), F->gelu_tanh_forward(NULL, o2, x, N);
  omp_set_num_threads(1);
  F->gelu_tanh_forward(NULL, o3, x, N);
  omp_set_num_threads(nthr);
  EXPECT_REL("gelu_tanh fwd", o2, o1, N, TOL_POINT);
  EXPECT_SAME("gelu_tanh fwd", o2, o3, N);
  R->gelu_tanh_backward(NULL, g1, ORDO_ACCUMULATE, x, d, N), F->gelu_tanh_backward(NULL, g2, ORDO_ACCUMULATE, x, d, N);
  F->gelu_tanh_backward(NULL, g3, ORDO_ACCUMULATE, x, d, N);
  EXPECT_REL("gelu_tanh bwd", g2, g1, N, TOL_POINT);
  EXPECT_SAME("gelu_tanh bwd", g2, g3, N);

  R->tanh_forward(NULL, o1, x, N), F->tanh_forward(NULL, o2, x, N), F->tanh_forward(NULL, o3, x, N);
  EXPECT_REL("tanh fwd", o2, o1, N, TOL_POINT);
  EXPECT_SAME("tanh fwd", o2, o3, N);
  memcpy(g1, bg, sizeof o1), memcpy(g2, bg, sizeof o1), memcpy(g3, bg, sizeof o1);
  R->tanh_backward(NULL, g1, ORDO_ACCUMULATE, o1, d, N), F->tanh_backward(NULL, g2, ORDO_ACCUMULATE, o1, d, N), F->tanh_backward(NULL, g3, ORDO_ACCUMULATE, o1, d, N);
  EXPECT_REL("tanh bwd", g2, g1, N, TOL_POINT);
  EXPECT_SAME("tanh bwd", g2, g3, N);

  R->residual_forward(NULL, o1, x, y, N), F->residual_forward(NULL, o2, x, y, N);
  EXPECT_SAME("residual fast = ref", o1, o2, N); /* one rounding, same operands */

  /* dropout: an odd offset so the Philox blocks straddle the start and end */
  R->dropout_forward(NULL, o1, x, 0.3f, 99, 5, N), F->dropout_forward(NULL, o2, x, 0.3f, 99, 5, N);
  int same_mask = 1;
  for (int i = 0; i < N; i++) same_mask &= (o1[i] == 0.0f) == (o2[i] == 0.0f);
  EXPECT(same_mask, "dropout fast mask = ref mask");
  EXPECT_REL("dropout fwd", o2, o1, N, TOL_POINT);
  memcpy(g1, bg, sizeof o1), memcpy(g2, bg, sizeof o1);
  R->dropout_backward(NULL, g1, d, 0.3f, 99, 5, N), F->dropout_backward(NULL, g2, d, 0.3f, 99, 5, N);
  EXPECT_REL("dropout bwd", g2, g1, N, TOL_POINT);
  free(x), free(y), free(d), free(bg), free(g1), free(g2), free(g3);
}

/* ---- losses --------------------------------------------------------------------------- */
static void test_losses(ordo_rng *r) {
  enum { N = 37, V = 101, IGN = -100 };
  int32_t tg[N];
  for (int i = 0; i < N; i++) tg[i] = i % 5 == 2 ? IGN : (int32_t)rng_below(r, V);
  float *l = frand(r, N * V, -8, 8), *bg = frand(r, N * V, -1, 1);
  /* a row spread over 300: most exps underflow (the fast path flushes them to 0) */
  for (int v = 0; v < V; v++) l[v] = 3.0f * (float)v;
  float *p1 = malloc(N * V * sizeof(float)), *p2 = malloc(N * V * sizeof(float));
  float *p3 = malloc(N * V * sizeof(float));
  int c1 = 0;
  for (int i = 0; i < N; i++) c1 += tg[i] != IGN;
  float l1, l2, l3;
  R->crossentropy_forward(NULL, &l1, p1, l, tg, IGN, N, V);
  F->crossentropy_forward(NULL, &l2, p2, l, tg, IGN, N, V);
  omp_set_num_threads(1);
  F->crossentropy_forward(NULL, &l3, p3, l, tg, IGN, N, V);
  omp_set_num_threads(nthr);
  EXPECT_REL("ce loss", &l2, &l1, 1, TOL_REDUCE);
  EXPECT(memcmp(&l2, &l3, sizeof l2) == 0, "ce loss: 1 thread vs all differs");
  EXPECT_REL("ce probs", p2, p1, N * V, TOL_REDUCE);
  EXPECT_SAME("ce probs", p2, p3, N * V);
  float *g1 = fcopy(bg, N * V), *g2 = fcopy(bg, N * V), *g3 = fcopy(bg, N * V);
  R->crossentropy_backward(NULL, g1, ORDO_ACCUMULATE, p1, tg, IGN, 1.0f / c1, N, V);
  F->crossentropy_backward(NULL, g2, ORDO_ACCUMULATE, p1, tg, IGN, 1.0f / c1, N, V);
  F->crossentropy_backward(NULL, g3, ORDO_ACCUMULATE, p1, tg, IGN, 1.0f / c1, N, V);
  EXPECT_REL("ce dlogits", g2, g1, N * V, TOL_POINT);
  EXPECT_SAME("ce dlogits", g2, g3, N * V);

  enum { M = 1013 };
  float *x = frand(r, M, -10, 10), *y = frand(r, M, 0, 1), *w = frand(r, M, 0, 2);
  float *h1 = frand(r, M, -1, 1), *h2 = fcopy(h1, M), *h3 = fcopy(h1, M);
  float m1, m2, m3;
  R->mse_forward(NULL, &m1, x, y, M), F->mse_forward(NULL, &m2, x, y, M);
  omp_set_num_threads(1);
  F->mse_forward(NULL, &m3, x, y, M);
  omp_set_num_threads(nthr);
  EXPECT_REL("mse", &m2, &m1, 1, TOL_POINT);
  EXPECT(memcmp(&m2, &m3, sizeof m2) == 0, "mse: 1 thread vs all differs");
  R->mse_backward(NULL, h1, x, y, 0.7f, M), F->mse_backward(NULL, h2, x, y, 0.7f, M);
  F->mse_backward(NULL, h3, x, y, 0.7f, M);
  EXPECT_REL("mse bwd", h2, h1, M, TOL_POINT);
  for (int weighted = 0; weighted < 2; weighted++) {
    const float *wp = weighted ? w : NULL;
    float b1, b2;
    R->bce_logits_forward(NULL, &b1, x, y, wp, M), F->bce_logits_forward(NULL, &b2, x, y, wp, M);
    EXPECT_REL(weighted ? "bce weighted" : "bce", &b2, &b1, 1, TOL_POINT);
    memcpy(h2, h1, M * sizeof(float)), memcpy(h3, h1, M * sizeof(float));
    R->bce_logits_backward(NULL, h2, x, y, wp, 0.5f, M);
    F->bce_logits_backward(NULL, h3, x, y, wp, 0.5f, M);
    EXPECT_REL("bce bwd", h3, h2, M, TOL_POINT);
  }
  free(l), free(bg), free(p1), free(p2), free(p3), free(g1), free(g2), free(g3);
  free(x), free(y), free(w), free(h1), free(h2), free(h3);
}

/* ---- general product, row moves, axpy/scale/round, norms, AdamW steps ------------------ */
/* Every transpose pair, leading dimensions wider than the rows, alpha/beta; beta 0 over NaN. */
static void test_gemm(ordo_rng *r) {
  enum { M = 37, N = 29, K = 53, PAD = 5 };
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int b0 = 0; b0 < 2; b0++) {
        const int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD, ldc = N + PAD;
        float *A = frand(r, (ta ? K : M) * lda, -1, 1), *B = frand(r, (tb ? N : K) * ldb, -1, 1);
        float *c1 = frand(r, M * ldc, -1, 1);
        if (b0) for (int i = 0; i < M * ldc; i++) c1[i] = NAN;
        float *c2 = fcopy(c1, M * ldc);
        const float alpha = 0.75f, beta = b0 ? 0.0f : -1.5f;
        R->gemm(NULL, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, c1, ldc);
        F->gemm(NULL, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, c2, ldc);
        float o1[M * N], o2[M * N]; /* the M x N window; the padding must be left alone */
        int pad_kept = 1;
        for (int i = 0; i < M; i++)
          for (int j = 0; j < ldc; j++) {
            float a = c1[i * ldc + j], b = c2[i * ldc + j];
            if (j < N) o1[i * N + j] = a, o2[i * N + j] = b;
            else pad_kept &= memcmp(&a, &b, sizeof a) == 0;
          }
        char what[48];
        snprintf(what, sizeof what, "gemm ta=%d tb=%d beta=%g", ta, tb, beta);
        EXPECT_REL(what, o2, o1, M * N, TOL_GEMM);
        int finite = 1;
        for (int i = 0; i < M * N; i++) finite &= isfinite(o2[i]) && isfinite(o1[i]);
        EXPECT(finite, "%s: NaN from C leaked", what);
        EXPECT(pad_kept, "%s: columns beyond N written", what);
        free(A), free(B), free(c1), free(c2);
      }
}

static void test_rows_axpy_round(ordo_rng *r) {
  enum { S = 101, C = 72, NR = 37, N = 10001 };
  float *src = frand(r, S * C, -1, 1), *o1 = frand(r, NR * C, -1, 1), *o2 = fcopy(o1, NR * C);
  int32_t rows[NR];
  for (int i = 0; i < NR; i++) rows[i] = (i * 37 + 11) % S; /* distinct: 37 and 101 coprime */
  R->gather_rows(NULL, o1, src, rows, NR, C), F->gather_rows(NULL, o2, src, rows, NR, C);
  EXPECT_SAME("gather_rows fast = ref", o1, o2, NR * C);
  float *d1 = fcopy(src, S * C), *d2 = fcopy(src, S * C);
  R->scatter_add_rows(NULL, d1, o1, rows, NR, C), F->scatter_add_rows(NULL, d2, o1, rows, NR, C);
  EXPECT_SAME("scatter_add_rows fast = ref", d1, d2, S * C);

  float *x = frand(r, N, -3, 3), *y1 = frand(r, N, -1, 1), *y2 = fcopy(y1, N);
  R->axpy(NULL, y1, -0.3f, x, N), F->axpy(NULL, y2, -0.3f, x, N);
  EXPECT_REL("axpy", y2, y1, N, TOL_POINT); /* FMA contraction may differ */
  R->scale(NULL, y1, 1.7f, N), F->scale(NULL, y2, 1.7f, N);
  EXPECT_REL("scale", y2, y1, N, TOL_POINT);
  const ordo_dtype dts[3] = {ORDO_DT_F32, ORDO_DT_BF16, ORDO_DT_F16};
  for (int k = 0; k < 3; k++) {
    float *a = fcopy(x, N), *b = fcopy(x, N);
    a[7] = 1e6f, b[7] = 1e6f; /* overflows fp16 to inf */
    R->round_dtype(NULL, a, N, dts[k]), F->round_dtype(NULL, b, N, dts[k]);
    EXPECT_SAME("round_dtype fast = ref", a, b, N);
    if (dts[k] == ORDO_DT_F16) EXPECT(isinf(a[7]), "fp16 rounding of 1e6: %g", a[7]);
    free(a), free(b);
  }
  free(src), free(o1), free(o2), free(d1), free(d2), free(x), free(y1), free(y2);
}

/* The optimizer ops run the same code per block or element in both tables: bit-identical, on
 * 1 thread and on all. */
static void test_optim_ops(ordo_rng *r) {
  enum { N = 70001, BLK = 2048, NB = (N + BLK - 1) / BLK };
  float *x = frand(r, N, -2, 2);
  double p1[NB], p2[NB], p3[NB];
  R->sumsq_blocks(NULL, p1, x, N, BLK), F->sumsq_blocks(NULL, p2, x, N, BLK);
  omp_set_num_threads(1);
  F->sumsq_blocks(NULL, p3, x, N, BLK);
  omp_set_num_threads(nthr);
  EXPECT(memcmp(p1, p2, sizeof p1) == 0 && memcmp(p1, p3, sizeof p1) == 0, "sumsq_blocks fast = ref");

  ordo_adamw_hp hp = {.b1 = 0.9f, .b2 = 0.999f, .eps = 1e-8f, .bc2_sqrt = 0.0447f,
                      .step_size = 0.01f, .wd_mul = 0.999f};
  float *w[3], *m[3], *v[3];
  for (int k = 0; k < 3; k++) w[k] = fcopy(x, N), m[k] = frand(r, N, 0, 0), v[k] = frand(r, N, 0, 0);
  for (int t = 0; t < 3; t++) {
    float *g = frand(r, N, -1, 1);
    R->adamw_step(NULL, w[0], g, m[0], v[0], N, hp), F->adamw_step(NULL, w[1], g, m[1], v[1], N, hp);
    omp_set_num_threads(1);
    F->adamw_step(NULL, w[2], g, m[2], v[2], N, hp);
    omp_set_num_threads(nthr);
    free(g);
  }
  EXPECT_SAME("adamw_step fast = ref", w[0], w[1], N);
  EXPECT_SAME("adamw_step 1 thread", w[1], w[2], N);
  EXPECT_SAME("adamw_step m", m[0], m[1], N);

  float map_m[256], mid_m[255], map_v[256], mid_v[255];
  for (int i = 0; i < 256; i++) map_m[i] = -1.0f + 2.0f * (float)i / 255.0f, map_v[i] = (float)i / 255.0f;
  for (int i = 0; i < 255; i++)
    mid_m[i] = 0.5f * (map_m[i] + map_m[i + 1]), mid_v[i] = 0.5f * (map_v[i] + map_v[i + 1]);
  uint8_t *qm[3], *qv[3];
  float *sm[3], *sv[3];
  const int blk = 1000; /* not the trainer's block: any block size is allowed */
  for (int k = 0; k < 3; k++) {
    memcpy(w[k], x, N * sizeof(float));
    qm[k] = calloc(N, 1), qv[k] = calloc(N, 1);
    memset(qm[k], 127, N);
    sm[k] = calloc(N / blk + 1, sizeof(float)), sv[k] = calloc(N / blk + 1, sizeof(float));
  }
  for (int t = 0; t < 3; t++) {
    float *g = frand(r, N, -1, 1);
    for (int k = 0; k < 3; k++) {
      if (k == 2) omp_set_num_threads(1);
      (k ? F : R)->adamw8_step(NULL, w[k], g, qm[k], qv[k], sm[k], sv[k], map_m, mid_m, map_v,
                               mid_v, N, blk, hp);
    }
    omp_set_num_threads(nthr);
    free(g);
  }
  EXPECT_SAME("adamw8_step fast = ref", w[0], w[1], N);
  EXPECT_SAME("adamw8_step 1 thread", w[1], w[2], N);
  EXPECT(memcmp(qm[0], qm[1], N) == 0 && memcmp(qv[0], qv[2], N) == 0, "adamw8_step codes");
  EXPECT(memcmp(sm[0], sm[1], (N / blk + 1) * sizeof(float)) == 0, "adamw8_step scales");
  for (int k = 0; k < 3; k++) free(w[k]), free(m[k]), free(v[k]), free(qm[k]), free(qv[k]), free(sm[k]), free(sv[k]);
  free(x);
}

int main(void) {
  g_verbose = getenv("ORDO_TEST_VERBOSE") != NULL;
  nthr = omp_get_max_threads();
  R = ops_cpu_ref();
  F = ops_cpu();
  EXPECT(strcmp(F->name, "cpu") == 0, "backend name %s", F->name);
  ordo_rng r;
  rng_init(&r, 4321);
  test_embed(&r);
  test_layernorm(&r);
  test_overwrite(&r);
  test_matmul_size(&r, 37, 48, 101);
  /* big enough (m n k ~ 6M) that OpenBLAS threads the products itself */
  test_matmul_size(&r, 300, 96, 203);
  test_attention(&r);
  test_attention_bias(&r);
  test_rope(&r);
  test_pointwise(&r);
  test_losses(&r);
  test_gemm(&r);
  test_rows_axpy_round(&r);
  test_optim_ops(&r);
  return test_summary();
}
