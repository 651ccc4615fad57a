/* What a ranker's validation reports: Kendall tau overall and per notebook-length bucket, the
 * records written to the run's metrics, and the held-out predictions kept for `ordo report`. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "ordo/ranker.h"

static const int k_bucket_hi[RK_LEN_BUCKETS] = {10, 20, 40, 80, 0x7fffffff};
static const char *const k_bucket_names[RK_LEN_BUCKETS] = {
    "val_tau_cells_1_10", "val_tau_cells_11_20", "val_tau_cells_21_40", "val_tau_cells_41_80",
    "val_tau_cells_81_up"};

int rk_len_bucket(int32_t n_cells) {
  int b = 0;
  while (b < RK_LEN_BUCKETS - 1 && n_cells > k_bucket_hi[b]) b++;
  return b;
}

const char *rk_len_bucket_name(int b) { return k_bucket_names[b]; }

void rk_val_sum(ordo_dist *d, const nb_dataset *ds, const uint8_t *mask, float *const *md_pos,
                double nll, int64_t n_md, rk_val_metrics *out) {
  ai4_tau t[1 + RK_LEN_BUCKETS]; /* all, then each length bucket */
  memset(t, 0, sizeof t);
  for (int32_t i = 0; i < ds->n; i++) {
    if (!mask[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    int32_t *ord = ordo_malloc((size_t)nb->n_cells * sizeof *ord + 1);
    rk_order_from_md_pos(nb, md_pos[i], ord);
    ai4_tau_add(&t[0], ord, nb->order, nb->n_cells);
    ai4_tau_add(&t[1 + rk_len_bucket(nb->n_cells)], ord, nb->order, nb->n_cells);
    free(ord);
  }
  if (dist_world(d) > 1) { /* integers far below 2^53: the double sums are exact */
    for (int k = 0; k < 1 + RK_LEN_BUCKETS; k++) {
      t[k].inversions = (int64_t)dist_sum_f64(d, (double)t[k].inversions, "held-out tau");
      t[k].pairs2 = (int64_t)dist_sum_f64(d, (double)t[k].pairs2, "held-out tau");
    }
    nll = dist_sum_f64(d, nll, "held-out loss");
    n_md = (int64_t)dist_sum_f64(d, (double)n_md, "held-out loss");
  }
  out->tau = ai4_tau_value(&t[0]);
  out->loss = n_md ? nll / (double)n_md : NAN;
  for (int b = 0; b < RK_LEN_BUCKETS; b++)
    out->tau_len[b] = t[1 + b].pairs2 > 0 ? ai4_tau_value(&t[1 + b]) : NAN;
}

void rk_val_of_positions(const nb_dataset *ds, const uint8_t *mask, float *const *md_pos,
                         rk_val_metrics *out) {
  rk_val_sum(NULL, ds, mask, md_pos, 0, 0, out);
}

int rk_val_log(ordo_metrics *m, int64_t step, int epoch, const rk_val_metrics *v, ordo_err *e) {
  if (!m) return 0;
  metrics_record_begin(m, step);
  metrics_record_add(m, "epoch", epoch);
  metrics_record_add(m, "val_tau", v->tau);
  if (!isnan(v->loss)) metrics_record_add(m, "val_loss", v->loss);
  for (int b = 0; b < RK_LEN_BUCKETS; b++)
    if (!isnan(v->tau_len[b])) metrics_record_add(m, k_bucket_names[b], v->tau_len[b]);
  return metrics_record_end(m, e);
}

/* The first line of a cell, at most 80 bytes, cut at a UTF-8 character boundary. */
static cJSON *cell_snippet(const nb_cell *c) {
  char buf[84];
  int32_t n = 0;
  while (n < c->len && n < 80 && c->source[n] != '\n') n++;
  while (n > 0 && n < c->len && ((unsigned char)c->source[n] & 0xc0) == 0x80) n--;
  memcpy(buf, c->source, (size_t)n);
  buf[n] = 0;
  return cJSON_CreateString(buf);
}

int rk_heldout_write(const nb_dataset *ds, const uint8_t *mask, float *const *md_pos,
                     const char *path, ordo_err *e) {
  FILE *f = fopen(path, "w");
  if (!f) return ordo_fail(e, "%s: cannot create", path);
  int bad = 0;
  for (int32_t i = 0; i < ds->n && !bad; i++) {
    if (!mask[i] || !md_pos[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    int32_t *ord = ordo_malloc((size_t)nb->n_cells * sizeof *ord + 1);
    rk_order_from_md_pos(nb, md_pos[i], ord);
    ai4_tau t = {0, 0};
    ai4_tau_add(&t, ord, nb->order, nb->n_cells);
    char *types = ordo_malloc((size_t)nb->n_cells + 1);
    cJSON *o = cJSON_CreateObject(), *text = cJSON_CreateArray();
    for (int32_t k = 0; k < nb->n_cells; k++) {
      types[k] = nb->cells[k].type == NB_CELL_MARKDOWN ? 'm' : 'c';
      cJSON_AddItemToArray(text, cell_snippet(&nb->cells[k]));
    }
    types[nb->n_cells] = 0;
    cJSON_AddStringToObject(o, "id", nb->id);
    cJSON_AddNumberToObject(o, "tau", ai4_tau_value(&t));
    cJSON_AddStringToObject(o, "types", types);
    cJSON_AddItemToObject(o, "true", cJSON_CreateIntArray(nb->order, nb->n_cells));
    cJSON_AddItemToObject(o, "pred", cJSON_CreateIntArray(ord, nb->n_cells));
    cJSON_AddItemToObject(o, "text", text);
    char *line = cJSON_PrintUnformatted(o);
    bad = fprintf(f, "%s\n", line) < 0;
    cJSON_free(line);
    cJSON_Delete(o);
    free(types), free(ord);
  }
  if (fclose(f) != 0 || bad) return ordo_fail(e, "%s: cannot write", path);
  return 0;
}
