/* Pointwise ops. The index range is cut into fixed blocks of PW_BLOCK elements spread over
 * the threads, each block a vectorized loop: expf/erff/tanhf go to glibc's vector math
 * library (vecmath.h). The blocks depend on N only, so an element meets the same vector or
 * scalar code path (and gives the same bits) whatever the thread count.
 *
 * Dropout draws one Philox block per four elements (the reference calls philox_uniform per
 * element, which computes the whole block and keeps one word): the mask is identical, at a
 * quarter of the RNG work. */
#include <string.h>

#include "cpu/cpu_ops.h"
#include "cpu/vecmath.h"
#include "ordo/core.h"
#include "ordo/rng.h"

enum { PW_BLOCK = 4096 }; /* 16 KiB of floats per task: in L1/L2, many tasks per tensor */

#define PW_FOR_BLOCKS(N, i0, i1)                                      \
  _Pragma("omp parallel for schedule(static)")                        \
  for (int64_t i0 = 0; i0 < (N); i0 += PW_BLOCK)                     \
    for (int64_t i1 = i0 + PW_BLOCK < (N) ? i0 + PW_BLOCK : (N), once_ = 1; once_; once_ = 0)

void gelu_forward_cpu(float *out, const float *inp, int64_t N) {
  PW_FOR_BLOCKS(N, i0, i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; i++)
      out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * (float)M_SQRT1_2));
  }
}

void gelu_backward_cpu(float *dinp, const float *inp, const float *dout, int64_t N) {
  if (!dinp) return;
  const float inv_sqrt_2pi = 0.3989422804014327f;
  PW_FOR_BLOCKS(N, i0, i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; i++) {
      float x = inp[i];
      float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
      float pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
      dinp[i] += dout[i] * (cdf + x * pdf);
    }
  }
}

void tanh_forward_cpu(float *out, const float *inp, int64_t N) {
  PW_FOR_BLOCKS(N, i0, i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; i++) out[i] = tanhf(inp[i]);
  }
}

void tanh_backward_cpu(float *dinp, const float *out, const float *dout, int64_t N) {
  if (!dinp) return;
  PW_FOR_BLOCKS(N, i0, i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
  }
}

/* Applies the dropout mask of elements [0, N) (Philox words offset .. offset+N-1):
 * dst[i] = (accumulate ? dst[i] : 0) + (kept ? src[i] * scale : 0). */
static void dropout_apply(float *dst, const float *src, float p, uint64_t seed, uint64_t offset,
                          int64_t N, int accumulate) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (N <= 0) return;
  const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const uint64_t first = offset >> 2, last = (offset + (uint64_t)N - 1) >> 2;
  const int64_t nblocks = (int64_t)(last - first) + 1;
#pragma omp parallel for schedule(static)
  for (int64_t bi = 0; bi < nblocks; bi++) {
    uint32_t wd[4];
    uint64_t blk = first + (uint64_t)bi;
    philox4x32(wd, blk, seed);
    for (int j = 0; j < 4; j++) {
      uint64_t word = blk * 4 + (uint64_t)j;
      if (word < offset || word - offset >= (uint64_t)N) continue; /* outside this call */
      int64_t i = (int64_t)(word - offset);
      /* same 24-bit uniform as philox_uniform */
      float u = (float)(wd[j] >> 8) * (1.0f / 16777216.0f);
      float y = u >= p ? src[i] * scale : 0.0f;
      if (accumulate) dst[i] += y;
      else dst[i] = y;
    }
  }
}

void dropout_forward_cpu(float *out, const float *inp, float p, uint64_t seed, uint64_t offset,
                         int64_t N) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (p == 0.0f) {
    if (out != inp) memcpy(out, inp, (size_t)N * sizeof(float));
    return;
  }
  dropout_apply(out, inp, p, seed, offset, N, 0);
}

void dropout_backward_cpu(float *dinp, const float *dout, float p, uint64_t seed,
                          uint64_t offset, int64_t N) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (!dinp) return;
  if (p == 0.0f) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < N; i++) dinp[i] += dout[i];
    return;
  }
  dropout_apply(dinp, dout, p, seed, offset, N, 1);
}

void residual_forward_cpu(float *out, const float *a, const float *b, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}
