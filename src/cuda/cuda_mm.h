/* Internal to src/cuda: the products and attention of the CUDA backend (matmul.cu,
 * attention.cu, rope.cu), gathered into the op table by backend_cuda.cu, and the fused attention
 * (flash_attention.cu, not in the table yet). Signatures and semantics are those of ordo_ops
 * (include/ordo/ops.h) unless said below; every pointer is a device pointer. */
#ifndef ORDO_CUDA_MM_H
#define ORDO_CUDA_MM_H

#include <stdint.h>

#include "cuda/cuda_ctx.h"

/* matmul.cu */
void matmul_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, const float *w,
                         const float *bias, int N, int IN, int OUT);
void matmul_backward_cuda(ordo_ctx *ctx, float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int IN, int OUT);
void matmul_forward_ex_cuda(ordo_ctx *ctx, void *out, ordo_dtype out_dt, const void *inp,
                            const void *w, const void *bias, ordo_dtype dt, int N, int IN, int OUT);
void matmul_backward_ex_cuda(ordo_ctx *ctx, void *dinp, ordo_dtype dinp_dt, float *dw,
                             float *dbias, const void *dout, const void *inp, const void *w,
                             ordo_dtype dt, int N, int IN, int OUT);
void gemm_cuda(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);
void gemm_ex_cuda(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha, const void *A,
                  int lda, const void *B, int ldb, ordo_dtype ab_dt, float beta, void *C, int ldc,
                  ordo_dtype c_dt);
/* gemm_cuda's product for `batch` matrices at once: matrix j of A, B and C starts sA, sB, sC
 * elements after matrix j - 1 (the matrices may interleave, e.g. the heads of one row block).
 * fp32 on cuBLASLt with CUBLAS_COMPUTE_32F (TF32 only as set_products_tf32 allows); beta == 0
 * never reads C. */
void cuda_gemm_strided(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha,
                       const float *A, int lda, int64_t sA, const float *B, int ldb, int64_t sB,
                       float beta, float *C, int ldc, int64_t sC, int batch);

/* lt_plans.cu: what cuBLASLt's heuristic chose for each product shape a context has run. The key
 * holds everything the heuristic is given (zero the struct before filling it: it is compared
 * byte by byte). */
typedef struct lt_key {
  int64_t sA, sB, sC;
  int32_t tf32, ta, tb, M, N, K, lda, ldb, ldc, batch, ab_dt, c_dt;
  uint32_t al_a, al_b, al_c, epilogue;
} lt_key;
typedef struct lt_choice {
  int found;                /* algorithms the heuristic returned (0: none for this key) */
  cublasStatus_t status;    /* its status */
  cublasLtMatmulAlgo_t algo; /* its first choice, when found */
} lt_choice;
/* The choice remembered for key, or NULL; lt_plan_store remembers one and returns it (valid until
 * the next store). */
const lt_choice *lt_plan_find(ordo_ctx *ctx, const lt_key *key);
const lt_choice *lt_plan_store(ordo_ctx *ctx, const lt_key *key, const lt_choice *c);
void lt_plans_free(ordo_ctx *ctx);

/* attention.cu */
void attention_forward_cuda(ordo_ctx *ctx, float *out, float *att, float *scratch,
                            const float *qkv, const int32_t *mask, int causal, const float *bias,
                            float p, uint64_t seed, uint64_t offset, int B, int T, int C, int NH);
void attention_backward_cuda(ordo_ctx *ctx, float *dqkv, int acc, float *dbias, float *scratch,
                             const float *dout, const float *qkv, const float *att,
                             const int32_t *mask, float p, uint64_t seed, uint64_t offset, int B,
                             int T, int C, int NH);
void attention_cached_forward_cuda(ordo_ctx *ctx, float *out, float *att, const float *q,
                                   const float *k, const float *v, int ldq, int ldkv, int Tq,
                                   int Tk, int C, int NH);

/* flash_attention.cu: fused attention on bf16 operands that never writes the T x T scores (what
 * it supports exactly: that file's top comment). C linkage, so that the C test program calls
 * them directly. bf16 arrays are uint16_t bit patterns (dtype.h's f32_to_bf16). */
#ifdef __cplusplus
extern "C" {
#endif
/* 1 when head size C / NH is 32, 64 or 128 and C is a multiple of 8. */
int flash_attention_supports(int C, int NH);
/* out (B, T, C) bf16 = softmax(scale q k^T + masks) v per (batch, head), dropout as
 * attention_forward's; lse (B, NH, T) fp32 receives each row's log-sum-exp (-inf: no visible
 * key) for backward. qkv (B, T, 3C) bf16; mask (B, T) or NULL. */
void flash_attention_forward_cuda(ordo_ctx *ctx, uint16_t *out, float *lse, const uint16_t *qkv,
                                  const int32_t *mask, int causal, float p, uint64_t seed,
                                  uint64_t offset, int B, int T, int C, int NH);
/* dqkv (B, T, 3C) bf16: the gradients of q, k and v, stored (acc ORDO_OVERWRITE) or added to
 * its contents (ORDO_ACCUMULATE); out and lse are the forward's, with the same mask, causal, p,
 * seed and offset; delta: B*NH*T floats of workspace (rowsum(dout * out)). */
void flash_attention_backward_cuda(ordo_ctx *ctx, uint16_t *dqkv, int acc, float *delta,
                                   const uint16_t *dout, const uint16_t *qkv, const uint16_t *out,
                                   const float *lse, const int32_t *mask, int causal, float p,
                                   uint64_t seed, uint64_t offset, int B, int T, int C, int NH);
#ifdef __cplusplus
}
#endif

/* rope.cu */
void rope_forward_cuda(ordo_ctx *ctx, float *qkv, const int32_t *pos, float scale, float theta,
                       int nseg, int BT, int C, int NH);
void rope_backward_cuda(ordo_ctx *ctx, float *dqkv, const int32_t *pos, float scale, float theta,
                        int nseg, int BT, int C, int NH);

#endif
