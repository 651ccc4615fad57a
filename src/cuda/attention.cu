/* Multi-head attention core on the GPU: the score product S = scale Q K^T and the value
 * product O = P V of every (batch, head) pair are batched cuBLASLt products that read the
 * strided q/k/v columns of qkv (B, T, 3C) in place (leading dimension 3C); the softmax (with
 * bias, padding and causal masks), its backward and the bias gradient are kernels of one warp
 * per row. Same semantics as attention_forward_ref / attention_backward_ref (src/cpu/ref_ops.c):
 * padded and causally hidden keys get probability exactly 0, the row max is over real keys, a
 * row without real keys is all zeros; dropout (p > 0) keeps element i of the flat (B*NH, T, T)
 * index when philox_uniform(seed, offset + i) >= p, the CPU's draw bit for bit; att keeps P.
 *
 * Batching: the pairs of one sequence share a row block and lie hs columns apart; the pairs of
 * one head lie a sequence apart. Either family is one strided batched product, so the pairs run
 * as min(B, NH) calls (att_pairs).
 *
 * Determinism: every reduction (row max, row sums, dbias over the batch) has a fixed order;
 * no atomics. */
#include <math.h>
#include <stdint.h>

#include "cuda/cuda_mm.h"
#include "cuda/cuda_ops.h"
#include "cuda/philox.cuh"

enum { ATT_WARPS = 8 }; /* rows per block of the row kernels: one warp each */

/* Warp-wide max and sum by butterfly exchange: every lane ends with the same value, reached in
 * the same order on every run. */
static __device__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
static __device__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

static unsigned row_blocks(int64_t rows) { return (unsigned)((rows + ATT_WARPS - 1) / ATT_WARPS); }

/* Softmax in place over the rows of att: `rows` rows of Tk scaled scores, row r = bh * Tq + t
 * (bh = b * NH + h), query t at position t + shift among the keys. bias (NH, Tq, Tk) or NULL is
 * added first; keys with mask[b * Tk + u] == 0 (mask not NULL) or, when causal, u > t + shift
 * get probability exactly 0 and take no part in the max or the sum. */
static __global__ void softmax_rows_kernel(float *att, const int32_t *mask, const float *bias,
                                           int64_t rows, int NH, int Tq, int Tk, int causal,
                                           int shift) {
  int64_t row = (int64_t)blockIdx.x * ATT_WARPS + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows) return;
  int64_t bh = row / Tq;
  int t = (int)(row % Tq), b = (int)(bh / NH), h = (int)(bh % NH);
  float *s = att + row * Tk;
  const int32_t *m = mask ? mask + (int64_t)b * Tk : NULL;
  const float *bi = bias ? bias + ((int64_t)h * Tq + t) * Tk : NULL;
  int nk = causal && t + shift + 1 < Tk ? t + shift + 1 : Tk; /* keys 0 .. nk - 1 visible */
  float mx = -INFINITY;
  for (int u = lane; u < nk; u += 32) {
    if (m && !m[u]) continue;
    float v = bi ? s[u] + bi[u] : s[u];
    s[u] = v;
    mx = fmaxf(mx, v);
  }
  mx = warp_max(mx);
  float sum = 0.0f;
  for (int u = lane; u < Tk; u += 32) {
    float e = u < nk && (!m || m[u]) ? expf(s[u] - mx) : 0.0f;
    s[u] = e;
    sum += e;
  }
  sum = warp_sum(sum);
  /* sum == 0 only when every key is hidden: the row stays all zeros */
  float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  for (int u = lane; u < Tk; u += 32) s[u] *= inv;
}

/* The softmax backward in place on scratch, one warp per row of Tk: with dP the row of
 * dO V^T in s and M[u] = keep / (1 - p) (p > 0) or 1,
 *   dS[u] = P[u] (M[u] dP[u] - sum_w P[w] M[w] dP[w]). */
static __global__ void softmax_back_rows_kernel(float *s_all, const float *att, int64_t rows,
                                                int Tk, float p, float dscale, uint64_t seed,
                                                uint64_t offset) {
  int64_t row = (int64_t)blockIdx.x * ATT_WARPS + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows) return;
  float *s = s_all + row * Tk;
  const float *P = att + row * Tk;
  float pdp = 0.0f;
  for (int u = lane; u < Tk; u += 32) {
    float dp = s[u];
    if (p > 0.0f)
      dp = philox_uniform_hd(seed, offset + (uint64_t)(row * Tk + u)) >= p ? dp * dscale : 0.0f;
    s[u] = dp;
    pdp += P[u] * dp;
  }
  pdp = warp_sum(pdp);
  for (int u = lane; u < Tk; u += 32) s[u] = P[u] * (s[u] - pdp);
}

