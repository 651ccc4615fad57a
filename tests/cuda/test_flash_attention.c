/* The fused attention (src/cuda/flash_attention.cu) against the plain reference and against the
 * CUDA backend's attention op, on random bf16-valued inputs: odd lengths with padded sequences
 * (one of them a single real key, one none at all), causal and not, dropout, head sizes 32, 64
 * and 128, and real sizes (T 128 with 12 heads of 64, T 512). Per case it prints the relative
 * error of out, lse, dq, dk and dv and each one's worst element; the forward and backward are
 * run twice and must repeat bit for bit; the backward's ORDO_ACCUMULATE is checked onto nonzero
 * gradients.
 *
 *   test_flash_attention           the checks ("skipped: no CUDA device", exit 77, without one)
 *   test_flash_attention --bench   forward and forward+backward times and TFLOP/s of the fused
 *                                  kernel and of the attention op at BERT-base shapes */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cuda/cuda_mm.h"
#include "ordo/core.h"
#include "ordo/dtype.h"
#include "ordo/ops.h"
#include "ordo/rng.h"

/* Tolerances, each with its reason:
 * - out, dq, dk, dv: the kernel rounds the (dropped) probabilities and dS to bf16 before their
 *   second product, and stores its outputs as bf16 (8 significant bits: a relative rounding of
 *   up to 2^-9 = 2e-3 per element, ~1e-3 in norm for each rounding); the reference is fp32
 *   throughout on the same bf16 values. The largest share with dropout: D = rowsum(dO * O) is
 *   formed from the bf16-stored O, and dS = P (dP - D) cancels where a row has few keys (a
 *   single key: exactly 0 in fp32). A host emulation of the kernels measured 2-3e-3 without
 *   dropout and 5-7e-3 for dq, dk at T 37 with dropout (2.4e-3 with D from the fp32 output),
 *   under 1e-2, while a wrong index, mask or scale gives errors of order 1.
 * - lse: fp32 statistics of fp32 scores (bf16 products are exact in fp32), against a double
 *   computation: only fp32 summation order and expf/logf, ~1e-6; checked at 1e-4. */
#define TOL_FLASH 1e-2
#define TOL_LSE 1e-4

static ordo_backend G;    /* the CUDA backend */
static const ordo_ops *R; /* the reference, on the host */

static float *frand_bf16(ordo_rng *r, int64_t n, float lo, float hi) {
  float *f = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) f[i] = lo + (hi - lo) * rng_uniform(r);
  round_to_dtype_n(f, (size_t)n, ORDO_DT_BF16); /* bf16 values held as float */
  return f;
}

static void *dev_upload(const void *host, size_t bytes) {
  void *d = G.ops->alloc(G.ctx, bytes);
  be_upload(&G, d, host, bytes);
  return d;
}
/* A device bf16 copy of n floats (which hold bf16 values: exact). */
static uint16_t *dev_bf16(const float *host, int64_t n) {
  uint16_t *h = malloc((size_t)n * sizeof(uint16_t));
  f32_to_bf16_n(h, host, (size_t)n);
  uint16_t *d = dev_upload(h, (size_t)n * sizeof(uint16_t));
  free(h);
  return d;
}
static float *host_of_bf16(const uint16_t *dev, int64_t n) {
  uint16_t *h = malloc((size_t)n * sizeof(uint16_t));
  be_download(&G, h, dev, (size_t)n * sizeof(uint16_t));
  float *f = malloc((size_t)n * sizeof(float));
  bf16_to_f32_n(f, h, (size_t)n);
  free(h);
  return f;
}
static float *host_of_f32(const float *dev, int64_t n) {
  float *f = malloc((size_t)n * sizeof(float));
  be_download(&G, f, dev, (size_t)n * sizeof(float));
  return f;
}

/* Prints got's relative error against want (n values of shape (n / (d1 d2), d1, d2)) and its
 * worst element as its three indices with both values; -inf in both at one place (a row with no
 * visible key's lse) counts as equal. */
