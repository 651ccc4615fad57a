/* The CUDA backend: its context (stream, cuBLASLt/cuBLAS handles, workspace, scratch), its
 * memory (plain cudaMalloc allocations, transfers ordered on the stream) and the op table that
 * gathers the kernels of the other files in src/cuda. */
#include <stdio.h>
#include <stdlib.h>

#include "cuda/backend_cuda.h"
#include "cuda/cuda_mm.h"
#include "cuda/cuda_ops.h"

enum {
  CUDA_WORKSPACE_BYTES = 32 << 20, /* cuBLASLt's workspace: enough for its fp32 kernels */
  CUDA_SCRATCH_BYTES = 1 << 20,    /* the reductions' partial sums; grown on demand */
};

/* ---- memory -------------------------------------------------------------------------------- */

/* Out of device memory is not recoverable mid-run: say how much was asked and what is free. */
static void *device_alloc(size_t bytes) {
  void *p = NULL;
  cudaError_t rc = cudaMalloc(&p, bytes);
  if (rc != cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    cudaGetLastError(); /* clear the allocation error before asking */
    cudaMemGetInfo(&free_b, &total_b);
    fprintf(stderr,
            "ordo: CUDA out of memory: %zu bytes (%.1f MiB) asked, %zu bytes (%.1f MiB) free of "
            "%.1f MiB (%s)\n",
            bytes, bytes / 1048576.0, free_b, free_b / 1048576.0, total_b / 1048576.0,
            cudaGetErrorString(rc));
    abort();
  }
  return p;
}

static void *alloc_cuda(ordo_ctx *ctx, size_t bytes) {
  if (bytes == 0) return NULL;
  void *p = device_alloc(bytes); /* 256-byte aligned */
  CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ctx->stream));
  return p;
}

static void free_cuda(ordo_ctx *ctx, void *p) {
  if (!p) return;
  /* cudaFree waits for the device; the sync says so and reports earlier kernel faults here */
  CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
  CUDA_CHECK(cudaFree(p));
}

static void upload_cuda(ordo_ctx *ctx, void *dst, const void *host_src, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, ctx->stream));
  CUDA_CHECK(cudaStreamSynchronize(ctx->stream)); /* host_src may be reused on return */
}

static void download_cuda(ordo_ctx *ctx, void *host_dst, const void *src, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, ctx->stream));
  CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
}

static void copy_cuda(ordo_ctx *ctx, void *dst, const void *src, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
}

static void zero_cuda(ordo_ctx *ctx, void *dst, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, ctx->stream));
}

static __global__ void fill_kernel(float *x, float v, int64_t N) { CUDA_FOR(i, N) x[i] = v; }

void fill_cuda(ordo_ctx *ctx, float *x, float v, int64_t N) {
  CUDA_LAUNCH_1D(fill_kernel, N, x, v, N);
}

static void sync_cuda(ordo_ctx *ctx) { CUDA_CHECK(cudaStreamSynchronize(ctx->stream)); }

static void set_products_tf32_cuda(ordo_ctx *ctx, int on) { ctx->tf32 = on != 0; }

/* The device's used bytes (total less free): every process's, the CUDA context's included. */
static size_t device_bytes_used(void) {
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return total_b - free_b;
}

static size_t mem_in_use_cuda(ordo_ctx *ctx) {
  size_t used = device_bytes_used();
  return used > ctx->mem_base ? used - ctx->mem_base : 0;
}

void *cuda_scratch(ordo_ctx *ctx, size_t bytes) {
  size_t have = ctx->scratch_floats * sizeof(float);
  if (bytes > have) {
    size_t want = have ? have : (size_t)CUDA_SCRATCH_BYTES;
    while (want < bytes) want *= 2;
    free_cuda(ctx, ctx->scratch); /* waits for the ops that used it */
    ctx->scratch = (float *)device_alloc(want);
    ctx->scratch_floats = want / sizeof(float);
  }
  return ctx->scratch;
}

/* ---- the table ----------------------------------------------------------------------------- */

/* designated initializers in ops.h order (C++20's, which nvcc accepts in C++17): a field
 * name that does not match is a compile error */