/* dbias (NH, T, T) += sum over b in order of dS (B, NH, T, T). */
static __global__ void dbias_sum_kernel(float *dbias, const float *dS, int B, int64_t per_b) {
  CUDA_FOR(i, per_b) {
    float acc = dbias[i];
    for (int b = 0; b < B; b++) acc += dS[(int64_t)b * per_b + i];
    dbias[i] = acc;
  }
}

/* The (batch, head) pairs as `outer` batched products of `inner` matrices: offsets (in floats)
 * from one product to the next (_o) and within a product (_i), in qkv (B, T, 3C), in out or
 * dout (B, T, C) and in att or scratch (B, NH, T, T). */
typedef struct att_pairs {
  int outer, inner;
  int64_t qkv_o, qkv_i, out_o, out_i, tt_o, tt_i;
} att_pairs;

static att_pairs att_pairs_of(int B, int T, int C, int NH) {
  int64_t hs = C / NH, seq_qkv = (int64_t)T * 3 * C, seq_out = (int64_t)T * C;
  int64_t tt = (int64_t)T * T;
  att_pairs a;
  if (B <= NH) { /* one product per sequence over its heads */
    a.outer = B, a.inner = NH;
    a.qkv_o = seq_qkv, a.qkv_i = hs, a.out_o = seq_out, a.out_i = hs, a.tt_o = NH * tt, a.tt_i = tt;
  } else { /* one product per head over the sequences */
    a.outer = NH, a.inner = B;
    a.qkv_o = hs, a.qkv_i = seq_qkv, a.out_o = hs, a.out_i = seq_out, a.tt_o = tt, a.tt_i = NH * tt;
  }
  return a;
}

void attention_forward_cuda(ordo_ctx *ctx, float *out, float *att, float *scratch,
                            const float *qkv, const int32_t *mask, int causal, const float *bias,
                            float p, uint64_t seed, uint64_t offset, int B, int T, int C, int NH) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && T > 0 && B >= 0);
  ORDO_CHECK(p >= 0.0f && p <= 1.0f && (p == 0.0f || scratch));
  if (B == 0) return;
  const int hs = C / NH, ld = 3 * C;
  const float scale = 1.0f / sqrtf((float)hs);
  att_pairs a = att_pairs_of(B, T, C, NH);
  /* S (T, T) = scale * Q (T, hs) @ K^T per pair */
  for (int o = 0; o < a.outer; o++) {
    const float *q = qkv + o * a.qkv_o;
    cuda_gemm_strided(ctx, 0, 1, T, T, hs, scale, q, ld, a.qkv_i, q + C, ld, a.qkv_i, 0.0f,
                      att + o * a.tt_o, T, a.tt_i, a.inner);
  }
  int64_t rows = (int64_t)B * NH * T;
  softmax_rows_kernel<<<row_blocks(rows), 32 * ATT_WARPS, 0, ctx->stream>>>(
      att, mask, bias, rows, NH, T, T, causal, 0);
  CUDA_LAUNCH_CHECK();
  /* the value product reads P, or with dropout its dropped copy Pd (the dropout op's rule over
   * the flat (B*NH, T, T) index) in scratch */
  const float *Pv = att;
  if (p > 0.0f) {
    dropout_forward_cuda(ctx, scratch, att, p, seed, offset, rows * T);
    Pv = scratch;
  }
  /* out head h (T, hs, row stride C) = Pv (T, T) @ V (T, hs) per pair */
  for (int o = 0; o < a.outer; o++)
    cuda_gemm_strided(ctx, 0, 0, T, hs, T, 1.0f, Pv + o * a.tt_o, T, a.tt_i,
                      qkv + o * a.qkv_o + 2 * C, ld, a.qkv_i, 0.0f, out + o * a.out_o, C,
                      a.out_i, a.inner);
}

/* Per pair, with dO the head's slice of dout and M = keep / (1 - p) (1 when p == 0):
 *   dV += (P M)^T dO;  dP = dO V^T into scratch;  dS = P (M dP - rowsum(P M dP)) in place;
 *   dQ += scale dS K;  dK += scale dS^T Q;  dbias += dS summed over the batch in order. */
