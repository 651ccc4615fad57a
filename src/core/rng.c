/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11). */
#include <math.h>

#include "core/philox_block.h"
#include "ordo/rng.h"

void philox4x32(uint32_t out[4], uint64_t ctr, uint64_t key) { philox4x32_block(out, ctr, key); }

uint32_t philox_u32(uint64_t seed, uint64_t i) {
  uint32_t b[4];
  philox4x32(b, i >> 2, seed);
  return b[i & 3];
}

float philox_uniform(uint64_t seed, uint64_t i) {
  return (float)(philox_u32(seed, i) >> 8) * (1.0f / 16777216.0f);
}

void rng_init(ordo_rng *r, uint64_t seed) {
  r->seed = seed;
  r->pos = 0;
}

uint32_t rng_u32(ordo_rng *r) { return philox_u32(r->seed, r->pos++); }

uint64_t rng_u64(ordo_rng *r) {
  uint64_t hi = rng_u32(r);
  return (hi << 32) | rng_u32(r);
}

float rng_uniform(ordo_rng *r) { return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

uint32_t rng_below(ordo_rng *r, uint32_t n) {
  if (n <= 1) return 0;
  uint32_t lim = (uint32_t)(-n) % n; /* reject the low 2^32 mod n values */
  for (;;) {
    uint32_t x = rng_u32(r);
    if (x >= lim) return x % n;
  }
}

float rng_normal(ordo_rng *r) {
  float u1 = ((float)(rng_u32(r) >> 8) + 1.0f) * (1.0f / 16777217.0f); /* (0, 1) */
  float u2 = rng_uniform(r);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

void rng_shuffle_i32(ordo_rng *r, int32_t *a, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = rng_below(r, (uint32_t)(i + 1));
    int32_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