static const ordo_ops k_ops_cuda = {
    .name = "cuda",
    .host_memory = 0,
    .alloc = alloc_cuda,
    .free = free_cuda,
    .upload = upload_cuda,
    .download = download_cuda,
    .copy = copy_cuda,
    .zero = zero_cuda,
    .fill = fill_cuda,
    .sync = sync_cuda,
    .mem_in_use = mem_in_use_cuda,
    .embed_forward = embed_forward_cuda,
    .embed_forward_ex = embed_forward_ex_cuda,
    .embed_backward = embed_backward_cuda,
    .layernorm_forward = layernorm_forward_cuda,
    .layernorm_backward = layernorm_backward_cuda,
    .matmul_forward = matmul_forward_cuda,
    .matmul_backward = matmul_backward_cuda,
    .attention_forward = attention_forward_cuda,
    .attention_backward = attention_backward_cuda,
    /* no rows attention yet: a head_rows_only batch runs the full last layer */
    .attention_rows_forward = NULL,
    .attention_rows_backward = NULL,
    .attention_cached_forward = attention_cached_forward_cuda,
    .rope_forward = rope_forward_cuda,
    .rope_backward = rope_backward_cuda,
    .gelu_forward = gelu_forward_cuda,
    .gelu_backward = gelu_backward_cuda,
    .gelu_tanh_forward = gelu_tanh_forward_cuda,
    .gelu_tanh_backward = gelu_tanh_backward_cuda,
    .tanh_forward = tanh_forward_cuda,
    .tanh_backward = tanh_backward_cuda,
    .dropout_forward = dropout_forward_cuda,
    .dropout_backward = dropout_backward_cuda,
    .residual_forward = residual_forward_cuda,
    .crossentropy_forward = crossentropy_forward_cuda,
    .crossentropy_backward = crossentropy_backward_cuda,
    .mse_forward = mse_forward_cuda,
    .mse_backward = mse_backward_cuda,
    .bce_logits_forward = bce_logits_forward_cuda,
    .bce_logits_backward = bce_logits_backward_cuda,
    .gemm = gemm_cuda,
    .gather_rows = gather_rows_cuda,
    .scatter_add_rows = scatter_add_rows_cuda,
    .axpy = axpy_cuda,
    .scale = scale_cuda,
    .round_dtype = round_dtype_cuda,
    .convert = convert_cuda,
    .gemm_ex = gemm_ex_cuda,
    .matmul_forward_ex = matmul_forward_ex_cuda,
    .matmul_backward_ex = matmul_backward_ex_cuda,
    .set_products_tf32 = set_products_tf32_cuda,
    .sumsq_blocks = sumsq_blocks_cuda,
    .adamw_step = adamw_step_cuda,
    .adamw8_step = adamw8_step_cuda,
};

extern "C" const ordo_ops *ops_cuda(void) { return &k_ops_cuda; }

/* ---- opening and closing ------------------------------------------------------------------- */

/* The device count, or -1 with the runtime's reason in *why (no driver, driver too old ...).
 * Never aborts: asking is how a machine without a GPU finds out. */
static int device_count(const char **why) {
  int n = 0;
  cudaError_t rc = cudaGetDeviceCount(&n);
  if (rc != cudaSuccess) {
    cudaGetLastError(); /* not sticky: leave no error behind for later checks */
    *why = cudaGetErrorString(rc);
    return -1;
  }
  *why = "no device found";
  return n;
}

extern "C" int backend_cuda_available(void) {
  const char *why;
  return device_count(&why) > 0;
}

extern "C" int backend_cuda_open(ordo_backend *be, int device, ordo_err *e) {
  const char *why;
  int n = device_count(&why);
  if (n <= 0) return ordo_fail(e, "no CUDA device (%s)", why);
  if (device < 0) device = ordo_cuda_device_of(ordo_local_rank(), n); /* one per rank */
  else if (device >= n)
    return ordo_fail(e, "CUDA device %d does not exist (this machine has %d)", device, n);
  cudaError_t rc = cudaSetDevice(device);
  if (rc != cudaSuccess) {
    cudaGetLastError();
    return ordo_fail(e, "CUDA device %d cannot be used: %s", device, cudaGetErrorString(rc));
  }
  ordo_ctx *ctx = (ordo_ctx *)calloc(1, sizeof *ctx);
  if (!ctx) return ordo_fail(e, "out of host memory for the CUDA context");
  ctx->device = device;
  /* a blocking stream: ordered with the legacy default stream other CUDA code may use */
  CUDA_CHECK(cudaStreamCreate(&ctx->stream));
  CUBLAS_CHECK(cublasLtCreate(&ctx->lt));
  CUBLAS_CHECK(cublasCreate(&ctx->blas));
  CUBLAS_CHECK(cublasSetStream(ctx->blas, ctx->stream));
  /* fp32 products stay fp32: no TF32 unless a kernel asks for it */
  CUBLAS_CHECK(cublasSetMathMode(ctx->blas, CUBLAS_DEFAULT_MATH));
  ctx->mem_base = device_bytes_used();
  ctx->workspace_bytes = CUDA_WORKSPACE_BYTES;
  ctx->workspace = device_alloc(ctx->workspace_bytes);
  CUBLAS_CHECK(cublasSetWorkspace(ctx->blas, ctx->workspace, ctx->workspace_bytes));
  ctx->scratch = (float *)device_alloc(CUDA_SCRATCH_BYTES);
  ctx->scratch_floats = CUDA_SCRATCH_BYTES / sizeof(float);
  be->ops = &k_ops_cuda;
  be->ctx = ctx;
  be->device = device;
  return 0;
}

extern "C" void backend_cuda_close(ordo_backend *be) {
  ordo_ctx *ctx = be->ctx;
  if (!ctx) return;
  CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
  CUBLAS_CHECK(cublasDestroy(ctx->blas));
  CUBLAS_CHECK(cublasLtDestroy(ctx->lt));
  lt_plans_free(ctx);
  CUDA_CHECK(cudaFree(ctx->workspace));
  CUDA_CHECK(cudaFree(ctx->scratch));
  CUDA_CHECK(cudaStreamDestroy(ctx->stream));
  free(ctx);
  be->ops = NULL;
  be->ctx = NULL;
}
