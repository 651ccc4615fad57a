/* The backend-generic op test: every op of every present backend against the plain reference
 * (ops_cpu_ref) on random inputs of odd sizes, through the backend's own memory (alloc, upload
 * the inputs, run, download, compare on the host), in each storage dtype. A backend that is not
 * present is reported as skipped, never as passed.
 *
 * usage: cpu_test_backend_ops [--backend cpu|cuda|all] [--only NAME]
 *   --backend  the backends to test (default all: cpu, and cuda when a device is present);
 *              naming cuda on a machine without a device exits 77 (skipped)
 *   --only     only the tests whose name contains NAME (memory, embed, layernorm, matmul,
 *              attention, attention_cached, rope, pointwise, dropout, losses, gemm, rows,
 *              convert, gemm_ex, matmul_ex, axpy_scale_round, sumsq_blocks, adamw, adamw8)
 * One line per (backend, op, dtype): the measured error and its tolerance; then a summary.
 *
 * Error measure: rel_err_f32 (tests/check.h, as tests/cpu measure), ||a - b||_2 / ||b||_2 over the compared
 * tensor (b the reference's), NaN anywhere counts as a failure. Storage dtypes: bf16 and fp16
 * run the same ops with inputs rounded to the dtype (each backend's round_dtype: the reference
 * on the host copy, the backend on its own) and outputs rounded again, as the mixed-precision
 * driver stores them, with the backend's TF32 products where it has them (set_products_tf32, as
 * the driver runs a 16-bit model). convert, gemm_ex and matmul_ex take real 16-bit arrays (2
 * bytes an element) and run once, over every storage dtype themselves. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/core.h"
#include "ordo/ops.h"
#include "ordo/optim.h"
#include "ordo/rng.h"

/* Tolerances, each with its reason:
 * - fp32: 1e-5 relative (the bound for every backend): the products and reductions sum
 *   in another order than the reference's loops (sgemm blocking, SIMD or tree reductions),
 *   about sqrt(K) * 6e-8 ~ 1e-6 at these sizes; a wrong index or a missing term gives > 1e-2. */
#define TOL_F32 1e-5
/* - bf16/fp16 storage: outputs rounded to 8 (bf16) or 11 (fp16) significant bits; both sides
 *   round the same inputs, so they differ by fp32 noise plus at most one rounding step of an
 *   output (2^-8 = 4e-3 for bf16): 1e-2 relative on outputs. */
#define TOL_STORAGE 1e-2
/* - block norms are double sums of fp32 squares: any summation order agrees to ~1e-15; 1e-10
 *   still catches a float accumulator (~1e-7). */
#define TOL_DOUBLE 1e-10

static const ordo_ops *R; /* the reference */
static const char *g_only;

/* One (backend, dtype) run: the backend, the dtype of its stored tensors, and the buffers to free
 * when the test ends. */
enum { MAX_BUFS = 512 };
typedef struct tcase {
  const ordo_backend *be;
  const char *bname;
  ordo_dtype dt;
  ordo_rng *r;
  void *dev[MAX_BUFS], *host[MAX_BUFS];
  int ndev, nhost;
  int pass, fail; /* this run's lines */
} tcase;

static void *dev_alloc(tcase *tc, size_t bytes) {
  ORDO_CHECK(tc->ndev < MAX_BUFS);
  return tc->dev[tc->ndev++] = tc->be->ops->alloc(tc->be->ctx, bytes);
}
static void *host_alloc(tcase *tc, size_t bytes) {
  ORDO_CHECK(tc->nhost < MAX_BUFS);
  return tc->host[tc->nhost++] = ordo_calloc(bytes ? bytes : 1, 1);
}
static void tc_free(tcase *tc) {
  for (int i = 0; i < tc->ndev; i++) tc->be->ops->free(tc->be->ctx, tc->dev[i]);
  for (int i = 0; i < tc->nhost; i++) free(tc->host[i]);
  tc->ndev = tc->nhost = 0;
}

/* An input of n values in [lo, hi): returns the reference's host copy and sets *d to the
 * backend's; each rounded to the run's dtype by its own side's round_dtype. */
