/* Philox4x32-10's block function (Salmon et al., SC'11), written once for the host (core/rng.c)
 * and the GPU (cuda/philox.cuh): both draw the same bits, so dropout masks agree element for
 * element across backends. Internal header, static inline. */
#ifndef ORDO_PHILOX_BLOCK_H
#define ORDO_PHILOX_BLOCK_H

#include <stdint.h>

#ifdef __CUDACC__
#define ORDO_HOST_DEVICE __host__ __device__
#else
#define ORDO_HOST_DEVICE
#endif

/* Four 32-bit words for counter ctr under key. */
static inline ORDO_HOST_DEVICE void philox4x32_block(uint32_t out[4], uint64_t ctr, uint64_t key) {
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

#endif
