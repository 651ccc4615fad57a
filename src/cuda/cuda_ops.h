/* Internal to src/cuda: the CUDA backend's own kernels (one .cu per op family) that
 * backend_cuda.cu gathers into ops_cuda(), and the launch helpers they share. Signatures and
 * semantics are those of ordo_ops (include/ordo/ops.h); every pointer is a device pointer and
 * every kernel runs on ctx->stream. The products and attention are in cuda_mm.h. */
#ifndef ORDO_CUDA_OPS_H
#define ORDO_CUDA_OPS_H

#include <stdint.h>

extern "C" { /* the C headers' functions (ordo_fail, the ORDO_CHECK reports) have C linkage */
#include "ordo/core.h"
#include "ordo/ops.h"
}
#include "cuda/cuda_ctx.h"

/* Threads per block of the elementwise kernels; their grids are capped and the kernels loop
 * (grid-stride), so any N launches. */
enum { CUDA_THREADS = 256 };
static inline unsigned cuda_grid(int64_t n) {
  int64_t b = (n + CUDA_THREADS - 1) / CUDA_THREADS;
  return (unsigned)(b < 1 ? 1 : b > 65535 * 8 ? 65535 * 8 : b);
}
#define CUDA_FOR(i, n)                                                      \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t)gridDim.x * blockDim.x)

/* Launches kernel(args...) over n elements on ctx->stream (nothing for n <= 0) and checks the
 * launch; the kernel loops with CUDA_FOR. */
#define CUDA_LAUNCH_1D(kernel, n, ...)                                     \
  do {                                                                     \
    if ((n) > 0) {                                                         \
      kernel<<<cuda_grid(n), CUDA_THREADS, 0, ctx->stream>>>(__VA_ARGS__); \
      CUDA_LAUNCH_CHECK();                                                 \
    }                                                                      \
  } while (0)

/* ctx's scratch as at least `bytes` of device memory (grown, after a stream sync, when smaller):
 * the reductions' partial sums. Valid until the next call. */
void *cuda_scratch(ordo_ctx *ctx, size_t bytes);

/* Sums n doubles in index order (one thread: the CPU reference's order and bits) and writes
 * (float)(sum / div) to *out, or 0 when div is 0; div read from *div_dev when non-NULL (a
 * device count or weight sum), else div_host. */
void cuda_mean_f64(ordo_ctx *ctx, float *out, const double *terms, int64_t n, const double *div_dev,
                   double div_host);

/* memory.cu-like helpers in backend_cuda.cu */
void fill_cuda(ordo_ctx *ctx, float *x, float v, int64_t N);

/* embed.cu */
void embed_forward_ex_cuda(ordo_ctx *ctx, float *out, const int32_t *ids, const int32_t *pos,
                           const int32_t *tt, const void *wte, const void *wpe, const void *wtt,
                           ordo_dtype dt, int BT, int C);
void embed_forward_cuda(ordo_ctx *ctx, float *out, const int32_t *ids, const int32_t *pos,
                        const int32_t *tt, const float *wte, const float *wpe, const float *wtt,
                        int BT, int C);
void embed_backward_cuda(ordo_ctx *ctx, float *dwte, float *dwpe, float *dwtt, const float *dout,
                         const int32_t *ids, const int32_t *pos, const int32_t *tt, int BT, int C);

/* layernorm.cu */
void layernorm_forward_cuda(ordo_ctx *ctx, float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, float eps, int N, int C);
void layernorm_backward_cuda(ordo_ctx *ctx, float *dinp, int acc, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean, const float *rstd,
                             int N, int C);

/* elementwise.cu */
void gelu_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, int64_t N);
void gelu_backward_cuda(ordo_ctx *ctx, float *dinp, int acc, const float *inp, const float *dout, int64_t N);
void gelu_tanh_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, int64_t N);
void gelu_tanh_backward_cuda(ordo_ctx *ctx, float *dinp, int acc, const float *inp, const float *dout,
                             int64_t N);
void tanh_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, int64_t N);
void tanh_backward_cuda(ordo_ctx *ctx, float *dinp, int acc, const float *out, const float *dout, int64_t N);
void dropout_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, float p, uint64_t seed,
                          uint64_t offset, int64_t N);
void dropout_backward_cuda(ordo_ctx *ctx, float *dinp, const float *dout, float p, uint64_t seed,
                           uint64_t offset, int64_t N);
void residual_forward_cuda(ordo_ctx *ctx, float *out, const float *a, const float *b, int64_t N);
void axpy_cuda(ordo_ctx *ctx, float *y, float a, const float *x, int64_t N);
void scale_cuda(ordo_ctx *ctx, float *x, float s, int64_t N);
void round_dtype_cuda(ordo_ctx *ctx, float *x, int64_t N, ordo_dtype dt);
void convert_cuda(ordo_ctx *ctx, void *dst, ordo_dtype dst_dt, const void *src, ordo_dtype src_dt,
                  int64_t N);
/* C (M, N) of storage dtype dt, row stride ldc: C = beta C (beta == 0 writes zeros, never reads
 * C): the product of an empty sum, which cuBLASLt does not take. */
void cuda_scale_block(ordo_ctx *ctx, void *C, ordo_dtype dt, int M, int N, int ldc, float beta);

/* loss.cu */
void crossentropy_forward_cuda(ordo_ctx *ctx, float *loss, float *probs, const float *logits,
                               const int32_t *targets, int ignore_index, int N, int V);
void crossentropy_backward_cuda(ordo_ctx *ctx, float *dlogits, int acc, const float *probs,
                                const int32_t *targets, int ignore_index, float dloss_per_row,
                                int N, int V);
void mse_forward_cuda(ordo_ctx *ctx, float *loss, const float *pred, const float *target,
                      int64_t N);
void mse_backward_cuda(ordo_ctx *ctx, float *dpred, const float *pred, const float *target,
                       float dloss, int64_t N);
void bce_logits_forward_cuda(ordo_ctx *ctx, float *loss, const float *logits, const float *targets,
                             const float *weights, int64_t N);
void bce_logits_backward_cuda(ordo_ctx *ctx, float *dlogits, const float *logits,
                              const float *targets, const float *weights, float dloss, int64_t N);

/* rows.cu */
void gather_rows_cuda(ordo_ctx *ctx, float *out, const float *src, const int32_t *rows, int n,
                      int C);
void scatter_add_rows_cuda(ordo_ctx *ctx, float *dst, const float *src, const int32_t *rows, int n,
                           int C);

/* optim.cu */
void sumsq_blocks_cuda(ordo_ctx *ctx, double *parts, const float *x, int64_t N, int block);
void adamw_step_cuda(ordo_ctx *ctx, float *w, const float *g, float *m, float *v, int64_t N,
                     ordo_adamw_hp hp);
void adamw8_step_cuda(ordo_ctx *ctx, float *w, const float *g, uint8_t *qm, uint8_t *qv, float *sm,
                      float *sv, const float *map_m, const float *mid_m, const float *map_v,
                      const float *mid_v, int64_t N, int block, ordo_adamw_hp hp);

#endif