static float *in_f32(tcase *tc, int64_t n, float lo, float hi, float **d) {
  float *h = host_alloc(tc, (size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * rng_uniform(tc->r);
  *d = dev_alloc(tc, (size_t)n * sizeof(float));
  tc->be->ops->upload(tc->be->ctx, *d, h, (size_t)n * sizeof(float));
  tc->be->ops->round_dtype(tc->be->ctx, *d, n, tc->dt);
  R->round_dtype(NULL, h, n, tc->dt);
  return h;
}
/* An output the op overwrites: zero on the host, NaN on the backend (an element the backend
 * leaves unwritten fails the comparison). */
static float *out_f32(tcase *tc, int64_t n, float **d) {
  *d = dev_alloc(tc, (size_t)n * sizeof(float));
  tc->be->ops->fill(tc->be->ctx, *d, NAN, n);
  return host_alloc(tc, (size_t)n * sizeof(float));
}
static int32_t *in_i32(tcase *tc, const int32_t *h, int64_t n) {
  int32_t *d = dev_alloc(tc, (size_t)n * sizeof(int32_t));
  tc->be->ops->upload(tc->be->ctx, d, h, (size_t)n * sizeof(int32_t));
  return d;
}
static float *download(tcase *tc, const float *d, int64_t n) {
  float *h = host_alloc(tc, (size_t)n * sizeof(float));
  tc->be->ops->download(tc->be->ctx, h, d, (size_t)n * sizeof(float));
  return h;
}

/* n values as a 16-bit (or fp32) array on both sides: the reference's host copy (its convert)
 * and the backend's, uploaded from the same bits. */
static void *in_typed(tcase *tc, const float *f, int64_t n, ordo_dtype dt, void **d) {
  size_t bytes = (size_t)n * dtype_size(dt);
  void *h = host_alloc(tc, bytes);
  R->convert(NULL, h, dt, f, ORDO_DT_F32, n);
  *d = dev_alloc(tc, bytes);
  tc->be->ops->upload(tc->be->ctx, *d, h, bytes);
  return h;
}

static void report(tcase *tc, const char *what, const char *dt, double err, double tol) {
  const int ok = err <= tol; /* NaN fails */
  printf("%-5s %-44s %-5s err %.2e  tol %.0e  %s\n", tc->bname, what, dt, err, tol,
         ok ? "ok" : "FAIL");
  if (ok) tc->pass++;
  else tc->fail++;
  EXPECT(ok, "%s %s %s: err %.3g > %g", tc->bname, what, dt, err, tol);
}

/* Compares the backend's output d with the reference's h (n values), both stored in the run's
 * dtype; tol is the fp32 bound (storage dtypes: TOL_STORAGE). */
static void check(tcase *tc, const char *what, float *d, float *h, int64_t n, double tol) {
  tc->be->ops->round_dtype(tc->be->ctx, d, n, tc->dt);
  R->round_dtype(NULL, h, n, tc->dt);
  const float *got = download(tc, d, n);
  report(tc, what, dtype_name(tc->dt), rel_err_f32(got, h, n),
         tc->dt == ORDO_DT_F32 ? tol : TOL_STORAGE);
}
/* An exact check (bit patterns, masks, memory): err is the count of mismatches. */
static void check_exact(tcase *tc, const char *what, int64_t mismatches) {
  report(tc, what, dtype_name(tc->dt), (double)mismatches, 0.0);
}

/* ---- memory ------------------------------------------------------------------------------ */
static void t_memory(tcase *tc) {
  enum { N = 1013, NB = 4055 }; /* bytes not a multiple of 4 */
  const ordo_ops *o = tc->be->ops;
  ordo_ctx *ctx = tc->be->ctx;
  float *z = dev_alloc(tc, N * sizeof(float));
  const float *hz = download(tc, z, N);
  int64_t bad = 0;
  for (int i = 0; i < N; i++) bad += hz[i] != 0.0f;
  check_exact(tc, "alloc zero-filled", bad);
  EXPECT(o->alloc(ctx, 0) == NULL, "alloc(0) is NULL");
  o->free(ctx, NULL);

  uint8_t *src = host_alloc(tc, NB), *back = host_alloc(tc, NB);
  for (int i = 0; i < NB; i++) src[i] = (uint8_t)rng_below(tc->r, 256);
  uint8_t *d1 = dev_alloc(tc, NB), *d2 = dev_alloc(tc, NB);
  o->upload(ctx, d1, src, NB);
  o->download(ctx, back, d1, NB);
  bad = 0;
  for (int i = 0; i < NB; i++) bad += back[i] != src[i];
  check_exact(tc, "upload/download round trip", bad);
  o->copy(ctx, d2 + 3, d1 + 3, NB - 3);
  o->zero(ctx, d2 + 10, 100);
  o->sync(ctx);
  o->download(ctx, back, d2, NB);
  bad = 0;
  for (int i = 0; i < NB; i++) bad += back[i] != (i < 3 || (i >= 10 && i < 110) ? 0 : src[i]);
  check_exact(tc, "copy, zero (byte ranges)", bad);
  float *f = dev_alloc(tc, N * sizeof(float));
  o->fill(ctx, f + 3, -0.37f, N - 10);
  const float *hf = download(tc, f, N);
  bad = 0;
  for (int i = 0; i < N; i++) bad += hf[i] != (i >= 3 && i < N - 7 ? -0.37f : 0.0f);
  check_exact(tc, "fill (a float range)", bad);
}

/* ---- the model's ops ---------------------------------------------------------------------- */
enum { B = 3, T = 37, C = 72, NH = 3, V = 101, BT = B * T, N1 = 1013 };

static void t_embed(tcase *tc) {
  int32_t ids[BT], pos[BT], tt[BT];
  for (int i = 0; i < BT; i++) ids[i] = (int32_t)rng_below(tc->r, V), pos[i] = i % T, tt[i] = i % 2;
  const int32_t *dids = in_i32(tc, ids, BT), *dpos = in_i32(tc, pos, BT), *dtt = in_i32(tc, tt, BT);
  float *dwte, *dwpe, *dwtt, *dout, *dd, *dgte, *dgpe, *dgtt;
  float *wte = in_f32(tc, V * C, -1, 1, &dwte), *wpe = in_f32(tc, T * C, -1, 1, &dwpe);
  float *wtt = in_f32(tc, 2 * C, -1, 1, &dwtt), *out = out_f32(tc, BT * C, &dout);
  R->embed_forward(NULL, out, ids, pos, tt, wte, wpe, wtt, BT, C);
  tc->be->ops->embed_forward(tc->be->ctx, dout, dids, dpos, dtt, dwte, dwpe, dwtt, BT, C);
  check(tc, "embed_forward", dout, out, BT * C, TOL_F32);
  /* embed_forward_ex on the tables stored in the run's dtype (2 bytes an element in bf16/fp16)
   * against the reference's lookup in the rounded float tables; then without positions and
   * token types (token type 0) */
  void *twte, *twpe, *twtt;
  in_typed(tc, wte, V * C, tc->dt, &twte), in_typed(tc, wpe, T * C, tc->dt, &twpe);
  in_typed(tc, wtt, 2 * C, tc->dt, &twtt);
  for (int full = 1; full >= 0; full--) {
    float *dx_out, *x_out = out_f32(tc, BT * C, &dx_out);
    R->embed_forward(NULL, x_out, ids, full ? pos : NULL, full ? tt : NULL, wte, full ? wpe : NULL,
                     wtt, BT, C);
    tc->be->ops->embed_forward_ex(tc->be->ctx, dx_out, dids, full ? dpos : NULL,
                                  full ? dtt : NULL, twte, full ? twpe : NULL, twtt, tc->dt, BT,
                                  C);
    check(tc, full ? "embed_forward_ex (stored tables)" : "embed_forward_ex (no pos, type 0)",
          dx_out, x_out, BT * C, TOL_F32);
  }
  float *d = in_f32(tc, BT * C, -1, 1, &dd), *gte = in_f32(tc, V * C, -1, 1, &dgte);
  float *gpe = in_f32(tc, T * C, -1, 1, &dgpe), *gtt = in_f32(tc, 2 * C, -1, 1, &dgtt);
  R->embed_backward(NULL, gte, gpe, gtt, d, ids, pos, tt, BT, C);
  tc->be->ops->embed_backward(tc->be->ctx, dgte, dgpe, dgtt, dd, dids, dpos, dtt, BT, C);
  check(tc, "embed_backward dwte", dgte, gte, V * C, TOL_F32);
  check(tc, "embed_backward dwpe", dgpe, gpe, T * C, TOL_F32);
  check(tc, "embed_backward dwtt", dgtt, gtt, 2 * C, TOL_F32);
}

static void t_layernorm(tcase *tc) {
  float *dx, *dw, *db, *dout, *dmean, *drstd, *dd, *dgx, *dgw, *dgb;
  float *x = in_f32(tc, BT * C, -2, 3, &dx), *w = in_f32(tc, C, 0.5f, 1.5f, &dw);
  float *b = in_f32(tc, C, -1, 1, &db), *out = out_f32(tc, BT * C, &dout);
  float *mean = out_f32(tc, BT, &dmean), *rstd = out_f32(tc, BT, &drstd);
  R->layernorm_forward(NULL, out, mean, rstd, x, w, b, 1e-5f, BT, C);
  tc->be->ops->layernorm_forward(tc->be->ctx, dout, dmean, drstd, dx, dw, db, 1e-5f, BT, C);
  check(tc, "layernorm_forward out", dout, out, BT * C, TOL_F32);
  check(tc, "layernorm_forward mean", dmean, mean, BT, TOL_F32);
  check(tc, "layernorm_forward rstd", drstd, rstd, BT, TOL_F32);
  float *d = in_f32(tc, BT * C, -1, 1, &dd), *gx = in_f32(tc, BT * C, -1, 1, &dgx);
  float *gw = in_f32(tc, C, -1, 1, &dgw), *gb = in_f32(tc, C, -1, 1, &dgb);
  R->layernorm_backward(NULL, gx, ORDO_ACCUMULATE, gw, gb, d, x, w, mean, rstd, BT, C);
  tc->be->ops->layernorm_backward(tc->be->ctx, dgx, ORDO_ACCUMULATE, dgw, dgb, dd, dx, dw, dmean, drstd, BT, C);
  check(tc, "layernorm_backward dinp", dgx, gx, BT * C, TOL_F32);
  check(tc, "layernorm_backward dw", dgw, gw, C, TOL_F32);
  check(tc, "layernorm_backward db", dgb, gb, C, TOL_F32);
}

static void t_matmul(tcase *tc) {
  enum { IN = C, OUT = V };
  float *dx, *dw, *db, *dout, *dd, *dgx, *dgw, *dgb;
  float *x = in_f32(tc, BT * IN, -1, 1, &dx), *w = in_f32(tc, OUT * IN, -1, 1, &dw);
  float *b = in_f32(tc, OUT, -1, 1, &db), *out = out_f32(tc, BT * OUT, &dout);
  R->matmul_forward(NULL, out, x, w, b, BT, IN, OUT);
  tc->be->ops->matmul_forward(tc->be->ctx, dout, dx, dw, db, BT, IN, OUT);
  check(tc, "matmul_forward", dout, out, BT * OUT, TOL_F32);
  float *d = in_f32(tc, BT * OUT, -1, 1, &dd), *gx = in_f32(tc, BT * IN, -1, 1, &dgx);
  float *gw = in_f32(tc, OUT * IN, -1, 1, &dgw), *gb = in_f32(tc, OUT, -1, 1, &dgb);
  R->matmul_backward(NULL, gx, gw, gb, d, x, w, BT, IN, OUT);
  tc->be->ops->matmul_backward(tc->be->ctx, dgx, dgw, dgb, dd, dx, dw, BT, IN, OUT);
  check(tc, "matmul_backward dinp", dgx, gx, BT * IN, TOL_F32);
  check(tc, "matmul_backward dw", dgw, gw, OUT * IN, TOL_F32);
  check(tc, "matmul_backward dbias", dgb, gb, OUT, TOL_F32);
}

/* One attention variant: padding (sequences of 37, 20 and 1 real keys) or mask NULL, causal,
 * a position bias, dropout p on the probabilities. */
static void t_attention_case(tcase *tc, int padded, int causal, int with_bias, float p) {
  enum { NQ = BT * 3 * C, NO = BT * C, NA = B * NH * T * T, NB = NH * T * T };
  const uint64_t seed = 1234, offset = ((uint64_t)3 << 36) + 5;
  char name[96];
  snprintf(name, sizeof name, "attention[%s%s%s p=%g]", padded ? "pad" : "nomask",
           causal ? ",causal" : "", with_bias ? ",bias" : "", p);
  int32_t mask[BT];
  const int len[B] = {T, 20, 1};
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) mask[b * T + t] = t < len[b];
  const int32_t *hmask = padded ? mask : NULL, *dmask = padded ? in_i32(tc, mask, BT) : NULL;
  float *dq, *dbias = NULL, *dout, *datt, *dscr, *dd, *dgq, *dgb = NULL;
  float *qkv = in_f32(tc, NQ, -2, 2, &dq), *bias = with_bias ? in_f32(tc, NB, -2, 1, &dbias) : NULL;
  float *out = out_f32(tc, NO, &dout), *att = out_f32(tc, NA, &datt);
  float *scr = host_alloc(tc, NA * sizeof(float));
  dscr = dev_alloc(tc, NA * sizeof(float));
  R->attention_forward(NULL, out, att, scr, qkv, hmask, causal, bias, p, seed, offset, B, T, C, NH);
  tc->be->ops->attention_forward(tc->be->ctx, dout, datt, dscr, dq, dmask, causal, dbias, p, seed,
                                 offset, B, T, C, NH);
  char what[128];
  snprintf(what, sizeof what, "%s out", name);
  check(tc, what, dout, out, NO, TOL_F32);
  snprintf(what, sizeof what, "%s probs", name);
  check(tc, what, datt, att, NA, TOL_F32);
  float *d = in_f32(tc, NO, -1, 1, &dd), *gq = in_f32(tc, NQ, -1, 1, &dgq);
  float *gb = with_bias ? in_f32(tc, NB, -1, 1, &dgb) : NULL;
  R->attention_backward(NULL, gq, ORDO_ACCUMULATE, gb, scr, d, qkv, att, hmask, p, seed, offset, B, T, C, NH);
  tc->be->ops->attention_backward(tc->be->ctx, dgq, ORDO_ACCUMULATE, dgb, dscr, dd, dq, datt, dmask, p, seed, offset,
                                  B, T, C, NH);
  snprintf(what, sizeof what, "%s dqkv", name);
  check(tc, what, dgq, gq, NQ, TOL_F32);
  if (with_bias) {
    snprintf(what, sizeof what, "%s dbias", name);
    check(tc, what, dgb, gb, NB, TOL_F32);
  }
}

static void t_attention(tcase *tc) {
  t_attention_case(tc, 0, 0, 0, 0.0f);
  t_attention_case(tc, 1, 0, 0, 0.0f);
  t_attention_case(tc, 1, 1, 0, 0.0f);
  t_attention_case(tc, 1, 0, 1, 0.0f);
  t_attention_case(tc, 1, 0, 0, 0.1f);
  t_attention_case(tc, 1, 1, 1, 0.1f);
}

/* Decoder attention over a cache: the last Tq = 5 of Tk = 37 positions of one sequence. */
static void t_attention_cached(tcase *tc) {
  enum { TQ = 5, TK = T };
  float *dq, *dout, *datt;
  float *qkv = in_f32(tc, TK * 3 * C, -2, 2, &dq), *out = out_f32(tc, TQ * C, &dout);
  float *att = host_alloc(tc, NH * TQ * TK * sizeof(float));
  datt = dev_alloc(tc, NH * TQ * TK * sizeof(float));
  const int64_t q0 = (int64_t)(TK - TQ) * 3 * C;
  R->attention_cached_forward(NULL, out, att, qkv + q0, qkv + C, qkv + 2 * C, 3 * C, 3 * C, TQ,
                              TK, C, NH);
  tc->be->ops->attention_cached_forward(tc->be->ctx, dout, datt, dq + q0, dq + C, dq + 2 * C,
                                        3 * C, 3 * C, TQ, TK, C, NH);
  check(tc, "attention_cached_forward", dout, out, TQ * C, TOL_F32);
}

static void t_rope(tcase *tc) {
  int32_t pos[BT];
  for (int i = 0; i < BT; i++) pos[i] = (i * 37) % 300;
  const int32_t *dpos = in_i32(tc, pos, BT);
  for (int nseg = 2; nseg <= 3; nseg++) {
    float *dx;
    float *x = in_f32(tc, BT * 3 * C, -2, 2, &dx);
    R->rope_forward(NULL, x, pos, 0.5f, 10000.0f, nseg, BT, C, NH);
    tc->be->ops->rope_forward(tc->be->ctx, dx, dpos, 0.5f, 10000.0f, nseg, BT, C, NH);
    check(tc, nseg == 2 ? "rope_forward nseg=2" : "rope_forward nseg=3", dx, x, BT * 3 * C, TOL_F32);
    R->rope_backward(NULL, x, pos, 0.5f, 10000.0f, nseg, BT, C, NH);
    tc->be->ops->rope_backward(tc->be->ctx, dx, dpos, 0.5f, 10000.0f, nseg, BT, C, NH);
    check(tc, nseg == 2 ? "rope_backward nseg=2" : "rope_backward nseg=3", dx, x, BT * 3 * C, TOL_F32);
  }
}

typedef void (*unary_fwd)(ordo_ctx *, float *, const float *, int64_t);
typedef void (*unary_bwd)(ordo_ctx *, float *, int, const float *, const float *, int64_t);

/* A pointwise pair; the backward reads the forward's input (or, tanh, its output). */
static void t_unary(tcase *tc, const char *name, unary_fwd rf, unary_fwd bf, unary_bwd rb,
                    unary_bwd bb, int bwd_uses_out) {
  float *dx, *dout, *dd, *dg;
  float *x = in_f32(tc, N1, -5, 5, &dx), *out = out_f32(tc, N1, &dout);
  rf(NULL, out, x, N1);
  bf(tc->be->ctx, dout, dx, N1);
  char what[64];
  snprintf(what, sizeof what, "%s_forward", name);
  check(tc, what, dout, out, N1, TOL_F32);
  float *d = in_f32(tc, N1, -1, 1, &dd), *g = in_f32(tc, N1, -1, 1, &dg);
  rb(NULL, g, ORDO_ACCUMULATE, bwd_uses_out ? out : x, d, N1);
  bb(tc->be->ctx, dg, ORDO_ACCUMULATE, bwd_uses_out ? dout : dx, dd, N1);
  snprintf(what, sizeof what, "%s_backward", name);
  check(tc, what, dg, g, N1, TOL_F32);
}

static void t_pointwise(tcase *tc) {
  const ordo_ops *o = tc->be->ops;
  t_unary(tc, "gelu", R->gelu_forward, o->gelu_forward, R->gelu_backward, o->gelu_backward, 0);
  t_unary(tc, "gelu_tanh", R->gelu_tanh_forward, o->gelu_tanh_forward, R->gelu_tanh_backward,
          o->gelu_tanh_backward, 0);
  t_unary(tc, "tanh", R->tanh_forward, o->tanh_forward, R->tanh_backward, o->tanh_backward, 1);
  float *da, *db, *dout;
  float *a = in_f32(tc, N1, -1, 1, &da), *b = in_f32(tc, N1, -1, 1, &db), *out = out_f32(tc, N1, &dout);
  R->residual_forward(NULL, out, a, b, N1);
  o->residual_forward(tc->be->ctx, dout, da, db, N1);
  check(tc, "residual_forward", dout, out, N1, TOL_F32);
}

/* Dropout: the kept/dropped pattern must agree bit for bit (inputs kept away from 0). */
static void t_dropout(tcase *tc) {
  const float p = 0.3f;
  const uint64_t seed = 99, offset = 5; /* odd: Philox blocks straddle both ends */
  float *dx, *dout, *dd, *dg;
  float *x = in_f32(tc, N1, 0.5f, 1.5f, &dx), *out = out_f32(tc, N1, &dout);
  R->dropout_forward(NULL, out, x, p, seed, offset, N1);
  tc->be->ops->dropout_forward(tc->be->ctx, dout, dx, p, seed, offset, N1);
  const float *got = download(tc, dout, N1);
  int64_t bad = 0;
  for (int i = 0; i < N1; i++) bad += (got[i] == 0.0f) != (out[i] == 0.0f);
  check_exact(tc, "dropout_forward kept/dropped pattern", bad);
  check(tc, "dropout_forward", dout, out, N1, TOL_F32);
  float *d = in_f32(tc, N1, 0.5f, 1.5f, &dd), *g = in_f32(tc, N1, -1, 1, &dg);
  R->dropout_backward(NULL, g, d, p, seed, offset, N1);
  tc->be->ops->dropout_backward(tc->be->ctx, dg, dd, p, seed, offset, N1);
  check(tc, "dropout_backward", dg, g, N1, TOL_F32);
}

static void t_losses(tcase *tc) {
  const ordo_ops *o = tc->be->ops;
  ordo_ctx *ctx = tc->be->ctx;
  enum { IGN = -100 };
  int32_t tg[BT];
  int count = 0;
  for (int i = 0; i < BT; i++) {
    tg[i] = i % 5 == 2 ? IGN : (int32_t)rng_below(tc->r, V);
    count += tg[i] != IGN;
  }
  const int32_t *dtg = in_i32(tc, tg, BT);
  float *dl, *dloss, *dprobs, *dgl;
  float *l = in_f32(tc, BT * V, -8, 8, &dl), *loss = out_f32(tc, 1, &dloss);
  float *probs = out_f32(tc, BT * V, &dprobs);
  R->crossentropy_forward(NULL, loss, probs, l, tg, IGN, BT, V);
  o->crossentropy_forward(ctx, dloss, dprobs, dl, dtg, IGN, BT, V);
  check(tc, "crossentropy_forward loss", dloss, loss, 1, TOL_F32);
  check(tc, "crossentropy_forward probs", dprobs, probs, BT * V, TOL_F32);
  float *gl = in_f32(tc, BT * V, -1, 1, &dgl);
  R->crossentropy_backward(NULL, gl, ORDO_ACCUMULATE, probs, tg, IGN, 1.0f / count, BT, V);
  o->crossentropy_backward(ctx, dgl, ORDO_ACCUMULATE, dprobs, dtg, IGN, 1.0f / count, BT, V);
  check(tc, "crossentropy_backward", dgl, gl, BT * V, TOL_F32);
  /* ORDO_OVERWRITE onto NaN: every row written, the ignored ones with zeros */
  float *dgo, *go = out_f32(tc, BT * V, &dgo);
  R->crossentropy_backward(NULL, go, ORDO_ACCUMULATE, probs, tg, IGN, 1.0f / count, BT, V);
  o->crossentropy_backward(ctx, dgo, ORDO_OVERWRITE, dprobs, dtg, IGN, 1.0f / count, BT, V);
  check(tc, "crossentropy_backward overwrite", dgo, go, BT * V, TOL_F32);

  float *dx, *dy, *dw, *dm, *dh;
  float *x = in_f32(tc, N1, -10, 10, &dx), *y = in_f32(tc, N1, 0, 1, &dy);
  float *w = in_f32(tc, N1, 0, 2, &dw), *m = out_f32(tc, 1, &dm);
  R->mse_forward(NULL, m, x, y, N1);
  o->mse_forward(ctx, dm, dx, dy, N1);
  check(tc, "mse_forward", dm, m, 1, TOL_F32);
  float *h = in_f32(tc, N1, -1, 1, &dh);
  R->mse_backward(NULL, h, x, y, 0.7f, N1);
  o->mse_backward(ctx, dh, dx, dy, 0.7f, N1);
  check(tc, "mse_backward", dh, h, N1, TOL_F32);
  for (int weighted = 0; weighted < 2; weighted++) {
    float *dbl, *dgb;
    float *bl = out_f32(tc, 1, &dbl), *gb = in_f32(tc, N1, -1, 1, &dgb);
    R->bce_logits_forward(NULL, bl, x, y, weighted ? w : NULL, N1);
    o->bce_logits_forward(ctx, dbl, dx, dy, weighted ? dw : NULL, N1);
    check(tc, weighted ? "bce_logits_forward weighted" : "bce_logits_forward", dbl, bl, 1, TOL_F32);
    R->bce_logits_backward(NULL, gb, x, y, weighted ? w : NULL, 0.5f, N1);
    o->bce_logits_backward(ctx, dgb, dx, dy, weighted ? dw : NULL, 0.5f, N1);
    check(tc, weighted ? "bce_logits_backward weighted" : "bce_logits_backward", dgb, gb, N1, TOL_F32);
  }
}

/* ---- general products and row moves -------------------------------------------------------- */
/* Every transpose pair, leading dimensions 5 wider than the rows, alpha/beta != 0/1, and beta 0
 * over a C full of NaN (never read). The padding columns of C must come back untouched. */
static void t_gemm(tcase *tc) {
  enum { M = 37, N = 29, K = 53, PAD = 5 };
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int b0 = 0; b0 < 2; b0++) {
        const int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD, ldc = N + PAD;
        float *dA, *dB, *dC;
        float *A = in_f32(tc, (ta ? K : M) * lda, -1, 1, &dA);
        float *Bm = in_f32(tc, (tb ? N : K) * ldb, -1, 1, &dB);
        float *Cm = in_f32(tc, M * ldc, -1, 1, &dC);
        float *c0 = host_alloc(tc, M * ldc * sizeof(float));
        memcpy(c0, Cm, M * ldc * sizeof(float));
        if (b0) {
          for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) Cm[i * ldc + j] = NAN;
          tc->be->ops->upload(tc->be->ctx, dC, Cm, M * ldc * sizeof(float));
        }
        const float alpha = 0.75f, beta = b0 ? 0.0f : -1.5f;
        R->gemm(NULL, ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, Cm, ldc);
        tc->be->ops->gemm(tc->be->ctx, ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc);
        const float *got = download(tc, dC, M * ldc);
        int64_t pad_changed = 0;
        for (int i = 0; i < M; i++)
          for (int j = N; j < ldc; j++) pad_changed += memcmp(&got[i * ldc + j], &c0[i * ldc + j], 4) != 0;
        char what[64];
        snprintf(what, sizeof what, "gemm ta=%d tb=%d alpha=0.75 beta=%g", ta, tb, beta);
        check(tc, what, dC, Cm, M * ldc, TOL_F32); /* padding included: equal there */
        snprintf(what, sizeof what, "gemm ta=%d tb=%d beta=%g: C padding kept", ta, tb, beta);
        check_exact(tc, what, pad_changed);
      }
}

