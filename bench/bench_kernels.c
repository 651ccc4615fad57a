/* Kernel timings: the reference backend against the fast one at BERT-base sizes, and the
 * threading choice for attention's per-(batch, head) products. A table, not a test: no
 * assertions on time.
 *
 * Build (after building ordo_cpu and ordo_core in build/):
 *   cc -O3 -march=native -fopenmp -Iinclude -Isrc bench/bench_kernels.c \
 *      build/libordo_cpu.a build/libordo_core.a $(pkg-config --cflags --libs openblas) -lm \
 *      -o build/bench_kernels
 * Run: build/bench_kernels [B T] (default 4 128); OMP_NUM_THREADS sets the thread count (OpenBLAS's
 * OpenMP build follows it). */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/ops.h"
#include "ordo/rng.h"

enum { C = 768, NH = 12, FF = 3072, V = 8192 };

static float *frand(ordo_rng *r, int64_t n, float lo, float hi) {
  float *f = ordo_malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) f[i] = lo + (hi - lo) * rng_uniform(r);
  return f;
}

typedef struct {
  int B, T, N;
  float *x, *w, *wff, *bias, *out, *big, *dbig, *dx, *dw, *lnw, *lnb, *mean, *rstd;
  float *qkv, *dqkv, *att, *scr, *logits, *probs;
  float loss;
  int32_t *mask, *tg;
} bench_bufs;

/* dst = the best of `reps` runs of stmt in ms (the run least disturbed by other load). */
#define TIME_BEST(dst, reps, stmt)                                 \
  do {                                                             \
    double best_ = 1e30;                                           \
    for (int r_ = 0; r_ < (reps); r_++) {                          \
      double t0_ = ordo_time();                                    \
      stmt;                                                        \
      double dt_ = (ordo_time() - t0_) * 1e3;                      \
      if (dt_ < best_) best_ = dt_;                                \
    }                                                              \
    (dst) = best_;                                                 \
  } while (0)

static void run_ops(const ordo_ops *o, bench_bufs *s, double *ms, int reps) {
  int N = s->N, B = s->B, T = s->T;
  int k = 0;
  TIME_BEST(ms[k++], reps, o->matmul_forward(NULL, s->big, s->x, s->wff, s->bias, N, C, FF));
  TIME_BEST(ms[k++], reps, o->matmul_backward(NULL, s->dx, s->dw, s->bias, s->dbig, s->x, s->wff, N, C, FF));
  TIME_BEST(ms[k++], reps, o->attention_forward(NULL, s->out, s->att, NULL, s->qkv, s->mask, 0, NULL, 0.0f, 1, 0, B, T, C, NH));
  TIME_BEST(ms[k++], reps, o->attention_backward(NULL, s->dqkv, ORDO_ACCUMULATE, NULL, s->scr, s->out, s->qkv, s->att, s->mask, 0.0f, 1, 0, B, T, C, NH));
  /* with BERT's attention-probability dropout: the mask drawn once in forward, twice in backward */
  TIME_BEST(ms[k++], reps, o->attention_forward(NULL, s->out, s->att, s->scr, s->qkv, s->mask, 0, NULL, 0.1f, 1, 0, B, T, C, NH));
  TIME_BEST(ms[k++], reps, o->attention_backward(NULL, s->dqkv, ORDO_ACCUMULATE, NULL, s->scr, s->out, s->qkv, s->att, s->mask, 0.1f, 1, 0, B, T, C, NH));
  TIME_BEST(ms[k++], reps, o->layernorm_forward(NULL, s->out, s->mean, s->rstd, s->x, s->lnw, s->lnb, 1e-12f, N, C));
  TIME_BEST(ms[k++], reps, o->layernorm_backward(NULL, s->dx, ORDO_ACCUMULATE, s->lnw, s->lnb, s->out, s->x, s->lnw, s->mean, s->rstd, N, C));
  TIME_BEST(ms[k++], reps, o->gelu_forward(NULL, s->dbig, s->big, (int64_t)N * FF));
  TIME_BEST(ms[k++], reps, o->gelu_backward(NULL, s->dbig, ORDO_ACCUMULATE, s->big, s->big, (int64_t)N * FF));
  TIME_BEST(ms[k++], reps, o->dropout_forward(NULL, s->dbig, s->big, 0.1f, 1, 0, (int64_t)N * FF));
  TIME_BEST(ms[k++], reps, o->crossentropy_forward(NULL, &s->loss, s->probs, s->logits, s->tg, -100, N, V));
}

