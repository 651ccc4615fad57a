/* Fused multi-head attention (FlashAttention-2's recipe) for the CUDA backend: the scores and
 * probabilities live only in shared memory, tile by tile; nothing of size T x T is written.
 *
 * What it supports, exactly:
 *  - layout: qkv (B, T, 3C) bf16 as attention_forward reads it (q in [0, C), k in [C, 2C),
 *    v in [2C, 3C), head h at columns h*hs of each), out and dout (B, T, C) bf16, dqkv
 *    (B, T, 3C) bf16; head size hs = C / NH of 32, 64 or 128 (flash_attention_supports), C a
 *    multiple of 8 and every bf16 pointer 16-byte aligned (16-byte row loads);
 *  - the padding mask (B, T) of real keys (1) or NULL (all real); causal optional (key u hidden
 *    from query t when u > t); a row with no visible key gives zeros, as the reference does;
 *  - dropout on the probabilities with the op's keep rule: element (bh, t, u) of (B*NH, T, T)
 *    kept when philox_uniform(seed, offset + (bh*T + t)*T + u) >= p, kept ones scaled by
 *    1 / (1 - p), drawn again in backward (the same bits as attention_forward's mask);
 *  - no position bias (callers with one keep attention_forward_cuda).
 * Forward keeps only lse (B, NH, T), fp32: the row's log-sum-exp of the scaled, masked scores
 * (-inf for a row with no visible key). Backward recomputes P = exp(scale q.k - lse).
 *
 * Precision: products on tensor cores (wmma 16x16x16, bf16 operands, fp32 accumulation); the
 * running max, sums, lse and D = rowsum(dO * O) in fp32 (O as stored: bf16); the probabilities
 * (dropped) and dS are rounded to bf16 to enter the second product of each pair, the outputs to
 * bf16 storage.
 *
 * Work split (one block of 4 warps, each warp a 16-row strip of the block's 64 rows):
 *  - forward: a block per (64 queries, batch*head); loops over 64-key tiles with the online
 *    softmax (running max m, sum l, output rescaled by exp(m_old - m_new));
 *  - backward, with no atomics (bit-identical run to run): a block per (64 keys, batch*head)
 *    loops over query tiles for dK, dV; a second kernel, a block per (64 queries, batch*head),
 *    loops over key tiles for dQ (P and dP recomputed there: 7 tile products instead of 5).
 * Causal blocks skip the tiles that lie wholly above the diagonal.
 * The kernels are in flash_attention_kernels.cuh (also compiled for the host by tests/emu); this
 * file checks the arguments and launches them. */
#include <cuda_bf16.h>
#include <math.h>
#include <mma.h>
#include <stdint.h>

#include "cuda/cuda_mm.h"
#include "cuda/cuda_ops.h"
#include "cuda/philox.cuh"
#include "cuda/flash_attention_kernels.cuh"