/* ---- storage dtypes: convert and gemm_ex on real 16-bit arrays -------------------------------- */
static const ordo_dtype k_half[2] = {ORDO_DT_BF16, ORDO_DT_F16};

/* convert, exact: float32 to bf16/fp16 and back against the reference's bits (ties, overflow
 * to inf, subnormals, NaN), and bf16 <-> fp16. */
static void t_convert(tcase *tc) {
  enum { N = 40009 }; /* more than two of the fast CPU backend's parallel blocks */
  float *dx;
  float *x = in_f32(tc, N, -70000, 70000, &dx);
  const float special[8] = {1e6f, -7e4f, 1.00390625f, 3e-6f, 1e-40f, 65519.0f, NAN, -0.0f};
  for (int i = 0; i < N; i += 97) x[i] *= 1e-9f; /* small values: fp16 subnormals */
  memcpy(x, special, sizeof special);
  tc->be->ops->upload(tc->be->ctx, dx, x, N * sizeof(float));
  for (int k = 0; k < 2; k++) {
    ordo_dtype dt = k_half[k], other = k_half[1 - k];
    uint16_t *h = host_alloc(tc, N * 2), *got = host_alloc(tc, N * 2), *d = dev_alloc(tc, N * 2);
    R->convert(NULL, h, dt, x, ORDO_DT_F32, N);
    tc->be->ops->convert(tc->be->ctx, d, dt, dx, ORDO_DT_F32, N);
    tc->be->ops->download(tc->be->ctx, got, d, N * 2);
    int64_t bad = 0;
    for (int i = 0; i < N; i++) bad += got[i] != h[i];
    char what[64];
    snprintf(what, sizeof what, "convert F32 -> %s (bits)", dtype_name(dt));
    check_exact(tc, what, bad);
    /* the round trip equals round_dtype on the float array */
    float *back = host_alloc(tc, N * sizeof(float)), *dback = dev_alloc(tc, N * sizeof(float));
    float *rounded = host_alloc(tc, N * sizeof(float));
    memcpy(rounded, x, N * sizeof(float));
    R->round_dtype(NULL, rounded, N, dt);
    tc->be->ops->convert(tc->be->ctx, dback, ORDO_DT_F32, d, dt, N);
    tc->be->ops->download(tc->be->ctx, back, dback, N * sizeof(float));
    bad = 0;
    for (int i = 0; i < N; i++) bad += memcmp(&back[i], &rounded[i], 4) != 0;
    snprintf(what, sizeof what, "convert %s -> F32 = round_dtype (bits)", dtype_name(dt));
    check_exact(tc, what, bad);
    uint16_t *ho = host_alloc(tc, N * 2), *go = host_alloc(tc, N * 2), *dout = dev_alloc(tc, N * 2);
    R->convert(NULL, ho, other, h, dt, N);
    tc->be->ops->convert(tc->be->ctx, dout, other, d, dt, N);
    tc->be->ops->download(tc->be->ctx, go, dout, N * 2);
    bad = 0;
    for (int i = 0; i < N; i++) bad += go[i] != ho[i];
    snprintf(what, sizeof what, "convert %s -> %s (bits)", dtype_name(dt), dtype_name(other));
    check_exact(tc, what, bad);
  }
}

