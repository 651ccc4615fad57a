/* The CUDA backend's products, attention and rotary embedding against the plain reference
 * (ops_cpu_ref) on random inputs of odd sizes: every transpose pair of gemm with padded leading
 * dimensions, a 4-byte-aligned view, NaN in C under beta == 0 and an empty sum (K == 0); the
 * linear layer with and without bias and its += gradients; attention with padding (one sequence
 * all padding), causal, position bias and dropout, with B < NH and B > NH (the two ways its
 * products are batched); the cached (decoder) attention; rope over q, k and v. Each comparison
 * prints its error; each GPU op is also run twice and must repeat bit for bit. Without a CUDA
 * device it prints "skipped: no CUDA device" and exits 77 (ctest: skipped, never passed). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/core.h"
#include "ordo/ops.h"
#include "ordo/rng.h"

/* Tolerances, each with its reason:
 * - products: cuBLASLt sums K terms (K <= 67 here) in its own blocked order, in fp32 (TF32
 *   off); reordering error grows like sqrt(K) * 6e-8, about 1e-6 in norm, so 1e-5 holds while
 *   a wrong index, transpose or missing term gives > 1e-2 (TF32 alone would give ~1e-4).
 * - softmax rows and their backward: warp sums in butterfly order instead of the reference's
 *   loop, and the GPU's expf (2 ulp): the same ~1e-6 bound, checked at 1e-5.
 * - rope: the same float cos/sin (double math rounded to float) and the same products; only
 *   FMA contraction may differ: a few ulp, checked at 1e-6. */
#define TOL_MM 1e-5
#define TOL_ROPE 1e-6

static ordo_backend G; /* the CUDA backend */
static const ordo_ops *R; /* the reference, on the host */

static void expect_rel(const char *what, const float *gpu, const float *ref, int64_t n,
                       double tol) {
  double e = rel_err_f32(gpu, ref, n);
  int finite = 1;
  for (int64_t i = 0; i < n; i++) finite &= !isfinite(gpu[i]) == !isfinite(ref[i]);
  printf("  %-40s rel err %.3g (bound %g)%s\n", what, e, tol,
         memcmp(gpu, ref, (size_t)n * sizeof(float)) ? "" : ", bit-identical");
  EXPECT(e <= tol && finite, "%s: rel err %.3g > %g or non-finite mismatch", what, e, tol);
}

static float *frand(ordo_rng *r, int64_t n, float lo, float hi) {
  float *f = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) f[i] = lo + (hi - lo) * rng_uniform(r);
  return f;
}

/* A device copy of n host values of `size` bytes each (NULL stays NULL). */
static void *dev_of(const void *host, int64_t n, size_t size) {
  if (!host) return NULL;
  void *d = G.ops->alloc(G.ctx, (size_t)n * size);
  be_upload(&G, d, host, (size_t)n * size);
  return d;
}
static float *devf(const float *host, int64_t n) { return dev_of(host, n, sizeof(float)); }
/* The host copy of n device floats (malloc'd). */
static float *hostf(const float *dev, int64_t n) {
  float *h = malloc((size_t)n * sizeof(float));
  be_download(&G, h, dev, (size_t)n * sizeof(float));
  return h;
}

/* ---- gemm ----------------------------------------------------------------------------- */
static void gemm_case(ordo_rng *r, int ta, int tb, int M, int N, int K, float beta, int nan_c,
                      int view) {
  int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
  int64_t na = (int64_t)(ta ? K : M) * lda + 1, nb = (int64_t)(tb ? N : K) * ldb + 1;
  int64_t nc = (int64_t)M * ldc + 1;
  float *A = frand(r, na, -1, 1), *B = frand(r, nb, -1, 1), *C = frand(r, nc, -1, 1);
  if (nan_c)
    for (int64_t i = 0; i < nc; i++) C[i] = NAN;
  float *dA = devf(A, na), *dB = devf(B, nb), *dC = devf(C, nc), *dC2 = devf(C, nc);
  int o = view ? 1 : 0; /* one float in: a 4-byte-aligned view */
  R->gemm(NULL, ta, tb, M, N, K, 0.7f, A + o, lda, B + o, ldb, beta, C + o, ldc);
  G.ops->gemm(G.ctx, ta, tb, M, N, K, 0.7f, dA + o, lda, dB + o, ldb, beta, dC + o, ldc);
  G.ops->gemm(G.ctx, ta, tb, M, N, K, 0.7f, dA + o, lda, dB + o, ldb, beta, dC2 + o, ldc);
  float *g = hostf(dC, nc), *g2 = hostf(dC2, nc);
  char what[96];
  snprintf(what, sizeof what, "gemm ta %d tb %d %dx%dx%d beta %g%s%s", ta, tb, M, N, K, beta,
           nan_c ? " NaN C" : "", view ? " view" : "");
  EXPECT(memcmp(g, g2, (size_t)nc * sizeof(float)) == 0, "%s: repeat not bit-identical", what);
  if (nan_c) /* only the (M, N) block is written; the padding keeps its NaN on both sides */
    for (int64_t i = 0; i < nc; i++)
      if (isnan(C[i]) && isnan(g[i])) C[i] = g[i] = 0.0f;
  expect_rel(what, g, C, nc, TOL_MM);
  free(g2);
  be_free(&G, dA), be_free(&G, dB), be_free(&G, dC), be_free(&G, dC2);
  free(A), free(B), free(C), free(g);
}

