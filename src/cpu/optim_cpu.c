/* The optimizer's ops on the fast CPU backend: block norms and the AdamW steps, the reference's
 * loops (ref_rows_optim.c) spread over OpenMP threads. Every element or block is computed by
 * the same code whatever thread runs it, so the bits do not depend on the thread count. */
#include <stdlib.h>

#include "cpu/cpu_ops.h"
#include "ordo/core.h"

void sumsq_blocks_cpu(ordo_ctx *ctx ORDO_UNUSED, double *parts, const float *x, int64_t N,
                      int block) {
  ORDO_CHECK(block > 0);
  const int64_t nb = (N + block - 1) / block;
#pragma omp parallel for schedule(static) if (N > 65536)
  for (int64_t b = 0; b < nb; b++) {
    const int64_t e = (b + 1) * block < N ? (b + 1) * block : N;
    double acc[ORDO_SUMSQ_LANES] = {0}; /* the lanes of ops.h's order, as the reference sums */
    int64_t j = b * block;
    for (; j + ORDO_SUMSQ_LANES <= e; j += ORDO_SUMSQ_LANES)
#pragma omp simd
      for (int l = 0; l < ORDO_SUMSQ_LANES; l++)
        acc[l] = fma((double)x[j + l], (double)x[j + l], acc[l]);
    for (int l = 0; j < e; j++, l++) acc[l] = fma((double)x[j], (double)x[j], acc[l]);
    double part = 0;
    for (int l = 0; l < ORDO_SUMSQ_LANES; l++) part += acc[l];
    parts[b] = part;
  }
}

void adamw_step_cpu(ordo_ctx *ctx ORDO_UNUSED, float *w, const float *g, float *m, float *v,
                    int64_t N, ordo_adamw_hp hp) {
#pragma omp parallel for schedule(static) if (N > 65536)
  for (int64_t i = 0; i < N; i++)
    cpu_adamw_elem(&w[i], &m[i], &v[i], g[i], hp.wd_mul, hp.b1, hp.b2, hp.eps, hp.bc2_sqrt,
                   hp.step_size);
}

void adamw8_step_cpu(ordo_ctx *ctx ORDO_UNUSED, float *w, const float *g, uint8_t *qm,
                     uint8_t *qv, float *sm, float *sv, const float *map_m, const float *mid_m,
                     const float *map_v, const float *mid_v, int64_t N, int block,
                     ordo_adamw_hp hp) {
  ORDO_CHECK(block > 0);
  const int64_t nb = (N + block - 1) / block;
#pragma omp parallel if (nb > 1)
  {
    /* each thread's decoded moments of one block */
    float *mf = ordo_malloc(2 * (size_t)block * sizeof(float)), *vf = mf + block;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
      const int64_t o = b * block, len = N - o < block ? N - o : block;
      q8_adamw_block(w + o, g + o, qm + o, qv + o, sm + b, sv + b, map_m, mid_m, map_v, mid_v,
                     len, hp, mf, vf);
    }
    free(mf);
  }
}