/* gemm_ex in every operand dtype with C in fp32 and in the operands' dtype, every transpose pair,
 * leading dimensions 5 wider than the rows, beta 0 over NaN and beta != 0; C's padding columns
 * come back untouched. Tolerance: 16-bit operands hold the same rounded values on both sides
 * and both sum in fp32 (in another order: tensor cores on CUDA), and a 16-bit C adds one
 * rounding step (2^-8 for bf16): TOL_STORAGE; fp32 operands: TOL_F32. */
static void t_gemm_ex(tcase *tc) {
  enum { M = 37, N = 29, K = 53, PAD = 5 };
  const ordo_dtype abs[3] = {ORDO_DT_F32, ORDO_DT_BF16, ORDO_DT_F16};
  for (int a = 0; a < 3; a++)
    for (int typed_c = 0; typed_c < (a ? 2 : 1); typed_c++)
      for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
          for (int b0 = 0; b0 < 2; b0++) {
            ordo_dtype abt = abs[a], ct = typed_c ? abt : ORDO_DT_F32;
            const int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD, ldc = N + PAD;
            const int na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc;
            float *dAf, *dBf, *dCf;
            float *Af = in_f32(tc, na, -1, 1, &dAf), *Bf = in_f32(tc, nb, -1, 1, &dBf);
            float *Cf = in_f32(tc, nc, -1, 1, &dCf);
            if (b0)
              for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) Cf[i * ldc + j] = NAN;
            void *dA, *dB, *dC;
            void *A = in_typed(tc, Af, na, abt, &dA), *B = in_typed(tc, Bf, nb, abt, &dB);
            void *Cm = in_typed(tc, Cf, nc, ct, &dC);
            void *c0 = host_alloc(tc, (size_t)nc * dtype_size(ct));
            memcpy(c0, Cm, (size_t)nc * dtype_size(ct));
            const float alpha = 0.75f, beta = b0 ? 0.0f : -1.5f;
            R->gemm_ex(NULL, ta, tb, M, N, K, alpha, A, lda, B, ldb, abt, beta, Cm, ldc, ct);
            tc->be->ops->gemm_ex(tc->be->ctx, ta, tb, M, N, K, alpha, dA, lda, dB, ldb, abt, beta,
                                 dC, ldc, ct);
            void *got = host_alloc(tc, (size_t)nc * dtype_size(ct));
            tc->be->ops->download(tc->be->ctx, got, dC, (size_t)nc * dtype_size(ct));
            int64_t pad_changed = 0;
            size_t es = dtype_size(ct);
            for (int i = 0; i < M; i++)
              for (int j = N; j < ldc; j++)
                pad_changed += memcmp(dtype_at(got, ct, i * ldc + j), dtype_at(c0, ct, i * ldc + j), es) != 0;
            float *gotf = host_alloc(tc, nc * sizeof(float)), *reff = host_alloc(tc, nc * sizeof(float));
            R->convert(NULL, gotf, ORDO_DT_F32, got, ct, nc);
            R->convert(NULL, reff, ORDO_DT_F32, Cm, ct, nc);
            char what[64], dts[16];
            snprintf(dts, sizeof dts, "%s>%s", abt == ORDO_DT_F32 ? "F32" : abt == ORDO_DT_BF16 ? "BF" : "F16",
                     ct == ORDO_DT_F32 ? "F32" : ct == ORDO_DT_BF16 ? "BF" : "F16");
            snprintf(what, sizeof what, "gemm_ex ta=%d tb=%d alpha=0.75 beta=%g", ta, tb, beta);
            report(tc, what, dts, rel_err_f32(gotf, reff, nc), abt == ORDO_DT_F32 ? TOL_F32 : TOL_STORAGE);
            snprintf(what, sizeof what, "gemm_ex ta=%d tb=%d beta=%g: C padding kept", ta, tb, beta);
            report(tc, what, dts, (double)pad_changed, 0.0);
          }
}