void attention_backward_cuda(ordo_ctx *ctx, float *dqkv, int acc, float *dbias, float *scratch,
                             const float *dout, const float *qkv, const float *att,
                             const int32_t *mask, float p, uint64_t seed, uint64_t offset, int B,
                             int T, int C, int NH) {
  (void)mask; /* padded keys have P == 0, which zeroes their dS and dV terms */
  ORDO_CHECK(NH > 0 && C % NH == 0 && T > 0 && B >= 0);
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (!dqkv || B == 0) return;
  const int hs = C / NH, ld = 3 * C;
  const float scale = 1.0f / sqrtf((float)hs);
  const float dscale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const int64_t rows = (int64_t)B * NH * T;
  const float beta = acc ? 1.0f : 0.0f; /* dq, dk, dv: each written by one product */
  att_pairs a = att_pairs_of(B, T, C, NH);
  /* dV (T, hs) += Pv^T (T, T) @ dO (T, hs), Pv = P or, with dropout, Pd rebuilt in scratch */
  const float *Pv = att;
  if (p > 0.0f) {
    dropout_forward_cuda(ctx, scratch, att, p, seed, offset, rows * T);
    Pv = scratch;
  }
  for (int o = 0; o < a.outer; o++)
    cuda_gemm_strided(ctx, 1, 0, T, hs, T, 1.0f, Pv + o * a.tt_o, T, a.tt_i, dout + o * a.out_o,
                      C, a.out_i, beta, dqkv + o * a.qkv_o + 2 * C, ld, a.qkv_i, a.inner);
  /* dP (T, T) = dO (T, hs) @ V^T (hs, T) into scratch (after dV has read Pd from it) */
  for (int o = 0; o < a.outer; o++)
    cuda_gemm_strided(ctx, 0, 1, T, T, hs, 1.0f, dout + o * a.out_o, C, a.out_i,
                      qkv + o * a.qkv_o + 2 * C, ld, a.qkv_i, 0.0f, scratch + o * a.tt_o, T,
                      a.tt_i, a.inner);
  softmax_back_rows_kernel<<<row_blocks(rows), 32 * ATT_WARPS, 0, ctx->stream>>>(
      scratch, att, rows, T, p, dscale, seed, offset);
  CUDA_LAUNCH_CHECK();
  for (int o = 0; o < a.outer; o++) {
    const float *q = qkv + o * a.qkv_o, *dS = scratch + o * a.tt_o;
    float *dq = dqkv + o * a.qkv_o;
    /* dQ (T, hs) += scale dS (T, T) @ K (T, hs); dK += scale dS^T @ Q */
    cuda_gemm_strided(ctx, 0, 0, T, hs, T, scale, dS, T, a.tt_i, q + C, ld, a.qkv_i, beta, dq, ld,
                      a.qkv_i, a.inner);
    cuda_gemm_strided(ctx, 1, 0, T, hs, T, scale, dS, T, a.tt_i, q, ld, a.qkv_i, beta, dq + C, ld,
                      a.qkv_i, a.inner);
  }
  const int64_t per_b = (int64_t)NH * T * T;
  if (dbias) CUDA_LAUNCH_1D(dbias_sum_kernel, per_b, dbias, scratch, B, per_b);
}

/* Per head (the heads as one batched product): S = scale q k^T (Tq, Tk), the causal softmax of
 * each row over its visible prefix (query i sees keys 0 .. Tk - Tq + i), out = P v. */
void attention_cached_forward_cuda(ordo_ctx *ctx, float *out, float *att, const float *q,
                                   const float *k, const float *v, int ldq, int ldkv, int Tq,
                                   int Tk, int C, int NH) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && Tk >= Tq && Tq > 0);
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
  const int64_t tt = (int64_t)Tq * Tk;
  cuda_gemm_strided(ctx, 0, 1, Tq, Tk, hs, scale, q, ldq, hs, k, ldkv, hs, 0.0f, att, Tk, tt, NH);
  int64_t rows = (int64_t)NH * Tq;
  softmax_rows_kernel<<<row_blocks(rows), 32 * ATT_WARPS, 0, ctx->stream>>>(
      att, NULL, NULL, rows, NH, Tq, Tk, 1, Tk - Tq);
  CUDA_LAUNCH_CHECK();
  cuda_gemm_strided(ctx, 0, 0, Tq, hs, Tk, 1.0f, att, Tk, tt, v, ldkv, hs, 0.0f, out, C, hs, NH);
}