static void test_gemm(ordo_rng *r) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      gemm_case(r, ta, tb, 37, 29, 53, 1.3f, 0, 0);
      gemm_case(r, ta, tb, 37, 29, 53, 0.0f, 1, 1);
    }
  gemm_case(r, 0, 1, 17, 9, 0, 0.5f, 0, 0); /* empty sum: C = beta C */
  gemm_case(r, 1, 0, 17, 9, 0, 0.0f, 1, 0);
}

/* ---- linear layer --------------------------------------------------------------------- */
static void test_matmul(ordo_rng *r, int with_bias) {
  enum { N = 45, IN = 67, OUT = 51 };
  float *inp = frand(r, N * IN, -1, 1), *w = frand(r, OUT * IN, -1, 1);
  float *bias = with_bias ? frand(r, OUT, -1, 1) : NULL, *out = frand(r, N * OUT, -1, 1);
  float *di = devf(inp, N * IN), *dw = devf(w, OUT * IN), *db = devf(bias, OUT);
  float *dout = devf(out, N * OUT);
  R->matmul_forward(NULL, out, inp, w, bias, N, IN, OUT);
  G.ops->matmul_forward(G.ctx, dout, di, dw, db, N, IN, OUT);
  float *g = hostf(dout, N * OUT);
  expect_rel(with_bias ? "matmul fwd (bias)" : "matmul fwd", g, out, N * OUT, TOL_MM);
  /* backward: every gradient starts from the same nonzero values (+= is compared too) */
  float *d = frand(r, N * OUT, -1, 1), *gi = frand(r, N * IN, -1, 1);
  float *gw = frand(r, OUT * IN, -1, 1), *gb = frand(r, OUT, -1, 1);
  float *dd = devf(d, N * OUT), *dgi[2], *dgw[2], *dgb[2];
  for (int k = 0; k < 2; k++) {
    dgi[k] = devf(gi, N * IN), dgw[k] = devf(gw, OUT * IN), dgb[k] = devf(gb, OUT);
    G.ops->matmul_backward(G.ctx, dgi[k], dgw[k], with_bias ? dgb[k] : NULL, dd, di, dw, N, IN,
                           OUT);
  }
  R->matmul_backward(NULL, gi, gw, with_bias ? gb : NULL, d, inp, w, N, IN, OUT);
  float *h[2][3];
  for (int k = 0; k < 2; k++)
    h[k][0] = hostf(dgi[k], N * IN), h[k][1] = hostf(dgw[k], OUT * IN), h[k][2] = hostf(dgb[k], OUT);
  expect_rel("matmul bwd dinp", h[0][0], gi, N * IN, TOL_MM);
  expect_rel("matmul bwd dw", h[0][1], gw, OUT * IN, TOL_MM);
  expect_rel(with_bias ? "matmul bwd dbias" : "matmul bwd dbias (NULL: untouched)", h[0][2], gb,
             OUT, TOL_MM);
  EXPECT(!memcmp(h[0][0], h[1][0], N * IN * sizeof(float)) &&
             !memcmp(h[0][1], h[1][1], OUT * IN * sizeof(float)) &&
             !memcmp(h[0][2], h[1][2], OUT * sizeof(float)),
         "matmul bwd: repeat not bit-identical");
  for (int k = 0; k < 2; k++) {
    be_free(&G, dgi[k]), be_free(&G, dgw[k]), be_free(&G, dgb[k]);
    for (int j = 0; j < 3; j++) free(h[k][j]);
  }
  be_free(&G, di), be_free(&G, dw), be_free(&G, db), be_free(&G, dout), be_free(&G, dd);
  free(inp), free(w), free(bias), free(out), free(g), free(d), free(gi), free(gw), free(gb);
}