/* A typed array's values as fp32 on the host (the backend's copy downloaded). */
static float *typed_f32(tcase *tc, const void *d, ordo_dtype dt, int64_t n) {
  void *h = host_alloc(tc, (size_t)n * dtype_size(dt));
  float *f = host_alloc(tc, (size_t)n * sizeof(float));
  tc->be->ops->download(tc->be->ctx, h, d, (size_t)n * dtype_size(dt));
  R->convert(NULL, f, ORDO_DT_F32, h, dt, n);
  return f;
}

/* The linear layer on storage dtypes (matmul_forward_ex / matmul_backward_ex): operands in each
 * dtype, the output and the input gradient in fp32 and in the operands' dtype, with a bias and
 * without; the input gradient accumulates onto random values. Tolerance as gemm_ex's: 16-bit
 * operands hold the same values on both sides, both sum in fp32 (CUDA: tensor cores, another
 * order) and a 16-bit result adds one rounding step: TOL_STORAGE; fp32 operands TOL_F32. */
static void t_matmul_ex(tcase *tc) {
  enum { IN = C + 3, OUT = V };
  const ordo_dtype dts[3] = {ORDO_DT_F32, ORDO_DT_BF16, ORDO_DT_F16};
  for (int a = 0; a < 3; a++)
    for (int typed_out = 0; typed_out < (a ? 2 : 1); typed_out++)
      for (int biased = 0; biased < 2; biased++) {
        ordo_dtype dt = dts[a], ot = typed_out ? dt : ORDO_DT_F32;
        float *dxf, *dwf, *dbf, *ddf, *dgf, *dgw, *dgb;
        float *xf = in_f32(tc, BT * IN, -1, 1, &dxf), *wf = in_f32(tc, OUT * IN, -1, 1, &dwf);
        float *bf = in_f32(tc, OUT, -1, 1, &dbf), *df = in_f32(tc, BT * OUT, -1, 1, &ddf);
        float *gf = in_f32(tc, BT * IN, -1, 1, &dgf), *gw = in_f32(tc, OUT * IN, -1, 1, &dgw);
        float *gb = in_f32(tc, OUT, -1, 1, &dgb);
        void *dx, *dw, *db, *dd, *dg, *dout;
        void *x = in_typed(tc, xf, BT * IN, dt, &dx), *w = in_typed(tc, wf, OUT * IN, dt, &dw);
        void *b = in_typed(tc, bf, OUT, dt, &db), *d = in_typed(tc, df, BT * OUT, dt, &dd);
        void *g = in_typed(tc, gf, BT * IN, ot, &dg);
        void *out = host_alloc(tc, (size_t)BT * OUT * dtype_size(ot));
        dout = dev_alloc(tc, (size_t)BT * OUT * dtype_size(ot));
        R->matmul_forward_ex(NULL, out, ot, x, w, biased ? b : NULL, dt, BT, IN, OUT);
        tc->be->ops->matmul_forward_ex(tc->be->ctx, dout, ot, dx, dw, biased ? db : NULL, dt, BT,
                                       IN, OUT);
        R->matmul_backward_ex(NULL, g, ot, gw, biased ? gb : NULL, d, x, w, dt, BT, IN, OUT);
        tc->be->ops->matmul_backward_ex(tc->be->ctx, dg, ot, dgw, biased ? dgb : NULL, dd, dx, dw,
                                        dt, BT, IN, OUT);
        float *outf = host_alloc(tc, (size_t)BT * OUT * sizeof(float));
        float *gif = host_alloc(tc, (size_t)BT * IN * sizeof(float));
        R->convert(NULL, outf, ORDO_DT_F32, out, ot, BT * OUT);
        R->convert(NULL, gif, ORDO_DT_F32, g, ot, BT * IN);
        char dts_s[16], what[64];
        snprintf(dts_s, sizeof dts_s, "%s>%s", a == 0 ? "F32" : a == 1 ? "BF" : "F16",
                 ot == ORDO_DT_F32 ? "F32" : ot == ORDO_DT_BF16 ? "BF" : "F16");
        const double tol = dt == ORDO_DT_F32 ? TOL_F32 : TOL_STORAGE;
        snprintf(what, sizeof what, "matmul_forward_ex%s", biased ? " +bias" : "");
        report(tc, what, dts_s, rel_err_f32(typed_f32(tc, dout, ot, BT * OUT), outf, BT * OUT), tol);
        snprintf(what, sizeof what, "matmul_backward_ex dinp (+=)%s", biased ? " +bias" : "");
        report(tc, what, dts_s, rel_err_f32(typed_f32(tc, dg, ot, BT * IN), gif, BT * IN), tol);
        report(tc, "matmul_backward_ex dw (+=)", dts_s, rel_err_f32(download(tc, dgw, OUT * IN), gw, OUT * IN), tol);
        if (biased)
          report(tc, "matmul_backward_ex dbias (+=)", dts_s, rel_err_f32(download(tc, dgb, OUT), gb, OUT), tol);
      }
}

