/* Pointwise ops: activations, dropout (Philox, the CPU's bits), residual, axpy, scale and the
 * storage-dtype rounding. One thread per element (grid-stride), each the reference's float
 * expression (src/cpu/ref_ops.c) with the same operation order. */
#include "cuda/cuda_ops.h"
#include "cuda/philox.cuh"
#include "cuda/storage.cuh"

/* ---- GELU (erf), GELU (tanh), tanh ---------------------------------------------------------- */

static __global__ void gelu_forward_kernel(float *out, const float *inp, int64_t N) {
  CUDA_FOR(i, N) out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * (float)M_SQRT1_2));
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x) */
static __global__ void gelu_backward_kernel(float *dinp, int acc, const float *inp, const float *dout,
                                            int64_t N) {
  const float inv_sqrt_2pi = 0.3989422804014327f;
  CUDA_FOR(i, N) {
    float x = inp[i];
    float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
    float pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
    dinp[i] = (acc ? dinp[i] : 0.0f) + dout[i] * (cdf + x * pdf);
  }
}

#define GELU_TANH_K 0.7978845608028654f /* sqrt(2 / pi) */

static __global__ void gelu_tanh_forward_kernel(float *out, const float *inp, int64_t N) {
  CUDA_FOR(i, N) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_TANH_K * (x + 0.044715f * x * x * x)));
  }
}

static __global__ void gelu_tanh_backward_kernel(float *dinp, int acc, const float *inp, const float *dout,
                                                 int64_t N) {
  CUDA_FOR(i, N) {
    float x = inp[i];
    float th = tanhf(GELU_TANH_K * (x + 0.044715f * x * x * x));
    float du = GELU_TANH_K * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = (acc ? dinp[i] : 0.0f) + dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
  }
}

static __global__ void tanh_forward_kernel(float *out, const float *inp, int64_t N) {
  CUDA_FOR(i, N) out[i] = tanhf(inp[i]);
}

static __global__ void tanh_backward_kernel(float *dinp, int acc, const float *out, const float *dout,
                                            int64_t N) {
  CUDA_FOR(i, N) dinp[i] = (acc ? dinp[i] : 0.0f) + dout[i] * (1.0f - out[i] * out[i]);
}

void gelu_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, int64_t N) {
  CUDA_LAUNCH_1D(gelu_forward_kernel, N, out, inp, N);
}
void gelu_backward_cuda(ordo_ctx *ctx, float *dinp, int acc, const float *inp, const float *dout,
                        int64_t N) {
  if (dinp) CUDA_LAUNCH_1D(gelu_backward_kernel, N, dinp, acc, inp, dout, N);
}
void gelu_tanh_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, int64_t N) {
  CUDA_LAUNCH_1D(gelu_tanh_forward_kernel, N, out, inp, N);
}
void gelu_tanh_backward_cuda(ordo_ctx *ctx, float *dinp, int acc, const float *inp, const float *dout,
                             int64_t N) {
  if (dinp) CUDA_LAUNCH_1D(gelu_tanh_backward_kernel, N, dinp, acc, inp, dout, N);
}
void tanh_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, int64_t N) {
  CUDA_LAUNCH_1D(tanh_forward_kernel, N, out, inp, N);
}
void tanh_backward_cuda(ordo_ctx *ctx, float *dinp, int acc, const float *out, const float *dout,
                        int64_t N) {
  if (dinp) CUDA_LAUNCH_1D(tanh_backward_kernel, N, dinp, acc, out, dout, N);
}

/* ---- dropout: element i kept when philox_uniform(seed, offset + i) >= p ---------------------- */

static __global__ void dropout_forward_kernel(float *out, const float *inp, float p, float scale,
                                              uint64_t seed, uint64_t offset, int64_t N) {
  CUDA_FOR(i, N) {
    int keep = philox_uniform_hd(seed, offset + (uint64_t)i) >= p;
    out[i] = keep ? inp[i] * scale : 0.0f;
  }
}

static __global__ void dropout_backward_kernel(float *dinp, const float *dout, float p, float scale,
                                               uint64_t seed, uint64_t offset, int64_t N) {
  CUDA_FOR(i, N) {
    int keep = philox_uniform_hd(seed, offset + (uint64_t)i) >= p;
    if (keep) dinp[i] += dout[i] * scale;
  }
}

static __global__ void add_kernel(float *y, const float *x, int64_t N) {
  CUDA_FOR(i, N) y[i] += x[i];
}

