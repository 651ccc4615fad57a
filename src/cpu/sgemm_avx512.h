/* fp32 matrix products on AVX-512 (sgemm_avx512.c, compiled with -mavx512f): row-major
 * C = alpha op(A) op(B) + beta C with cblas_sgemm's arguments (ta, tb: 0 or 1), or, with a bias
 * (N floats), C = alpha op(A) op(B) + bias (beta unused, C not read). Call it only where the CPU
 * has AVX-512F (cpu_sgemm does the check). Returns 0, or -1 with C untouched when it cannot take
 * the product (a thread's packing buffers not allocated, or a transposed B's ldb beyond 32-bit
 * gather offsets): the caller computes it another way. */
#ifndef ORDO_CPU_SGEMM_AVX512_H
#define ORDO_CPU_SGEMM_AVX512_H

int sgemm_avx512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, const float *bias, float *C, int ldc);

#endif
