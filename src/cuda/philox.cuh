/* Philox4x32-10 for host and device: the same function as src/core/rng.c (philox4x32,
 * philox_u32, philox_uniform) restated so that kernels draw the very bits the CPU draws
 * (dropout masks agree element for element). Header-only, for .cu files. */
#ifndef ORDO_CUDA_PHILOX_CUH
#define ORDO_CUDA_PHILOX_CUH

#include <stdint.h>

/* One block: four 32-bit words for counter ctr under key (rng.c's philox4x32). */
static inline __host__ __device__ void philox4x32_hd(uint32_t out[4], uint64_t ctr, uint64_t key) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)M0 * c0, p1 = (uint64_t)M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = (uint32_t)p0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += W0, k1 += W1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* Word i of stream seed (each block gives four consecutive words). */
static inline __host__ __device__ uint32_t philox_u32_hd(uint64_t seed, uint64_t i) {
  uint32_t b[4];
  philox4x32_hd(b, i >> 2, seed);
  return b[i & 3];
}

/* Uniform in [0, 1) with 24 random bits: (word >> 8) / 2^24, exact in float. */
static inline __host__ __device__ float philox_uniform_hd(uint64_t seed, uint64_t i) {
  return (float)(philox_u32_hd(seed, i) >> 8) * (1.0f / 16777216.0f);
}

#endif