static void report(const char *what, const float *got, const float *want, int64_t n, int64_t d1,
                   int64_t d2, double tol) {
  float *g = malloc((size_t)n * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
  int64_t worst = 0, mismatch = 0;
  double worst_d = -1.0;
  for (int64_t i = 0; i < n; i++) {
    g[i] = got[i], w[i] = want[i];
    if (isinf(g[i]) && isinf(w[i]) && g[i] == w[i]) g[i] = w[i] = 0.0f;
    double d = fabs((double)g[i] - (double)w[i]);
    if (!isfinite(g[i]) || !isfinite(w[i])) d = INFINITY, mismatch++;
    if (d > worst_d) worst_d = d, worst = i;
  }
  double e = rel_err_f32(g, w, n);
  printf("  %-28s rel err %.3g (bound %g); worst [%lld][%lld][%lld] = %.6g vs %.6g%s\n", what, e,
         tol, (long long)(worst / (d1 * d2)), (long long)(worst / d2 % d1), (long long)(worst % d2),
         (double)got[worst], (double)want[worst], mismatch ? " (non-finite values)" : "");
  EXPECT(e <= tol && !mismatch, "%s: rel err %.3g > %g, or %lld non-finite", what, e, tol,
         (long long)mismatch);
  free(g), free(w);
}

/* Column block `which` (0 q, 1 k, 2 v) of dqkv (B*T, 3C) as a (B*T, C) array. */
static float *qkv_block(const float *dqkv, int which, int64_t BT, int C) {
  float *o = malloc((size_t)BT * C * sizeof(float));
  for (int64_t r = 0; r < BT; r++)
    memcpy(o + r * C, dqkv + r * 3 * C + which * C, (size_t)C * sizeof(float));
  return o;
}

/* The reference lse (B, NH, T) in double from the bf16-valued qkv: the log-sum-exp of the
 * scaled scores over the visible keys, -inf where there are none. */
static float *lse_ref(const float *qkv, const int32_t *mask, int causal, int B, int T, int C,
                      int NH) {
  int hs = C / NH;
  float scale = 1.0f / sqrtf((float)hs);
  float *L = malloc((size_t)B * NH * T * sizeof(float));
  double *s = malloc((size_t)T * sizeof(double));
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const float *q = qkv + ((int64_t)b * T + t) * 3 * C + h * hs;
        double mx = -INFINITY;
        for (int u = 0; u < T; u++) {
          s[u] = -INFINITY;
          if (!mask[b * T + u] || (causal && u > t)) continue;
          const float *k = qkv + ((int64_t)b * T + u) * 3 * C + C + h * hs;
          double d = 0.0;
          for (int c = 0; c < hs; c++) d += (double)q[c] * k[c];
          s[u] = d * scale;
          if (s[u] > mx) mx = s[u];
        }
        double sum = 0.0;
        for (int u = 0; u < T; u++)
          if (s[u] > -INFINITY) sum += exp(s[u] - mx);
        L[((int64_t)b * NH + h) * T + t] = sum > 0.0 ? (float)(mx + log(sum)) : -INFINITY;
      }
  free(s);
  return L;
}

/* out, dq, dk, dv of one implementation as (B*T, C) host arrays, and its lse (or NULL). */
typedef struct fa_result {
  float *out, *dq, *dk, *dv, *lse;
} fa_result;

static fa_result result_of(float *out, float *dqkv, float *lse, int64_t BT, int C) {
  fa_result r = {out, qkv_block(dqkv, 0, BT, C), qkv_block(dqkv, 1, BT, C),
                 qkv_block(dqkv, 2, BT, C), lse};
  free(dqkv);
  return r;
}
static void result_free(fa_result *r) {
  free(r->out), free(r->dq), free(r->dk), free(r->dv), free(r->lse);
}

static void report_all(const char *vs, const fa_result *got, const fa_result *want, int B, int T,
                       int C, int NH) {
  int64_t n = (int64_t)B * T * C;
  char what[64];
  const char *names[4] = {"out", "dq", "dk", "dv"};
  const float *g[4] = {got->out, got->dq, got->dk, got->dv};
  const float *w[4] = {want->out, want->dq, want->dk, want->dv};
  for (int i = 0; i < 4; i++) {
    snprintf(what, sizeof what, "%s vs %s", names[i], vs);
    report(what, g[i], w[i], n, T, C, TOL_FLASH);
  }
  if (got->lse && want->lse) {
    snprintf(what, sizeof what, "lse vs %s", vs);
    report(what, got->lse, want->lse, (int64_t)B * NH * T, NH, T, TOL_LSE);
  }
}