static const char *k_names[] = {"matmul fwd (N,768)x(768,3072)", "matmul bwd",
                                "attention fwd", "attention bwd", "attention fwd p=0.1",
                                "attention bwd p=0.1", "layernorm fwd",
                                "layernorm bwd", "gelu fwd", "gelu bwd", "dropout fwd",
                                "crossentropy fwd V=8192"};
enum { NOPS = sizeof k_names / sizeof k_names[0] };

/* The threading choice for the linear layers, on the FF product out (N, 3072) = x @ w^T
 * followed by a layernorm (the OpenMP work that comes next in a layer):
 *  mode 0: one sgemm threaded by OpenBLAS over the OpenMP pool;
 *  mode 1: fixed tiles of TM rows by the whole width, spread over OpenMP threads, each a
 *          single-threaded sgemm (OpenBLAS's OpenMP build runs a product called inside a
 *          parallel region on the calling thread): the same bits for any thread count;
 *  mode 2: the same with 256 x 128 tiles (environment TM and TN override the tile). */
static void linear_then_ln(bench_bufs *s, int mode) {
  if (mode == 0) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->N, FF, C, 1.0f, s->x, C, s->wff, C,
                0.0f, s->big, FF);
  } else {
    const int TM = mode == 1 ? 64 : (getenv("TM") ? atoi(getenv("TM")) : 256), TN = mode == 1 ? FF : (getenv("TN") ? atoi(getenv("TN")) : 128);
    const int gm = (s->N + TM - 1) / TM, gn = (FF + TN - 1) / TN;
#pragma omp parallel for schedule(dynamic)
    for (int t = 0; t < gm * gn; t++) {
      int i0 = t / gn * TM, j0 = t % gn * TN;
      int mi = s->N - i0 < TM ? s->N - i0 : TM, nj = FF - j0 < TN ? FF - j0 : TN;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mi, nj, C, 1.0f, s->x + (int64_t)i0 * C,
                  C, s->wff + (int64_t)j0 * C, C, 0.0f, s->big + (int64_t)i0 * FF + j0, FF);
    }
  }
  ops_cpu()->layernorm_forward(NULL, s->out, s->mean, s->rstd, s->x, s->lnw, s->lnb, 1e-12f, s->N, C);
}

/* The two attention products of every (batch, head) pair, either in parallel over pairs with
 * single-threaded OpenBLAS (what attention_cpu.c does) or pair by pair with OpenBLAS threading
 * each product itself. */
static void att_products(bench_bufs *s, int parallel_pairs) {
  const int T = s->T, hs = C / NH, ld = 3 * C, pairs = s->B * NH;
#pragma omp parallel for schedule(static) if (parallel_pairs)
  for (int bh = 0; bh < pairs; bh++) {
    int b = bh / NH, h = bh % NH;
    const float *q = s->qkv + (int64_t)b * T * ld + h * hs;
    float *P = s->att + (int64_t)bh * T * T;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 0.125f, q, ld, q + C, ld,
                0.0f, P, T);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, P, T, q + 2 * C, ld,
                0.0f, s->out + (int64_t)b * T * C + h * hs, C);
  }
}

