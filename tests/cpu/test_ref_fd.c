/* The float32 reference kernels (ops_cpu_ref) against double-precision forward references
 * written here, and their backward passes against central finite differences of those
 * double forwards.
 *
 * Each gradient is checked for a scalar loss L = sum(out * g) with a random upstream g (or the
 * op's own loss). Finite differences run in double with h = 1e-6 * max(1, |x|): truncation
 * error O(h^2) ~ 1e-12 and rounding ~ 1e-16 |L| / h ~ 1e-10, both far below the fp32 error
 * being measured, so the difference measures the fp32 backward alone. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ordo/ops.h"
#include "ordo/rng.h"

/* fp32 backward vs double FD: each fp32 op rounds at 6e-8 relative and the gradients here sum
 * at most a few dozen terms, some with cancellation (layernorm, softmax); measured errors are
 * about 1e-7, so 1e-5 leaves 100x room for that cancellation on other inputs while a wrong
 * formula (a missing term, a wrong factor) lands near 1e-1. */
#define TOL_GRAD 1e-5
/* fp32 forward vs double forward: a handful of roundings per output, no cancellation
 * (measured below 1e-7). */
#define TOL_FWD 1e-6
/* Backward called twice vs twice once: equal up to the rounding of interleaved running sums. */
#define TOL_TWICE 1e-6


typedef double (*loss_fn)(void *ctx);

static void fd_grad(loss_fn f, void *ctx, double *x, int64_t n, double *g) {
  for (int64_t i = 0; i < n; i++) {
    double s = x[i], h = 1e-6 * fmax(1.0, fabs(s));
    x[i] = s + h;
    double lp = f(ctx);
    x[i] = s - h;
    double lm = f(ctx);
    x[i] = s;
    g[i] = (lp - lm) / (2.0 * h);
  }
}

static double rel_err(const float *a, const double *b, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (den == 0.0) return sqrt(num); /* an all-zero truth: absolute error */
  return sqrt(num / den);
}

/* ORDO_TEST_VERBOSE=1 prints every measured error next to its bound. */
static void show_rel(const char *what, double err, double tol) {
  if (getenv("ORDO_TEST_VERBOSE")) printf("  %-26s rel err %.3g (bound %g)\n", what, err, tol);
}
#define EXPECT_REL(what, err, tol)                                                        \
  do {                                                                                    \
    double e_ = (err);                                                                    \
    show_rel(what, e_, tol);                                                              \
    EXPECT(e_ <= (tol), "%s: rel err %.3g > %g", what, e_, (double)(tol));                \
  } while (0)

static void rand_fill(ordo_rng *r, float *f, double *d, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; i++) {
    f[i] = lo + (hi - lo) * rng_uniform(r);
    if (d) d[i] = f[i];
  }
}

static float *fz(int64_t n) { return calloc((size_t)n, sizeof(float)); }
static double *dz(int64_t n) { return calloc((size_t)n, sizeof(double)); }

