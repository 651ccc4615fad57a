/* Internal to src/cuda: the CUDA backend's context (the ordo_ctx its ops receive) and the checks
 * every CUDA, cuBLAS(Lt) call and kernel launch goes through. */
#ifndef ORDO_CUDA_CTX_H
#define ORDO_CUDA_CTX_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "ordo/ops.h"

typedef struct lt_plans lt_plans; /* lt_plans.cu: cuBLASLt's algorithm per product shape */

struct ordo_ctx {
  int device;
  cudaStream_t stream;     /* every op runs on it, in order */
  cublasLtHandle_t lt;     /* products (matmul, gemm) */
  cublasHandle_t blas;     /* batched products where cuBLASLt is not needed */
  void *workspace;         /* cuBLASLt workspace */
  size_t workspace_bytes;
  float *scratch;          /* small per-op scratch (reductions), scratch_floats floats */
  size_t scratch_floats;
  size_t mem_base;         /* device bytes in use once the stream and handles existed */
  int tf32;                /* set_products_tf32: fp32 products may use TF32 */
  lt_plans *plans;         /* cuBLASLt's choices by call shape, asked once each */
};

#define CUDA_CHECK(call)                                                                        \
  do {                                                                                          \
    cudaError_t err_ = (call);                                                                  \
    if (err_ != cudaSuccess) {                                                                  \
      fprintf(stderr, "%s:%d: CUDA error %s: %s\n", __FILE__, __LINE__, cudaGetErrorName(err_),  \
              cudaGetErrorString(err_));                                                        \
      abort();                                                                                  \
    }                                                                                           \
  } while (0)

#define CUBLAS_CHECK(call)                                                                      \
  do {                                                                                          \
    cublasStatus_t st_ = (call);                                                                \
    if (st_ != CUBLAS_STATUS_SUCCESS) {                                                         \
      fprintf(stderr, "%s:%d: cuBLAS error %d\n", __FILE__, __LINE__, (int)st_);                \
      abort();                                                                                  \
    }                                                                                           \
  } while (0)

/* After every kernel launch: a bad launch configuration is reported where it happened. */
#define CUDA_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

#endif