/* ---- attention ------------------------------------------------------------------------ */
static void test_attention(ordo_rng *r, int B, int T, int C, int NH, int causal, int with_bias,
                           float p) {
  int64_t nqkv = (int64_t)B * T * 3 * C, nout = (int64_t)B * T * C, natt = (int64_t)B * NH * T * T;
  int64_t nbias = (int64_t)NH * T * T;
  float *qkv = frand(r, nqkv, -2, 2), *bias = with_bias ? frand(r, nbias, -1, 1) : NULL;
  int32_t *mask = malloc((size_t)B * T * sizeof(int32_t));
  for (int b = 0; b < B; b++) /* sequence b has T - 2b real tokens; the last one none */
    for (int t = 0; t < T; t++) mask[b * T + t] = b == B - 1 ? 0 : t < T - 2 * b;
  float *out = calloc((size_t)nout, sizeof(float)), *att = calloc((size_t)natt, sizeof(float));
  float *scr = calloc((size_t)natt, sizeof(float));
  float *dqkv_d = devf(qkv, nqkv), *dbias_d = devf(bias, nbias), *dout_d = devf(out, nout);
  float *datt = devf(att, natt), *dscr = devf(scr, natt);
  int32_t *dmask = dev_of(mask, B * T, sizeof(int32_t));
  uint64_t seed = 77, off = 1234567;
  R->attention_forward(NULL, out, att, scr, qkv, mask, causal, bias, p, seed, off, B, T, C, NH);
  G.ops->attention_forward(G.ctx, dout_d, datt, dscr, dqkv_d, dmask, causal, dbias_d, p, seed, off,
                           B, T, C, NH);
  char what[96];
  snprintf(what, sizeof what, "attention B %d T %d C %d NH %d%s%s p %g", B, T, C, NH,
           causal ? " causal" : "", with_bias ? " bias" : "", p);
  float *g_out = hostf(dout_d, nout), *g_att = hostf(datt, natt);
  printf(" %s\n", what);
  expect_rel("fwd out", g_out, out, nout, TOL_MM);
  expect_rel("fwd att", g_att, att, natt, TOL_MM);
  /* backward from the reference's att (so only the backward is compared), onto nonzero grads */
  float *d = frand(r, nout, -1, 1), *gq = frand(r, nqkv, -1, 1);
  float *gb = with_bias ? frand(r, nbias, -1, 1) : NULL;
  float *dd = devf(d, nout), *datt_ref = devf(att, natt), *h[2][2];
  for (int k = 0; k < 2; k++) {
    float *dgq = devf(gq, nqkv), *dgb = devf(gb, nbias);
    G.ops->attention_backward(G.ctx, dgq, ORDO_ACCUMULATE, dgb, dscr, dd, dqkv_d, datt_ref, dmask, p, seed, off, B,
                              T, C, NH);
    h[k][0] = hostf(dgq, nqkv), h[k][1] = gb ? hostf(dgb, nbias) : NULL;
    be_free(&G, dgq), be_free(&G, dgb);
  }
  R->attention_backward(NULL, gq, ORDO_ACCUMULATE, gb, scr, d, qkv, att, mask, p, seed, off, B, T, C, NH);
  expect_rel("bwd dqkv", h[0][0], gq, nqkv, TOL_MM);
  if (gb) expect_rel("bwd dbias", h[0][1], gb, nbias, TOL_MM);
  EXPECT(!memcmp(h[0][0], h[1][0], (size_t)nqkv * sizeof(float)) &&
             (!gb || !memcmp(h[0][1], h[1][1], (size_t)nbias * sizeof(float))),
         "%s: backward repeat not bit-identical", what);
  for (int k = 0; k < 2; k++) free(h[k][0]), free(h[k][1]);
  be_free(&G, dqkv_d), be_free(&G, dbias_d), be_free(&G, dout_d), be_free(&G, datt);
  be_free(&G, dscr), be_free(&G, dmask), be_free(&G, dd), be_free(&G, datt_ref);
  free(qkv), free(bias), free(mask), free(out), free(att), free(scr), free(g_out), free(g_att);
  free(d), free(gq), free(gb);
}