/* One run of the fused forward and backward (acc ORDO_OVERWRITE) on device inputs. */
static fa_result flash_run(const uint16_t *qkv_dev, const uint16_t *dout_dev,
                           const int32_t *mask_dev, int causal, float p, uint64_t seed,
                           uint64_t off, int B, int T, int C, int NH) {
  int64_t nqkv = (int64_t)B * T * 3 * C, nout = (int64_t)B * T * C, nrow = (int64_t)B * NH * T;
  uint16_t *out_dev = G.ops->alloc(G.ctx, (size_t)nout * 2),
           *grad_dev = G.ops->alloc(G.ctx, (size_t)nqkv * 2);
  float *lse_dev = G.ops->alloc(G.ctx, (size_t)nrow * sizeof(float));
  float *delta_dev = G.ops->alloc(G.ctx, (size_t)nrow * sizeof(float));
  flash_attention_forward_cuda(G.ctx, out_dev, lse_dev, qkv_dev, mask_dev, causal, p, seed, off, B,
                               T, C, NH);
  flash_attention_backward_cuda(G.ctx, grad_dev, ORDO_OVERWRITE, delta_dev, dout_dev, qkv_dev,
                                out_dev, lse_dev, mask_dev, causal, p, seed, off, B, T, C, NH);
  fa_result r = result_of(host_of_bf16(out_dev, nout), host_of_bf16(grad_dev, nqkv),
                          host_of_f32(lse_dev, nrow), (int64_t)B * T, C);
  be_free(&G, out_dev), be_free(&G, grad_dev), be_free(&G, lse_dev), be_free(&G, delta_dev);
  return r;
}

static int same_bits(const fa_result *a, const fa_result *b, int64_t n, int64_t nrow) {
  size_t s = (size_t)n * sizeof(float);
  return !memcmp(a->out, b->out, s) && !memcmp(a->dq, b->dq, s) && !memcmp(a->dk, b->dk, s) &&
         !memcmp(a->dv, b->dv, s) && !memcmp(a->lse, b->lse, (size_t)nrow * sizeof(float));
}

