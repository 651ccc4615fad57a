/* Products on cuBLASLt: the linear layer (matmul_forward/backward and their storage-dtype forms
 * matmul_forward_ex/backward_ex, one code path), the general strided product
 * (gemm) and its batched form that attention uses for its per-head products.
 *
 * Precision: CUBLAS_COMPUTE_32F: fp32 products of fp32 operands are full fp32 multiply-adds,
 * not TF32 (the 1e-5 agreement with the CPU needs it), unless the context's set_products_tf32
 * allows TF32 (operands holding 16-bit values: exact products); gemm_ex takes bf16/fp16 operands (tensor
 * cores) and accumulates in fp32 the same way.
 *
 * Row-major through a column-major library: a row-major (R, ld) matrix is the column-major
 * (ld, R) one, so row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt's
 * "A" is our B and its "B" our A, with the transpose flags kept and M, N swapped.
 *
 * Alignment: cuBLASLt's heuristic assumes 256-byte aligned matrices unless told otherwise, and
 * callers pass views (a head's columns, a row block), so each call states the alignment its
 * pointers and batch strides actually have.
 *
 * Determinism: one algorithm per shape (the heuristic's first choice is a pure function of the
 * call, asked once per shape and context: lt_plans.cu), run on one stream; the bias gradient is
 * a column sum in a fixed order (no atomics). */
#include <stdint.h>
#include <string.h>

#include "cuda/cuda_ops.h" /* first: the C headers with C linkage */
#include "cuda/cuda_mm.h"
#include "cuda/storage.cuh"

/* Largest power of two (up to 256) dividing the byte address of every matrix of a batch. */
static uint32_t align_bytes(const void *p, int64_t stride, int batch, size_t elem) {
  uint64_t bits = (uint64_t)(uintptr_t)p | 256u;
  if (batch > 1) bits |= (uint64_t)stride * elem;
  return (uint32_t)(bits & (~bits + 1)); /* lowest set bit */
}

/* A column-major layout of rows x cols elements of type t with leading dimension ld, batched. */
static cublasLtMatrixLayout_t lt_layout(cudaDataType_t t, uint64_t rows, uint64_t cols,
                                        int64_t ld, int64_t stride, int batch) {
  cublasLtMatrixLayout_t l;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, t, rows, cols, ld));
  if (batch > 1) {
    int32_t n = batch;
    CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &n,
                                                  sizeof n));
    CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                  &stride, sizeof stride));
  }
  return l;
}

/* cuBLASLt's element type of a storage dtype. */
static cudaDataType_t lt_type(ordo_dtype dt) {
  if (dt == ORDO_DT_BF16) return CUDA_R_16BF;
  if (dt == ORDO_DT_F16) return CUDA_R_16F;
  ORDO_CHECKF(dt == ORDO_DT_F32, "gemm: %s is no storage dtype", dtype_name(dt));
  return CUDA_R_32F;
}

/* The product on storage dtypes (the body of gemm, gemm_ex and the batched form): A and B of
 * ab_dt, C of c_dt (F32 or ab_dt), CUBLAS_COMPUTE_32F with fp32 scale factors. cuBLASLt takes
 * these combinations (its cublasLtMatmul type table): 32F x 32F -> 32F, 16BF x 16BF -> 16BF or
 * 32F, 16F x 16F -> 16F or 32F; the 16-bit ones run on tensor cores. Returns 0 when cuBLASLt
 * has no algorithm for 16-bit operands at these leading dimensions and alignments (nothing
 * run), else 1. */
