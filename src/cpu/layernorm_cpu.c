/* LayerNorm, rows in parallel. The parameter gradients dw, db (C) are sums over all N rows:
 * they are computed in a second pass where each thread owns a range of columns and walks the
 * rows in order (cpu_thread_cols) (x-hat recomputed from mean/rstd), so there is no per-thread partial buffer,
 * no float atomics, and the bits do not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "ordo/core.h"

enum { LN_COL_BLOCK = 64 }; /* as cpu_colsum_add: four AVX-512 vectors per row per task */

void layernorm_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *mean, float *rstd, const float *inp, const float *w,
                           const float *b, float eps, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (int64_t)n * C;
    float *o = out + (int64_t)n * C;
    float m = 0.0f, v = 0.0f;
#pragma omp simd reduction(+ : m)
    for (int c = 0; c < C; c++) m += x[c];
    m /= (float)C;
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= (float)C; /* biased, as torch */
    float s = 1.0f / sqrtf(v + eps);
    if (w && b) {
#pragma omp simd
      for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
    } else {
      for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
    }
    mean[n] = m;
    rstd[n] = s;
  }
}

void layernorm_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C) {
  if (dinp) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
      const float *x = inp + (int64_t)n * C, *d = dout + (int64_t)n * C;
      float *dx = dinp + (int64_t)n * C;
      float m = mean[n], s = rstd[n], gmean = 0.0f, gxmean = 0.0f;
#pragma omp simd reduction(+ : gmean, gxmean)
      for (int c = 0; c < C; c++) {
        float g = d[c] * (w ? w[c] : 1.0f);
        gmean += g;
        gxmean += g * (x[c] - m) * s;
      }
      gmean /= (float)C;
      gxmean /= (float)C;
      if (!acc) memset(dx, 0, (size_t)C * sizeof(float)); /* in cache: += onto it, as before */
#pragma omp simd
      for (int c = 0; c < C; c++) {
        float g = d[c] * (w ? w[c] : 1.0f);
        dx[c] += s * (g - gmean - (x[c] - m) * s * gxmean);
      }
    }
  }
  if (!dw && !db) return;
#pragma omp parallel
  {
    int c0, c1;
    cpu_thread_cols(C, LN_COL_BLOCK, &c0, &c1);
    for (int n = 0; n < N; n++) {
      const float *x = inp + (int64_t)n * C, *d = dout + (int64_t)n * C;
      float m = mean[n], s = rstd[n];
      if (dw) {
#pragma omp simd
        for (int c = c0; c < c1; c++) dw[c] += d[c] * ((x[c] - m) * s);
      }
      if (db) {
#pragma omp simd
        for (int c = c0; c < c1; c++) db[c] += d[c];
      }
    }
  }
}
