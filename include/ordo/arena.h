/* Bump allocator for activations: sized once at init, never allocating in the training step.
 * A "measure" arena (base NULL) only counts: run the planning code once against it to learn
 * the size, then arena_init with that size and run the same planning code for real. */
#ifndef ORDO_ARENA_H
#define ORDO_ARENA_H

#include <stddef.h>

typedef struct ordo_arena {
  char *base;   /* NULL: measuring */
  size_t cap;   /* bytes */
  size_t used;  /* bytes */
  size_t peak;  /* high-water mark */
  int borrowed; /* base belongs to the caller (arena_init_at): arena_free leaves it */
} ordo_arena;

void arena_init_measure(ordo_arena *a);
void arena_init(ordo_arena *a, size_t bytes);
/* An arena over memory the caller allocated and frees (a backend's, e.g.: the arena only does
 * pointer arithmetic on base, never dereferences it). */
void arena_init_at(ordo_arena *a, void *base, size_t bytes);
void arena_free(ordo_arena *a);
/* 64-byte aligned; zeroed only by arena_init. Returns NULL while measuring. Aborts when full. */
void *arena_alloc(ordo_arena *a, size_t bytes);
#define arena_alloc_f32(a, n) ((float *)arena_alloc((a), (size_t)(n) * sizeof(float)))
size_t arena_mark(const ordo_arena *a);
void arena_reset_to(ordo_arena *a, size_t mark);

#endif