static int gemm_compute(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha,
                        const void *A, int lda, int64_t sA, const void *B, int ldb, int64_t sB,
                        ordo_dtype ab_dt, float beta, void *C, int ldc, int64_t sC, ordo_dtype c_dt,
                        int batch, int tf32) {
  ORDO_CHECK(M >= 0 && N >= 0 && K >= 0 && batch >= 0);
  ORDO_CHECK(lda >= (ta ? M : K) && ldb >= (tb ? K : N) && ldc >= N);
  if (M == 0 || N == 0 || batch == 0) return 1;
  if (K == 0) {
    for (int j = 0; j < batch; j++)
      cuda_scale_block(ctx, dtype_at(C, c_dt, j * sC), c_dt, M, N, ldc, beta);
    return 1;
  }
  ORDO_CHECK(lda >= 1 && ldb >= 1);
  ORDO_CHECKF(c_dt == ORDO_DT_F32 || c_dt == ab_dt, "gemm_ex: %s operands, %s result",
              dtype_name(ab_dt), dtype_name(c_dt));
  cudaDataType_t tab = lt_type(ab_dt), tc = lt_type(c_dt);
  size_t eab = dtype_size(ab_dt), ec = dtype_size(c_dt);
  cublasLtMatmulDesc_t desc;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                                        CUDA_R_32F));
  cublasOperation_t opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
  /* column-major: lt A = our B, op N: (N, K) ld ldb; op T: stored (K, N). lt B = our A, op N:
   * (K, M) ld lda; op T: stored (M, K). lt C = C^T: (N, M) ld ldc. */
  cublasLtMatrixLayout_t la = lt_layout(tab, tb ? K : N, tb ? N : K, ldb, sB, batch);
  cublasLtMatrixLayout_t lb = lt_layout(tab, ta ? M : K, ta ? K : M, lda, sA, batch);
  cublasLtMatrixLayout_t lc = lt_layout(tc, N, M, ldc, sC, batch);

  cublasLtMatmulPreference_t pref;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  size_t ws = ctx->workspace_bytes;
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &ws, sizeof ws));
  uint32_t al_a = align_bytes(B, sB, batch, eab), al_b = align_bytes(A, sA, batch, eab);
  uint32_t al_c = align_bytes(C, sC, batch, ec);
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                    &al_a, sizeof al_a));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                    &al_b, sizeof al_b));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                    &al_c, sizeof al_c));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                    &al_c, sizeof al_c));
  lt_key key;
  memset(&key, 0, sizeof key);
  key.sA = sA, key.sB = sB, key.sC = sC, key.tf32 = tf32, key.ta = ta, key.tb = tb;
  key.M = M, key.N = N, key.K = K, key.lda = lda, key.ldb = ldb, key.ldc = ldc, key.batch = batch;
  key.ab_dt = ab_dt, key.c_dt = c_dt, key.al_a = al_a, key.al_b = al_b, key.al_c = al_c;
  const lt_choice *plan = lt_plan_find(ctx, &key);
  if (!plan) {
    cublasLtMatmulHeuristicResult_t heur;
    lt_choice c;
    memset(&c, 0, sizeof c);
    c.status = cublasLtMatmulAlgoGetHeuristic(ctx->lt, desc, la, lb, lc, lc, pref, 1, &heur, &c.found);
    if (c.status == CUBLAS_STATUS_SUCCESS && c.found > 0) c.algo = heur.algo;
    plan = lt_plan_store(ctx, &key, &c);
  }
  cublasStatus_t st = plan->status;
  int none = st != CUBLAS_STATUS_SUCCESS || plan->found <= 0;
  /* none with 16-bit operands: the caller falls back to fp32 operands */
  ORDO_CHECKF(!none || ab_dt != ORDO_DT_F32 || tf32,
              "cuBLASLt has no %s x %s -> %s algorithm (status %d) for %s %s M %d N %d K %d lda %d ldb %d "
              "ldc %d batch %d, alignments %u %u %u bytes", dtype_name(ab_dt), dtype_name(ab_dt),
              dtype_name(c_dt), (int)st, ta ? "A^T" : "A",
              tb ? "B^T" : "B", M, N, K, lda, ldb, ldc, batch, al_b, al_a, al_c);
  /* beta == 0: cuBLASLt does not read C, as BLAS */
  if (!none)
    CUBLAS_CHECK(cublasLtMatmul(ctx->lt, desc, &alpha, B, la, A, lb, &beta, C, lc, C, lc,
                                &plan->algo, ctx->workspace, ctx->workspace_bytes, ctx->stream));
  CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
  CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(lc));
  CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(lb));
  CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(la));
  CUBLAS_CHECK(cublasLtMatmulDescDestroy(desc));
  return !none;
}