/* lens[b]: sequence b's real tokens (the first lens[b]); NULL: all T. */
static void flash_case(ordo_rng *r, int B, int T, int C, int NH, int causal, float p,
                       const int *lens) {
  int64_t nqkv = (int64_t)B * T * 3 * C, nout = (int64_t)B * T * C;
  int64_t natt = (int64_t)B * NH * T * T, nrow = (int64_t)B * NH * T;
  const uint64_t seed = 1234, off = 987654321;
  printf("case B %d T %d C %d NH %d (head %d)%s p %g, real lengths", B, T, C, NH, C / NH,
         causal ? " causal" : "", (double)p);
  int32_t *mask = malloc((size_t)B * T * sizeof(int32_t));
  for (int b = 0; b < B; b++) {
    int len = lens ? lens[b] : T;
    printf(" %d", len);
    for (int t = 0; t < T; t++) mask[b * T + t] = t < len;
  }
  printf("\n");
  fflush(stdout);
  float *qkv = frand_bf16(r, nqkv, -2, 2), *dout = frand_bf16(r, nout, -1, 1);

  /* the reference, fp32 on the host */
  float *out = calloc((size_t)nout, sizeof(float)), *att = calloc((size_t)natt, sizeof(float));
  float *scr = calloc((size_t)natt, sizeof(float)), *grad = calloc((size_t)nqkv, sizeof(float));
  R->attention_forward(NULL, out, att, scr, qkv, mask, causal, NULL, p, seed, off, B, T, C, NH);
  R->attention_backward(NULL, grad, ORDO_OVERWRITE, NULL, scr, dout, qkv, att, mask, p, seed, off,
                        B, T, C, NH);
  fa_result ref = result_of(out, grad, lse_ref(qkv, mask, causal, B, T, C, NH), (int64_t)B * T, C);

  /* the fused kernel, twice */
  uint16_t *dqkv = dev_bf16(qkv, nqkv), *ddout = dev_bf16(dout, nout);
  int32_t *dmask = dev_upload(mask, (size_t)B * T * sizeof(int32_t));
  fa_result fl = flash_run(dqkv, ddout, dmask, causal, p, seed, off, B, T, C, NH);
  fa_result fl2 = flash_run(dqkv, ddout, dmask, causal, p, seed, off, B, T, C, NH);
  report_all("reference", &fl, &ref, B, T, C, NH);
  EXPECT(same_bits(&fl, &fl2, nout, nrow), "fused attention: a repeat is not bit-identical");
  printf("  repeat bit-identical: %s\n", same_bits(&fl, &fl2, nout, nrow) ? "yes" : "NO");

  /* ORDO_ACCUMULATE onto nonzero bf16 gradients g0: g0 + the reference's gradient */
  float *g0 = frand_bf16(r, nqkv, -1, 1);
  uint16_t *dg = dev_bf16(g0, nqkv), *dfo = G.ops->alloc(G.ctx, (size_t)nout * 2);
  float *dlse = G.ops->alloc(G.ctx, (size_t)nrow * sizeof(float));
  float *ddelta = G.ops->alloc(G.ctx, (size_t)nrow * sizeof(float));
  flash_attention_forward_cuda(G.ctx, dfo, dlse, dqkv, dmask, causal, p, seed, off, B, T, C, NH);
  flash_attention_backward_cuda(G.ctx, dg, ORDO_ACCUMULATE, ddelta, ddout, dqkv, dfo, dlse, dmask,
                                causal, p, seed, off, B, T, C, NH);
  float *acc = host_of_bf16(dg, nqkv), *want = malloc((size_t)nqkv * sizeof(float));
  for (int64_t i = 0; i < nqkv; i++) {
    int64_t row = i / (3 * C), col = i % (3 * C);
    const float *blk = col < C ? ref.dq : col < 2 * C ? ref.dk : ref.dv;
    want[i] = g0[i] + blk[row * C + col % C];
  }
  report("dqkv accumulated vs g0 + ref", acc, want, nqkv, T, 3 * C, TOL_FLASH);
  be_free(&G, dg), be_free(&G, dfo), be_free(&G, dlse), be_free(&G, ddelta);
  free(g0), free(acc), free(want);

  /* today's attention op on the device, fp32 on the same bf16 values */
  float *fq = dev_upload(qkv, (size_t)nqkv * sizeof(float));
  float *fo = G.ops->alloc(G.ctx, (size_t)nout * sizeof(float));
  float *fatt = G.ops->alloc(G.ctx, (size_t)natt * sizeof(float));
  float *fscr = G.ops->alloc(G.ctx, (size_t)natt * sizeof(float));
  float *fgrad = G.ops->alloc(G.ctx, (size_t)nqkv * sizeof(float));
  float *fdout = dev_upload(dout, (size_t)nout * sizeof(float));
  G.ops->attention_forward(G.ctx, fo, fatt, fscr, fq, dmask, causal, NULL, p, seed, off, B, T, C,
                           NH);
  G.ops->attention_backward(G.ctx, fgrad, ORDO_OVERWRITE, NULL, fscr, fdout, fq, fatt, dmask, p,
                            seed, off, B, T, C, NH);
  fa_result op =
      result_of(host_of_f32(fo, nout), host_of_f32(fgrad, nqkv), NULL, (int64_t)B * T, C);
  report_all("cuda attention op", &fl, &op, B, T, C, NH);
  be_free(&G, fq), be_free(&G, fo), be_free(&G, fatt), be_free(&G, fscr), be_free(&G, fgrad);
  be_free(&G, fdout);

  result_free(&ref), result_free(&fl), result_free(&fl2), result_free(&op);
  be_free(&G, dqkv), be_free(&G, ddout), be_free(&G, dmask);
  free(qkv), free(dout), free(mask), free(att), free(scr);
}

