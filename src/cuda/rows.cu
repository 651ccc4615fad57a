/* Row moves: gather (out[r] = src[rows[r]]) and scatter-add (dst[rows[r]] += src[r], rows
 * distinct, so no two threads write one element). One thread per element. */
#include "cuda/cuda_ops.h"

static __global__ void gather_rows_kernel(float *out, const float *src, const int32_t *rows, int n,
                                          int C) {
  CUDA_FOR(i, (int64_t)n * C) {
    int64_t r = i / C, c = i % C;
    out[i] = src[(int64_t)rows[r] * C + c];
  }
}

static __global__ void scatter_add_rows_kernel(float *dst, const float *src, const int32_t *rows,
                                               int n, int C) {
  CUDA_FOR(i, (int64_t)n * C) {
    int64_t r = i / C, c = i % C;
    dst[(int64_t)rows[r] * C + c] += src[i];
  }
}

void gather_rows_cuda(ordo_ctx *ctx, float *out, const float *src, const int32_t *rows, int n,
                      int C) {
  CUDA_LAUNCH_1D(gather_rows_kernel, (int64_t)n * C, out, src, rows, n, C);
}

void scatter_add_rows_cuda(ordo_ctx *ctx, float *dst, const float *src, const int32_t *rows, int n,
                           int C) {
  CUDA_LAUNCH_1D(scatter_add_rows_kernel, (int64_t)n * C, dst, src, rows, n, C);
}
