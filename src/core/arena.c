/* Bump allocator for activations (see arena.h for the measure-then-allocate pattern). */
#include "ordo/arena.h"
#include "ordo/core.h"

void arena_init_measure(ordo_arena *a) { *a = (ordo_arena){0}; }

void arena_init(ordo_arena *a, size_t bytes) {
  *a = (ordo_arena){0};
  a->cap = bytes;
  a->base = ordo_alloc_aligned(bytes);
}

void arena_init_at(ordo_arena *a, void *base, size_t bytes) {
  *a = (ordo_arena){0};
  a->cap = bytes;
  a->base = base;
  a->borrowed = 1;
}

void arena_free(ordo_arena *a) {
  if (!a->borrowed) ordo_free_aligned(a->base);
  *a = (ordo_arena){0};
}

void *arena_alloc(ordo_arena *a, size_t bytes) {
  size_t sz = (bytes + 63) / 64 * 64;
  size_t off = a->used;
  a->used += sz;
  if (a->used > a->peak) a->peak = a->used;
  if (!a->base) return NULL;
  ORDO_CHECKF(a->used <= a->cap, "arena overflow: need %zu bytes, have %zu", a->used, a->cap);
  return a->base + off;
}

size_t arena_mark(const ordo_arena *a) { return a->used; }

void arena_reset_to(ordo_arena *a, size_t mark) {
  ORDO_CHECK(mark <= a->used);
  a->used = mark;
}
