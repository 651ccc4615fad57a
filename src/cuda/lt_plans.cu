/* cuBLASLt's algorithm choices, remembered per call shape. cublasLtMatmulAlgoGetHeuristic costs
 * tens of microseconds of host time, and a training step makes about a thousand products of a
 * few dozen distinct shapes (attention alone issues one batched product per head or sequence
 * family), so each context keeps what the heuristic answered for each key it has seen and asks it
 * once per key. The heuristic's answer is a pure function of the key, so a remembered choice is
 * the one it would give again: results stay bit-identical run to run. */
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_ops.h" /* first: the C headers with C linkage */
#include "cuda/cuda_mm.h"

struct lt_plans {
  lt_key *keys;
  uint64_t *hash;
  lt_choice *choice;
  int n, cap;
};

static uint64_t key_hash(const lt_key *k) {
  const unsigned char *p = (const unsigned char *)k;
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

const lt_choice *lt_plan_find(ordo_ctx *ctx, const lt_key *k) {
  lt_plans *pl = ctx->plans;
  if (!pl) return NULL;
  uint64_t h = key_hash(k);
  for (int i = 0; i < pl->n; i++)
    if (pl->hash[i] == h && memcmp(&pl->keys[i], k, sizeof *k) == 0) return &pl->choice[i];
  return NULL;
}

const lt_choice *lt_plan_store(ordo_ctx *ctx, const lt_key *k, const lt_choice *c) {
  lt_plans *pl = ctx->plans;
  if (!pl) pl = ctx->plans = (lt_plans *)ordo_calloc(1, sizeof *pl);
  if (pl->n == pl->cap) {
    pl->cap = pl->cap ? 2 * pl->cap : 64;
    pl->keys = (lt_key *)ordo_realloc(pl->keys, (size_t)pl->cap * sizeof *pl->keys);
    pl->hash = (uint64_t *)ordo_realloc(pl->hash, (size_t)pl->cap * sizeof *pl->hash);
    pl->choice = (lt_choice *)ordo_realloc(pl->choice, (size_t)pl->cap * sizeof *pl->choice);
  }
  pl->keys[pl->n] = *k;
  pl->hash[pl->n] = key_hash(k);
  pl->choice[pl->n] = *c;
  return &pl->choice[pl->n++];
}

void lt_plans_free(ordo_ctx *ctx) {
  lt_plans *pl = ctx->plans;
  if (!pl) return;
  free(pl->keys);
  free(pl->hash);
  free(pl->choice);
  free(pl);
  ctx->plans = NULL;
}
