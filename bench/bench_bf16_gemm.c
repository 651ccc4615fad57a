/* Does bf16 pay on this CPU? A plain AVX512-BF16 (vdpbf16ps) matrix product against OpenBLAS's
 * float32 sgemm at the shapes of a BERT layer. Prints GFLOP/s and the error of the bf16 result.
 * Single thread. Not a test; built only when the compiler targets avx512bf16.
 *
 *   bench_bf16_gemm [M K N ...]   (default: the L4 H256 bench's 2048x256x1024 and BERT-base's
 *                                  4096x768x3072) */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/dtype.h"

#if defined(__AVX512BF16__)
#include <immintrin.h>

/* C (M, N) = A (M, K) @ B (K, N); A as bf16 row-major, B packed in panels of 64 columns, each
 * K/2 rows of 64 bf16 pairs (b[k][n], b[k+1][n]), so that one vdpbf16ps multiplies 16 columns
 * by 2 k values and the kernel streams its panel. Microkernel: 4 rows x 64 columns (16
 * accumulators). M % 4 == 0, N % 64 == 0, K % 2 == 0. */
static size_t packed_index(int k, int n, int K) {
  return ((size_t)(n / 64) * (K / 2) + (size_t)(k / 2)) * 128 + (size_t)(n % 64) * 2 + (k & 1);
}
static void gemm_bf16(float *C, const uint16_t *A, const uint16_t *Bp, int M, int K, int N) {
  /* panel outer: a panel (K * 128 bytes) stays in L2 while every row block sweeps it */
  for (int j = 0; j < N; j += 64)
    for (int i = 0; i < M; i += 4) {
      __m512 acc[4][4];
      for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();
      for (int k = 0; k < K; k += 2) {
        const uint16_t *bp = Bp + ((size_t)(j / 64) * (K / 2) + (size_t)(k / 2)) * 128;
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp), b1 = (__m512bh)_mm512_loadu_si512(bp + 32);
        __m512bh b2 = (__m512bh)_mm512_loadu_si512(bp + 64), b3 = (__m512bh)_mm512_loadu_si512(bp + 96);
        for (int r = 0; r < 4; r++) {
          uint32_t pair;
          memcpy(&pair, A + (size_t)(i + r) * K + k, 4);
          __m512bh a = (__m512bh)_mm512_set1_epi32((int)pair);
          acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
          acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
          acc[r][2] = _mm512_dpbf16_ps(acc[r][2], a, b2);
          acc[r][3] = _mm512_dpbf16_ps(acc[r][3], a, b3);
        }
      }
      for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) _mm512_storeu_ps(C + (size_t)(i + r) * N + j + 16 * c, acc[r][c]);
    }
}

static double best_of(int reps, void (*fn)(void *), void *arg) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = ordo_time();
    fn(arg);
    double dt = ordo_time() - t0;
    if (dt < best) best = dt;
  }
  return best;
}

typedef struct job { int M, K, N; float *A, *B, *C; uint16_t *Ab, *Bp; } job;
static void run_sgemm(void *p) {
  job *j = p;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->M, j->N, j->K, 1.0f, j->A, j->K, j->B,
              j->N, 0.0f, j->C, j->N);
}
static void run_bf16(void *p) {
  job *j = p;
  gemm_bf16(j->C, j->Ab, j->Bp, j->M, j->K, j->N);
}

int main(int argc, char **argv) {
  openblas_set_num_threads(1);
  int shapes[8][3] = {{2048, 256, 1024}, {4096, 768, 3072}};
  int ns = 2;
  if (argc >= 4) {
    ns = 0;
    for (int a = 1; a + 2 < argc && ns < 8; a += 3, ns++)
      shapes[ns][0] = atoi(argv[a]), shapes[ns][1] = atoi(argv[a + 1]), shapes[ns][2] = atoi(argv[a + 2]);
  }
  printf("| M x K x N | OpenBLAS sgemm fp32 GFLOP/s | vdpbf16ps bf16 GFLOP/s | bf16 / fp32 | bf16 rel. error |\n");
  printf("| --- | --- | --- | --- | --- |\n");
  for (int s = 0; s < ns; s++) {
    job j = {shapes[s][0], shapes[s][1], shapes[s][2], 0, 0, 0, 0, 0};
    size_t nA = (size_t)j.M * j.K, nB = (size_t)j.K * j.N, nC = (size_t)j.M * j.N;
    j.A = ordo_malloc(nA * 4), j.B = ordo_malloc(nB * 4), j.C = ordo_malloc(nC * 4);
    j.Ab = ordo_malloc(nA * 2), j.Bp = ordo_malloc(nB * 2);
    for (size_t i = 0; i < nA; i++) j.A[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    for (size_t i = 0; i < nB; i++) j.B[i] = (float)((i * 40503u) % 1999) / 1000.0f - 1.0f;
    f32_to_bf16_n(j.Ab, j.A, nA);
    for (int k = 0; k < j.K; k++)
      for (int n = 0; n < j.N; n++) j.Bp[packed_index(k, n, j.K)] = f32_to_bf16(j.B[(size_t)k * j.N + n]);
    double flop = 2.0 * j.M * j.K * j.N;
    double t32 = best_of(3, run_sgemm, &j);
    float *ref = ordo_malloc(nC * 4);
    memcpy(ref, j.C, nC * 4);
    double t16 = best_of(3, run_bf16, &j);
    double num = 0, den = 0;
    for (size_t i = 0; i < nC; i++) num += (j.C[i] - ref[i]) * (double)(j.C[i] - ref[i]), den += ref[i] * (double)ref[i];
    printf("| %d x %d x %d | %.1f | %.1f | %.2f | %.1e |\n", j.M, j.K, j.N, flop / t32 / 1e9,
           flop / t16 / 1e9, t32 / t16, sqrt(num / den));
    free(j.A), free(j.B), free(j.C), free(j.Ab), free(j.Bp), free(ref);
  }
  return 0;
}
#else
int main(void) {
  printf("bench_bf16_gemm: this build does not target AVX512-BF16 (-march=native on a CPU with avx512_bf16)\n");
  return 0;
}
#endif