static int run_checks(void) {
  ordo_rng r;
  rng_init(&r, 2026);
  printf("fused attention (bf16) vs the reference (fp32) and the CUDA attention op:\n");
  const int l3[3] = {37, 20, 1}, l2[2] = {0, 11}, l512[2] = {512, 300};
  flash_case(&r, 3, 37, 128, 2, 0, 0.0f, l3);
  flash_case(&r, 3, 37, 128, 2, 1, 0.0f, l3);
  flash_case(&r, 3, 37, 128, 2, 0, 0.1f, l3); /* dropout: the op's mask bit for bit */
  flash_case(&r, 2, 37, 128, 2, 1, 0.1f, l2); /* a sequence with no real key: zeros */
  flash_case(&r, 2, 128, 768, 12, 0, 0.0f, NULL);
  flash_case(&r, 2, 128, 768, 12, 1, 0.1f, NULL);
  flash_case(&r, 2, 512, 128, 2, 0, 0.0f, l512);
  flash_case(&r, 2, 512, 128, 2, 1, 0.0f, l512);
  flash_case(&r, 2, 77, 64, 2, 0, 0.0f, NULL);  /* head size 32 */
  flash_case(&r, 2, 77, 256, 2, 1, 0.1f, NULL); /* head size 128 */
  return test_summary();
}

/* ---- benchmark ---------------------------------------------------------------------------- */
static float *dev_rand_f32(ordo_rng *r, int64_t n, float lo, float hi) {
  float *h = frand_bf16(r, n, lo, hi);
  float *d = dev_upload(h, (size_t)n * sizeof(float));
  free(h);
  return d;
}

/* Milliseconds per call of what(kind) over iters calls after warmup calls, on the context's
 * stream. kind: 0 fused forward, 1 fused forward + backward, 2 op forward, 3 op forward +
 * backward. */
typedef struct bench_bufs {
  uint16_t *qkv, *out, *dout, *dqkv;
  float *lse, *delta, *fqkv, *fout, *att, *scr, *fdout, *fdqkv;
  int B, T, C, NH;
} bench_bufs;

static void bench_once(const bench_bufs *b, int kind) {
  if (kind <= 1) {
    flash_attention_forward_cuda(G.ctx, b->out, b->lse, b->qkv, NULL, 0, 0.0f, 0, 0, b->B, b->T,
                                 b->C, b->NH);
    if (kind == 1)
      flash_attention_backward_cuda(G.ctx, b->dqkv, ORDO_OVERWRITE, b->delta, b->dout, b->qkv,
                                    b->out, b->lse, NULL, 0, 0.0f, 0, 0, b->B, b->T, b->C, b->NH);
  } else {
    G.ops->attention_forward(G.ctx, b->fout, b->att, b->scr, b->fqkv, NULL, 0, NULL, 0.0f, 0, 0,
                             b->B, b->T, b->C, b->NH);
    if (kind == 3)
      G.ops->attention_backward(G.ctx, b->fdqkv, ORDO_OVERWRITE, NULL, b->scr, b->fdout, b->fqkv,
                                b->att, NULL, 0.0f, 0, 0, b->B, b->T, b->C, b->NH);
  }
}

static double bench_ms(const bench_bufs *b, int kind, int warmup, int iters) {
  for (int i = 0; i < warmup; i++) bench_once(b, kind);
  cudaEvent_t e0, e1;
  CUDA_CHECK(cudaEventCreate(&e0));
  CUDA_CHECK(cudaEventCreate(&e1));
  CUDA_CHECK(cudaEventRecord(e0, G.ctx->stream));
  for (int i = 0; i < iters; i++) bench_once(b, kind);
  CUDA_CHECK(cudaEventRecord(e1, G.ctx->stream));
  CUDA_CHECK(cudaEventSynchronize(e1));
  float ms = 0.0f;
  CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
  CUDA_CHECK(cudaEventDestroy(e0));
  CUDA_CHECK(cudaEventDestroy(e1));
  return ms / iters;
}

