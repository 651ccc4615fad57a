/* The ELECTRA objective on the shared trainer (see ordo/electra_task.h). */
#include <string.h>

#include "ordo/electra_task.h"
#include "ordo/rng.h"

int electra_generator_init(enc_model *gen, enc_model *disc, double gen_frac, uint64_t seed,
                           ordo_params *joint, ordo_err *e) {
  enc_config gc = disc->cfg;
  int hs = gc.hidden_size / gc.num_attention_heads;
  gc.num_attention_heads = (int)(disc->cfg.num_attention_heads * gen_frac + 0.5);
  if (gc.num_attention_heads < 1) gc.num_attention_heads = 1;
  gc.hidden_size = gc.num_attention_heads * hs;
  gc.intermediate_size = (int)(disc->cfg.intermediate_size * gen_frac + 0.5);
  if (gc.intermediate_size < 1) gc.intermediate_size = 1;
  if (enc_init(gen, &gc, ENC_HEAD_MLM, &disc->be, e) != 0) return -1;
  enc_init_weights(gen, seed + 1);
  return enc_join_params(disc, gen, "generator.", "embeddings.", joint);
}

void electra_task_init(electra_task *t, mlm_task *mlm, enc_model *gen, enc_model *disc,
                       float lambda, uint64_t seed) {
  size_t BT = (size_t)mlm->B * mlm->T;
  *t = (electra_task){.mlm = mlm, .gen = gen, .disc = disc, .lambda = lambda, .seed = seed};
  t->dids = ordo_malloc(BT * sizeof(int32_t));
  t->replaced = ordo_malloc(BT * sizeof(float));
}

void electra_task_free(electra_task *t) {
  free(t->dids), free(t->replaced), free(t->probs);
  memset(t, 0, sizeof *t);
}

void electra_task_prepare(void *ctx, int64_t step, int n_micro) {
  electra_task *t = ctx;
  t->n_micro = n_micro;
  mlm_task_prepare(t->mlm, step, n_micro);
}

float electra_task_micro(void *ctx, enc_model *unused, int64_t step, int i, float dloss) {
  (void)unused;
  electra_task *et = ctx;
  mlm_task *t = et->mlm;
  enc_model *g = et->gen, *d = et->disc;
  int per = t->B * t->T, V = g->cfg.vocab_size;
  g->seed = et->seed ^ 0x5851F42D4C957F2Dull, d->seed = et->seed;
  g->step = d->step = (uint64_t)(step * et->n_micro + i);
  float share;
  enc_batch b = mlm_task_micro_begin(t, i, &share);
  const int nr = b.n_mlm_rows;
  enc_forward(g, &b, 1);
  enc_zero_output_grads(g, &b);
  float lm = nr > 0 ? enc_loss_mlm(g, &b, dloss * share, NULL) : 0.0f;
  enc_backward(g, &b);
  /* sample each masked position from the generator's softmax (no gradient through it), its
   * rows read from the backend once */
  const size_t np = (size_t)nr * V;
  if (np > et->probs_cap) {
    free(et->probs);
    et->probs = ordo_malloc(np * sizeof(float));
    et->probs_cap = np;
  }
  if (np) enc_read(g, et->probs, g->mlm_probs, np * sizeof(float));
  memcpy(et->dids, b.ids, (size_t)per * sizeof(int32_t));
  memset(et->replaced, 0, (size_t)per * sizeof(float));
  for (int k = 0; k < nr; k++) {
    const float *p = et->probs + (size_t)k * V;
    int row = b.mlm_rows[k], s = V - 1;
    float u = philox_uniform(et->seed ^ 0xE1EC78A5ull, (uint64_t)g->step * (uint64_t)per + (uint64_t)row), c = 0;
    for (int v = 0; v < V; v++) {
      c += p[v];
      if (u < c) {
        s = v;
        break;
      }
    }
    et->dids[row] = s;
    et->replaced[row] = s != b.mlm_labels[k] ? 1.0f : 0.0f;
  }
  enc_batch db = {.B = t->B, .T = t->T, .ids = et->dids, .mask = b.mask};
  enc_forward(d, &db, 1);
  enc_zero_output_grads(d, &db);
  float w = et->lambda / (float)et->n_micro; /* every micro-batch has B*T real positions */
  float rtd = enc_loss_rtd(d, &db, et->replaced, dloss * w);
  enc_backward(d, &db);
  mlm_task_micro_end(t, i);
  return lm * share + w * rtd;
}
