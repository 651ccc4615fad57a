/* Length-grouped batching (see batching.h). */
#include <stdlib.h>
#include <string.h>

#include "ordo/batching.h"
#include "ordo/core.h"
#include "ordo/rng.h"

typedef struct len_idx {
  int32_t len, idx;
} len_idx;

/* longest first; ties by index so the sort is deterministic */
static int cmp_len_desc(const void *a, const void *b) {
  const len_idx *x = a, *y = b;
  if (x->len != y->len) return x->len > y->len ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

static int64_t padded_of(const int32_t *order, int32_t n, const int32_t *lengths, int bs) {
  int64_t pad = 0;
  for (int32_t s = 0; s < n; s += bs) {
    int32_t e = s + bs < n ? s + bs : n, mx = 0;
    for (int32_t i = s; i < e; i++) mx = lengths[order[i]] > mx ? lengths[order[i]] : mx;
    pad += (int64_t)mx * (e - s);
  }
  return pad;
}

void length_batches_plan(length_batches *lb, const int32_t *lengths, int32_t n, int batch_size,
                         int group, uint64_t seed, int64_t epoch) {
  ORDO_CHECK(n >= 0 && batch_size >= 1);
  memset(lb, 0, sizeof *lb);
  lb->order = ordo_malloc(((size_t)n + 1) * sizeof(int32_t));
  for (int32_t i = 0; i < n; i++) lb->order[i] = i;
  ordo_rng r;
  rng_init(&r, seed * 0x9E3779B97F4A7C15ull + (uint64_t)epoch * 0xD1B54A32D192ED03ull + 17);
  rng_shuffle_i32(&r, lb->order, n);
  lb->random_padded_tokens = padded_of(lb->order, n, lengths, batch_size);
  for (int32_t i = 0; i < n; i++) lb->real_tokens += lengths[i];
  if (group > 1) {
    int64_t mega = (int64_t)group * batch_size;
    len_idx *tmp = ordo_malloc((size_t)(mega < n ? mega : n) * sizeof *tmp + 1);
    for (int64_t s = 0; s < n; s += mega) {
      int64_t e = s + mega < n ? s + mega : n;
      for (int64_t i = s; i < e; i++) tmp[i - s] = (len_idx){lengths[lb->order[i]], lb->order[i]};
      qsort(tmp, (size_t)(e - s), sizeof *tmp, cmp_len_desc);
      for (int64_t i = s; i < e; i++) lb->order[i] = tmp[i - s].idx;
    }
    free(tmp);
  }
  lb->n_batches = (n + batch_size - 1) / batch_size;
  /* shuffle whole batches: a random order of lengths across the epoch */
  int32_t *perm = ordo_malloc(((size_t)lb->n_batches + 1) * sizeof(int32_t));
  for (int32_t b = 0; b < lb->n_batches; b++) perm[b] = b;
  if (group > 1) rng_shuffle_i32(&r, perm, lb->n_batches);
  int32_t *order2 = ordo_malloc(((size_t)n + 1) * sizeof(int32_t));
  lb->start = ordo_malloc(((size_t)lb->n_batches + 1) * sizeof(int32_t));
  int32_t k = 0;
  for (int32_t b = 0; b < lb->n_batches; b++) {
    lb->start[b] = k;
    int32_t s = perm[b] * batch_size, e = s + batch_size < n ? s + batch_size : n;
    for (int32_t i = s; i < e; i++) order2[k++] = lb->order[i];
  }
  lb->start[lb->n_batches] = k;
  free(lb->order);
  free(perm);
  lb->order = order2;
  lb->padded_tokens = 0;
  for (int32_t b = 0; b < lb->n_batches; b++)
    lb->padded_tokens += padded_of(lb->order + lb->start[b], lb->start[b + 1] - lb->start[b],
                                   lengths, batch_size);
}

void length_batches_free(length_batches *lb) {
  free(lb->start);
  free(lb->order);
  memset(lb, 0, sizeof *lb);
}

double length_batches_padding_saved(const length_batches *lb) {
  int64_t pad = lb->padded_tokens - lb->real_tokens;
  int64_t pad_rand = lb->random_padded_tokens - lb->real_tokens;
  return pad_rand > 0 ? 1.0 - (double)pad / (double)pad_rand : 0.0;
}