static void bench_shape(ordo_rng *r, int B, int NH, int T, int hs) {
  bench_bufs b = {0};
  b.B = B, b.T = T, b.NH = NH, b.C = NH * hs;
  int64_t nqkv = (int64_t)B * T * 3 * b.C, nout = (int64_t)B * T * b.C;
  int64_t natt = (int64_t)B * NH * T * T, nrow = (int64_t)B * NH * T;
  b.fqkv = dev_rand_f32(r, nqkv, -2, 2), b.fdout = dev_rand_f32(r, nout, -1, 1);
  b.qkv = G.ops->alloc(G.ctx, (size_t)nqkv * 2), b.dout = G.ops->alloc(G.ctx, (size_t)nout * 2);
  G.ops->convert(G.ctx, b.qkv, ORDO_DT_BF16, b.fqkv, ORDO_DT_F32, nqkv);
  G.ops->convert(G.ctx, b.dout, ORDO_DT_BF16, b.fdout, ORDO_DT_F32, nout);
  b.out = G.ops->alloc(G.ctx, (size_t)nout * 2), b.dqkv = G.ops->alloc(G.ctx, (size_t)nqkv * 2);
  b.lse = G.ops->alloc(G.ctx, (size_t)nrow * 4), b.delta = G.ops->alloc(G.ctx, (size_t)nrow * 4);
  b.fout = G.ops->alloc(G.ctx, (size_t)nout * 4), b.fdqkv = G.ops->alloc(G.ctx, (size_t)nqkv * 4);
  b.att = G.ops->alloc(G.ctx, (size_t)natt * 4), b.scr = G.ops->alloc(G.ctx, (size_t)natt * 4);
  const double fwd_flop = 4.0 * B * NH * (double)T * T * hs;
  const char *names[3] = {"fused bf16 (flash_attention.cu)", "attention op, fp32",
                          "attention op, TF32"};
  for (int v = 0; v < 3; v++) {
    int kind = v == 0 ? 0 : 2;
    if (G.ops->set_products_tf32) G.ops->set_products_tf32(G.ctx, v == 2);
    double f = bench_ms(&b, kind, 3, 10), fb = bench_ms(&b, kind + 1, 3, 10);
    printf("| %-32s | %3d | %3d | %5d | %3d | %8.3f | %7.1f | %8.3f | %7.1f |\n", names[v], B, NH,
           T, hs, f, fwd_flop / (f * 1e-3) / 1e12, fb, 3.5 * fwd_flop / (fb * 1e-3) / 1e12);
    fflush(stdout);
  }
  if (G.ops->set_products_tf32) G.ops->set_products_tf32(G.ctx, 0);
  void *all[] = {b.qkv,  b.out,  b.dout, b.dqkv, b.lse,   b.delta,
                 b.fqkv, b.fout, b.att,  b.scr,  b.fdout, b.fdqkv};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be_free(&G, all[i]);
}

static int run_bench(void) {
  struct cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, G.device));
  printf(
      "attention speed on %s (no mask, not causal, p 0; CUDA events, 3 warmup calls, mean of 10)\n"
      "FLOPs: forward 4*B*NH*T*T*hs (the two products); backward 2.5x the forward (its five\n"
      "products; the fused backward recomputes two more, not counted); forward+backward 3.5x.\n\n",
      prop.name);
  printf("| %-32s | %3s | %3s | %5s | %3s | %8s | %7s | %8s | %7s |\n", "kernel", "B", "NH", "T",
         "hs", "fwd ms", "TFLOP/s", "f+b ms", "TFLOP/s");
  printf(
      "|----------------------------------|-----|-----|-------|-----|----------|---------|---------"
      "-|---------|\n");
  ordo_rng r;
  rng_init(&r, 7);
  bench_shape(&r, 32, 12, 512, 64);
  bench_shape(&r, 8, 12, 2048, 64);
  return 0;
}

int main(int argc, char **argv) {
  int bench = argc > 1 && !strcmp(argv[1], "--bench");
  if (argc > 2 || (argc == 2 && !bench)) {
    fprintf(stderr, "usage: test_flash_attention [--bench]\n");
    return 2;
  }
  if (!ordo_cuda_available()) {
    printf("skipped: no CUDA device\n");
    return 77;
  }
  ordo_err e;
  if (ordo_backend_open(&G, "cuda", &e) != 0) {
    fprintf(stderr, "test_flash_attention: %s\n", e.msg);
    return 1;
  }
  R = ops_cpu_ref();
  int rc = bench ? run_bench() : run_checks();
  ordo_backend_close(&G);
  return rc;
}
