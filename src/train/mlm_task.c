/* The masked-LM task on the shared trainer (see ordo/mlm_task.h). */
#include <string.h>

#include "ordo/mlm_task.h"

void mlm_task_init(mlm_task *t, mlm_data *data, ordo_dist *dist, int B, int T, int accum) {
  memset(t, 0, sizeof *t);
  t->data = data, t->dist = dist, t->B = B, t->T = T;
  size_t n = (size_t)B * T * accum;
  t->ids = ordo_malloc(n * sizeof(int32_t));
  t->mask = ordo_malloc(n * sizeof(int32_t));
  t->rows = ordo_malloc(n * sizeof(int32_t));
  t->labels = ordo_malloc(n * sizeof(int32_t));
  t->first = ordo_malloc(((size_t)accum + 1) * sizeof(int));
  if (data->sop) {
    t->tt = ordo_malloc(n * sizeof(int32_t));
    t->sop = ordo_malloc((size_t)B * accum * sizeof(int32_t));
  }
}

void mlm_task_free(mlm_task *t) {
  free(t->ids), free(t->mask), free(t->rows), free(t->labels), free(t->first);
  free(t->tt), free(t->sop);
  memset(t, 0, sizeof *t);
}

void mlm_task_prepare(void *ctx, int64_t step, int n_micro) {
  mlm_task *t = ctx;
  int Ball = t->B * n_micro, per = t->B * t->T;
  int n = mlm_data_batch_part(t->data, step, Ball * dist_world(t->dist),
                              Ball * dist_rank(t->dist), Ball, t->ids, t->mask, t->rows, t->labels);
  if (t->sop)
    mlm_data_sop_part(t->data, step, Ball * dist_world(t->dist), Ball * dist_rank(t->dist), Ball,
                      t->tt, t->sop);
  t->n_micro = n_micro;
  int k = 0;
  for (int i = 0; i <= n_micro; i++) {
    while (k < n && t->rows[k] < i * per) k++;
    t->first[i] = k;
  }
  /* the loss is a mean over the global batch's masked tokens */
  t->n_masked = (int)dist_sum_f64(t->dist, n, "masked-token count");
}

/* Micro-batch i of the step's batch: its masked rows shifted from indices into the whole batch
 * to indices into the micro-batch (mlm_micro_end shifts them back), and its share of the step's
 * masked tokens (the loss is a mean over all of them). */
enc_batch mlm_task_micro_begin(mlm_task *t, int i, float *share) {
  int per = t->B * t->T, r0 = t->first[i], nr = t->first[i + 1] - r0;
  for (int k = r0; k < r0 + nr; k++) t->rows[k] -= i * per;
  *share = t->n_masked > 0 ? (float)nr / (float)t->n_masked : 0.0f;
  return (enc_batch){.B = t->B, .T = t->T, .ids = t->ids + (size_t)i * per,
                     .mask = t->mask + (size_t)i * per, .tt = t->tt ? t->tt + (size_t)i * per : NULL,
                     .mlm_rows = t->rows + r0,
                     .n_mlm_rows = nr, .mlm_labels = t->labels + r0,
                     .head_rows_only = 1}; /* taken where the model allows (no SOP head) */
}

void mlm_task_micro_end(mlm_task *t, int i) {
  int per = t->B * t->T;
  for (int k = t->first[i]; k < t->first[i + 1]; k++) t->rows[k] += i * per;
}

float mlm_task_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)step;
  mlm_task *t = ctx;
  float share;
  enc_batch b = mlm_task_micro_begin(t, i, &share);
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  float loss = b.n_mlm_rows > 0 ? enc_loss_mlm(m, &b, dloss * share, NULL) * share : 0.0f;
  if (t->sop) {
    /* each micro-batch of each rank holds the same share of the global batch's rows */
    float w = 1.0f / (float)(t->n_micro * dist_world(t->dist));
    loss += w * enc_loss_cls_ce(m, &b, t->sop + (size_t)i * t->B, dloss * w);
  }
  enc_backward(m, &b);
  mlm_task_micro_end(t, i);
  return loss;
}


double clm_eval_loss(enc_model *m, const mlm_data *d, int B, int64_t *n_targets) {
  ORDO_CHECK(d->causal && B > 0);
  int T = d->seq;
  size_t n = (size_t)B * T;
  int32_t *ids = ordo_malloc(n * sizeof(int32_t)), *mask = ordo_malloc(n * sizeof(int32_t));
  int32_t *rows = ordo_malloc(n * sizeof(int32_t)), *labels = ordo_malloc(n * sizeof(int32_t));
  double sum = 0;
  int64_t count = 0;
  for (int64_t s = 0; s < d->n_seqs; s += B) {
    int nb = d->n_seqs - s < B ? (int)(d->n_seqs - s) : B;
    int nr = clm_data_sequences(d, s, nb, ids, mask, rows, labels);
    enc_batch b = {.B = nb, .T = T, .ids = ids, .mask = mask, .mlm_rows = rows,
                   .n_mlm_rows = nr, .mlm_labels = labels};
    enc_forward(m, &b, 0);
    int c = 0;
    float mean = enc_loss_mlm_value(m, &b, &c);
    sum += (double)mean * c;
    count += c;
  }
  free(ids), free(mask), free(rows), free(labels);
  if (n_targets) *n_targets = count;
  return count > 0 ? sum / (double)count : 0.0;
}
