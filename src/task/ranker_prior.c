/* Where markdown words sit: for each term of markdown cells, the mean relative slot (s / n_code)
 * of the training cells that hold it (shrunk towards 0.5) and a histogram over RK_PBINS bins of
 * it. A markdown's prior position is the mean over its distinct terms, weighted by
 * log(1 + count); its bin log-likelihoods are naive Bayes over the histograms: "conclusion",
 * "summary", "import", "exercise" carry position even when nothing in the code matches. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "ordo/json_file.h"
#include "ordo/ranker.h"

#define PRIOR_SHRINK 5.0 /* pseudo-count of the 0.5 prior */

static int64_t prior_slot(const rk_term_prior *p, uint64_t h) {
  int64_t s = (int64_t)(h & (uint64_t)(p->cap - 1));
  while (p->keys[s] && p->keys[s] != h) s = (s + 1) & (p->cap - 1);
  return s;
}

static void prior_grow(rk_term_prior *p) {
  rk_term_prior q = {0};
  q.cap = p->cap ? p->cap * 2 : 1 << 14;
  q.keys = ordo_calloc((size_t)q.cap, sizeof *q.keys);
  q.sum = ordo_calloc((size_t)q.cap, sizeof *q.sum);
  q.count = ordo_calloc((size_t)q.cap, sizeof *q.count);
  q.hist = ordo_calloc((size_t)q.cap * RK_PBINS, sizeof *q.hist);
  for (int64_t i = 0; i < p->cap; i++) {
    if (!p->keys[i]) continue;
    int64_t s = prior_slot(&q, p->keys[i]);
    q.keys[s] = p->keys[i], q.sum[s] = p->sum[i], q.count[s] = p->count[i];
    memcpy(q.hist + s * RK_PBINS, p->hist + i * RK_PBINS, RK_PBINS * sizeof *q.hist);
  }
  q.n = p->n, q.stem = p->stem;
  rk_term_prior_free(p);
  *p = q;
}

