/* LayerNorm (torch's biased variance, eps inside the sqrt; w NULL means 1, b NULL 0).
 * The per-row sums run in one thread per row in the reference's order (mean, rstd and the
 * backward's two means get its float bits); the elementwise parts run one thread per element;
 * dw and db are one thread per column walking the rows in order: deterministic, no atomics. */
#include "core/layernorm_row.h"
#include "cuda/cuda_ops.h"

static __global__ void layernorm_stats_kernel(float *mean, float *rstd, const float *inp, float eps,
                                              int N, int C) {
  CUDA_FOR(n, N) {
    const float *x = inp + n * C;
    float m = 0.0f;
    for (int c = 0; c < C; c++) m += x[c];
    m /= (float)C;
    float v = 0.0f;
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= (float)C;
    mean[n] = m;
    rstd[n] = 1.0f / sqrtf(v + eps);
  }
}

static __global__ void layernorm_apply_kernel(float *out, const float *inp, const float *mean,
                                              const float *rstd, const float *w, const float *b,
                                              int N, int C) {
  CUDA_FOR(i, (int64_t)N * C) {
    int64_t n = i / C;
    int c = (int)(i % C);
    float y = (inp[i] - mean[n]) * rstd[n];
    out[i] = y * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
  }
}

void layernorm_forward_cuda(ordo_ctx *ctx, float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, float eps, int N, int C) {
  if (N <= 0 || C <= 0) return;
  CUDA_LAUNCH_1D(layernorm_stats_kernel, N, mean, rstd, inp, eps, N, C);
  CUDA_LAUNCH_1D(layernorm_apply_kernel, (int64_t)N * C, out, inp, mean, rstd, w, b, N, C);
}

/* With xh = (x - mean) rstd and g = dout w: gm[n] = mean(g), gxm[n] = mean(g xh) */
static __global__ void layernorm_dstats_kernel(float *gm, float *gxm, const float *dout,
                                               const float *inp, const float *w, const float *mean,
                                               const float *rstd, int N, int C) {
  CUDA_FOR(n, N) {
    const float *x = inp + n * C, *d = dout + n * C;
    layernorm_row_grad_means(x, d, w, mean[n], rstd[n], C, &gm[n], &gxm[n]);
  }
}

/* dx += rstd (g - mean(g) - xh mean(g xh)) */
static __global__ void layernorm_dinp_kernel(float *dinp, int acc, const float *dout, const float *inp,
                                             const float *w, const float *mean, const float *rstd,
                                             const float *gm, const float *gxm, int N, int C) {
  CUDA_FOR(i, (int64_t)N * C) {
    int64_t n = i / C;
    int c = (int)(i % C);
    float s = rstd[n];
    float xh = (inp[i] - mean[n]) * s;
    float g = dout[i] * (w ? w[c] : 1.0f);
    dinp[i] = (acc ? dinp[i] : 0.0f) + s * (g - gm[n] - xh * gxm[n]);
  }
}

/* dw[c] += sum_n dout xh, db[c] += sum_n dout, n in order */
static __global__ void layernorm_dparams_kernel(float *dw, float *db, const float *dout,
                                                const float *inp, const float *mean,
                                                const float *rstd, int N, int C) {
  CUDA_FOR(c, C) {
    float aw = dw ? dw[c] : 0.0f, ab = db ? db[c] : 0.0f;
    for (int n = 0; n < N; n++) {
      int64_t i = (int64_t)n * C + c;
      float d = dout[i];
      aw += d * ((inp[i] - mean[n]) * rstd[n]);
      ab += d;
    }
    if (dw) dw[c] = aw;
    if (db) db[c] = ab;
  }
}

void layernorm_backward_cuda(ordo_ctx *ctx, float *dinp, int acc, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean, const float *rstd,
                             int N, int C) {
  if (N <= 0 || C <= 0) return;
  if (dinp) {
    float *gm = (float *)cuda_scratch(ctx, 2 * (size_t)N * sizeof(float)), *gxm = gm + N;
    CUDA_LAUNCH_1D(layernorm_dstats_kernel, N, gm, gxm, dout, inp, w, mean, rstd, N, C);
    CUDA_LAUNCH_1D(layernorm_dinp_kernel, (int64_t)N * C, dinp, acc, dout, inp, w, mean, rstd, gm, gxm,
                   N, C);
  }
  if (dw || db) CUDA_LAUNCH_1D(layernorm_dparams_kernel, C, dw, db, dout, inp, mean, rstd, N, C);
}
