/* LayerNorm backward's two row means, written once for the plain reference (cpu/ref_ops.c) and
 * the GPU (cuda/layernorm.cu) so that both sum in the same order. Internal header, static inline. */
#ifndef ORDO_LAYERNORM_ROW_H
#define ORDO_LAYERNORM_ROW_H

#ifndef ORDO_HOST_DEVICE
#ifdef __CUDACC__
#define ORDO_HOST_DEVICE __host__ __device__
#else
#define ORDO_HOST_DEVICE
#endif
#endif

/* One row x, dout d (C,) with mean m, rstd s, weight w (NULL: 1); xh = (x - m) s, g = d w:
 * *gm = mean(g), *gxm = mean(g xh). */
static inline ORDO_HOST_DEVICE void layernorm_row_grad_means(const float *x, const float *d,
                                                             const float *w, float m, float s,
                                                             int C, float *gm, float *gxm) {
  float gmean = 0.0f, gxmean = 0.0f;
  for (int c = 0; c < C; c++) {
    float xh = (x[c] - m) * s;
    float g = d[c] * (w ? w[c] : 1.0f);
    gmean += g;
    gxmean += g * xh;
  }
  *gm = gmean / (float)C;
  *gxm = gxmean / (float)C;
}

#endif