void rk_term_prior_free(rk_term_prior *p) {
  free(p->keys), free(p->sum), free(p->count), free(p->hist);
  memset(p, 0, sizeof *p);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Distinct terms of a cell, sorted, in t. */
static void cell_terms(const nb_cell *c, int stem, ai4_terms *t) {
  t->n = 0;
  ai4_tokenize(c->source, c->len, stem, t);
  qsort(t->h, (size_t)t->n, sizeof *t->h, cmp_u64);
  int32_t u = 0;
  for (int32_t i = 0; i < t->n; i++)
    if (i == 0 || t->h[i] != t->h[u - 1]) t->h[u++] = t->h[i];
  t->n = u;
}

/* A term's sum at the precision term_prior.json keeps: the fitted prior holds it so, and training
 * measures what prediction from the saved file gives. */
static double sum_as_saved(double sum) { return round(sum * 1e4) / 1e4; }

void rk_term_prior_fit(rk_term_prior *p, const nb_dataset *ds, const uint8_t *mask, int stem) {
  memset(p, 0, sizeof *p);
  p->stem = stem;
  prior_grow(p);
  ai4_terms t = {0};
  for (int32_t i = 0; i < ds->n; i++) {
    if (!mask[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    if (nb->n_code == 0 || nb->n_md == 0) continue;
    int32_t *slot = ordo_malloc((size_t)nb->n_md * sizeof *slot);
    rk_true_slots(nb, slot);
    for (int32_t m = 0; m < nb->n_md; m++) {
      cell_terms(&nb->cells[nb->n_code + m], stem, &t);
      float rel = (float)slot[m] / (float)nb->n_code;
      for (int32_t j = 0; j < t.n; j++) {
        if ((p->n + 1) * 2 > p->cap) prior_grow(p);
        int64_t s = prior_slot(p, t.h[j]);
        if (!p->keys[s]) p->keys[s] = t.h[j], p->n++;
        p->sum[s] += rel;
        p->count[s]++;
        int b = (int)(rel * RK_PBINS);
        p->hist[s * RK_PBINS + (b < RK_PBINS ? b : RK_PBINS - 1)]++;
      }
    }
    free(slot);
  }
  ai4_terms_free(&t);
  for (int64_t s = 0; s < p->cap; s++)
    if (p->keys[s]) p->sum[s] = sum_as_saved(p->sum[s]);
}

void rk_term_prior_md(const rk_term_prior *p, const nb_notebook *nb, float *md_prior) {
  ai4_terms t = {0};
  for (int32_t m = 0; m < nb->n_md; m++) {
    cell_terms(&nb->cells[nb->n_code + m], p->stem, &t);
    double num = 0, den = 0;
    for (int32_t j = 0; j < t.n && p->cap; j++) {
      int64_t s = prior_slot(p, t.h[j]);
      if (!p->keys[s] || p->count[s] < 3) continue; /* rare words: noise */
      double c = p->count[s], mean = (p->sum[s] + 0.5 * PRIOR_SHRINK) / (c + PRIOR_SHRINK);
      double w = log(1.0 + c) * fabs(mean - 0.5); /* words that lean somewhere count more */
      num += w * mean, den += w;
    }
    md_prior[m] = den > 0 ? (float)(num / den) : -1.0f;
  }
  ai4_terms_free(&t);
}

void rk_term_prior_bins(const rk_term_prior *p, const nb_notebook *nb, float *md_bins) {
  ai4_terms t = {0};
  for (int32_t m = 0; m < nb->n_md; m++) {
    cell_terms(&nb->cells[nb->n_code + m], p->stem, &t);
    double lp[RK_PBINS] = {0};
    int used = 0;
    for (int32_t j = 0; j < t.n && p->cap; j++) {
      int64_t s = prior_slot(p, t.h[j]);
      if (!p->keys[s] || p->count[s] < 3) continue;
      used++;
      for (int b = 0; b < RK_PBINS; b++)
        lp[b] += log((p->hist[s * RK_PBINS + b] + 1.0) / (p->count[s] + (double)RK_PBINS));
    }
    double mx = -1e300;
    for (int b = 0; b < RK_PBINS; b++) mx = lp[b] > mx ? lp[b] : mx;
    for (int b = 0; b < RK_PBINS; b++) {
      /* the mean over words tempers naive Bayes' overconfidence */
      double v = used ? (lp[b] - mx) / used : 0.0;
      md_bins[(size_t)m * RK_PBINS + b] = (float)(v < -4 ? -4 : v);
    }
  }
  ai4_terms_free(&t);
}

int rk_term_prior_save(const rk_term_prior *p, const char *path, ordo_err *e) {
  /* kept: terms seen at least 3 times (the others are never used) */
  cJSON *root = cJSON_CreateObject();
  cJSON *h = cJSON_AddArrayToObject(root, "terms");
  cJSON *s = cJSON_AddArrayToObject(root, "sum");
  cJSON *c = cJSON_AddArrayToObject(root, "count");
  cJSON *hb = cJSON_AddArrayToObject(root, "bins"); /* RK_PBINS counts per term, flat */
  if (p->stem) cJSON_AddBoolToObject(root, "stem", 1);
  for (int64_t i = 0; i < p->cap; i++) {
    if (!p->keys[i] || p->count[i] < 3) continue;
    char buf[24];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)p->keys[i]);
    cJSON_AddItemToArray(h, cJSON_CreateString(buf));
    cJSON_AddItemToArray(s, cJSON_CreateNumber(sum_as_saved(p->sum[i])));
    cJSON_AddItemToArray(c, cJSON_CreateNumber(p->count[i]));
    for (int b = 0; b < RK_PBINS; b++) cJSON_AddItemToArray(hb, cJSON_CreateNumber(p->hist[i * RK_PBINS + b]));
  }
  char *txt = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  int rc = ordo_write_file_atomic(path, txt, strlen(txt), e);
  free(txt);
  return rc;
}

int rk_term_prior_load(rk_term_prior *p, const char *path, ordo_err *e) {
  memset(p, 0, sizeof *p);
  cJSON *root = ordo_json_read(path, e);
  if (!root) return -1;
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "terms");
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "sum");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "count");
  const cJSON *hb = cJSON_GetObjectItemCaseSensitive(root, "bins");
  int n = cJSON_GetArraySize(h);
  if (!cJSON_IsArray(h) || !cJSON_IsArray(s) || !cJSON_IsArray(c) || !cJSON_IsArray(hb) ||
      cJSON_GetArraySize(s) != n || cJSON_GetArraySize(c) != n ||
      cJSON_GetArraySize(hb) != n * RK_PBINS) {
    cJSON_Delete(root);
    return ordo_fail(e, "%s: expected arrays \"terms\", \"sum\", \"count\" of one length and "
                     "\"bins\" of %d times it", path, RK_PBINS);
  }
  prior_grow(p);
  p->stem = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stem"));
  const cJSON *hi = h->child, *si = s->child, *ci = c->child, *bi = hb->child;
  for (int k = 0; k < n; k++, hi = hi->next, si = si->next, ci = ci->next) {
    char *end = NULL;
    unsigned long long key = cJSON_IsString(hi) ? strtoull(hi->valuestring, &end, 16) : 0;
    if (!key || !end || *end || !cJSON_IsNumber(si) || !cJSON_IsNumber(ci) || ci->valuedouble < 1) {
      cJSON_Delete(root);
      rk_term_prior_free(p);
      return ordo_fail(e, "%s: entry %d: expected a hex term, a sum and a count >= 1", path, k);
    }
    if ((p->n + 1) * 2 > p->cap) prior_grow(p);
    int64_t sl = prior_slot(p, (uint64_t)key);
    if (!p->keys[sl]) p->keys[sl] = (uint64_t)key, p->n++;
    p->sum[sl] = si->valuedouble;
    p->count[sl] = (int32_t)ci->valuedouble;
    for (int b = 0; b < RK_PBINS; b++, bi = bi->next) {
      if (!cJSON_IsNumber(bi) || bi->valuedouble < 0 || bi->valuedouble > ci->valuedouble) {
        cJSON_Delete(root);
        rk_term_prior_free(p);
        return ordo_fail(e, "%s: \"bins\"[%d]: expected a count in [0, %d]", path,
                         k * RK_PBINS + b, (int)ci->valuedouble);
      }
      p->hist[sl * RK_PBINS + b] = (int32_t)bi->valuedouble;
    }
  }
  cJSON_Delete(root);
  return 0;
}