int main(int argc, char **argv) {
  bench_bufs s = {0};
  s.B = argc > 2 ? atoi(argv[1]) : 4;
  s.T = argc > 2 ? atoi(argv[2]) : 128;
  if (s.B <= 0 || s.T <= 0) {
    fprintf(stderr, "usage: bench_kernels [B T]\n");
    return 2;
  }
  s.N = s.B * s.T;
  int64_t N = s.N;
  ordo_rng r;
  rng_init(&r, 1);
  s.x = frand(&r, N * C, -1, 1), s.dx = frand(&r, N * C, -1, 1), s.out = frand(&r, N * C, -1, 1);
  s.wff = frand(&r, (int64_t)FF * C, -0.05f, 0.05f), s.dw = frand(&r, (int64_t)FF * C, 0, 0);
  s.bias = frand(&r, FF, -1, 1), s.lnw = frand(&r, C, 0.5f, 1.5f), s.lnb = frand(&r, C, -1, 1);
  s.big = frand(&r, N * FF, -3, 3), s.dbig = frand(&r, N * FF, -1, 1);
  s.mean = frand(&r, N, 0, 0), s.rstd = frand(&r, N, 0, 0);
  s.qkv = frand(&r, N * 3 * C, -1, 1), s.dqkv = frand(&r, N * 3 * C, 0, 0);
  s.att = frand(&r, (int64_t)s.B * NH * s.T * s.T, 0, 0), s.scr = frand(&r, (int64_t)s.B * NH * s.T * s.T, 0, 0);
  s.logits = frand(&r, N * V, -5, 5), s.probs = frand(&r, N * V, 0, 0);
  s.mask = ordo_malloc((size_t)N * sizeof(int32_t)), s.tg = ordo_malloc((size_t)N * sizeof(int32_t));
  for (int64_t i = 0; i < N; i++) s.mask[i] = (i % s.T) < s.T - 7, s.tg[i] = (int32_t)(i % V);

  printf("B=%d T=%d C=%d NH=%d FF=%d | threads %d\n", s.B, s.T, C, NH, FF, omp_get_max_threads());
  double ref[NOPS], fast[NOPS];
  if (getenv("BENCH_NO_REF")) memset(ref, 0, sizeof ref);
  else run_ops(ops_cpu_ref(), &s, ref, 1);
  run_ops(ops_cpu(), &s, fast, 5);
  printf("%-32s %10s %10s %8s\n", "op", "ref ms", "fast ms", "speedup");
  for (int i = 0; i < NOPS; i++)
    printf("%-32s %10.2f %10.2f %7.1fx\n", k_names[i], ref[i], fast[i], ref[i] / fast[i]);

  /* the variants alternate, best of 7 each, so that outside load hits both alike */
  double lin[3] = {1e30, 1e30, 1e30}, att[2] = {1e30, 1e30};
  for (int rep = 0; rep < 7; rep++)
    for (int m = 0; m < 3; m++) {
      double t;
      TIME_BEST(t, 1, linear_then_ln(&s, m));
      if (t < lin[m]) lin[m] = t;
      if (m == 2) continue;
      TIME_BEST(t, 1, att_products(&s, 1 - m));
      if (t < att[m]) att[m] = t;
    }
  printf("\nlinear (%d, %d) x (%d, %d)^T then layernorm:\n", s.N, C, FF, C);
  printf("  one sgemm threaded by OpenBLAS                  %8.2f ms\n", lin[0]);
  printf("  OpenMP over 64-row tiles, 1-thread sgemm each   %8.2f ms\n", lin[1]);
  printf("  OpenMP over 256 x 128 tiles, 1-thread sgemm     %8.2f ms\n", lin[2]);
  printf("attention products, %d (batch, head) pairs of (%d x %d x %d):\n", s.B * NH, s.T, s.T,
         C / NH);
  printf("  OpenMP over pairs, OpenBLAS 1 thread (ops_cpu) %8.2f ms\n", att[0]);
  printf("  pairs in turn, OpenBLAS threaded                %8.2f ms\n", att[1]);
  return 0;
}