static void t_rows(tcase *tc) {
  enum { S = V, NR = 37 };
  int32_t rows[NR];
  for (int i = 0; i < NR; i++) rows[i] = (i * 37 + 11) % S; /* distinct: 37 and 101 coprime */
  const int32_t *drows = in_i32(tc, rows, NR);
  float *dsrc, *dout, *dadd, *ddst;
  float *src = in_f32(tc, S * C, -1, 1, &dsrc), *out = out_f32(tc, NR * C, &dout);
  R->gather_rows(NULL, out, src, rows, NR, C);
  tc->be->ops->gather_rows(tc->be->ctx, dout, dsrc, drows, NR, C);
  check(tc, "gather_rows", dout, out, NR * C, TOL_F32);
  float *add = in_f32(tc, NR * C, -1, 1, &dadd), *dst = in_f32(tc, S * C, -1, 1, &ddst);
  R->scatter_add_rows(NULL, dst, add, rows, NR, C);
  tc->be->ops->scatter_add_rows(tc->be->ctx, ddst, dadd, drows, NR, C);
  check(tc, "scatter_add_rows", ddst, dst, S * C, TOL_F32);
}

static void t_axpy_scale_round(tcase *tc) {
  float *dx, *dy;
  float *x = in_f32(tc, N1, -3, 3, &dx), *y = in_f32(tc, N1, -1, 1, &dy);
  R->axpy(NULL, y, -0.3f, x, N1);
  tc->be->ops->axpy(tc->be->ctx, dy, -0.3f, dx, N1);
  check(tc, "axpy", dy, y, N1, TOL_F32);
  R->scale(NULL, y, 1.7f, N1);
  tc->be->ops->scale(tc->be->ctx, dy, 1.7f, N1);
  check(tc, "scale", dy, y, N1, TOL_F32);
  if (tc->dt != ORDO_DT_F32) return;
  /* the rounding itself, exact: ties, subnormals, fp16 overflow to inf */
  const ordo_dtype dts[2] = {ORDO_DT_BF16, ORDO_DT_F16};
  for (int k = 0; k < 2; k++) {
    float *dz;
    float *z = in_f32(tc, N1, -3, 3, &dz);
    const float special[6] = {1e6f, -7e4f, 1.00390625f, 3e-6f, 1e-40f, 65519.0f};
    memcpy(z, special, sizeof special);
    tc->be->ops->upload(tc->be->ctx, dz, z, sizeof special);
    R->round_dtype(NULL, z, N1, dts[k]);
    tc->be->ops->round_dtype(tc->be->ctx, dz, N1, dts[k]);
    const float *got = download(tc, dz, N1);
    int64_t bad = 0;
    for (int i = 0; i < N1; i++) bad += memcmp(&got[i], &z[i], 4) != 0;
    check_exact(tc, k ? "round_dtype to f16 (bits)" : "round_dtype to bf16 (bits)", bad);
  }
}

