/* Philox4x32-10 for host and device: src/core/rng.c's philox_u32 and philox_uniform on the block
 * function both share (core/philox_block.h), so kernels draw the very bits the CPU draws (dropout
 * masks agree element for element). Header-only, for .cu files. */
#ifndef ORDO_CUDA_PHILOX_CUH
#define ORDO_CUDA_PHILOX_CUH

#include <stdint.h>

#include "core/philox_block.h"

/* Word i of stream seed (each block gives four consecutive words). */
static inline __host__ __device__ uint32_t philox_u32_hd(uint64_t seed, uint64_t i) {
  uint32_t b[4];
  philox4x32_block(b, i >> 2, seed);
  return b[i & 3];
}

/* Uniform in [0, 1) with 24 random bits: (word >> 8) / 2^24, exact in float. */
static inline __host__ __device__ float philox_uniform_hd(uint64_t seed, uint64_t i) {
  return (float)(philox_u32_hd(seed, i) >> 8) * (1.0f / 16777216.0f);
}

#endif
