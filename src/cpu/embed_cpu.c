/* Embedding lookups. Forward: rows in parallel. Backward: a scatter-add where rows with the same
 * id collide, so instead of splitting rows (which would need atomics or per-thread tables) each
 * task owns a block of columns of every table and walks the rows in order: no conflicts, the
 * same bits for any thread count, and the same order as the reference. */
#include "cpu/cpu_ops.h"
#include "ordo/core.h"

enum { EMB_COL_BLOCK = 64 };

void embed_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const int32_t *ids, const int32_t *pos, const int32_t *tt,
                       const float *wte, const float *wpe, const float *wtt, int BT, int C) {
  ORDO_CHECK(wpe == NULL || pos != NULL);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < BT; r++) {
    const float *e = wte + (int64_t)ids[r] * C;
    float *o = out + (int64_t)r * C;
#pragma omp simd
    for (int c = 0; c < C; c++) o[c] = e[c];
    if (wpe) {
      const float *p = wpe + (int64_t)pos[r] * C;
#pragma omp simd
      for (int c = 0; c < C; c++) o[c] += p[c];
    }
    if (wtt) {
      const float *y = wtt + (int64_t)(tt ? tt[r] : 0) * C;
#pragma omp simd
      for (int c = 0; c < C; c++) o[c] += y[c];
    }
  }
}

void embed_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dwte, float *dwpe, float *dwtt, const float *dout,
                        const int32_t *ids, const int32_t *pos, const int32_t *tt, int BT, int C) {
  ORDO_CHECK(dwpe == NULL || pos != NULL);
  if (!dwte && !dwpe && !dwtt) return;
  int nblk = (C + EMB_COL_BLOCK - 1) / EMB_COL_BLOCK;
#pragma omp parallel for schedule(static)
  for (int bi = 0; bi < nblk; bi++) {
    int c0 = bi * EMB_COL_BLOCK, c1 = c0 + EMB_COL_BLOCK < C ? c0 + EMB_COL_BLOCK : C;
    for (int r = 0; r < BT; r++) {
      const float *d = dout + (int64_t)r * C;
      if (dwte) {
        float *g = dwte + (int64_t)ids[r] * C;
#pragma omp simd
        for (int c = c0; c < c1; c++) g[c] += d[c];
      }
      if (dwpe) {
        float *g = dwpe + (int64_t)pos[r] * C;
#pragma omp simd
        for (int c = c0; c < c1; c++) g[c] += d[c];
      }
      if (dwtt) {
        float *g = dwtt + (int64_t)(tt ? tt[r] : 0) * C;
#pragma omp simd
        for (int c = c0; c < c1; c++) g[c] += d[c];
      }
    }
  }
}

/* Row moves: rows in parallel (the scatter's rows are distinct, so no two tasks meet). */
void gather_rows_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *src,
                     const int32_t *rows, int n, int C) {
#pragma omp parallel for schedule(static) if ((int64_t)n * C > 65536)
  for (int r = 0; r < n; r++) {
    const float *s = src + (int64_t)rows[r] * C;
    float *o = out + (int64_t)r * C;
#pragma omp simd
    for (int c = 0; c < C; c++) o[c] = s[c];
  }
}

void scatter_add_rows_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dst, const float *src,
                          const int32_t *rows, int n, int C) {
#pragma omp parallel for schedule(static) if ((int64_t)n * C > 65536)
  for (int r = 0; r < n; r++) {
    const float *s = src + (int64_t)r * C;
    float *d = dst + (int64_t)rows[r] * C;
#pragma omp simd
    for (int c = 0; c < C; c++) d[c] += s[c];
  }
}
