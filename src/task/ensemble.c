/* Rank-level ensembles of whole submissions: average each cell's position, re-sort. */
#include <string.h>

#include "ordo/ai4code.h"

typedef struct avg_rank {
  double r;     /* weighted mean position */
  int32_t first; /* position in the first submission: the tie break */
} avg_rank;

static int cmp_avg_rank(const void *a, const void *b) {
  const avg_rank *x = a, *y = b;
  if (x->r < y->r) return -1;
  if (x->r > y->r) return 1;
  return (x->first > y->first) - (x->first < y->first);
}

int ai4_ensemble_ranks(const nb_orders *subs, const double *weights, int n_subs, nb_orders *out,
                       ordo_err *e) {
  memset(out, 0, sizeof *out);
  if (n_subs < 1) return ordo_fail(e, "ensemble: no submissions");
  double wsum = 0;
  for (int k = 0; k < n_subs; k++) {
    double w = weights ? weights[k] : 1.0;
    if (!(w >= 0)) return ordo_fail(e, "ensemble: weight %d is %g, expected >= 0", k + 1, w);
    wsum += w;
  }
  if (!(wsum > 0)) return ordo_fail(e, "ensemble: the weights sum to 0");
  const nb_orders *a = &subs[0];
  nb_strmap *maps = ordo_calloc((size_t)n_subs, sizeof *maps);
  for (int k = 0; k < n_subs; k++) {
    nb_strmap_init(&maps[k], subs[k].n);
    for (int32_t i = 0; i < subs[k].n; i++) nb_strmap_put(&maps[k], subs[k].ids[i], i);
  }
  int rc = 0;
  for (int k = 1; k < n_subs && rc == 0; k++) {
    if (subs[k].n != a->n)
      rc = ordo_fail(e, "ensemble: submission %d has %d notebooks, submission 1 has %d", k + 1,
                     subs[k].n, a->n);
    for (int32_t i = 0; i < a->n && rc == 0; i++)
      if (nb_strmap_get(&maps[k], a->ids[i]) < 0)
        rc = ordo_fail(e, "ensemble: notebook %s of submission 1 is missing from submission %d",
                       a->ids[i], k + 1);
  }
  for (int32_t i = 0; i < a->n && rc == 0; i++) {
    int32_t n = a->count[i];
    nb_strmap cm;
    nb_strmap_init(&cm, n);
    avg_rank *r = ordo_calloc((size_t)(n ? n : 1), sizeof *r);
    for (int32_t j = 0; j < n && rc == 0; j++) {
      if (nb_strmap_put(&cm, a->cells[i][j], j) >= 0)
        rc = ordo_fail(e, "ensemble: submission 1: notebook %s: cell %s listed twice", a->ids[i],
                       a->cells[i][j]);
      r[j].first = j;
    }
    for (int k = 0; k < n_subs && rc == 0; k++) {
      double w = (weights ? weights[k] : 1.0) / wsum;
      int32_t s = nb_strmap_get(&maps[k], a->ids[i]);
      if (subs[k].count[s] != n) {
        rc = ordo_fail(e, "ensemble: notebook %s: %d cells in submission %d, %d in submission 1",
                       a->ids[i], subs[k].count[s], k + 1, n);
        break;
      }
      uint8_t *seen = ordo_calloc((size_t)(n ? n : 1), 1);
      for (int32_t j = 0; j < n && rc == 0; j++) {
        int32_t c = nb_strmap_get(&cm, subs[k].cells[s][j]);
        if (c < 0)
          rc = ordo_fail(e, "ensemble: notebook %s: cell %s of submission %d is not in submission 1",
                         a->ids[i], subs[k].cells[s][j], k + 1);
        else if (seen[c])
          rc = ordo_fail(e, "ensemble: notebook %s: cell %s listed twice in submission %d",
                         a->ids[i], subs[k].cells[s][j], k + 1);
        else
          seen[c] = 1, r[c].r += w * j;
      }
      free(seen);
    }
    if (rc == 0) {
      qsort(r, (size_t)n, sizeof *r, cmp_avg_rank);
      char **cells = ordo_malloc((size_t)(n ? n : 1) * sizeof *cells);
      for (int32_t j = 0; j < n; j++) cells[j] = a->cells[i][r[j].first];
      nb_orders_add(out, a->ids[i], cells, n);
      free(cells);
    }
    free(r);
    nb_strmap_free(&cm);
  }
  for (int k = 0; k < n_subs; k++) nb_strmap_free(&maps[k]);
  free(maps);
  if (rc) nb_orders_free(out);
  return rc;
}

/* The rows of truth that sub holds (copies), in sub's order; an error names a missing one. */
static int truth_subset(const nb_orders *truth, const nb_orders *sub, nb_orders *out, ordo_err *e) {
  memset(out, 0, sizeof *out);
  nb_strmap tm;
  nb_strmap_init(&tm, truth->n);
  for (int32_t i = 0; i < truth->n; i++) nb_strmap_put(&tm, truth->ids[i], i);
  int rc = 0;
  for (int32_t i = 0; i < sub->n && rc == 0; i++) {
    int32_t t = nb_strmap_get(&tm, sub->ids[i]);
    if (t < 0) rc = ordo_fail(e, "ensemble: notebook %s has no true order", sub->ids[i]);
    else nb_orders_add(out, truth->ids[t], truth->cells[t], truth->count[t]);
  }
  nb_strmap_free(&tm);
  if (rc) nb_orders_free(out);
  return rc;
}

/* Every weight vector on the simplex with steps of 1 / grid, from submission k on. */
typedef struct fit_state {
  const nb_orders *subs, *truth;
  int n_subs, grid;
  double *w, *best_w, best_tau;
  int64_t tried;
} fit_state;

static int fit_visit(fit_state *f, int k, int left, ordo_err *e) {
  if (k == f->n_subs - 1) {
    f->w[k] = (double)left / f->grid;
    nb_orders ens;
    double tau;
    ai4_tau acc;
    if (ai4_ensemble_ranks(f->subs, f->w, f->n_subs, &ens, e) != 0) return -1;
    int rc = ai4_score_orders(f->truth, &ens, &tau, &acc, e);
    nb_orders_free(&ens);
    if (rc != 0) return -1;
    f->tried++;
    if (tau > f->best_tau + 1e-12) {
      f->best_tau = tau;
      memcpy(f->best_w, f->w, (size_t)f->n_subs * sizeof *f->w);
    }
    return 0;
  }
  for (int u = left; u >= 0; u--) { /* from the largest share: ties keep the earlier submission */
    f->w[k] = (double)u / f->grid;
    if (fit_visit(f, k + 1, left - u, e) != 0) return -1;
  }
  return 0;
}

int ai4_ensemble_fit(const nb_orders *subs, int n_subs, const nb_orders *truth, int grid,
                     double *weights, double *tau, ordo_err *e) {
  if (n_subs < 1) return ordo_fail(e, "ensemble: no submissions");
  if (grid < 1) return ordo_fail(e, "ensemble: grid %d, expected >= 1", grid);
  nb_orders t;
  if (truth_subset(truth, &subs[0], &t, e) != 0) return -1;
  fit_state f = {.subs = subs, .truth = &t, .n_subs = n_subs, .grid = grid, .best_tau = -2};
  f.w = ordo_calloc((size_t)n_subs, sizeof *f.w);
  f.best_w = weights;
  int rc = fit_visit(&f, 0, grid, e);
  if (rc == 0) *tau = f.best_tau;
  nb_orders_free(&t);
  free(f.w);
  return rc;
}
