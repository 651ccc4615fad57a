/* Counter-based RNG (Philox4x32-10): value i of stream (seed) is a pure function of (seed, i),
 * so dropout masks and sampling are reproducible on any backend and in any thread order. */
#ifndef ORDO_RNG_H
#define ORDO_RNG_H

#include <stdint.h>

/* One Philox4x32-10 block: four 32-bit words for counter `ctr` under `key`. */
void philox4x32(uint32_t out[4], uint64_t ctr, uint64_t key);
/* Word i of stream `seed` (each block gives four consecutive words). */
uint32_t philox_u32(uint64_t seed, uint64_t i);
/* Uniform in [0, 1) with 24 random bits, from word i of stream seed. */
float philox_uniform(uint64_t seed, uint64_t i);

/* A sequential stream: a seed plus a position. Saving {seed, pos} saves the whole state. */
typedef struct ordo_rng {
  uint64_t seed;
  uint64_t pos;
} ordo_rng;

void rng_init(ordo_rng *r, uint64_t seed);
uint32_t rng_u32(ordo_rng *r);
uint64_t rng_u64(ordo_rng *r);
float rng_uniform(ordo_rng *r);
/* Uniform integer in [0, n) without modulo bias. */
uint32_t rng_below(ordo_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float rng_normal(ordo_rng *r);
/* Fisher-Yates shuffle of n ints. */
void rng_shuffle_i32(ordo_rng *r, int32_t *a, int64_t n);

#endif
