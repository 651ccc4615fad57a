/* A host emulation of the CUDA features the fused attention's kernels use
 * (src/cuda/flash_attention_kernels.cuh), so that the very same kernel code runs on the CPU and
 * its indexing, masks, dropout and tile loops are checked against the reference where there is
 * no GPU. What it does and does not show:
 *  - a block runs as blockDim.x threads (std::thread) with real barriers: __syncthreads over the
 *    block, __syncwarp over each 32 consecutive threads, __shfl_xor_sync through a per-warp
 *    exchange; blocks run one after another on one shared-memory array (emu_smem);
 *  - wmma fragments hold the whole 16 x 16 tile in every lane: load/store are warp-collective
 *    (barriers around them; one lane stores), mma sums in float; load/store abort on a pointer
 *    not 32-byte aligned or a leading dimension not a multiple of 16 bytes, as wmma requires;
 *  - bf16 rounds to nearest even (dtype.h's conversions, as __float2bfloat16);
 *  - it cannot show speed, the hardware's own fragment layout, or races that the barriers here
 *    would hide (every wmma call is fenced by warp barriers, which the hardware does not promise).
 * C++17; include before the kernels, in one translation unit. */
#ifndef ORDO_TEST_CUDA_EMU_H
#define ORDO_TEST_CUDA_EMU_H

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <thread>
#include <type_traits>
#include <vector>

extern "C" {
#include "ordo/dtype.h"
}

#define __global__
#define __device__
#define __host__
#define __launch_bounds__(x)
#define __shared__
#define __align__(n) __attribute__((aligned(n)))
using std::min;

struct emu_dim3 {
  unsigned x, y, z;
};
/* threadIdx and blockIdx per emulated thread; gridDim and blockDim per launch */
static thread_local emu_dim3 threadIdx, blockIdx;
static emu_dim3 gridDim, blockDim;

enum { EMU_MAX_THREADS = 128, EMU_WARPS = EMU_MAX_THREADS / 32 };
static pthread_barrier_t emu_block_bar, emu_warp_bar[EMU_WARPS];
static float emu_shfl[EMU_WARPS][32];

static inline void __syncthreads() { pthread_barrier_wait(&emu_block_bar); }
static inline void __syncwarp() { pthread_barrier_wait(&emu_warp_bar[threadIdx.x / 32]); }
static inline float __shfl_xor_sync(unsigned, float v, int lane_mask) {
  unsigned w = threadIdx.x / 32, l = threadIdx.x % 32;
  __syncwarp();
  emu_shfl[w][l] = v;
  __syncwarp();
  float r = emu_shfl[w][l ^ (unsigned)lane_mask];
  __syncwarp();
  return r;
}

struct uint4 {
  unsigned x, y, z, w;
};
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }

struct __nv_bfloat16 {
  uint16_t bits;
};
static inline __nv_bfloat16 __float2bfloat16(float f) { return {f32_to_bf16(f)}; }
static inline float __bfloat162float(__nv_bfloat16 h) { return bf16_to_f32(h.bits); }

namespace nvcuda {
namespace wmma {
struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulation has the 16x16x16 shape only");
  float v[16][16];
};
typedef fragment<accumulator, 16, 16, 16, float> emu_acc;

static inline void emu_check(const void *p, unsigned ld, size_t elem) {
  if ((uintptr_t)p % 32 != 0 || (ld * elem) % 16 != 0) {
    fprintf(stderr, "wmma: tile %p not 32-byte aligned or leading dimension %u (x %zu bytes) not "
            "a multiple of 16 bytes\n", p, ld, elem);
    abort();
  }
}

template <class F>
void fill_fragment(F &f, float x) {
  for (auto &row : f.v)
    for (auto &e : row) e = x;
}
template <class Use, class Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout> &f, const __nv_bfloat16 *p,
                      unsigned ld) {
  emu_check(p, ld, 2);
  __syncwarp();
  const bool rows = std::is_same<Layout, row_major>::value;
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) f.v[i][j] = __bfloat162float(rows ? p[i * ld + j] : p[j * ld + i]);
  __syncwarp();
}
static inline void load_matrix_sync(emu_acc &f, const float *p, unsigned ld, layout_t) {
  emu_check(p, ld, 4);
  __syncwarp();
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) f.v[i][j] = p[i * ld + j];
  __syncwarp();
}
static inline void store_matrix_sync(float *p, const emu_acc &f, unsigned ld, layout_t) {
  emu_check(p, ld, 4);
  __syncwarp();
  if (threadIdx.x % 32 == 0)
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 16; j++) p[i * ld + j] = f.v[i][j];
  __syncwarp();
}
template <class A, class B>
void mma_sync(emu_acc &d, const A &a, const B &b, const emu_acc &c) {
  emu_acc t;
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) {
      float s = c.v[i][j];
      for (int k = 0; k < 16; k++) s += a.v[i][k] * b.v[k][j];
      t.v[i][j] = s;
    }
  d = t;
}
}  // namespace wmma
}  // namespace nvcuda

/* cuda_ops.h's grid-stride loop */
#define CUDA_FOR(i, n)                                                      \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t)gridDim.x * blockDim.x)

/* The kernels' dynamic shared memory (extern __shared__ fa_smem[] in the kernels' namespace),
 * refilled with NaN bytes before each launch so that reading what no thread wrote shows. */
enum { EMU_SMEM_BYTES = 256 * 1024 };

/* Runs body() as every thread of every block of a (gx, gy) grid of `threads` threads. */
template <class Body>
void emu_launch(unsigned gx, unsigned gy, unsigned threads, unsigned char *smem, Body body) {
  if (threads > EMU_MAX_THREADS || threads % 32 != 0) abort();
  gridDim = {gx, gy, 1}, blockDim = {threads, 1, 1};
  pthread_barrier_init(&emu_block_bar, NULL, threads);
  for (unsigned w = 0; w < threads / 32; w++) pthread_barrier_init(&emu_warp_bar[w], NULL, 32);
  for (unsigned y = 0; y < gy; y++)
    for (unsigned x = 0; x < gx; x++) {
      memset(smem, 0xff, EMU_SMEM_BYTES);
      std::vector<std::thread> th;
      for (unsigned t = 0; t < threads; t++)
        th.emplace_back([=] {
          threadIdx = {t, 0, 0}, blockIdx = {x, y, 0};
          body();
        });
      for (auto &t : th) t.join();
    }
  pthread_barrier_destroy(&emu_block_bar);
  for (unsigned w = 0; w < threads / 32; w++) pthread_barrier_destroy(&emu_warp_bar[w]);
}

#endif