/* ---- optimizer ops (fp32 masters and state: no storage-dtype variants) ------------------------ */
static void t_sumsq_blocks(tcase *tc) {
  enum { N = 10001 };
  float *dx;
  const float *x = in_f32(tc, N, -3, 3, &dx);
  const int blocks[2] = {2048, 1000};
  for (int k = 0; k < 2; k++) {
    const int nb = (N + blocks[k] - 1) / blocks[k];
    double *want = host_alloc(tc, nb * sizeof(double)), *got = host_alloc(tc, nb * sizeof(double));
    double *dp = dev_alloc(tc, nb * sizeof(double));
    R->sumsq_blocks(NULL, want, x, N, blocks[k]);
    tc->be->ops->sumsq_blocks(tc->be->ctx, dp, dx, N, blocks[k]);
    tc->be->ops->download(tc->be->ctx, got, dp, nb * sizeof(double));
    double num = 0, den = 0;
    for (int b = 0; b < nb; b++) num += (got[b] - want[b]) * (got[b] - want[b]), den += want[b] * want[b];
    report(tc, k ? "sumsq_blocks block=1000" : "sumsq_blocks block=2048", "f64",
           sqrt(num / den), TOL_DOUBLE);
  }
}

/* The hyperparameters of step t as the optimizers compute them (lr 1e-3, decay 0.01). */
static ordo_adamw_hp step_hp(int t) {
  const double lr = 1e-3, b1 = 0.9, b2 = 0.999;
  return (ordo_adamw_hp){.b1 = 0.9f, .b2 = 0.999f, .eps = 1e-8f,
                         .bc2_sqrt = (float)sqrt(1.0 - pow(b2, t)),
                         .step_size = (float)(lr / (1.0 - pow(b1, t))),
                         .wd_mul = (float)(1.0 - lr * 0.01)};
}
enum { OPT_STEPS = 100 };

/* 100 steps on random gradients from the same start: weights and moments within 1e-5. */
static void t_adamw(tcase *tc) {
  enum { N = 5000 };
  float *dw, *dm, *dv, *dg;
  float *w = in_f32(tc, N, -1, 1, &dw), *m = out_f32(tc, N, &dm), *v = out_f32(tc, N, &dv);
  tc->be->ops->zero(tc->be->ctx, dm, N * sizeof(float));
  tc->be->ops->zero(tc->be->ctx, dv, N * sizeof(float));
  float *g = host_alloc(tc, N * sizeof(float));
  dg = dev_alloc(tc, N * sizeof(float));
  for (int t = 1; t <= OPT_STEPS; t++) {
    for (int i = 0; i < N; i++) g[i] = rng_normal(tc->r);
    tc->be->ops->upload(tc->be->ctx, dg, g, N * sizeof(float));
    R->adamw_step(NULL, w, g, m, v, N, step_hp(t));
    tc->be->ops->adamw_step(tc->be->ctx, dw, dg, dm, dv, N, step_hp(t));
  }
  check(tc, "adamw_step x100 weights", dw, w, N, TOL_F32);
  check(tc, "adamw_step x100 m", dm, m, N, TOL_F32);
  check(tc, "adamw_step x100 v", dv, v, N, TOL_F32);
}

/* 100 steps with 8-bit moments (the optimizer's dynamic maps, blocks of Q8_BLOCK, the last one
 * short). One quantization step of element i: the larger gap between the reference's code of i
 * and its neighbours in the map, times the larger of the two backends' block absmax; each
 * decoded moment of the backend must lie within one step of the reference's (error printed as
 * the largest distance in steps, tolerance 1). Weights within 1e-5 (fp32 masters). */
static double q8_steps_apart(tcase *tc, const q8_map *map, const uint8_t *dq, const float *ds,
                             int64_t n, const uint8_t *rq, const float *rs) {
  uint8_t *q = host_alloc(tc, (size_t)n);
  float *s = host_alloc(tc, (size_t)((n + Q8_BLOCK - 1) / Q8_BLOCK) * sizeof(float));
  tc->be->ops->download(tc->be->ctx, q, dq, (size_t)n);
  tc->be->ops->download(tc->be->ctx, s, ds, (size_t)((n + Q8_BLOCK - 1) / Q8_BLOCK) * sizeof(float));
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    const int c = rq[i], b = (int)(i / Q8_BLOCK);
    double gap = 0;
    if (c > 0) gap = map->v[c] - map->v[c - 1];
    if (c < 255 && map->v[c + 1] - map->v[c] > gap) gap = map->v[c + 1] - map->v[c];
    const double step = gap * fmax(rs[b], s[b]);
    const double dist = fabs((double)map->v[q[i]] * s[b] - (double)map->v[c] * rs[b]);
    const double apart = step > 0 ? dist / step : (dist > 0 ? INFINITY : 0);
    if (!(apart <= worst)) worst = apart; /* NaN propagates */
  }
  return worst;
}

static void t_adamw8(tcase *tc) {
  enum { N = 5000, NB = (N + Q8_BLOCK - 1) / Q8_BLOCK };
  q8_map mm, mv;
  q8_map_dynamic(&mm, 1);
  q8_map_dynamic(&mv, 0);
  const ordo_ops *o = tc->be->ops;
  ordo_ctx *ctx = tc->be->ctx;
  float *dmap_m = dev_alloc(tc, sizeof mm.v), *dmid_m = dev_alloc(tc, sizeof mm.mid);
  float *dmap_v = dev_alloc(tc, sizeof mv.v), *dmid_v = dev_alloc(tc, sizeof mv.mid);
  o->upload(ctx, dmap_m, mm.v, sizeof mm.v), o->upload(ctx, dmid_m, mm.mid, sizeof mm.mid);
  o->upload(ctx, dmap_v, mv.v, sizeof mv.v), o->upload(ctx, dmid_v, mv.mid, sizeof mv.mid);
  float *dw;
  float *w = in_f32(tc, N, -1, 1, &dw);
  uint8_t *qm = host_alloc(tc, N), *qv = host_alloc(tc, N);
  memset(qm, q8_code(&mm, 0.0f), N), memset(qv, q8_code(&mv, 0.0f), N);
  uint8_t *dqm = dev_alloc(tc, N), *dqv = dev_alloc(tc, N);
  o->upload(ctx, dqm, qm, N), o->upload(ctx, dqv, qv, N);
  float *sm = host_alloc(tc, NB * sizeof(float)), *sv = host_alloc(tc, NB * sizeof(float));
  float *dsm = dev_alloc(tc, NB * sizeof(float)), *dsv = dev_alloc(tc, NB * sizeof(float));
  float *g = host_alloc(tc, N * sizeof(float)), *dg = dev_alloc(tc, N * sizeof(float));
  for (int t = 1; t <= OPT_STEPS; t++) {
    for (int i = 0; i < N; i++) g[i] = rng_normal(tc->r);
    o->upload(ctx, dg, g, N * sizeof(float));
    R->adamw8_step(NULL, w, g, qm, qv, sm, sv, mm.v, mm.mid, mv.v, mv.mid, N, Q8_BLOCK, step_hp(t));
    o->adamw8_step(ctx, dw, dg, dqm, dqv, dsm, dsv, dmap_m, dmid_m, dmap_v, dmid_v, N, Q8_BLOCK,
                   step_hp(t));
  }
  check(tc, "adamw8_step x100 weights", dw, w, N, TOL_F32);
  report(tc, "adamw8_step x100 m (quantization steps)", "q8",
         q8_steps_apart(tc, &mm, dqm, dsm, N, qm, sm), 1.0);
  report(tc, "adamw8_step x100 v (quantization steps)", "q8",
         q8_steps_apart(tc, &mv, dqv, dsv, N, qv, sv), 1.0);
}