/* Tq new queries over Tk keys, q/k/v interleaved as in qkv (stride 3C). */
static void test_attention_cached(ordo_rng *r) {
  enum { Tq = 5, Tk = 13, C = 24, NH = 3, LD = 3 * C };
  float *qkv = frand(r, Tk * LD, -2, 2), *out = calloc(Tq * C, sizeof(float));
  float *att = calloc(NH * Tq * Tk, sizeof(float));
  float *dq = devf(qkv, Tk * LD), *dout = devf(out, Tq * C), *datt = devf(att, NH * Tq * Tk);
  const float *q = qkv + (Tk - Tq) * LD; /* the new rows' queries */
  R->attention_cached_forward(NULL, out, att, q, qkv + C, qkv + 2 * C, LD, LD, Tq, Tk, C, NH);
  G.ops->attention_cached_forward(G.ctx, dout, datt, dq + (Tk - Tq) * LD, dq + C, dq + 2 * C, LD,
                                  LD, Tq, Tk, C, NH);
  float *g = hostf(dout, Tq * C);
  expect_rel("attention cached fwd out", g, out, Tq * C, TOL_MM);
  be_free(&G, dq), be_free(&G, dout), be_free(&G, datt);
  free(qkv), free(out), free(att), free(g);
}

/* ---- rope ----------------------------------------------------------------------------- */
static void test_rope(ordo_rng *r) {
  enum { BT = 7, C = 24, NH = 3, NSEG = 3 };
  int32_t pos[BT];
  for (int i = 0; i < BT; i++) pos[i] = (int32_t)rng_below(r, 4096);
  float *x = frand(r, BT * 3 * C, -1, 1);
  float *dx = devf(x, BT * 3 * C);
  int32_t *dpos = dev_of(pos, BT, sizeof(int32_t));
  R->rope_forward(NULL, x, pos, 0.5f, 10000.0f, NSEG, BT, C, NH);
  G.ops->rope_forward(G.ctx, dx, dpos, 0.5f, 10000.0f, NSEG, BT, C, NH);
  float *g = hostf(dx, BT * 3 * C);
  expect_rel("rope fwd", g, x, BT * 3 * C, TOL_ROPE);
  R->rope_backward(NULL, x, pos, 0.5f, 10000.0f, 2, BT, C, NH);
  G.ops->rope_backward(G.ctx, dx, dpos, 0.5f, 10000.0f, 2, BT, C, NH);
  free(g);
  g = hostf(dx, BT * 3 * C);
  expect_rel("rope bwd (q, k)", g, x, BT * 3 * C, TOL_ROPE);
  be_free(&G, dx), be_free(&G, dpos);
  free(x), free(g);
}

/* argv[1]: the backend to check, "cuda" by default ("cpu" runs the same comparisons on the
 * fast CPU backend: the check itself checked where there is no GPU). */
int main(int argc, char **argv) {
  const char *device = argc > 1 ? argv[1] : "cuda";
  ordo_err e;
  if (!strcmp(device, "cuda") && !ordo_cuda_available()) {
    printf("skipped: no CUDA device\n");
    return 77;
  }
  if (ordo_backend_open(&G, device, &e) != 0) {
    fprintf(stderr, "test_cuda_mm: %s\n", e.msg);
    return 1;
  }
  R = ops_cpu_ref();
  ordo_rng r;
  rng_init(&r, 2026);
  printf("%s products, attention and rope vs the reference:\n", G.ops->name);
  test_gemm(&r);
  test_matmul(&r, 1);
  test_matmul(&r, 0);
  test_attention(&r, 3, 19, 24, 4, 0, 0, 0.0f);  /* B < NH: a product per sequence */
  test_attention(&r, 5, 17, 24, 2, 0, 1, 0.0f);  /* B > NH: a product per head */
  test_attention(&r, 3, 19, 24, 4, 1, 1, 0.0f);
  test_attention(&r, 3, 19, 24, 4, 0, 1, 0.15f); /* dropout: the CPU's mask bit for bit */
  test_attention(&r, 5, 17, 24, 2, 1, 0, 0.15f);
  test_attention_cached(&r);
  test_rope(&r);
  ordo_backend_close(&G);
  return test_summary();
}
