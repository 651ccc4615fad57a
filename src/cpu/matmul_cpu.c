/* Linear layers on OpenBLAS. Each product is one cblas_sgemm called from outside any OpenMP
 * parallel region, so OpenBLAS threads it with its own pool (OPENBLAS_NUM_THREADS) and never
 * runs nested inside ours; only the bias gradient, a column reduction, is OpenMP's.
 *
 * Why not tiles of single-threaded sgemm under OpenMP (one thread pool instead of two)? Each
 * tile repacks its panels, and OpenBLAS's own threading shares them: on (512, 768) x
 * (768, 3072)^T, single-threaded, one call ran at 110 GFLOP/s against 67 (128 x 128 tiles)
 * to 90 (512 x 128); with 2 threads and an OpenMP pass after each product (the pattern of a
 * layer), OpenBLAS-threaded calls were as fast or faster (149 ms vs 196 ms for 256 x 128
 * tiles, best of 9). OpenBLAS's idle workers yield the CPU while they wait, so they do not
 * starve our regions; on an oversubscribed machine OMP_WAIT_POLICY=passive keeps OpenMP's
 * idle threads from spinning while OpenBLAS works. Attention's small per-head products are
 * the opposite case (see attention_cpu.c).
 *
 * Determinism: OpenBLAS splits a product over the output's rows and columns, never over K,
 * so each output element is summed in one fixed order: the same bits on every run with the
 * same OpenBLAS thread count.
 *
 * Layout as HF stores a Linear: w (OUT, IN), so out = inp @ w^T is sgemm(NoTrans, Trans). */
#include <cblas.h>

#include "cpu/cpu_ops.h"
#include "ordo/core.h"

/* Columns per parallel task in column reductions: 64 floats = four AVX-512 vectors, enough
 * to vectorize the inner loop, small enough to spread C = 768 over a dozen threads. */
enum { COLSUM_BLOCK = 64 };

/* dst (OUT) += sum over n of src (N, OUT). Each task owns a block of columns and walks the
 * rows in order, so the result is the same bits for any thread count and equals the plain
 * row-by-row accumulation. */
void cpu_colsum_add(float *dst, const float *src, int N, int OUT) {
  int nblk = (OUT + COLSUM_BLOCK - 1) / COLSUM_BLOCK;
#pragma omp parallel for schedule(static)
  for (int bi = 0; bi < nblk; bi++) {
    int c0 = bi * COLSUM_BLOCK, c1 = c0 + COLSUM_BLOCK < OUT ? c0 + COLSUM_BLOCK : OUT;
    for (int n = 0; n < N; n++) {
      const float *s = src + (int64_t)n * OUT;
#pragma omp simd
      for (int c = c0; c < c1; c++) dst[c] += s[c];
    }
  }
}

/* out (N, OUT) = inp (N, IN) @ w^T (IN, OUT) + bias: the bias is broadcast into out first and
 * sgemm adds onto it (beta = 1). */
void matmul_forward_cpu(float *out, const float *inp, const float *w, const float *bias, int N,
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

void matmul_backward_cpu(float *dinp, float *dw, float *dbias, const float *dout,
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
