/* Storage-dtype ops of both CPU backends: convert, and gemm_ex as conversions around the
 * backend's own fp32 gemm, so a product on 16-bit operands has exactly the bits of the fp32
 * product on the same values held as rounded float arrays. */
#include "cpu/cpu_ops.h"
#include "ordo/core.h"

enum { CONVERT_BLOCK = 16384 }; /* elements per parallel task */

void convert_ref(ordo_ctx *ctx ORDO_UNUSED, void *dst, ordo_dtype dst_dt, const void *src,
                 ordo_dtype src_dt, int64_t N) {
  ORDO_CHECK(N >= 0);
  storage_convert_n(dst, dst_dt, src, src_dt, (size_t)N);
}

void convert_cpu(ordo_ctx *ctx ORDO_UNUSED, void *dst, ordo_dtype dst_dt, const void *src,
                 ordo_dtype src_dt, int64_t N) {
  ORDO_CHECK(N >= 0);
  int64_t nblk = (N + CONVERT_BLOCK - 1) / CONVERT_BLOCK;
#pragma omp parallel for schedule(static) if (nblk > 1)
  for (int64_t b = 0; b < nblk; b++) {
    int64_t i0 = b * CONVERT_BLOCK, n = N - i0 < CONVERT_BLOCK ? N - i0 : CONVERT_BLOCK;
    storage_convert_n(dtype_at(dst, dst_dt, i0), dst_dt, dtype_at_c(src, src_dt, i0), src_dt,
                      (size_t)n);
  }
}

/* A stored (rows, ld) matrix as fp32: the operand itself when it is fp32, else a converted
 * copy (freed by the caller when it differs from the operand). */
static float *as_f32(void (*conv)(ordo_ctx *, void *, ordo_dtype, const void *, ordo_dtype, int64_t),
                     const void *p, ordo_dtype dt, int64_t rows, int ld) {
  if (dt == ORDO_DT_F32) return (float *)p;
  float *f = ordo_malloc((size_t)(rows * ld > 0 ? rows * ld : 1) * sizeof(float));
  conv(NULL, f, ORDO_DT_F32, p, dt, rows * ld);
  return f;
}

static void cpu_gemm_ex_via(
    void (*gemm)(ordo_ctx *, int, int, int, int, int, float, const float *, int, const float *,
                 int, float, float *, int),
    void (*conv)(ordo_ctx *, void *, ordo_dtype, const void *, ordo_dtype, int64_t), int ta,
    int tb, int M, int N, int K, float alpha, const void *A, int lda, const void *B, int ldb,
    ordo_dtype ab_dt, float beta, void *C, int ldc, ordo_dtype c_dt) {
  ORDO_CHECKF(dtype_is_storage(ab_dt) && (c_dt == ORDO_DT_F32 || c_dt == ab_dt),
              "gemm_ex: operands %s, result %s (expected F32/BF16/F16 operands, result F32 or "
              "theirs)", dtype_name(ab_dt), dtype_name(c_dt));
  ORDO_CHECK(M >= 0 && N >= 0 && K >= 0);
  if (M == 0 || N == 0) return;
  float *a = as_f32(conv, A, ab_dt, ta ? K : M, lda), *b = as_f32(conv, B, ab_dt, tb ? N : K, ldb);
  float *c = (float *)C;
  if (c_dt != ORDO_DT_F32) { /* C's first N columns per row in fp32 (read only when beta != 0) */
    c = ordo_calloc((size_t)M * N, sizeof(float));
    if (beta != 0.0f)
      for (int i = 0; i < M; i++)
        conv(NULL, c + (size_t)i * N, ORDO_DT_F32, dtype_at_c(C, c_dt, (int64_t)i * ldc), c_dt, N);
  }
  gemm(NULL, ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, c_dt == ORDO_DT_F32 ? ldc : N);
  if (c_dt != ORDO_DT_F32) {
    for (int i = 0; i < M; i++)
      conv(NULL, dtype_at(C, c_dt, (int64_t)i * ldc), c_dt, c + (size_t)i * N, ORDO_DT_F32, N);
    free(c);
  }
  if (a != A) free(a);
  if (b != B) free(b);
}

void gemm_ex_ref(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
                 const void *A, int lda, const void *B, int ldb, ordo_dtype ab_dt, float beta,
                 void *C, int ldc, ordo_dtype c_dt) {
  cpu_gemm_ex_via(gemm_ref, convert_ref, ta, tb, M, N, K, alpha, A, lda, B, ldb, ab_dt, beta, C,
                  ldc, c_dt);
}

void gemm_ex_cpu(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
                 const void *A, int lda, const void *B, int ldb, ordo_dtype ab_dt, float beta,
                 void *C, int ldc, ordo_dtype c_dt) {
  cpu_gemm_ex_via(gemm_cpu, convert_cpu, ta, tb, M, N, K, alpha, A, lda, B, ldb, ab_dt, beta, C,
                  ldc, c_dt);
}