void dropout_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, float p, uint64_t seed,
                          uint64_t offset, int64_t N) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (p == 0.0f) { /* a copy (nothing when out aliases inp) */
    if (out != inp && N > 0)
      CUDA_CHECK(cudaMemcpyAsync(out, inp, (size_t)N * sizeof(float), cudaMemcpyDeviceToDevice,
                                 ctx->stream));
    return;
  }
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  CUDA_LAUNCH_1D(dropout_forward_kernel, N, out, inp, p, scale, seed, offset, N);
}

void dropout_backward_cuda(ordo_ctx *ctx, float *dinp, const float *dout, float p, uint64_t seed,
                           uint64_t offset, int64_t N) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (!dinp) return;
  if (p == 0.0f) {
    CUDA_LAUNCH_1D(add_kernel, N, dinp, dout, N);
    return;
  }
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  CUDA_LAUNCH_1D(dropout_backward_kernel, N, dinp, dout, p, scale, seed, offset, N);
}

/* ---- residual, axpy, scale ------------------------------------------------------------------ */

static __global__ void residual_kernel(float *out, const float *a, const float *b, int64_t N) {
  CUDA_FOR(i, N) out[i] = a[i] + b[i];
}

static __global__ void axpy_kernel(float *y, float a, const float *x, int64_t N) {
  CUDA_FOR(i, N) y[i] += a * x[i];
}

static __global__ void scale_kernel(float *x, float s, int64_t N) { CUDA_FOR(i, N) x[i] *= s; }

void residual_forward_cuda(ordo_ctx *ctx, float *out, const float *a, const float *b, int64_t N) {
  CUDA_LAUNCH_1D(residual_kernel, N, out, a, b, N);
}
void axpy_cuda(ordo_ctx *ctx, float *y, float a, const float *x, int64_t N) {
  CUDA_LAUNCH_1D(axpy_kernel, N, y, a, x, N);
}
void scale_cuda(ordo_ctx *ctx, float *x, float s, int64_t N) {
  CUDA_LAUNCH_1D(scale_kernel, N, x, s, N);
}

/* ---- storage-dtype rounding: src/core/dtype.c's conversions, bit for bit -------------------- */

static __global__ void round_bf16_kernel(float *x, int64_t N) {
  CUDA_FOR(i, N) x[i] = bf16_value(bf16_bits(x[i]));
}

static __global__ void round_f16_kernel(float *x, int64_t N) {
  CUDA_FOR(i, N) x[i] = f16_value(f16_bits(x[i]));
}

void round_dtype_cuda(ordo_ctx *ctx, float *x, int64_t N, ordo_dtype dt) {
  if (dt == ORDO_DT_BF16)
    CUDA_LAUNCH_1D(round_bf16_kernel, N, x, N);
  else if (dt == ORDO_DT_F16)
    CUDA_LAUNCH_1D(round_f16_kernel, N, x, N);
  else
    ORDO_CHECKF(dt == ORDO_DT_F32, "round_dtype: %s is no float storage type", dtype_name(dt));
}

/* ---- storage-dtype conversion: the same bits as round_dtype, into 16-bit arrays ------------- */

static __global__ void convert_kernel(void *dst, int dt, const void *src, int st, int64_t N) {
  CUDA_FOR(i, N) {
    storage_store(dst, dt, i, storage_load(src, st, i));
  }
}

void convert_cuda(ordo_ctx *ctx, void *dst, ordo_dtype dst_dt, const void *src, ordo_dtype src_dt,
                  int64_t N) {
  ORDO_CHECKF(dtype_is_storage(dst_dt) && dtype_is_storage(src_dt),
              "convert: %s to %s is not between storage dtypes", dtype_name(src_dt),
              dtype_name(dst_dt));
  if (dst_dt == src_dt) {
    if (N > 0)
      CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)N * dtype_size(dst_dt), cudaMemcpyDeviceToDevice,
                                 ctx->stream));
    return;
  }
  CUDA_LAUNCH_1D(convert_kernel, N, dst, (int)dst_dt, src, (int)src_dt, N);
}

/* C (M, N) of dtype dt, row stride ldc: C = beta C (beta == 0 writes zeros, never reads). */
static __global__ void scale_block_typed_kernel(void *C, int dt, int M, int N, int ldc,
                                                float beta) {
  CUDA_FOR(i, (int64_t)M * N) {
    int64_t at = (i / N) * ldc + i % N;
    storage_store(C, dt, at, beta == 0.0f ? 0.0f : beta * storage_load(C, dt, at));
  }
}

void cuda_scale_block(ordo_ctx *ctx, void *C, ordo_dtype dt, int M, int N, int ldc, float beta) {
  CUDA_LAUNCH_1D(scale_block_typed_kernel, (int64_t)M * N, C, (int)dt, M, N, ldc, beta);
}
