/* The reference for the general product, row moves, axpy/scale/rounding, block norms and the
 * AdamW steps: plain single-threaded loops that follow ops.h literally (see ref_ops.c). */
#include <stdlib.h>

#include "cpu/cpu_ops.h"
#include "ordo/core.h"

void gemm_ref(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  ORDO_CHECK(M >= 0 && N >= 0 && K >= 0);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float acc = 0.0f;
      for (int k = 0; k < K; k++) {
        float a = ta ? A[(int64_t)k * lda + i] : A[(int64_t)i * lda + k];
        float b = tb ? B[(int64_t)j * ldb + k] : B[(int64_t)k * ldb + j];
        acc += a * b;
      }
      float *c = &C[(int64_t)i * ldc + j];
      *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c; /* beta 0: C never read */
    }
}

void gather_rows_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *src,
                     const int32_t *rows, int n, int C) {
  for (int r = 0; r < n; r++)
    for (int c = 0; c < C; c++) out[(int64_t)r * C + c] = src[(int64_t)rows[r] * C + c];
}

void scatter_add_rows_ref(ordo_ctx *ctx ORDO_UNUSED, float *dst, const float *src,
                          const int32_t *rows, int n, int C) {
  for (int r = 0; r < n; r++)
    for (int c = 0; c < C; c++) dst[(int64_t)rows[r] * C + c] += src[(int64_t)r * C + c];
}

void axpy_ref(ordo_ctx *ctx ORDO_UNUSED, float *y, float a, const float *x, int64_t N) {
  for (int64_t i = 0; i < N; i++) y[i] += a * x[i];
}

void scale_ref(ordo_ctx *ctx ORDO_UNUSED, float *x, float s, int64_t N) {
  for (int64_t i = 0; i < N; i++) x[i] *= s;
}

void round_dtype_ref(ordo_ctx *ctx ORDO_UNUSED, float *x, int64_t N, ordo_dtype dt) {
  ORDO_CHECKF(dt == ORDO_DT_F32 || dt == ORDO_DT_F16 || dt == ORDO_DT_BF16,
              "round_dtype: %s is not a storage dtype", dtype_name(dt));
  round_to_dtype_n(x, (size_t)N, dt);
}

void sumsq_blocks_ref(ordo_ctx *ctx ORDO_UNUSED, double *parts, const float *x, int64_t N,
                      int block) {
  ORDO_CHECK(block > 0);
  for (int64_t b = 0; b * block < N; b++) {
    const int64_t e = (b + 1) * block < N ? (b + 1) * block : N;
    double acc[ORDO_SUMSQ_LANES] = {0}, part = 0;
    for (int64_t j = b * block; j < e; j++) {
      double *a = &acc[(j - b * block) % ORDO_SUMSQ_LANES];
      *a = fma((double)x[j], (double)x[j], *a);
    }
    for (int l = 0; l < ORDO_SUMSQ_LANES; l++) part += acc[l];
    parts[b] = part;
  }
}

void adamw_step_ref(ordo_ctx *ctx ORDO_UNUSED, float *w, const float *g, float *m, float *v,
                    int64_t N, ordo_adamw_hp hp) {
  for (int64_t i = 0; i < N; i++)
    cpu_adamw_elem(&w[i], &m[i], &v[i], g[i], hp.wd_mul, hp.b1, hp.b2, hp.eps, hp.bc2_sqrt,
                   hp.step_size);
}

void adamw8_step_ref(ordo_ctx *ctx ORDO_UNUSED, float *w, const float *g, uint8_t *qm,
                     uint8_t *qv, float *sm, float *sv, const float *map_m, const float *mid_m,
                     const float *map_v, const float *mid_v, int64_t N, int block,
                     ordo_adamw_hp hp) {
  ORDO_CHECK(block > 0);
  float *mf = ordo_malloc(2 * (size_t)block * sizeof(float)), *vf = mf + block;
  for (int64_t b = 0; b * block < N; b++) {
    const int64_t o = b * block, len = N - o < block ? N - o : block;
    q8_adamw_block(w + o, g + o, qm + o, qv + o, sm + b, sv + b, map_m, mid_m, map_v, mid_v, len,
                   hp, mf, vf);
  }
  free(mf);
}
