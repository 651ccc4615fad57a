/* Linear layers on OpenBLAS. Each product is one cblas_sgemm called from outside any OpenMP
 * parallel region, so OpenBLAS threads it over OpenMP's threads (its OpenMP build follows
 * omp_get_max_threads()); only the bias gradient, a column reduction, is ordo's own loop.
 *
 * Why not tiles of single-threaded sgemm under OpenMP, which would make the bits independent of
 * the thread count (below)? Each tile repacks its panels, where OpenBLAS's own threading shares
 * them. bench_kernels on an idle machine, (512, 768) x (3072, 768)^T: one OpenBLAS-threaded call
 * 15.7 ms on 1 thread and 8.4 ms on 2; 512 x 512 tiles 17.2 and 10.2 ms; 256 x 128 tiles 22.7
 * and 11.0 ms (bench/NOTES.md). (The older 2-thread comparison ran the tiles on one
 * thread: openblas_set_num_threads(1) also sets OpenMP's count in OpenBLAS's OpenMP build.)
 *
 * Determinism: the same bits on every run with the same thread count. Not across thread
 * counts: OpenBLAS splits the output among its threads, and its AVX2 (Haswell) kernels sum an
 * element at the edge of a thread's part in another order than one inside it (measured: for
 * (192, 48)^T @ (192, 96), 345 of 4,608 outputs differ in the last bits between 1 and 2
 * threads; its AVX-512 kernels agreed at the shapes tried).
 *
 * Layout as HF stores a Linear: w (OUT, IN), so out = inp @ w^T is sgemm(NoTrans, Trans). */
#include <cblas.h>
#include <omp.h>

#include "cpu/cpu_ops.h"
#include "ordo/core.h"

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

/* out (N, OUT) = inp (N, IN) @ w^T (IN, OUT) + bias: the bias is broadcast into out first and
 * sgemm adds onto it (beta = 1). */
void matmul_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, const float *w, const float *bias, int N,
                        int IN, int OUT) {
  ORDO_CHECK(N >= 0 && IN > 0 && OUT > 0);
  if (N == 0) return;
  if (bias) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
      float *o = out + (int64_t)n * OUT;
#pragma omp simd
      for (int c = 0; c < OUT; c++) o[c] = bias[c];
    }
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, inp, IN, w, IN,
              bias ? 1.0f : 0.0f, out, OUT);
}

void matmul_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int IN, int OUT) {
  ORDO_CHECK(N >= 0 && IN > 0 && OUT > 0);
  if (N == 0) return;
  /* dinp (N, IN) += dout (N, OUT) @ w (OUT, IN) */
  if (dinp)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, OUT, w, IN,
                1.0f, dinp, IN);
  /* dw (OUT, IN) += dout^T (OUT, N) @ inp (N, IN) */
  if (dw)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, N, 1.0f, dout, OUT, inp, IN,
                1.0f, dw, IN);
  if (dbias) cpu_colsum_add(dbias, dout, N, OUT);
}

/* The general product: one cblas_sgemm, threaded by OpenBLAS as the linear layers are. With
 * beta == 0 OpenBLAS writes C without reading it (BLAS's rule), so NaN there does not spread. */
void gemm_cpu(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  ORDO_CHECK(M >= 0 && N >= 0 && K >= 0);
  if (M == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
              N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