static double dot_fd(const double *a, const double *b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* Checks "backward twice == 2 x backward once" on buffers the caller filled twice and once. */
static void expect_twice(const char *what, const float *twice, const float *once, int64_t n) {
  float *d = fz(n);
  for (int64_t i = 0; i < n; i++) d[i] = 2.0f * once[i];
  EXPECT_REL(what, rel_err_f32(twice, d, n), TOL_TWICE);
  free(d);
}

/* ---- embeddings ----------------------------------------------------------------------- */

enum { E_BT = 9, E_C = 5, E_V = 7, E_P = 6, E_TT = 2 };
typedef struct {
  const int32_t *ids, *pos, *tt;
  double *wte, *wpe, *wtt, *g;
} embed_ctx;

static void embed_f64(double *out, const embed_ctx *c) {
  for (int r = 0; r < E_BT; r++)
    for (int k = 0; k < E_C; k++)
      out[r * E_C + k] = c->wte[c->ids[r] * E_C + k] + c->wpe[c->pos[r] * E_C + k] +
                         c->wtt[c->tt[r] * E_C + k];
}
static double embed_loss(void *p) {
  double out[E_BT * E_C];
  embed_f64(out, p);
  return dot_fd(out, ((embed_ctx *)p)->g, E_BT * E_C);
}

static void test_embed(const ordo_ops *ops, ordo_rng *r) {
  /* repeated ids and positions: the backward must sum their rows */
  const int32_t ids[E_BT] = {3, 0, 6, 3, 3, 1, 0, 5, 2};
  const int32_t pos[E_BT] = {0, 1, 2, 3, 4, 0, 1, 2, 5};
  const int32_t tt[E_BT] = {0, 0, 1, 1, 0, 1, 1, 0, 0};
  float wte[E_V * E_C], wpe[E_P * E_C], wtt[E_TT * E_C], g[E_BT * E_C], out[E_BT * E_C];
  double dte[E_V * E_C], dpe[E_P * E_C], dtt[E_TT * E_C], dg[E_BT * E_C], ref[E_BT * E_C];
  rand_fill(r, wte, dte, E_V * E_C, -1, 1);
  rand_fill(r, wpe, dpe, E_P * E_C, -1, 1);
  rand_fill(r, wtt, dtt, E_TT * E_C, -1, 1);
  rand_fill(r, g, dg, E_BT * E_C, -1, 1);
  embed_ctx c = {ids, pos, tt, dte, dpe, dtt, dg};
  ops->embed_forward(NULL, out, ids, pos, tt, wte, wpe, wtt, E_BT, E_C);
  embed_f64(ref, &c);
  EXPECT_REL("embed fwd", rel_err(out, ref, E_BT * E_C), TOL_FWD);

  float gte[E_V * E_C] = {0}, gpe[E_P * E_C] = {0}, gtt[E_TT * E_C] = {0};
  ops->embed_backward(NULL, gte, gpe, gtt, g, ids, pos, tt, E_BT, E_C);
  double n_te[E_V * E_C], n_pe[E_P * E_C], n_tt[E_TT * E_C];
  fd_grad(embed_loss, &c, dte, E_V * E_C, n_te);
  fd_grad(embed_loss, &c, dpe, E_P * E_C, n_pe);
  fd_grad(embed_loss, &c, dtt, E_TT * E_C, n_tt);
  EXPECT_REL("embed dwte", rel_err(gte, n_te, E_V * E_C), TOL_GRAD);
  EXPECT_REL("embed dwpe", rel_err(gpe, n_pe, E_P * E_C), TOL_GRAD);
  EXPECT_REL("embed dwtt", rel_err(gtt, n_tt, E_TT * E_C), TOL_GRAD);

  /* NULL gradients are skipped; the others come out the same */
  float gte2[E_V * E_C] = {0};
  ops->embed_backward(NULL, gte2, NULL, NULL, g, ids, pos, tt, E_BT, E_C);
  EXPECT(memcmp(gte, gte2, sizeof gte) == 0, "embed dwte with NULL dwpe/dwtt");
  /* += : a second call doubles */
  ops->embed_backward(NULL, gte2, NULL, NULL, g, ids, pos, tt, E_BT, E_C);
  expect_twice("embed twice", gte2, gte, E_V * E_C);

  /* no position / type tables: out = wte rows; tt == NULL means type 0 */
  float o2[E_BT * E_C], o3[E_BT * E_C];
  ops->embed_forward(NULL, o2, ids, NULL, NULL, wte, NULL, NULL, E_BT, E_C);
  EXPECT(memcmp(o2, wte + 3 * E_C, E_C * sizeof(float)) == 0, "embed wte only");
  ops->embed_forward(NULL, o3, ids, NULL, NULL, wte, NULL, wtt, E_BT, E_C);
  EXPECT(o3[E_C + 2] == wte[0 * E_C + 2] + wtt[2], "embed tt NULL = type 0");
}

/* ---- layernorm ------------------------------------------------------------------------ */

enum { L_N = 4, L_C = 7 };
typedef struct {
  double *x, *w, *b, *g;
} ln_ctx;
static const float k_eps = 1e-5f;

static void ln_f64(double *out, double *mean, double *rstd, const ln_ctx *c) {
  for (int n = 0; n < L_N; n++) {
    double m = 0, v = 0;
    for (int k = 0; k < L_C; k++) m += c->x[n * L_C + k];
    m /= L_C;
    for (int k = 0; k < L_C; k++) v += (c->x[n * L_C + k] - m) * (c->x[n * L_C + k] - m);
    v /= L_C;
    double s = 1.0 / sqrt(v + (double)k_eps);
    for (int k = 0; k < L_C; k++) out[n * L_C + k] = (c->x[n * L_C + k] - m) * s * c->w[k] + c->b[k];
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = s;
  }
}
static double ln_loss(void *p) {
  double out[L_N * L_C];
  ln_f64(out, NULL, NULL, p);
  return dot_fd(out, ((ln_ctx *)p)->g, L_N * L_C);
}

static void test_layernorm(const ordo_ops *ops, ordo_rng *r) {
  float x[L_N * L_C], w[L_C], b[L_C], g[L_N * L_C], out[L_N * L_C], mean[L_N], rstd[L_N];
  double dx[L_N * L_C], dw[L_C], db[L_C], dg[L_N * L_C], ref[L_N * L_C], rm[L_N], rs[L_N];
  rand_fill(r, x, dx, L_N * L_C, -2, 3);
  x[3 * L_C + 1] = dx[3 * L_C + 1] = 40.0f; /* one row with an outlier: large mean, variance */
  rand_fill(r, w, dw, L_C, 0.5f, 1.5f);
  rand_fill(r, b, db, L_C, -1, 1);
  rand_fill(r, g, dg, L_N * L_C, -1, 1);
  ln_ctx c = {dx, dw, db, dg};
  ops->layernorm_forward(NULL, out, mean, rstd, x, w, b, k_eps, L_N, L_C);
  ln_f64(ref, rm, rs, &c);
  EXPECT_REL("ln fwd", rel_err(out, ref, L_N * L_C), TOL_FWD);
  EXPECT_REL("ln mean", rel_err(mean, rm, L_N), TOL_FWD);
  EXPECT_REL("ln rstd", rel_err(rstd, rs, L_N), TOL_FWD);

  float gx[L_N * L_C] = {0}, gw[L_C] = {0}, gb[L_C] = {0};
  ops->layernorm_backward(NULL, gx, ORDO_ACCUMULATE, gw, gb, g, x, w, mean, rstd, L_N, L_C);
  double nx[L_N * L_C], nw[L_C], nb[L_C];
  fd_grad(ln_loss, &c, dx, L_N * L_C, nx);
  fd_grad(ln_loss, &c, dw, L_C, nw);
  fd_grad(ln_loss, &c, db, L_C, nb);
  EXPECT_REL("ln dinp", rel_err(gx, nx, L_N * L_C), TOL_GRAD);
  EXPECT_REL("ln dw", rel_err(gw, nw, L_C), TOL_GRAD);
  EXPECT_REL("ln db", rel_err(gb, nb, L_C), TOL_GRAD);

  float gx2[L_N * L_C] = {0}, gw2[L_C] = {0};
  ops->layernorm_backward(NULL, gx2, ORDO_ACCUMULATE, NULL, NULL, g, x, w, mean, rstd, L_N, L_C);
  EXPECT(memcmp(gx, gx2, sizeof gx) == 0, "ln dinp with NULL dw/db");
  ops->layernorm_backward(NULL, gx2, ORDO_ACCUMULATE, NULL, NULL, g, x, w, mean, rstd, L_N, L_C);
  expect_twice("ln dinp twice", gx2, gx, L_N * L_C);
  ops->layernorm_backward(NULL, NULL, ORDO_ACCUMULATE, gw2, NULL, g, x, w, mean, rstd, L_N, L_C);
  ops->layernorm_backward(NULL, NULL, ORDO_ACCUMULATE, gw2, NULL, g, x, w, mean, rstd, L_N, L_C);
  expect_twice("ln dw twice", gw2, gw, L_C);
}

/* ---- linear layer --------------------------------------------------------------------- */

enum { M_N = 5, M_IN = 6, M_OUT = 4 };
typedef struct {
  double *x, *w, *b, *g;
} mm_ctx;

static void mm_f64(double *out, const mm_ctx *c) {
  for (int n = 0; n < M_N; n++)
    for (int o = 0; o < M_OUT; o++) {
      double s = c->b ? c->b[o] : 0.0;
      for (int i = 0; i < M_IN; i++) s += c->x[n * M_IN + i] * c->w[o * M_IN + i];
      out[n * M_OUT + o] = s;
    }
}
static double mm_loss(void *p) {
  double out[M_N * M_OUT];
  mm_f64(out, p);
  return dot_fd(out, ((mm_ctx *)p)->g, M_N * M_OUT);
}

static void test_matmul(const ordo_ops *ops, ordo_rng *r) {
  float x[M_N * M_IN], w[M_OUT * M_IN], b[M_OUT], g[M_N * M_OUT], out[M_N * M_OUT];
  double dx[M_N * M_IN], dw[M_OUT * M_IN], db[M_OUT], dg[M_N * M_OUT], ref[M_N * M_OUT];
  rand_fill(r, x, dx, M_N * M_IN, -1, 1);
  rand_fill(r, w, dw, M_OUT * M_IN, -1, 1);
  rand_fill(r, b, db, M_OUT, -1, 1);
  rand_fill(r, g, dg, M_N * M_OUT, -1, 1);
  mm_ctx c = {dx, dw, db, dg};
  ops->matmul_forward(NULL, out, x, w, b, M_N, M_IN, M_OUT);
  mm_f64(ref, &c);
  EXPECT_REL("mm fwd", rel_err(out, ref, M_N * M_OUT), TOL_FWD);
  mm_ctx cn = {dx, dw, NULL, dg};
  ops->matmul_forward(NULL, out, x, w, NULL, M_N, M_IN, M_OUT);
  mm_f64(ref, &cn);
  EXPECT_REL("mm fwd no bias", rel_err(out, ref, M_N * M_OUT), TOL_FWD);

  float gx[M_N * M_IN] = {0}, gw[M_OUT * M_IN] = {0}, gb[M_OUT] = {0};
  ops->matmul_backward(NULL, gx, gw, gb, g, x, w, M_N, M_IN, M_OUT);
  double nx[M_N * M_IN], nw[M_OUT * M_IN], nb[M_OUT];
  fd_grad(mm_loss, &c, dx, M_N * M_IN, nx);
  fd_grad(mm_loss, &c, dw, M_OUT * M_IN, nw);
  fd_grad(mm_loss, &c, db, M_OUT, nb);
  EXPECT_REL("mm dinp", rel_err(gx, nx, M_N * M_IN), TOL_GRAD);
  EXPECT_REL("mm dw", rel_err(gw, nw, M_OUT * M_IN), TOL_GRAD);
  EXPECT_REL("mm dbias", rel_err(gb, nb, M_OUT), TOL_GRAD);

  float gw2[M_OUT * M_IN] = {0}, gx2[M_N * M_IN] = {0};
  ops->matmul_backward(NULL, NULL, gw2, NULL, g, x, w, M_N, M_IN, M_OUT);
  ops->matmul_backward(NULL, NULL, gw2, NULL, g, x, w, M_N, M_IN, M_OUT);
  expect_twice("mm dw twice", gw2, gw, M_OUT * M_IN);
  ops->matmul_backward(NULL, gx2, NULL, NULL, g, x, w, M_N, M_IN, M_OUT);
  ops->matmul_backward(NULL, gx2, NULL, NULL, g, x, w, M_N, M_IN, M_OUT);
  expect_twice("mm dinp twice", gx2, gx, M_N * M_IN);
}

/* ---- attention ------------------------------------------------------------------------ */

/* Four sequences with 5, 3, 1 and 0 real tokens: the last one has every key padded. */
enum { A_B = 4, A_T = 5, A_C = 8, A_NH = 2 };
typedef struct {
  double *qkv, *g;
  const int32_t *mask;
  float p; /* attention-probability dropout with (seed, offset): a fixed mask, so the dropped */
  uint64_t seed, offset; /* function is smooth in qkv and central differences apply */
  double *bias;          /* (NH, T, T) added to the scaled scores, or NULL */
  int causal;            /* keys after the query excluded */
} att_ctx;

static void att_f64(double *out, double *att, const att_ctx *c) {
  const int hs = A_C / A_NH;
  const double scale = 1.0 / sqrt((double)hs);
  for (int b = 0; b < A_B; b++)
    for (int h = 0; h < A_NH; h++)
      for (int t = 0; t < A_T; t++) {
        double p[A_T], pd[A_T], mx = -INFINITY, sum = 0;
        const double *q = c->qkv + (b * A_T + t) * 3 * A_C + h * hs;
        for (int u = 0; u < A_T; u++) {
          const double *k = c->qkv + (b * A_T + u) * 3 * A_C + A_C + h * hs;
          double s = 0;
          for (int i = 0; i < hs; i++) s += q[i] * k[i];
          p[u] = s * scale;
          if (c->bias) p[u] += c->bias[(h * A_T + t) * A_T + u];
          if (c->mask[b * A_T + u] && !(c->causal && u > t) && p[u] > mx) mx = p[u];
        }
        for (int u = 0; u < A_T; u++) {
          p[u] = c->mask[b * A_T + u] && !(c->causal && u > t) ? exp(p[u] - mx) : 0.0;
          sum += p[u];
        }
        for (int u = 0; u < A_T; u++) p[u] = sum > 0 ? p[u] / sum : 0.0;
        if (att) memcpy(att + ((b * A_NH + h) * A_T + t) * A_T, p, sizeof p);
        /* flat index of (b*NH + h, t, u) into the mask stream, as ops.h states it */
        for (int u = 0; u < A_T; u++) {
          uint64_t i = (uint64_t)(((b * A_NH + h) * A_T + t) * A_T + u);
          int keep = c->p == 0.0f || philox_uniform(c->seed, c->offset + i) >= c->p;
          pd[u] = keep ? p[u] / (1.0 - (double)c->p) : 0.0;
        }
        for (int i = 0; i < hs; i++) {
          double s = 0;
          for (int u = 0; u < A_T; u++) s += pd[u] * c->qkv[(b * A_T + u) * 3 * A_C + 2 * A_C + h * hs + i];
          out[(b * A_T + t) * A_C + h * hs + i] = s;
        }
      }
}
static double att_loss(void *p) {
  double out[A_B * A_T * A_C];
  att_f64(out, NULL, p);
  return dot_fd(out, ((att_ctx *)p)->g, A_B * A_T * A_C);
}

/* One pass of checks at dropout probability pdrop (0: the plain op, forward scratch NULL). */
static void test_attention_p(const ordo_ops *ops, ordo_rng *r, float pdrop, int causal) {
  enum { NQ = A_B * A_T * 3 * A_C, NO = A_B * A_T * A_C, NA = A_B * A_NH * A_T * A_T };
  const uint64_t seed = 99, offset = 1000003; /* odd offset: the first Philox block is partial */
  int32_t mask[A_B * A_T];
  const int len[A_B] = {5, 3, 1, 0};
  for (int b = 0; b < A_B; b++)
    for (int t = 0; t < A_T; t++) mask[b * A_T + t] = t < len[b];
  float *qkv = fz(NQ), *g = fz(NO), *out = fz(NO), *att = fz(NA), *scr = fz(NA);
  double *dq = dz(NQ), *dg = dz(NO), *ref = dz(NO), *ratt = dz(NA), *nq = dz(NQ);
  rand_fill(r, qkv, dq, NQ, -1.5f, 1.5f);
  rand_fill(r, g, dg, NO, -1, 1);
  att_ctx c = {dq, dg, mask, pdrop, seed, offset, NULL, causal};
  float *fscr = pdrop > 0.0f ? scr : NULL;
  ops->attention_forward(NULL, out, att, fscr, qkv, mask, causal, NULL, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  att_f64(ref, ratt, &c);
  EXPECT_REL(pdrop > 0 ? "att fwd dropout" : "att fwd", rel_err(out, ref, NO), TOL_FWD);
  EXPECT_REL(pdrop > 0 ? "att probs dropout (undropped)" : "att probs", rel_err(att, ratt, NA),
             TOL_FWD);
  int zeros_ok = 1;
  for (int b = 0; b < A_B; b++)
    for (int h = 0; h < A_NH; h++)
      for (int t = 0; t < A_T; t++)
        for (int u = 0; u < A_T; u++)
          if (!mask[b * A_T + u] && att[((b * A_NH + h) * A_T + t) * A_T + u] != 0.0f) zeros_ok = 0;
  EXPECT(zeros_ok, "padded keys get probability exactly 0");
  if (causal) {
    int future_ok = 1;
    for (int bh = 0; bh < A_B * A_NH; bh++)
      for (int t = 0; t < A_T; t++)
        for (int u = t + 1; u < A_T; u++) future_ok &= att[(bh * A_T + t) * A_T + u] == 0.0f;
    EXPECT(future_ok, "causal: keys after the query get probability exactly 0");
  }
  int allpad_ok = 1;
  for (int i = 0; i < A_T * A_C; i++) allpad_ok &= out[3 * A_T * A_C + i] == 0.0f;
  EXPECT(allpad_ok, "a sequence with every key padded gives zero output");

  float *gq = fz(NQ), *gq2 = fz(NQ);
  ops->attention_backward(NULL, gq, ORDO_ACCUMULATE, NULL, scr, g, qkv, att, mask, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  fd_grad(att_loss, &c, dq, NQ, nq);
  EXPECT_REL(pdrop > 0 ? "att dqkv dropout" : "att dqkv", rel_err(gq, nq, NQ), TOL_GRAD);
  /* per sequence too, so that the short ones are not hidden in the norm of the long one */
  for (int b = 0; b < 3; b++) {
    int64_t o = (int64_t)b * A_T * 3 * A_C;
    EXPECT_REL("att dqkv per sequence", rel_err(gq + o, nq + o, A_T * 3 * A_C), TOL_GRAD);
  }
  ops->attention_backward(NULL, gq2, ORDO_ACCUMULATE, NULL, scr, g, qkv, att, mask, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  ops->attention_backward(NULL, gq2, ORDO_ACCUMULATE, NULL, scr, g, qkv, att, mask, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  expect_twice("att twice", gq2, gq, NQ);
  ops->attention_backward(NULL, NULL, ORDO_ACCUMULATE, NULL, scr, g, qkv, att, mask, pdrop, seed, offset, A_B, A_T, A_C,
                          A_NH); /* no-op */

  /* mask NULL == every key real */
  int32_t ones[A_B * A_T];
  for (int i = 0; i < A_B * A_T; i++) ones[i] = 1;
  float *o1 = fz(NO), *o2 = fz(NO);
  ops->attention_forward(NULL, o1, att, fscr, qkv, ones, causal, NULL, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  ops->attention_forward(NULL, o2, att, fscr, qkv, NULL, causal, NULL, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  EXPECT(memcmp(o1, o2, NO * sizeof(float)) == 0, "att mask NULL = all ones");
  if (pdrop > 0.0f) {
    /* the dropout is real: another seed changes the output, p = 1 zeroes it */
    ops->attention_forward(NULL, o2, att, scr, qkv, ones, 0, NULL, pdrop, seed + 1, offset, A_B, A_T, A_C, A_NH);
    EXPECT(memcmp(o1, o2, NO * sizeof(float)) != 0, "att dropout: seed changes the output");
    ops->attention_forward(NULL, o2, att, scr, qkv, ones, 0, NULL, 1.0f, seed, offset, A_B, A_T, A_C, A_NH);
    int zero = 1;
    for (int i = 0; i < NO; i++) zero &= o2[i] == 0.0f;
    EXPECT(zero, "att dropout p=1 gives zero output");
  }
  free(o1), free(o2);
  free(qkv), free(g), free(out), free(att), free(scr), free(gq), free(gq2);
  free(dq), free(dg), free(ref), free(ratt), free(nq);
}

/* A position bias (NH, T, T) on the scores, with dropout: forward against the double
 * reference, d qkv and d bias against central differences. */
static void test_attention_bias(const ordo_ops *ops, ordo_rng *r) {
  enum { NQ = A_B * A_T * 3 * A_C, NO = A_B * A_T * A_C, NA = A_B * A_NH * A_T * A_T,
         NB = A_NH * A_T * A_T };
  const float pdrop = 0.2f;
  const uint64_t seed = 5, offset = 77;
  int32_t mask[A_B * A_T];
  const int len[A_B] = {5, 4, 2, 0};
  for (int b = 0; b < A_B; b++)
    for (int t = 0; t < A_T; t++) mask[b * A_T + t] = t < len[b];
  float *qkv = fz(NQ), *g = fz(NO), *out = fz(NO), *att = fz(NA), *scr = fz(NA), *bias = fz(NB);
  double *dq = dz(NQ), *dg = dz(NO), *ref = dz(NO), *dbias = dz(NB), *nq = dz(NQ), *nb = dz(NB);
  rand_fill(r, qkv, dq, NQ, -1.5f, 1.5f);
  rand_fill(r, g, dg, NO, -1, 1);
  rand_fill(r, bias, dbias, NB, -2, 2);
  att_ctx c = {dq, dg, mask, pdrop, seed, offset, dbias, 0};
  ops->attention_forward(NULL, out, att, scr, qkv, mask, 0, bias, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  att_f64(ref, NULL, &c);
  EXPECT_REL("att+bias fwd", rel_err(out, ref, NO), TOL_FWD);
  float *gq = fz(NQ), *gb = fz(NB), *gb2 = fz(NB);
  ops->attention_backward(NULL, gq, ORDO_ACCUMULATE, gb, scr, g, qkv, att, mask, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  fd_grad(att_loss, &c, dq, NQ, nq);
  fd_grad(att_loss, &c, dbias, NB, nb);
  EXPECT_REL("att+bias dqkv", rel_err(gq, nq, NQ), TOL_GRAD);
  EXPECT_REL("att+bias dbias", rel_err(gb, nb, NB), TOL_GRAD);
  /* accumulates, like every backward */
  float *gq2 = fz(NQ);
  ops->attention_backward(NULL, gq2, ORDO_ACCUMULATE, gb2, scr, g, qkv, att, mask, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  ops->attention_backward(NULL, gq2, ORDO_ACCUMULATE, gb2, scr, g, qkv, att, mask, pdrop, seed, offset, A_B, A_T, A_C, A_NH);
  free(gq2);
  expect_twice("att dbias twice", gb2, gb, NB);
  free(qkv), free(g), free(out), free(att), free(scr), free(bias), free(gq), free(gb), free(gb2);
  free(dq), free(dg), free(ref), free(dbias), free(nq), free(nb);
}

static void test_attention(const ordo_ops *ops, ordo_rng *r) {
  for (int causal = 0; causal < 2; causal++) {
    test_attention_p(ops, r, 0.0f, causal);
    test_attention_p(ops, r, 0.3f, causal);
  }
  test_attention_bias(ops, r);
}

/* ---- rotary positions ------------------------------------------------------------------ */

enum { RP_BT = 6, RP_C = 12, RP_NH = 2 }; /* heads of 6: three pairs each */
typedef struct {
  double *x, *g;
  const int32_t *pos;
  float scale, theta;
  int nseg;
} rope_ctx;

/* the formula of ops.h in double */
static void rope_f64(double *out, const rope_ctx *c) {
  const int hs = RP_C / RP_NH;
  memcpy(out, c->x, sizeof(double) * RP_BT * 3 * RP_C);
  for (int r = 0; r < RP_BT; r++)
    for (int sg = 0; sg < c->nseg; sg++)
      for (int h = 0; h < RP_NH; h++)
        for (int i = 0; i < hs / 2; i++) {
          double a = (double)c->pos[r] * c->scale / pow(c->theta, 2.0 * i / hs);
          int64_t o = (int64_t)r * 3 * RP_C + sg * RP_C + h * hs + 2 * i;
          double x0 = c->x[o], x1 = c->x[o + 1];
          out[o] = x0 * cos(a) - x1 * sin(a);
          out[o + 1] = x1 * cos(a) + x0 * sin(a);
        }
}
static double rope_loss(void *p) {
  double out[RP_BT * 3 * RP_C];
  rope_f64(out, p);
  return dot_fd(out, ((rope_ctx *)p)->g, RP_BT * 3 * RP_C);
}

static void test_rope(const ordo_ops *ops, ordo_rng *r) {
  enum { N = RP_BT * 3 * RP_C };
  const int32_t pos[RP_BT] = {0, 1, 2, 7, 40, 511};
  for (int nseg = 2; nseg <= 3; nseg++) {
    float *x = fz(N), *g = fz(N), *gx;
    double *dx = dz(N), *dg = dz(N), *ref = dz(N), *nx = dz(N);
    rand_fill(r, x, dx, N, -1, 1);
    rand_fill(r, g, dg, N, -1, 1);
    rope_ctx c = {dx, dg, pos, nseg == 2 ? 1.0f : 0.25f, nseg == 2 ? 10000.0f : 500.0f, nseg};
    float *y = fz(N);
    memcpy(y, x, sizeof(float) * N);
    ops->rope_forward(NULL, y, pos, c.scale, c.theta, nseg, RP_BT, RP_C, RP_NH);
    rope_f64(ref, &c);
    EXPECT_REL("rope fwd", rel_err(y, ref, N), TOL_FWD);
    /* v untouched with nseg 2 */
    int v_same = 1;
    for (int rr = 0; rr < RP_BT && nseg == 2; rr++)
      for (int k = 0; k < RP_C; k++) v_same &= y[rr * 3 * RP_C + 2 * RP_C + k] == x[rr * 3 * RP_C + 2 * RP_C + k];
    EXPECT(v_same, "rope: v is not rotated with nseg 2");
    gx = fz(N);
    memcpy(gx, g, sizeof(float) * N);
    ops->rope_backward(NULL, gx, pos, c.scale, c.theta, nseg, RP_BT, RP_C, RP_NH);
    fd_grad(rope_loss, &c, dx, N, nx);
    EXPECT_REL("rope backward", rel_err(gx, nx, N), TOL_GRAD);
    free(x), free(g), free(gx), free(y), free(dx), free(dg), free(ref), free(nx);
  }
}

/* ---- pointwise ------------------------------------------------------------------------ */

enum { P_N = 64 };
typedef struct {
  double *x, *g;
  int which; /* 0 gelu, 1 tanh */
} pw_ctx;
/* 0: gelu (erf), 1: tanh, 2: gelu_tanh (GPT-2's gelu_new) */
static double pw_f64(int which, double x) {
  if (which == 0) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  if (which == 1) return tanh(x);
  return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}

static double pw_loss(void *p) {
  pw_ctx *c = p;
  double s = 0;
  for (int i = 0; i < P_N; i++) {
    double x = c->x[i];
    double y = pw_f64(c->which, x);
    s += y * c->g[i];
  }
  return s;
}

static void test_pointwise(const ordo_ops *ops, ordo_rng *r) {
  float x[P_N], g[P_N], out[P_N], gx[P_N], gx2[P_N];
  double dx[P_N], dg[P_N], ref[P_N], nx[P_N];
  rand_fill(r, x, dx, P_N, -5, 5);
  rand_fill(r, g, dg, P_N, -1, 1);
  for (int which = 0; which < 3; which++) {
    const char *nm = which == 0 ? "gelu" : which == 1 ? "tanh" : "gelu_tanh";
    pw_ctx c = {dx, dg, which};
    for (int i = 0; i < P_N; i++) ref[i] = pw_f64(which, dx[i]);
    if (which == 0) ops->gelu_forward(NULL, out, x, P_N);
    else if (which == 1) ops->tanh_forward(NULL, out, x, P_N);
    else ops->gelu_tanh_forward(NULL, out, x, P_N);
    EXPECT_REL(nm, rel_err(out, ref, P_N), TOL_FWD);
    memset(gx, 0, sizeof gx), memset(gx2, 0, sizeof gx2);
    for (int k = 0; k < 2; k++) {
      if (which == 0) {
        if (k == 0) ops->gelu_backward(NULL, gx, ORDO_ACCUMULATE, x, g, P_N);
        ops->gelu_backward(NULL, gx2, ORDO_ACCUMULATE, x, g, P_N);
      } else if (which == 2) {
        if (k == 0) ops->gelu_tanh_backward(NULL, gx, ORDO_ACCUMULATE, x, g, P_N);
        ops->gelu_tanh_backward(NULL, gx2, ORDO_ACCUMULATE, x, g, P_N);
      } else {
        if (k == 0) ops->tanh_backward(NULL, gx, ORDO_ACCUMULATE, out, g, P_N);
        ops->tanh_backward(NULL, gx2, ORDO_ACCUMULATE, out, g, P_N);
      }
    }
    fd_grad(pw_loss, &c, dx, P_N, nx);
    EXPECT_REL(nm, rel_err(gx, nx, P_N), TOL_GRAD);
    expect_twice(nm, gx2, gx, P_N);
  }
  ops->gelu_backward(NULL, NULL, ORDO_ACCUMULATE, x, g, P_N); /* NULL gradient: nothing to do */

  float a[P_N], b[P_N];
  double da[P_N], db[P_N];
  rand_fill(r, a, da, P_N, -1, 1);
  rand_fill(r, b, db, P_N, -1, 1);
  for (int i = 0; i < P_N; i++) ref[i] = da[i] + db[i];
  ops->residual_forward(NULL, out, a, b, P_N);
  EXPECT_REL("residual", rel_err(out, ref, P_N), TOL_FWD);
}

/* ---- dropout (FD check; statistics are in test_dropout.c) ----------------------------- */

typedef struct {
  double *x, *g;
  float p;
} do_ctx;
static double do_loss(void *pc) {
  do_ctx *c = pc;
  double s = 0, scale = 1.0 / (1.0 - (double)c->p);
  for (int i = 0; i < P_N; i++)
    if (philox_uniform(7, 100 + i) >= c->p) s += c->x[i] * scale * c->g[i];
  return s;
}

static void test_dropout_fd(const ordo_ops *ops, ordo_rng *r) {
  float x[P_N], g[P_N], out[P_N], gx[P_N] = {0};
  double dx[P_N], dg[P_N], nx[P_N], ref[P_N];
  rand_fill(r, x, dx, P_N, -1, 1);
  rand_fill(r, g, dg, P_N, -1, 1);
  do_ctx c = {dx, dg, 0.3f};
  ops->dropout_forward(NULL, out, x, 0.3f, 7, 100, P_N);
  for (int i = 0; i < P_N; i++)
    ref[i] = philox_uniform(7, 100 + i) >= 0.3f ? dx[i] / (1.0 - (double)0.3f) : 0.0;
  EXPECT_REL("dropout fwd", rel_err(out, ref, P_N), TOL_FWD);
  ops->dropout_backward(NULL, gx, g, 0.3f, 7, 100, P_N);
  fd_grad(do_loss, &c, dx, P_N, nx);
  EXPECT_REL("dropout bwd", rel_err(gx, nx, P_N), TOL_GRAD);
}

/* ---- losses --------------------------------------------------------------------------- */

enum { X_N = 7, X_V = 9, X_IGN = -100 };
typedef struct {
  double *l;
  const int32_t *t;
} ce_ctx;
static double ce_f64(double *probs, const ce_ctx *c) {
  double tot = 0;
  int cnt = 0;
  for (int n = 0; n < X_N; n++) {
    const double *l = c->l + n * X_V;
    double mx = -INFINITY, s = 0;
    for (int v = 0; v < X_V; v++) mx = fmax(mx, l[v]);
    for (int v = 0; v < X_V; v++) s += exp(l[v] - mx);
    if (probs)
      for (int v = 0; v < X_V; v++) probs[n * X_V + v] = exp(l[v] - mx) / s;
    if (c->t[n] == X_IGN) continue;
    tot += log(s) - (l[c->t[n]] - mx);
    cnt++;
  }
  return cnt ? tot / cnt : 0.0;
}
static double ce_loss(void *p) { return ce_f64(NULL, p); }

static void test_crossentropy(const ordo_ops *ops, ordo_rng *r) {
  const int32_t tg[X_N] = {2, X_IGN, 8, 0, X_IGN, 4, 1};
  float l[X_N * X_V], pr[X_N * X_V], gl[X_N * X_V] = {0}, gl2[X_N * X_V] = {0};
  double dl[X_N * X_V], rp[X_N * X_V], nl[X_N * X_V];
  rand_fill(r, l, dl, X_N * X_V, -3, 3);
  /* a row of huge logits: the stable log-softmax must not overflow */
  for (int v = 0; v < X_V; v++) l[6 * X_V + v] = (float)(dl[6 * X_V + v] = 80.0 + 5.0 * v);
  ce_ctx c = {dl, tg};
  const int cnt = 5; /* targets not ignored */
  float loss;
  ops->crossentropy_forward(NULL, &loss, pr, l, tg, X_IGN, X_N, X_V);
  double rl = ce_f64(rp, &c);
  EXPECT(fabs(loss - rl) <= TOL_FWD * fabs(rl), "ce loss %.9g vs %.9g", loss, rl);
  EXPECT_REL("ce probs", rel_err(pr, rp, X_N * X_V), TOL_FWD);
  ops->crossentropy_backward(NULL, gl, ORDO_ACCUMULATE, pr, tg, X_IGN, 1.0f / cnt, X_N, X_V);
  fd_grad(ce_loss, &c, dl, X_N * X_V, nl);
  EXPECT_REL("ce dlogits", rel_err(gl, nl, X_N * X_V), TOL_GRAD);
  int ign_ok = 1;
  for (int v = 0; v < X_V; v++) ign_ok &= gl[X_V + v] == 0.0f && gl[4 * X_V + v] == 0.0f;
  EXPECT(ign_ok, "ignored rows get no gradient");
  ops->crossentropy_backward(NULL, gl2, ORDO_ACCUMULATE, pr, tg, X_IGN, 1.0f / cnt, X_N, X_V);
  ops->crossentropy_backward(NULL, gl2, ORDO_ACCUMULATE, pr, tg, X_IGN, 1.0f / cnt, X_N, X_V);
  expect_twice("ce twice", gl2, gl, X_N * X_V);

  /* every row ignored: loss 0 */
  const int32_t all_ign[X_N] = {X_IGN, X_IGN, X_IGN, X_IGN, X_IGN, X_IGN, X_IGN};
  float l0 = -1;
  ops->crossentropy_forward(NULL, &l0, pr, l, all_ign, X_IGN, X_N, X_V);
  EXPECT(l0 == 0.0f, "ce all ignored: %g", l0);

  /* a target outside [0, V) that is not ignore_index is an internal error: the child aborts */
  fflush(stdout), fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    const int32_t bad[X_N] = {2, 9, 0, 0, 0, 0, 0};
    float k;
    if (!freopen("/dev/null", "w", stderr)) _exit(3);
    ops->crossentropy_forward(NULL, &k, pr, l, bad, X_IGN, X_N, X_V);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "ce bad target aborts (status %d)", st);
}

enum { S_N = 11 };
typedef struct {
  double *x, *y, *w;
} sc_ctx;
static double mse_loss(void *p) {
  sc_ctx *c = p;
  double s = 0;
  for (int i = 0; i < S_N; i++) s += (c->x[i] - c->y[i]) * (c->x[i] - c->y[i]);
  return s / S_N;
}
static double bce_loss(void *p) {
  sc_ctx *c = p;
  double s = 0, ws = 0;
  for (int i = 0; i < S_N; i++) {
    double x = c->x[i], w = c->w ? c->w[i] : 1.0;
    s += w * (fmax(x, 0) - x * c->y[i] + log1p(exp(-fabs(x))));
    ws += w;
  }
  return s / ws;
}

static void test_mse_bce(const ordo_ops *ops, ordo_rng *r) {
  float x[S_N], y[S_N], w[S_N], gx[S_N] = {0}, gx2[S_N] = {0};
  double dx[S_N], dy[S_N], dw[S_N], nx[S_N];
  rand_fill(r, x, dx, S_N, -3, 3);
  rand_fill(r, y, dy, S_N, -1, 1);
  sc_ctx c = {dx, dy, NULL};
  float m;
  ops->mse_forward(NULL, &m, x, y, S_N);
  EXPECT(fabs(m - mse_loss(&c)) <= TOL_FWD * mse_loss(&c), "mse %.9g vs %.9g", m, mse_loss(&c));
  ops->mse_backward(NULL, gx, x, y, 1.0f, S_N);
  fd_grad(mse_loss, &c, dx, S_N, nx);
  EXPECT_REL("mse bwd", rel_err(gx, nx, S_N), TOL_GRAD);
  ops->mse_backward(NULL, gx2, x, y, 1.0f, S_N);
  ops->mse_backward(NULL, gx2, x, y, 1.0f, S_N);
  expect_twice("mse twice", gx2, gx, S_N);

  /* BCE: targets in [0, 1], logits including +-60 (log1p(exp(-|x|)) must not overflow) */
  rand_fill(r, y, dy, S_N, 0, 1);
  rand_fill(r, w, dw, S_N, 0, 2);
  w[4] = 0.0f, dw[4] = 0.0; /* a zero weight: that element must not count */
  x[2] = 60.0f, dx[2] = 60.0;
  x[7] = -60.0f, dx[7] = -60.0;
  for (int weighted = 0; weighted < 2; weighted++) {
    sc_ctx cb = {dx, dy, weighted ? dw : NULL};
    const float *wp = weighted ? w : NULL;
    float b;
    ops->bce_logits_forward(NULL, &b, x, y, wp, S_N);
    double rb = bce_loss(&cb);
    EXPECT(fabs(b - rb) <= TOL_FWD * fabs(rb), "bce(w=%d) %.9g vs %.9g", weighted, b, rb);
    memset(gx, 0, sizeof gx), memset(gx2, 0, sizeof gx2);
    ops->bce_logits_backward(NULL, gx, x, y, wp, 1.0f, S_N);
    fd_grad(bce_loss, &cb, dx, S_N, nx);
    EXPECT_REL(weighted ? "bce weighted bwd" : "bce bwd", rel_err(gx, nx, S_N), TOL_GRAD);
    ops->bce_logits_backward(NULL, gx2, x, y, wp, 1.0f, S_N);
    ops->bce_logits_backward(NULL, gx2, x, y, wp, 1.0f, S_N);
    expect_twice("bce twice", gx2, gx, S_N);
    if (weighted) EXPECT(gx[4] == 0.0f, "zero weight gives zero gradient");
  }
}

/* ---- general product, rows, norms, AdamW: obvious truths --------------------------------- */
/* gemm against a double product written from the definition, every transpose pair, leading
 * dimensions wider than the rows; a sum of K = 53 products rounds like the forwards above. */
static void test_gemm(const ordo_ops *ops, ordo_rng *r) {
  enum { M = 7, N = 11, K = 53, PAD = 3 };
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      const int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD, ldc = N + PAD;
      const int na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb;
      float *A = fz(na), *B = fz(nb), *C = fz(M * ldc);
      double *Ad = dz(na), *Bd = dz(nb), *Cd = dz(M * ldc), *want = dz(M * N);
      rand_fill(r, A, Ad, na, -1, 1), rand_fill(r, B, Bd, nb, -1, 1), rand_fill(r, C, Cd, M * ldc, -1, 1);
      float *got = fz(M * N);
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
          double s = 0;
          for (int k = 0; k < K; k++)
            s += (ta ? Ad[k * lda + i] : Ad[i * lda + k]) * (tb ? Bd[j * ldb + k] : Bd[k * ldb + j]);
          want[i * N + j] = 0.5 * s + 2.0 * Cd[i * ldc + j];
        }
      ops->gemm(NULL, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, C, ldc);
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) got[i * N + j] = C[i * ldc + j];
      EXPECT_REL("gemm vs double", rel_err(got, want, M * N), TOL_FWD);
      free(A), free(B), free(C), free(Ad), free(Bd), free(Cd), free(want), free(got);
    }
}

/* Gathering rows and scatter-adding them back into zeros gives those rows and zeros elsewhere. */
static void test_rows(const ordo_ops *ops, ordo_rng *r) {
  enum { S = 19, C = 13, NR = 7 };
  const int32_t rows[NR] = {18, 0, 5, 6, 11, 2, 9};
  float *src = fz(S * C), *g = fz(NR * C), *back = fz(S * C);
  double *srcd = dz(S * C);
  rand_fill(r, src, srcd, S * C, -1, 1);
  ops->gather_rows(NULL, g, src, rows, NR, C);
  ops->scatter_add_rows(NULL, back, g, rows, NR, C);
  int ok = 1;
  for (int s = 0; s < S; s++) {
    int used = 0;
    for (int k = 0; k < NR; k++) used |= rows[k] == s;
    for (int c = 0; c < C; c++) ok &= back[s * C + c] == (used ? src[s * C + c] : 0.0f);
  }
  EXPECT(ok, "scatter_add_rows(gather_rows(x)) restores the gathered rows only");
  free(src), free(g), free(back), free(srcd);
}

/* The block norms add up to the sum of squares, each block its own slice. */
static void test_sumsq(const ordo_ops *ops, ordo_rng *r) {
  enum { N = 1013, BLK = 100, NB = 11 };
  float *x = fz(N);
  double *xd = dz(N), parts[NB], total = 0, sum = 0;
  rand_fill(r, x, xd, N, -2, 2);
  ops->sumsq_blocks(NULL, parts, x, N, BLK);
  for (int i = 0; i < N; i++) total += xd[i] * xd[i];
  for (int b = 0; b < NB; b++) sum += parts[b];
  EXPECT(fabs(sum - total) <= 1e-12 * total, "sumsq parts add to %.17g, want %.17g", sum, total);
  double last = 0;
  for (int i = 1000; i < N; i++) last += xd[i] * xd[i];
  EXPECT(fabs(parts[NB - 1] - last) <= 1e-12 * last, "short last block %.17g, want %.17g", parts[NB - 1], last);
  free(x), free(xd);
}

/* AdamW's first step from zero moments moves each weight by lr * sign(g) after decay (bias
 * correction makes m / sqrt(v) = g / |g|), up to eps; the 8-bit step from the zero state is the
 * same step (the zero code decodes to exactly 0), and its moments decode to within one map step. */
static void test_adamw_first_step(const ordo_ops *ops, ordo_rng *r) {
  enum { N = 301 };
  const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f;
  ordo_adamw_hp hp = {.b1 = b1, .b2 = b2, .eps = 1e-8f, .bc2_sqrt = (float)sqrt(1.0 - b2),
                      .step_size = (float)(lr / (1.0 - b1)), .wd_mul = 0.99f};
  float *w = fz(N), *g = fz(N), *m = fz(N), *v = fz(N), *w8 = fz(N);
  double *wd = dz(N), *gd = dz(N), *want = dz(N);
  rand_fill(r, w, wd, N, -1, 1), rand_fill(r, g, gd, N, -1, 1);
  memcpy(w8, w, N * sizeof(float));
  for (int i = 0; i < N; i++) want[i] = wd[i] * 0.99 - lr * (gd[i] > 0 ? 1 : -1);
  ops->adamw_step(NULL, w, g, m, v, N, hp);
  EXPECT_REL("adamw first step", rel_err(w, want, N), TOL_FWD);
  /* a uniform map on [-1, 1] (m) and [0, 1] (v): step 2/255 and 1/255 of the block's absmax */
  float map_m[256], mid_m[255], map_v[256], mid_v[255];
  for (int i = 0; i < 256; i++) map_m[i] = -1.0f + 2.0f * (float)i / 255.0f, map_v[i] = (float)i / 255.0f;
  for (int i = 0; i < 255; i++)
    mid_m[i] = 0.5f * (map_m[i] + map_m[i + 1]), mid_v[i] = 0.5f * (map_v[i] + map_v[i + 1]);
  uint8_t qm[N], qv[N];
  memset(qm, 0, N), memset(qv, 0, N); /* v's code 0 is exactly 0; m's zero is off the map... */
  float sm[3] = {0}, sv[3] = {0};     /* ...but a zero absmax decodes every code to 0 */
  ops->adamw8_step(NULL, w8, g, qm, qv, sm, sv, map_m, mid_m, map_v, mid_v, N, 128, hp);
  EXPECT(memcmp(w, w8, N * sizeof(float)) == 0, "adamw8 first step = adamw first step");
  int within = 1;
  for (int i = 0; i < N; i++) {
    within &= fabsf(map_m[qm[i]] * sm[i / 128] - m[i]) <= 0.5f * (2.0f / 255.0f) * sm[i / 128] * 1.0001f;
    within &= fabsf(map_v[qv[i]] * sv[i / 128] - v[i]) <= 0.5f * (1.0f / 255.0f) * sv[i / 128] * 1.0001f;
  }
  EXPECT(within, "adamw8 moments decode within half a map step (the nearest code)");
  free(w), free(g), free(m), free(v), free(w8), free(wd), free(gd), free(want);
}

int main(void) {
  const ordo_ops *ops = ops_cpu_ref();
  ordo_rng r;
  rng_init(&r, 1234);
  test_embed(ops, &r);
  test_layernorm(ops, &r);
  test_matmul(ops, &r);
  test_attention(ops, &r);
  test_rope(ops, &r);
  test_pointwise(ops, &r);
  test_dropout_fd(ops, &r);
  test_crossentropy(ops, &r);
  test_mse_bce(ops, &r);
  test_gemm(ops, &r);
  test_rows(ops, &r);
  test_sumsq(ops, &r);
  test_adamw_first_step(ops, &r);
  return test_summary();
}
