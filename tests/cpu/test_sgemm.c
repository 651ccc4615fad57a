/* cpu_sgemm, the CPU backend's one product (ordo's AVX-512 products where the CPU has them,
 * OpenBLAS otherwise), against a double-precision loop: both transposes, alpha, beta (0 with NaN
 * in C: C must not be read), the bias form, padded leading dimensions, sizes that cross every
 * blocking edge (rows of 12, columns of 32, k blocks of 256, row blocks of 384), and a product
 * inside a parallel region. On the AVX-512 path the bits must not depend on the thread count.
 *
 * Bound: each output is a sum of K products; fp32 accumulation in any order errs by at most
 * about K * 2^-24 * sum_k |a_ik b_kj| (plus one rounding of alpha, beta and the bias terms);
 * the test allows 2 (K + 4) 2^-24 of that sum, element by element. A wrong index, a missing
 * term or a lost block of k gives errors of the size of the terms themselves. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu_ops.h"
#include "ordo/rng.h"

static float *frand(ordo_rng *r, int64_t n) {
  float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  for (int64_t i = 0; i < n; i++) x[i] = rng_uniform(r) * 2.0f - 1.0f;
  return x;
}

typedef struct gcase {
  int ta, tb, M, N, K, pad;
  float alpha, beta;
  int bias;
} gcase;

static int worst_fail = 0;

/* Runs one case, checks it element by element; returns C (caller frees) for the thread test. */
static float *run_case(const gcase *g, ordo_rng *r, int threads, const float *A, const float *B,
                       const float *bias, const float *C0, int check) {
  const int lda = (g->ta ? g->M : g->K) + g->pad, ldb = (g->tb ? g->K : g->N) + g->pad, ldc = g->N + g->pad;
  (void)r;
  float *C = malloc(sizeof(float) * (size_t)g->M * ldc);
  memcpy(C, C0, sizeof(float) * (size_t)g->M * ldc);
  omp_set_num_threads(threads);
  cpu_sgemm(g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, lda, B, ldb, g->beta, g->bias ? bias : NULL, C, ldc);
  if (!check) return C;
  int bad = 0;
  for (int i = 0; i < g->M && bad < 3; i++)
    for (int j = 0; j < g->N && bad < 3; j++) {
      double s = 0.0, mag = 0.0;
      for (int k = 0; k < g->K; k++) {
        double a = g->ta ? A[(int64_t)k * lda + i] : A[(int64_t)i * lda + k];
        double b = g->tb ? B[(int64_t)j * ldb + k] : B[(int64_t)k * ldb + j];
        s += a * b;
        mag += fabs(a * b);
      }
      double want = (double)g->alpha * s, scale = fabs((double)g->alpha) * mag;
      if (g->bias) {
        want += bias[j];
        scale += fabs(bias[j]);
      } else if (g->beta != 0.0f) {
        want += (double)g->beta * C0[(int64_t)i * ldc + j];
        scale += fabs((double)g->beta * C0[(int64_t)i * ldc + j]);
      }
      const double got = C[(int64_t)i * ldc + j], tol = 2.0 * (g->K + 4) * ldexp(1.0, -24) * scale + 1e-30;
      if (!(fabs(got - want) <= tol)) {
        bad++;
        fprintf(stderr, "  ta %d tb %d M %d N %d K %d alpha %g beta %g bias %d: C[%d][%d] = %.9g, want %.9g\n",
                g->ta, g->tb, g->M, g->N, g->K, (double)g->alpha, (double)g->beta, g->bias, i, j, got, want);
      }
    }
  /* the padding between rows of C is never written */
  for (int i = 0; i < g->M; i++)
    for (int j = g->N; j < ldc; j++)
      if (memcmp(&C[(int64_t)i * ldc + j], &C0[(int64_t)i * ldc + j], sizeof(float)) != 0) bad++;
  EXPECT(bad == 0, "case ta %d tb %d %dx%dx%d pad %d: %d bad elements", g->ta, g->tb, g->M, g->N, g->K, g->pad,
         bad);
  if (bad) worst_fail = 1;
  return C;
}

static void one(const gcase *g, ordo_rng *r, int max_threads) {
  const int lda = (g->ta ? g->M : g->K) + g->pad, ldb = (g->tb ? g->K : g->N) + g->pad, ldc = g->N + g->pad;
  float *A = frand(r, (int64_t)(g->ta ? g->K : g->M) * lda), *B = frand(r, (int64_t)(g->tb ? g->N : g->K) * ldb);
  float *bias = frand(r, g->N), *C0 = frand(r, (int64_t)g->M * ldc);
  if (g->beta == 0.0f && !g->bias)
    for (int64_t i = 0; i < (int64_t)g->M * ldc; i++)
      if (i % ldc < g->N) C0[i] = NAN; /* beta 0: C must not be read */
  float *c1 = run_case(g, r, 1, A, B, bias, C0, 1);
  if (max_threads > 1 && cpu_sgemm_is_avx512()) {
    float *c2 = run_case(g, r, max_threads, A, B, bias, C0, 0);
    EXPECT(memcmp(c1, c2, sizeof(float) * (size_t)g->M * ldc) == 0,
           "%dx%dx%d: 1 and %d threads give different bits", g->M, g->N, g->K, max_threads);
    free(c2);
  }
  free(A), free(B), free(bias), free(C0), free(c1);
}

int main(void) {
  ordo_rng r;
  rng_init(&r, 20261128);
  const int max_threads = omp_get_max_threads() > 1 ? omp_get_max_threads() : 2;
  printf("cpu_sgemm: %s\n", cpu_sgemm_is_avx512() ? "AVX-512 products" : "OpenBLAS");
  const int dims[][3] = {{1, 1, 1},     {12, 32, 8},    {13, 33, 9},    {11, 31, 257}, {25, 64, 512},
                         {37, 17, 300}, {400, 70, 40},  {385, 96, 513}, {7, 1000, 31}, {130, 65, 1},
                         {3, 5, 0},     {96, 100, 260}, {768, 40, 24}};
  const float alphas[] = {1.0f, 0.375f}, betas[] = {0.0f, 1.0f, -0.5f};
  int n = 0;
  for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        gcase g = {ta, tb, dims[d][0], dims[d][1], dims[d][2], (int)(d % 3) * 5, alphas[n % 2], betas[n % 3], 0};
        one(&g, &r, max_threads);
        g.bias = 1; /* the linear layer's form: out = x w^T + bias */
        g.beta = 0.0f;
        one(&g, &r, max_threads);
        n++;
      }
  /* inside a parallel region each call runs on its own thread with its own buffers */
  {
    enum { P = 4, M = 50, N = 40, K = 70 };
    float *A = frand(&r, P * M * K), *B = frand(&r, P * K * N), *C = calloc(P * M * N, sizeof(float)),
          *Cs = calloc(P * M * N, sizeof(float));
    omp_set_num_threads(max_threads);
#pragma omp parallel for
    for (int p = 0; p < P; p++)
      cpu_sgemm(0, 1, M, N, K, 1.0f, A + p * M * K, K, B + p * K * N, K, 0.0f, NULL, C + p * M * N, N);
    omp_set_num_threads(1);
    for (int p = 0; p < P; p++)
      cpu_sgemm(0, 1, M, N, K, 1.0f, A + p * M * K, K, B + p * K * N, K, 0.0f, NULL, Cs + p * M * N, N);
    EXPECT(memcmp(C, Cs, sizeof(float) * P * M * N) == 0, "products inside a parallel region differ");
    free(A), free(B), free(C), free(Cs);
  }
  return test_summary();
}