/* gemm_compute, fp32 operands on TF32 tensor cores where the context allows it
 * (set_products_tf32) and cuBLASLt has a TF32 algorithm for the call, else in full fp32. */
static int gemm_typed(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha,
                       const void *A, int lda, int64_t sA, const void *B, int ldb, int64_t sB,
                       ordo_dtype ab_dt, float beta, void *C, int ldc, int64_t sC, ordo_dtype c_dt,
                       int batch) {
  if (ab_dt == ORDO_DT_F32 && ctx->tf32 &&
      gemm_compute(ctx, ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, ab_dt, beta, C, ldc, sC,
                   c_dt, batch, 1))
    return 1;
  return gemm_compute(ctx, ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, ab_dt, beta, C, ldc, sC,
                      c_dt, batch, 0);
}

void cuda_gemm_strided(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha,
                       const float *A, int lda, int64_t sA, const float *B, int ldb, int64_t sB,
                       float beta, float *C, int ldc, int64_t sC, int batch) {
  gemm_typed(ctx, ta, tb, M, N, K, alpha, A, lda, sA, B, ldb, sB, ORDO_DT_F32, beta, C, ldc, sC,
             ORDO_DT_F32, batch);
}

void gemm_cuda(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  cuda_gemm_strided(ctx, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

/* A stored (rows, ld) 16-bit operand as fp32 in stream-ordered device memory. */
static float *operand_f32(ordo_ctx *ctx, const void *p, ordo_dtype dt, int64_t rows, int ld) {
  float *f;
  CUDA_CHECK(cudaMallocAsync((void **)&f, (size_t)(rows * ld) * sizeof(float), ctx->stream));
  convert_cuda(ctx, f, ORDO_DT_F32, p, dt, rows * ld);
  return f;
}

/* 16-bit operands whose leading dimensions or alignment cuBLASLt's 16-bit kernels do not take
 * (odd widths of views) run as fp32 products of the converted operands: the same values, fp32
 * accumulation, no tensor cores. */
void gemm_ex_cuda(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha, const void *A,
                  int lda, const void *B, int ldb, ordo_dtype ab_dt, float beta, void *C, int ldc,
                  ordo_dtype c_dt) {
  if (gemm_typed(ctx, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, ab_dt, beta, C, ldc, 0, c_dt, 1))
    return;
  float *a = operand_f32(ctx, A, ab_dt, ta ? K : M, lda), *b = operand_f32(ctx, B, ab_dt, tb ? N : K, ldb);
  /* a 16-bit C as a whole in fp32; only its (M, N) block is stored back */
  float *c = c_dt == ORDO_DT_F32 ? (float *)C : operand_f32(ctx, C, c_dt, M, ldc);
  gemm_typed(ctx, ta, tb, M, N, K, alpha, a, lda, 0, b, ldb, 0, ORDO_DT_F32, beta, c, ldc, 0,
             ORDO_DT_F32, 1);
  if (c_dt != ORDO_DT_F32) {
    for (int i = 0; i < M; i++) /* row by row: C's padding columns stay as they were */
      convert_cuda(ctx, dtype_at(C, c_dt, (int64_t)i * ldc), c_dt, c + (int64_t)i * ldc, ORDO_DT_F32, N);
    CUDA_CHECK(cudaFreeAsync(c, ctx->stream));
  }
  CUDA_CHECK(cudaFreeAsync(a, ctx->stream));
  CUDA_CHECK(cudaFreeAsync(b, ctx->stream));
}

/* out (N, OUT) of dtype odt = bias (dtype bdt) broadcast over the rows. */
static __global__ void bias_rows_kernel(void *out, int odt, const void *bias, int bdt, int N,
                                        int OUT) {
  CUDA_FOR(i, (int64_t)N * OUT) storage_store(out, odt, i, storage_load(bias, bdt, i % OUT));
}

/* out (N, OUT) = inp (N, IN) @ w^T (IN, OUT) + bias: the bias is broadcast into out first and
 * the product adds onto it (beta = 1), as the fast CPU backend does. With 16-bit operands the
 * bias is a value of their dtype, so a 16-bit out holds it exactly until the product's fp32 sum
 * is added and rounded once: the rounding point of cuBLASLt's bias epilogue. */
void matmul_forward_ex_cuda(ordo_ctx *ctx, void *out, ordo_dtype out_dt, const void *inp,
                            const void *w, const void *bias, ordo_dtype dt, int N, int IN,
                            int OUT) {
  ORDO_CHECK(N >= 0 && IN > 0 && OUT > 0);
  if (N == 0) return;
  if (bias)
    CUDA_LAUNCH_1D(bias_rows_kernel, (int64_t)N * OUT, out, (int)out_dt, bias, (int)dt, N, OUT);
  gemm_ex_cuda(ctx, 0, 1, N, OUT, IN, 1.0f, inp, IN, w, IN, dt, bias ? 1.0f : 0.0f, out, OUT,
               out_dt);
}

void matmul_forward_cuda(ordo_ctx *ctx, float *out, const float *inp, const float *w,
                         const float *bias, int N, int IN, int OUT) {
  matmul_forward_ex_cuda(ctx, out, ORDO_DT_F32, inp, w, bias, ORDO_DT_F32, N, IN, OUT);
}

enum { COLSUM_TILE = 32 }; /* columns per block; also the row lanes per column */

/* dst (OUT) += column sums of src (N, OUT), src of dtype sdt. Block (COLSUM_TILE, COLSUM_TILE)
 * owns a tile of columns: lane y sums rows y, y + 32, ... in order, then lane 0 adds the 32
 * partial sums in lane order. A fixed order: the same bits on every run. */
static __global__ void colsum_add_kernel(float *dst, const void *src, int sdt, int N, int OUT) {
  __shared__ float part[COLSUM_TILE][COLSUM_TILE + 1];
  int c = blockIdx.x * COLSUM_TILE + threadIdx.x;
  float acc = 0.0f;
  if (c < OUT)
    for (int n = threadIdx.y; n < N; n += COLSUM_TILE) acc += storage_load(src, sdt, (int64_t)n * OUT + c);
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < OUT) {
    float s = 0.0f;
    for (int y = 0; y < COLSUM_TILE; y++) s += part[y][threadIdx.x];
    dst[c] += s;
  }
}

/* dinp (N, IN) += dout (N, OUT) @ w (OUT, IN); dw (OUT, IN) += dout^T @ inp; dbias += column
 * sums of dout; dout, inp, w of dtype dt, dinp of dinp_dt (F32 or dt: a 16-bit dinp is read,
 * added onto in fp32 and rounded once by the product). */
void matmul_backward_ex_cuda(ordo_ctx *ctx, void *dinp, ordo_dtype dinp_dt, float *dw,
                             float *dbias, const void *dout, const void *inp, const void *w,
                             ordo_dtype dt, int N, int IN, int OUT) {
  ORDO_CHECK(N >= 0 && IN > 0 && OUT > 0);
  if (N == 0) return;
  if (dinp) gemm_ex_cuda(ctx, 0, 0, N, IN, OUT, 1.0f, dout, OUT, w, IN, dt, 1.0f, dinp, IN, dinp_dt);
  if (dw) gemm_ex_cuda(ctx, 1, 0, OUT, IN, N, 1.0f, dout, OUT, inp, IN, dt, 1.0f, dw, IN, ORDO_DT_F32);
  if (dbias) {
    dim3 block(COLSUM_TILE, COLSUM_TILE);
    colsum_add_kernel<<<(OUT + COLSUM_TILE - 1) / COLSUM_TILE, block, 0, ctx->stream>>>(
        dbias, dout, (int)dt, N, OUT);
    CUDA_LAUNCH_CHECK();
  }
}

void matmul_backward_cuda(ordo_ctx *ctx, float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int IN, int OUT) {
  matmul_backward_ex_cuda(ctx, dinp, ORDO_DT_F32, dw, dbias, dout, inp, w, ORDO_DT_F32, N, IN, OUT);
}
