/* Linear layers and the general product. Each product is one cpu_sgemm called from outside any
 * OpenMP parallel region, which threads it over OpenMP's threads: ordo's own AVX-512 products
 * (sgemm_avx512.c) on a CPU with AVX-512F, else OpenBLAS (its OpenMP build follows
 * omp_get_max_threads()); only the bias gradient, a column reduction, is a loop here.
 * ORDO_SGEMM=openblas in the environment takes OpenBLAS on any CPU (bench/NOTES.md compares them).
 *
 * Determinism: the same bits on every run with the same thread count and product library. The
 * AVX-512 products give the same bits for every thread count too (the threads split the output,
 * never the inner dimension, and each output is one chain in k order). OpenBLAS does not: its AVX2
 * (Haswell) kernels sum an element at the edge of a thread's part in another order than one
 * inside it (measured: for (192, 48)^T @ (192, 96), 345 of 4,608 outputs differ in the last bits
 * between 1 and 2 threads).
 *
 * Layout as HF stores a Linear: w (OUT, IN), so out = inp @ w^T is sgemm(NoTrans, Trans). */
#include <cblas.h>
#include <omp.h>

#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "cpu/sgemm_avx512.h"
#include "ordo/core.h"

int cpu_sgemm_is_avx512(void) {
  static int choice = -1;
  int c;
#pragma omp atomic read
  c = choice;
  if (c < 0) {
    c = 0;
#if defined(ORDO_HAVE_SGEMM_AVX512)
    const char *env = getenv("ORDO_SGEMM");
    c = cpu_has_avx512f() && !(env && strcmp(env, "openblas") == 0);
#endif
#pragma omp atomic write
    choice = c;
  }
  return c;
}

const char *ops_cpu_products(void) { return cpu_sgemm_is_avx512() ? "AVX-512" : "OpenBLAS"; }

void cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, const float *bias, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
#if defined(ORDO_HAVE_SGEMM_AVX512)
  if (alpha != 0.0f && cpu_sgemm_is_avx512() &&
      sgemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc) == 0)
    return;
#endif
  if (bias) {
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
    for (int i = 0; i < M; i++) {
      float *c = C + (int64_t)i * ldc;
#pragma omp simd
      for (int j = 0; j < N; j++) c[j] = bias[j];
    }
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
              lda, B, ldb, beta, C, ldc);
}

/* Columns are handed to threads in blocks of 64 floats (four AVX-512 vectors): whole vectors
 * per thread, and C = 768 spread over a dozen threads. */
enum { COLSUM_BLOCK = 64 };

/* dst (OUT) += sum over n of src (N, OUT). Each thread owns a contiguous range of column blocks
 * and walks the rows in order, reading its part of each row, so every column is summed row by
 * row in order: the same bits for any thread count, those of the plain row-by-row loop. (The
 * older order, each 64-column block down all N rows, touched a new page with every row: 1.6% of
 * a one-thread training step, bench/NOTES.md.) */
void cpu_thread_cols(int C, int block, int *c0, int *c1) {
  const int nblk = (C + block - 1) / block, nt = omp_get_num_threads(), t = omp_get_thread_num();
  *c0 = (int)((int64_t)nblk * t / nt) * block;
  *c1 = (int)((int64_t)nblk * (t + 1) / nt) * block;
  if (*c1 > C) *c1 = C;
}

void cpu_colsum_add(float *dst, const float *src, int N, int OUT) {
#pragma omp parallel
  {
    int c0, c1;
    cpu_thread_cols(OUT, COLSUM_BLOCK, &c0, &c1);
    for (int n = 0; n < N; n++) {
      const float *s = src + (int64_t)n * OUT;
#pragma omp simd
      for (int c = c0; c < c1; c++) dst[c] += s[c];
    }
  }
}

/* out (N, OUT) = inp (N, IN) @ w^T (IN, OUT) + bias */
void matmul_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, const float *w, const float *bias, int N,
                        int IN, int OUT) {
  ORDO_CHECK(N >= 0 && IN > 0 && OUT > 0);
  if (N == 0) return;
  cpu_sgemm(0, 1, N, OUT, IN, 1.0f, inp, IN, w, IN, 0.0f, bias, out, OUT);
}

void matmul_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int IN, int OUT) {
  ORDO_CHECK(N >= 0 && IN > 0 && OUT > 0);
  if (N == 0) return;
  /* dinp (N, IN) += dout (N, OUT) @ w (OUT, IN) */
  if (dinp) cpu_sgemm(0, 0, N, IN, OUT, 1.0f, dout, OUT, w, IN, 1.0f, NULL, dinp, IN);
  /* dw (OUT, IN) += dout^T (OUT, N) @ inp (N, IN) */
  if (dw) cpu_sgemm(1, 0, OUT, IN, N, 1.0f, dout, OUT, inp, IN, 1.0f, NULL, dw, IN);
  if (dbias) cpu_colsum_add(dbias, dout, N, OUT);
}

/* The general product. With beta == 0, C is written without being read (BLAS's rule), so NaN
 * there does not spread. */
void gemm_cpu(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  ORDO_CHECK(M >= 0 && N >= 0 && K >= 0);
  cpu_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, NULL, C, ldc);
}