namespace {

/* The checks every entry point shares: sizes, supported head size, 16-byte alignment. */
void flash_check_args(const void *const *ptrs, int n, float p, int B, int T, int C, int NH) {
  ORDO_CHECKF(B >= 0 && T > 0 && NH > 0 && C > 0 && C % NH == 0,
              "flash attention: bad sizes B %d T %d C %d NH %d", B, T, C, NH);
  ORDO_CHECKF(flash_attention_supports(C, NH),
              "flash attention: head size %d (C %d / NH %d) is not 32, 64 or 128, or C is not a "
              "multiple of 8",
              C / NH, C, NH);
  ORDO_CHECKF((int64_t)B * NH <= 65535, "flash attention: B*NH %lld over the grid's 65535",
              (long long)B * NH);
  ORDO_CHECKF(p >= 0.0f && p <= 1.0f, "flash attention: dropout p %g outside [0, 1]", (double)p);
  for (int i = 0; i < n; i++)
    ORDO_CHECKF(((uintptr_t)ptrs[i] & 15) == 0,
                "flash attention: bf16 operand %d not 16-byte aligned", i);
}

/* Shared bytes above the default 48 KB need the kernel's limit raised (once per kernel is
 * enough; repeating is cheap and keeps no state here). */
template <typename K>
void set_smem(K kernel, size_t bytes) {
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

template <int HD>
void flash_forward_hd(ordo_ctx *ctx, bf16 *out, float *lse, const bf16 *qkv, const int32_t *mask,
                      int causal, float p, uint64_t seed, uint64_t offset, int B, int T, int C,
                      int NH) {
  const float scale = 1.0f / sqrtf((float)HD);
  const float dscale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  dim3 grid((unsigned)((T + FA_BLOCK - 1) / FA_BLOCK), (unsigned)(B * NH));
  set_smem(flash_fwd_kernel<HD>, fa_dims<HD>::FWD);
  flash_fwd_kernel<HD><<<grid, FA_THREADS, fa_dims<HD>::FWD, ctx->stream>>>(
      out, lse, qkv, mask, causal, p, dscale, seed, offset, T, C, NH, scale);
  CUDA_LAUNCH_CHECK();
}

template <int HD>
void flash_backward_hd(ordo_ctx *ctx, bf16 *dqkv, int acc, float *delta, const bf16 *dout,
                       const bf16 *qkv, const bf16 *out, const float *lse, const int32_t *mask,
                       int causal, float p, uint64_t seed, uint64_t offset, int B, int T, int C,
                       int NH) {
  const float scale = 1.0f / sqrtf((float)HD);
  const float dscale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const int64_t rows = (int64_t)B * NH * T;
  CUDA_LAUNCH_1D(flash_delta_kernel, rows, delta, dout, out, T, C, NH, HD, rows);
  dim3 grid((unsigned)((T + FA_BLOCK - 1) / FA_BLOCK), (unsigned)(B * NH));
  set_smem(flash_bwd_kv_kernel<HD>, fa_dims<HD>::BWD_KV);
  flash_bwd_kv_kernel<HD><<<grid, FA_THREADS, fa_dims<HD>::BWD_KV, ctx->stream>>>(
      dqkv, acc, dout, qkv, lse, delta, mask, causal, p, dscale, seed, offset, T, C, NH, scale);
  CUDA_LAUNCH_CHECK();
  set_smem(flash_bwd_q_kernel<HD>, fa_dims<HD>::BWD_Q);
  flash_bwd_q_kernel<HD><<<grid, FA_THREADS, fa_dims<HD>::BWD_Q, ctx->stream>>>(
      dqkv, acc, dout, qkv, lse, delta, mask, causal, p, dscale, seed, offset, T, C, NH, scale);
  CUDA_LAUNCH_CHECK();
}

}  // namespace

int flash_attention_supports(int C, int NH) {
  if (NH <= 0 || C <= 0 || C % NH != 0 || C % 8 != 0) return 0;
  int hs = C / NH;
  return hs == 32 || hs == 64 || hs == 128;
}

void flash_attention_forward_cuda(ordo_ctx *ctx, uint16_t *out, float *lse, const uint16_t *qkv,
                                  const int32_t *mask, int causal, float p, uint64_t seed,
                                  uint64_t offset, int B, int T, int C, int NH) {
  const void *ptrs[] = {out, qkv};
  flash_check_args(ptrs, 2, p, B, T, C, NH);
  if (B == 0) return;
  bf16 *o = reinterpret_cast<bf16 *>(out);
  const bf16 *x = reinterpret_cast<const bf16 *>(qkv);
  switch (C / NH) {
    case 32:
      flash_forward_hd<32>(ctx, o, lse, x, mask, causal, p, seed, offset, B, T, C, NH);
      break;
    case 64:
      flash_forward_hd<64>(ctx, o, lse, x, mask, causal, p, seed, offset, B, T, C, NH);
      break;
    default:
      flash_forward_hd<128>(ctx, o, lse, x, mask, causal, p, seed, offset, B, T, C, NH);
      break;
  }
}

void flash_attention_backward_cuda(ordo_ctx *ctx, uint16_t *dqkv, int acc, float *delta,
                                   const uint16_t *dout, const uint16_t *qkv, const uint16_t *out,
                                   const float *lse, const int32_t *mask, int causal, float p,
                                   uint64_t seed, uint64_t offset, int B, int T, int C, int NH) {
  const void *ptrs[] = {dqkv, dout, qkv, out};
  flash_check_args(ptrs, 4, p, B, T, C, NH);
  if (B == 0 || !dqkv) return;
  bf16 *dx = reinterpret_cast<bf16 *>(dqkv);
  const bf16 *dO = reinterpret_cast<const bf16 *>(dout), *x = reinterpret_cast<const bf16 *>(qkv);
  const bf16 *o = reinterpret_cast<const bf16 *>(out);
  switch (C / NH) {
    case 32:
      flash_backward_hd<32>(ctx, dx, acc, delta, dO, x, o, lse, mask, causal, p, seed, offset, B, T,
                            C, NH);
      break;
    case 64:
      flash_backward_hd<64>(ctx, dx, acc, delta, dO, x, o, lse, mask, causal, p, seed, offset, B, T,
                            C, NH);
      break;
    default:
      flash_backward_hd<128>(ctx, dx, acc, delta, dO, x, o, lse, mask, causal, p, seed, offset, B,
                             T, C, NH);
      break;
  }
}
