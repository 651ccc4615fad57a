/* Order decoding from positions or slots, and the simple baselines: markdown first, markdown
 * spread evenly, and each markdown just before its most similar code cell by TF-IDF. */
#include <omp.h>
#include <string.h>

#include "ordo/ai4code.h"

typedef struct key_idx {
  float key;
  int32_t idx;
} key_idx;

static int cmp_key_idx(const void *a, const void *b) {
  const key_idx *x = a, *y = b;
  if (x->key < y->key) return -1;
  if (x->key > y->key) return 1;
  return (x->idx > y->idx) - (x->idx < y->idx); /* stable and deterministic */
}

void ai4_order_from_positions(const nb_notebook *nb, const float *pos, int keep_code, int32_t *out) {
  int32_t n = nb->n_cells;
  key_idx *a = ordo_malloc((size_t)(n ? n : 1) * sizeof *a);
  for (int32_t i = 0; i < n; i++) a[i].key = pos[i], a[i].idx = i;
  if (keep_code && nb->n_code > 1) { /* code cell i takes the i-th smallest code position */
    float *cp = ordo_malloc((size_t)nb->n_code * sizeof *cp);
    key_idx *c = ordo_malloc((size_t)nb->n_code * sizeof *c);
    for (int32_t i = 0; i < nb->n_code; i++) c[i] = a[i];
    qsort(c, (size_t)nb->n_code, sizeof *c, cmp_key_idx);
    for (int32_t i = 0; i < nb->n_code; i++) cp[i] = c[i].key;
    for (int32_t i = 0; i < nb->n_code; i++) a[i].key = cp[i];
    free(cp), free(c);
  }
  qsort(a, (size_t)n, sizeof *a, cmp_key_idx);
  for (int32_t i = 0; i < n; i++) out[i] = a[i].idx;
  free(a);
}

void ai4_order_from_slots(const nb_notebook *nb, const int32_t *md_slot, const float *key,
                          int32_t *out) {
  int32_t nc = nb->n_code, nm = nb->n_md, k = 0;
  key_idx *a = ordo_malloc((size_t)(nm ? nm : 1) * sizeof *a);
  int32_t *slot_of = ordo_malloc((size_t)(nm ? nm : 1) * sizeof *slot_of);
  for (int32_t m = 0; m < nm; m++) {
    int32_t s = md_slot[m] < 0 ? 0 : md_slot[m] > nc ? nc : md_slot[m];
    slot_of[m] = s;
    /* sort by (slot, key, index): fold the slot into a sort over pairs */
    a[m].idx = m;
    a[m].key = key ? key[m] : (float)m;
  }
  /* counting sort by slot, then sort each slot's run by key */
  int32_t *start = ordo_calloc((size_t)nc + 2, sizeof *start);
  for (int32_t m = 0; m < nm; m++) start[slot_of[m] + 1]++;
  for (int32_t s = 0; s <= nc; s++) start[s + 1] += start[s];
  key_idx *b = ordo_malloc((size_t)(nm ? nm : 1) * sizeof *b);
  int32_t *fill = ordo_malloc(((size_t)nc + 1) * sizeof *fill);
  memcpy(fill, start, ((size_t)nc + 1) * sizeof *fill);
  for (int32_t m = 0; m < nm; m++) b[fill[slot_of[m]]++] = a[m];
  for (int32_t s = 0; s <= nc; s++) {
    int32_t len = start[s + 1] - start[s];
    if (len > 1) qsort(b + start[s], (size_t)len, sizeof *b, cmp_key_idx);
    for (int32_t j = start[s]; j < start[s + 1]; j++) out[k++] = nc + b[j].idx;
    if (s < nc) out[k++] = s;
  }
  ORDO_CHECK(k == nb->n_cells);
  free(a), free(slot_of), free(start), free(b), free(fill);
}

int32_t ai4_slot_median(const float *p, int32_t n_slots) {
  double total = 0;
  for (int32_t s = 0; s < n_slots; s++) total += p[s] > 0 ? p[s] : 0;
  if (total <= 0) return 0;
  double acc = 0;
  for (int32_t s = 0; s < n_slots; s++) {
    acc += p[s] > 0 ? p[s] : 0;
    if (acc >= 0.5 * total) return s;
  }
  return n_slots - 1;
}

int ai4_baseline_parse(const char *name) {
  if (strcmp(name, "first") == 0) return AI4_BASE_FIRST;
  if (strcmp(name, "even") == 0) return AI4_BASE_EVEN;
  if (strcmp(name, "tfidf") == 0) return AI4_BASE_TFIDF;
  return -1;
}

/* One notebook's predicted order (indices into cells). */
static void baseline_one(int method, const nb_notebook *nb, const ai4_tfidf *tf, int32_t *out) {
  int32_t nc = nb->n_code, nm = nb->n_md;
  int32_t *slot = ordo_malloc((size_t)(nm ? nm : 1) * sizeof *slot);
  if (method == AI4_BASE_FIRST) {
    for (int32_t m = 0; m < nm; m++) slot[m] = 0;
  } else if (method == AI4_BASE_EVEN) {
    /* markdown m (in the given order) at relative position (m+1)/(nm+1) among the code */
    for (int32_t m = 0; m < nm; m++) slot[m] = (int32_t)(((int64_t)(m + 1) * nc + (nm + 1) / 2) / (nm + 1));
  } else {
    ORDO_CHECK(tf);
    ai4_nb_sim s;
    ai4_nb_sim_compute(&s, tf, nb);
    for (int32_t m = 0; m < nm; m++) {
      /* just before the most similar code cell; no similar code at all: the start */
      int32_t best = 0;
      float bv = 0;
      for (int32_t c = 0; c < nc; c++)
        if (s.cos[(size_t)m * nc + c] > bv) bv = s.cos[(size_t)m * nc + c], best = c;
      slot[m] = best;
    }
    ai4_nb_sim_free(&s);
  }
  ai4_order_from_slots(nb, slot, NULL, out);
  free(slot);
}

void ai4_baseline_predict(int method, const nb_dataset *ds, const uint8_t *mask,
                          const ai4_tfidf *tf, int threads, nb_orders *sub) {
  if (threads <= 0) threads = omp_get_max_threads();
  int32_t **orders = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *orders);
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads)
  for (int32_t i = 0; i < ds->n; i++) {
    if (mask && !mask[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    orders[i] = ordo_malloc((size_t)(nb->n_cells ? nb->n_cells : 1) * sizeof **orders);
    baseline_one(method, nb, tf, orders[i]);
  }
  for (int32_t i = 0; i < ds->n; i++) {
    if (!orders[i]) continue;
    nb_orders_add_nb(sub, &ds->nbs[i], orders[i]);
    free(orders[i]);
  }
  free(orders);
}
