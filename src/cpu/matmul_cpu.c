/* Linear layers on OpenBLAS, parallel under OpenMP.
 *
 * Threading: there is one pool of threads, OpenMP's. Each product is cut into a fixed grid of
 * GEMM_TILE x GEMM_TILE tiles of its output, and the tiles are single-threaded sgemm calls
 * spread over the OpenMP threads (OpenBLAS is set to one thread for the duration of the op
 * and restored after). The installed OpenBLAS is the pthread build: letting it thread big
 * products itself gives a second pool whose workers keep spinning after each call while our
 * OpenMP regions run (and OpenMP's spin while OpenBLAS runs), so the two fight for the cores.
 * The tile grid depends on the sizes only, so every output element is the same single sgemm
 * call whatever the thread count: the results are the same bits for any thread count.
 * bench/bench_kernels.c measures this choice against OpenBLAS's own threading.
 *
 * Layout as HF stores a Linear: w (OUT, IN), so out = inp @ w^T is sgemm(NoTrans, Trans). */
#include <cblas.h>

#include "cpu/cpu_ops.h"
#include "ordo/core.h"

/* 128 x 128 output tiles: 2 * 128 * 128 * K flops for 2 * 128 * K packed floats (128 flops
 * per float moved, enough to stay compute-bound), and already 24 tiles for a (512, 768)
 * output, enough to feed 16+ threads. */
enum { GEMM_TILE = 128 };

/* Columns per parallel task in column reductions: 64 floats = four AVX-512 vectors, enough
 * to vectorize the inner loop, small enough to spread C = 768 over a dozen threads. */
enum { COLSUM_BLOCK = 64 };

/* C (M, N) = op(A) (M, K) @ op(B) (K, N) + beta C, row-major, tile by tile in parallel.
 * op(A) = A (M, K) or A^T with A (K, M); op(B) = B (K, N) or B^T with B (N, K). */
void cpu_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  const int tm = (M + GEMM_TILE - 1) / GEMM_TILE, tn = (N + GEMM_TILE - 1) / GEMM_TILE;
  const int ntiles = tm * tn;
  int saved = openblas_get_num_threads();
  openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) if (ntiles > 1)
  for (int t = 0; t < ntiles; t++) {
    int i0 = (t / tn) * GEMM_TILE, j0 = (t % tn) * GEMM_TILE;
    int mi = M - i0 < GEMM_TILE ? M - i0 : GEMM_TILE, nj = N - j0 < GEMM_TILE ? N - j0 : GEMM_TILE;
    const float *a = transA ? A + i0 : A + (int64_t)i0 * lda;
    const float *b = transB ? B + (int64_t)j0 * ldb : B + j0;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, mi, nj, K, alpha, a, lda, b, ldb, beta,
                C + (int64_t)i0 * ldc + j0, ldc);
  }
  openblas_set_num_threads(saved);
}

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
 * the product adds onto it (beta = 1). */
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
  cpu_gemm(0, 1, N, OUT, IN, 1.0f, inp, IN, w, IN, bias ? 1.0f : 0.0f, out, OUT);
}

void matmul_backward_cpu(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int IN, int OUT) {
  ORDO_CHECK(N >= 0 && IN > 0 && OUT > 0);
  if (N == 0) return;
  /* dinp (N, IN) += dout (N, OUT) @ w (OUT, IN) */
  if (dinp) cpu_gemm(0, 0, N, IN, OUT, 1.0f, dout, OUT, w, IN, 1.0f, dinp, IN);
  /* dw (OUT, IN) += dout^T (OUT, N) @ inp (N, IN) */
  if (dw) cpu_gemm(1, 0, OUT, IN, N, 1.0f, dout, OUT, inp, IN, 1.0f, dw, IN);
  if (dbias) cpu_colsum_add(dbias, dout, N, OUT);
}
