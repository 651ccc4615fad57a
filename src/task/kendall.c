/* Kendall tau as the AI4Code competition scores it: per notebook the number of inversions of
 * the predicted order against the true one, pooled: tau = 1 - 4 sum S_i / sum n_i (n_i - 1). */
#include <string.h>

#include "ordo/ai4code.h"

int64_t ai4_count_inversions(const int32_t *a, int32_t n, int32_t *scratch) {
  /* bottom-up merge sort of a copy; each time an element of the right run is taken before
   * the remaining elements of the left run, those all form inversions with it */
  int32_t *x = scratch, *y = scratch + n;
  memcpy(x, a, (size_t)n * sizeof *x);
  int64_t inv = 0;
  for (int32_t w = 1; w < n; w *= 2) {
    for (int32_t lo = 0; lo < n; lo += 2 * w) {
      int32_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      int32_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (x[j] < x[i]) {
          inv += mid - i;
          y[k++] = x[j++];
        } else
          y[k++] = x[i++];
      }
      while (i < mid) y[k++] = x[i++];
      while (j < hi) y[k++] = x[j++];
    }
    int32_t *t = x;
    x = y;
    y = t;
  }
  return inv;
}

void ai4_tau_add(ai4_tau *t, const int32_t *pred, const int32_t *truth, int32_t n) {
  int32_t *buf = ordo_malloc((size_t)(4 * n + 1) * sizeof *buf);
  int32_t *rank = buf, *a = buf + n; /* rank[item] = its true position */
  for (int32_t j = 0; j < n; j++) rank[truth[j]] = j;
  for (int32_t j = 0; j < n; j++) a[j] = rank[pred[j]];
  t->inversions += ai4_count_inversions(a, n, buf + 2 * n);
  t->pairs2 += (int64_t)n * (n - 1);
  free(buf);
}

double ai4_tau_value(const ai4_tau *t) {
  if (t->pairs2 == 0) return 1.0; /* no pair to order: nothing can be wrong */
  return 1.0 - 4.0 * (double)t->inversions / (double)t->pairs2;
}

/* Appends ", name" to a list of at most 5 names in buf. */
static void name_list_add(char *buf, size_t cap, int *count, const char *name) {
  if (*count < 5) {
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, "%s%s", *count ? ", " : "", name);
  } else if (*count == 5) {
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, ", ...");
  }
  (*count)++;
}

int ai4_score_orders(const nb_orders *orders, const nb_orders *sub, double *tau, ai4_tau *acc,
                     ordo_err *e) {
  nb_strmap sm, om;
  nb_strmap_init(&sm, sub->n);
  nb_strmap_init(&om, orders->n);
  int rc = 0;
  for (int32_t i = 0; i < sub->n && rc == 0; i++)
    if (nb_strmap_put(&sm, sub->ids[i], i) >= 0)
      rc = ordo_fail(e, "submission: notebook %s appears twice", sub->ids[i]);
  for (int32_t i = 0; i < orders->n; i++) nb_strmap_put(&om, orders->ids[i], i);
  char names[512] = "";
  int cnt = 0;
  for (int32_t i = 0; i < orders->n && rc == 0; i++)
    if (nb_strmap_get(&sm, orders->ids[i]) < 0) name_list_add(names, sizeof names, &cnt, orders->ids[i]);
  if (rc == 0 && cnt)
    rc = ordo_fail(e, "submission: %d notebook(s) of the orders are missing: %s", cnt, names);
  for (int32_t i = 0; i < sub->n && rc == 0; i++)
    if (nb_strmap_get(&om, sub->ids[i]) < 0) name_list_add(names, sizeof names, &cnt, sub->ids[i]);
  if (rc == 0 && cnt)
    rc = ordo_fail(e, "submission: %d notebook(s) are not in the orders: %s", cnt, names);
  ai4_tau t = {0, 0};
  for (int32_t i = 0; i < orders->n && rc == 0; i++) {
    const char *id = orders->ids[i];
    int32_t s = nb_strmap_get(&sm, id), n = orders->count[i];
    nb_strmap cm;
    nb_strmap_init(&cm, n);
    for (int32_t j = 0; j < n; j++)
      if (nb_strmap_put(&cm, orders->cells[i][j], j) >= 0 && rc == 0)
        rc = ordo_fail(e, "orders: notebook %s: cell %s listed twice", id, orders->cells[i][j]);
    int32_t *pred = ordo_malloc((size_t)(n ? n : 1) * sizeof *pred);
    int32_t *truth = ordo_malloc((size_t)(n ? n : 1) * sizeof *truth);
    uint8_t *seen = ordo_calloc((size_t)(n ? n : 1), 1);
    for (int32_t j = 0; j < sub->count[s] && rc == 0; j++) {
      const char *c = sub->cells[s][j];
      int32_t r = nb_strmap_get(&cm, c);
      if (r < 0) rc = ordo_fail(e, "submission: notebook %s: unknown cell id %s", id, c);
      else if (seen[r]) rc = ordo_fail(e, "submission: notebook %s: cell id %s listed twice", id, c);
      else if (j >= n) rc = ordo_fail(e, "submission: notebook %s: more cells than the orders' %d", id, n);
      else seen[r] = 1, pred[j] = r;
    }
    if (rc == 0 && sub->count[s] != n) {
      names[0] = 0;
      cnt = 0;
      for (int32_t j = 0; j < n; j++)
        if (!seen[j]) name_list_add(names, sizeof names, &cnt, orders->cells[i][j]);
      rc = ordo_fail(e, "submission: notebook %s: %d cell id(s) missing: %s", id, cnt, names);
    }
    if (rc == 0) {
      for (int32_t j = 0; j < n; j++) truth[j] = j;
      ai4_tau_add(&t, pred, truth, n);
    }
    free(pred), free(truth), free(seen);
    nb_strmap_free(&cm);
  }
  nb_strmap_free(&sm);
  nb_strmap_free(&om);
  if (rc) return rc;
  if (acc) *acc = t;
  if (tau) *tau = ai4_tau_value(&t);
  return 0;
}