/* ---- driver ---------------------------------------------------------------------------------- */
typedef struct test {
  const char *name;
  void (*fn)(tcase *);
  int storage_dtypes; /* 1: also in bf16 and fp16 storage */
} test;

static const test k_tests[] = {
    {"memory", t_memory, 0},           {"embed", t_embed, 1},
    {"layernorm", t_layernorm, 1},     {"matmul", t_matmul, 1},
    {"attention", t_attention, 1},     {"attention_cached", t_attention_cached, 1},
    {"rope", t_rope, 1},               {"pointwise", t_pointwise, 1},
    {"dropout", t_dropout, 1},         {"losses", t_losses, 1},
    {"gemm", t_gemm, 1},               {"rows", t_rows, 1},
    {"convert", t_convert, 0},         {"gemm_ex", t_gemm_ex, 0},
    {"matmul_ex", t_matmul_ex, 0},
    {"axpy_scale_round", t_axpy_scale_round, 1},
    {"sumsq_blocks", t_sumsq_blocks, 0},
    {"adamw", t_adamw, 0},             {"adamw8", t_adamw8, 0},
};

/* Runs every selected test on one backend; returns its failed lines. */
static int run_backend(const char *name, const ordo_backend *be) {
  const ordo_dtype dts[3] = {ORDO_DT_F32, ORDO_DT_BF16, ORDO_DT_F16};
  int pass = 0, fail = 0;
  ordo_rng r;
  rng_init(&r, 20261127);
  for (size_t k = 0; k < sizeof k_tests / sizeof k_tests[0]; k++) {
    if (g_only && !strstr(k_tests[k].name, g_only)) continue;
    for (int d = 0; d < (k_tests[k].storage_dtypes ? 3 : 1); d++) {
      tcase tc = {.be = be, .bname = name, .dt = dts[d], .r = &r};
      /* 16-bit storage: products as the mixed-precision driver runs them (set_products_tf32) */
      if (be->ops->set_products_tf32) be->ops->set_products_tf32(be->ctx, dts[d] != ORDO_DT_F32);
      k_tests[k].fn(&tc);
      be->ops->sync(be->ctx);
      tc_free(&tc);
      if (be->ops->set_products_tf32) be->ops->set_products_tf32(be->ctx, 0);
      pass += tc.pass, fail += tc.fail;
    }
  }
  printf("%s: %d checks passed, %d failed\n", name, pass, fail);
  return fail;
}

/* The one place a backend is chosen: the CPU names, and clear refusals. */
static void test_open(void) {
  ordo_backend be;
  ordo_err e = {0};
  EXPECT(ordo_backend_open(&be, "cpu", &e) == 0 && be.ops == ops_cpu() && !be.ctx, "open cpu");
  ordo_backend_close(&be);
  EXPECT(ordo_backend_open(&be, "cpu-ref", &e) == 0 && be.ops == ops_cpu_ref(), "open cpu-ref");
  ordo_backend_close(&be);
  EXPECT(!be.ops, "close clears the backend");
  EXPECT(ordo_backend_open(&be, "tpu", &e) == -1 && strstr(e.msg, "'tpu'") && !be.ops,
         "unknown device refused: %s", e.msg);
  EXPECT(ordo_backend_open(&be, NULL, &e) == -1, "no device refused");
  if (!ordo_cuda_available()) {
    e.msg[0] = 0;
    EXPECT(ordo_backend_open(&be, "cuda", &e) == -1 && strstr(e.msg, "CUDA") && !be.ops,
           "cuda without a device or a CUDA build refused with a message: '%s'", e.msg);
  }
  /* cuda:N names a device; anything else after the colon is refused before any device is asked */
  const char *bad_names[] = {"cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda:99999"};
  for (int k = 0; k < 5; k++)
    EXPECT(ordo_backend_open(&be, bad_names[k], &e) == -1 && strstr(e.msg, "cuda:N") && !be.ops,
           "'%s' refused by name: '%s'", bad_names[k], e.msg);
  if (!ordo_cuda_available()) {
    EXPECT(ordo_backend_open(&be, "cuda:1", &e) == -1 && strstr(e.msg, "CUDA") && !be.ops,
           "cuda:1 without a device refused: '%s'", e.msg);
  }
  /* "cuda": one device per rank of a machine, round robin; one process on device 0 */
  EXPECT(ordo_cuda_device_of(0, 8) == 0 && ordo_cuda_device_of(3, 8) == 3 &&
         ordo_cuda_device_of(9, 8) == 1 && ordo_cuda_device_of(5, 1) == 0 &&
         ordo_cuda_device_of(-2, 4) == 0, "device of a local rank");
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "3", 1);
  EXPECT(ordo_local_rank() == 3, "local rank from mpirun's environment");
  unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  setenv("SLURM_LOCALID", "2", 1);
  EXPECT(ordo_local_rank() == 2, "local rank from srun's environment");
  unsetenv("SLURM_LOCALID");
  const char *launched = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  EXPECT(launched || ordo_local_rank() == 0, "one process: local rank 0");
  ordo_backend h = backend_cpu();
  float *x = be_alloc_f32(&h, 3);
  const float v[3] = {1.5f, -2.0f, 0.25f};
  be_upload(&h, x, v, sizeof v);
  float back[3];
  be_download(&h, back, x, sizeof back);
  EXPECT(memcmp(v, back, sizeof v) == 0 && be_read_f32(&h, x + 1) == -2.0f, "be_* helpers");
  be_free(&h, x);
}

int main(int argc, char **argv) {
  const char *which = "all";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) which = argv[++i];
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) g_only = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--backend cpu|cuda|all] [--only NAME]\n", argv[0]);
      return 2;
    }
  }
  if (strcmp(which, "all") && strcmp(which, "cpu") && strcmp(which, "cuda")) {
    fprintf(stderr, "--backend: unknown backend '%s' (expected cpu, cuda or all)\n", which);
    return 2;
  }
  int known = !g_only;
  for (size_t k = 0; g_only && k < sizeof k_tests / sizeof k_tests[0]; k++)
    known |= strstr(k_tests[k].name, g_only) != NULL;
  if (!known) {
    fprintf(stderr, "--only: no test is named like '%s'\n", g_only);
    return 2;
  }
  R = ops_cpu_ref();
  if (!g_only) test_open();
  int fails = 0, ran = 0;
  const char *names[2] = {"cpu", "cuda"};
  for (int k = 0; k < 2; k++) {
    if (strcmp(which, "all") && strcmp(which, names[k])) continue;
    if (k == 1 && !ordo_cuda_available()) {
      printf("cuda: skipped: no CUDA device\n");
      continue;
    }
    ordo_backend be;
    ordo_err e = {0};
    if (ordo_backend_open(&be, names[k], &e) != 0) {
      fprintf(stderr, "%s: %s\n", names[k], e.msg);
      return 1;
    }
    fails += run_backend(names[k], &be);
    ordo_backend_close(&be);
    ran++;
  }
  if (!ran) return 77; /* only absent backends asked for: skipped, not passed */
  test_summary();
  return fails || t_fail ? 1 : 0;
}
