/* The notebook-level model (ranker.h, rk_nbm_*): a small encoder over the cells of one
 * notebook, whose inputs are the dual encoder's cell vectors (added to the embedding of the
 * cell's type), code cells at the position of their order and markdown cells all at position 0.
 * Its output states score every (markdown, slot) bilinearly as the dual encoder does, added to
 * a base distribution's log-probabilities (the dual encoder's, or the slot ranker's), so that it
 * starts from them and learns what the whole notebook says (the other markdown cells and where
 * the base puts them, the flow of the code). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ordo/files.h"
#include "ordo/ranker.h"
#include "ordo/rng.h"

int rk_nbm_init(enc_model *m, const rk_nbm_config *c, int in_dim, const ordo_backend *be,
                ordo_err *e) {
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_ELECTRA);
  cfg.vocab_size = 2; /* the cell's type: 0 code, 1 markdown */
  cfg.type_vocab_size = 1;
  cfg.pad_token_id = 0;
  cfg.embedding_size = in_dim + RK_NBM_EXTRA;
  cfg.hidden_size = c->hidden;
  cfg.num_hidden_layers = c->layers;
  cfg.num_attention_heads = c->heads;
  cfg.intermediate_size = c->intermediate;
  cfg.max_position_embeddings = RK_NBM_MAX_CELLS + 1;
  cfg.position = ENC_POS_SINUSOIDAL;
  cfg.attention_probs_dropout_prob = 0.0f;
  if (c->hidden % 2 != 0) return ordo_fail(e, "notebook model: hidden size %d is not even", c->hidden);
  if (enc_init(m, &cfg, 0, be, e) != 0) return -1;
  enc_plan(m, 1, RK_NBM_MAX_CELLS, 0);
  return 0;
}

/* The last layer's LayerNorm starts small, so that the first scores are the dual encoder's. */
void rk_nbm_init_weights(enc_model *m, uint64_t seed) {
  enc_init_weights(m, seed);
  int L = m->cfg.num_hidden_layers, C = m->cfg.hidden_size;
  float *g = params_data(&m->params, m->layer[L - 1].ln2_w);
  for (int k = 0; k < C; k++) g[k] = 0.1f;
  params_upload(&m->params);
}

int rk_nbm_fits(const nb_notebook *nb) { return nb->n_cells > 0 && nb->n_cells <= RK_NBM_MAX_CELLS; }

/* A cell's input row: its dual vector, then where the base distribution puts it (code cell c:
 * c / n_code and 1; markdown: the base's expected relative slot and its largest probability). */
static void nbm_inputs(const nb_notebook *nb, const float *z, int dual_dim, const float *base,
                       float *x) {
  int32_t nc = nb->n_code, ns = nc + 1, W = 2 * dual_dim + RK_NBM_EXTRA;
  for (int32_t c = 0; c < nb->n_cells; c++) {
    float *row = x + (size_t)c * W;
    memcpy(row, z + (size_t)c * 2 * dual_dim, (size_t)2 * dual_dim * sizeof *row);
    if (c < nc) {
      row[W - 2] = nc ? (float)c / (float)nc : 0.0f;
      row[W - 1] = 1.0f;
      continue;
    }
    const float *lp = base + (size_t)(c - nc) * ns;
    double mean = 0, mx = 0;
    for (int32_t s = 0; s < ns; s++) {
      double p = exp((double)lp[s]);
      mean += p * s;
      mx = p > mx ? p : mx;
    }
    row[W - 2] = nc ? (float)(mean / nc) : 0.0f;
    row[W - 1] = (float)mx;
  }
}

/* Forward over the notebook's cells; leaves the slot log-probabilities in lp. */
static void nbm_forward(enc_model *m, const nb_notebook *nb, const float *z, int dual_dim,
                        const float *base, int train, int32_t *ids, int32_t *pos, int32_t *msk,
                        float *x, float *h, enc_batch *b, float *lp) {
  int32_t n = nb->n_cells;
  for (int32_t c = 0; c < n; c++) {
    int is_md = c >= nb->n_code;
    ids[c] = is_md;
    pos[c] = is_md ? 0 : c + 1;
    msk[c] = 1;
  }
  nbm_inputs(nb, z, dual_dim, base, x);
  *b = (enc_batch){.B = 1, .T = n, .ids = ids, .mask = msk, .add_emb = x, .pos_ids = pos};
  enc_forward(m, b, train);
  int half = m->cfg.hidden_size / 2;
  int32_t ns = nb->n_code + 1;
  float *score = lp;
  enc_read(m, h, enc_hidden(m), (size_t)n * m->cfg.hidden_size * sizeof *h);
  rk_dual_scores(nb, h, half, score);
  float scale = 1.0f / sqrtf((float)half);
  for (int32_t md = 0; md < nb->n_md; md++) {
    float *row = lp + (size_t)md * ns, mx = -INFINITY;
    for (int32_t s = 0; s < ns; s++) {
      row[s] = scale * score[(size_t)md * ns + s] + base[(size_t)md * ns + s];
      mx = row[s] > mx ? row[s] : mx;
    }
    double sum = 0;
    for (int32_t s = 0; s < ns; s++) sum += exp((double)(row[s] - mx));
    float lz = mx + (float)log(sum);
    for (int32_t s = 0; s < ns; s++) row[s] -= lz;
  }
}

/* One notebook's pass runs on one thread: its products of (cells x 64) rows are too small for the
 * threaded kernels, whose barriers cost far more than the work on a busy machine (a hundredfold,
 * measured on two loaded cores). */
static int one_thread_begin(void) {
  int n = omp_get_max_threads();
  omp_set_num_threads(1);
  return n;
}

/* Working memory of one notebook's pass. */
typedef struct nbm_buf {
  int32_t *ids, *pos, *msk;
  float *x;
  float *h, *dh; /* (n, C) the hidden state and its gradient, on the host */
} nbm_buf;

static nbm_buf nbm_buf_new(const enc_model *m, int32_t n) {
  nbm_buf b;
  b.ids = ordo_malloc((size_t)3 * n * sizeof *b.ids);
  b.pos = b.ids + n, b.msk = b.ids + 2 * n;
  b.x = ordo_malloc((size_t)n * m->cfg.embedding_size * sizeof *b.x);
  b.h = ordo_malloc((size_t)2 * n * m->cfg.hidden_size * sizeof *b.h);
  b.dh = b.h + (size_t)n * m->cfg.hidden_size;
  return b;
}

static void nbm_buf_free(nbm_buf *b) { free(b->ids), free(b->x), free(b->h); }

void rk_nbm_logprobs(enc_model *m, const nb_notebook *nb, const float *z, int dual_dim,
                     const float *base, float *lp) {
  if (nb->n_md == 0) return;
  if (!rk_nbm_fits(nb)) {
    memcpy(lp, base, (size_t)nb->n_md * (nb->n_code + 1) * sizeof *lp);
    return;
  }
  int threads = one_thread_begin();
  nbm_buf w = nbm_buf_new(m, nb->n_cells);
  enc_batch b;
  nbm_forward(m, nb, z, dual_dim, base, 0, w.ids, w.pos, w.msk, w.x, w.h, &b, lp);
  nbm_buf_free(&w);
  omp_set_num_threads(threads);
}

float rk_nbm_loss_nb(enc_model *m, const nb_notebook *nb, const float *z, int dual_dim,
                     const float *base, const int32_t *truth, float dloss) {
  int32_t nm = nb->n_md, ns = nb->n_code + 1;
  if (nm == 0 || !rk_nbm_fits(nb)) return 0.0f;
  int threads = one_thread_begin();
  nbm_buf w = nbm_buf_new(m, nb->n_cells);
  float *lp = ordo_malloc((size_t)nm * ns * sizeof *lp);
  enc_batch b;
  nbm_forward(m, nb, z, dual_dim, base, 1, w.ids, w.pos, w.msk, w.x, w.h, &b, lp);
  enc_zero_output_grads(m, &b);
  double loss = 0;
  int half = m->cfg.hidden_size / 2;
  float g = dloss / (float)nm * (1.0f / sqrtf((float)half));
  rk_slot_nll_grad(lp, nm, ns, truth, g, &loss);
  /* d_hidden is zero here: the gradient made on the host replaces it */
  size_t nh = (size_t)nb->n_cells * m->cfg.hidden_size;
  memset(w.dh, 0, nh * sizeof *w.dh);
  rk_dual_scores_backward(nb, w.h, half, lp, w.dh);
  enc_write(m, m->d_hidden, w.dh, nh * sizeof *w.dh);
  m->has_d_hidden = 1;
  enc_backward(m, &b);
  nbm_buf_free(&w);
  free(lp);
  omp_set_num_threads(threads);
  return (float)(loss / nm);
}

/* ---- training on the shared epoch loop ----------------------------------------------------- */
typedef struct nbm_stage {
  enc_model *m;
  trainer *tr;
  const nb_dataset *ds;
  float *const *z, *const *base;
  int dual_dim, threads;
  int32_t *order, n_use, **slots;
  int32_t first;
  ordo_rng r;
  uint8_t *val_mine; /* this rank's part of the held-out notebooks (figures summed over ranks) */
  ordo_dist *dist;
  int any_val;
} nbm_stage;

static int64_t nbm_epoch_begin(void *ctx, int ep) {
  (void)ep;
  nbm_stage *s = ctx;
  rng_shuffle_i32(&s->r, s->order, s->n_use);
  return s->n_use / rk_micro_per_step(s->tr);
}

static float nbm_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)step;
  nbm_stage *s = ctx;
  /* one notebook per micro-batch; the step's are those of every rank */
  int32_t k = s->order[s->first + rk_first_micro(s->tr) + i];
  float w = 1.0f / (float)rk_micro_per_step(s->tr);
  return w * rk_nbm_loss_nb(m, &s->ds->nbs[k], s->z[k], s->dual_dim, s->base[k], s->slots[k],
                            dloss * w);
}

static void nbm_step(void *ctx, int ep, int64_t k, trainer_stats *st, int64_t *tokens) {
  (void)ep;
  nbm_stage *s = ctx;
  s->first = (int32_t)(k * rk_micro_per_step(s->tr));
  trainer_step(s->tr, s, NULL, nbm_micro, st);
  *tokens = 0; /* this rank's cells */
  for (int i = 0; i < s->tr->cfg.accum_steps; i++)
    *tokens += s->ds->nbs[s->order[s->first + rk_first_micro(s->tr) + i]].n_cells;
}

void rk_nbm_positions(enc_model *m, const nb_dataset *ds, const uint8_t *mask, float *const *z,
                      int dual_dim, float *const *base, float **md_pos, double *nll,
                      int64_t *n_md_out) {
  double sum = 0;
  int64_t n_md = 0;
  for (int32_t i = 0; i < ds->n; i++) {
    if (!mask[i] || !z[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    int32_t ns = nb->n_code + 1;
    size_t R = (size_t)nb->n_md * ns;
    float *lp = ordo_malloc((R + 1) * sizeof *lp);
    rk_nbm_logprobs(m, nb, z[i], dual_dim, base[i], lp);
    if (nll && nb->order) {
      int32_t *truth = ordo_malloc(((size_t)nb->n_md + 1) * sizeof *truth);
      rk_true_slots(nb, truth);
      for (int32_t md = 0; md < nb->n_md; md++) sum -= lp[(size_t)md * ns + truth[md]], n_md++;
      free(truth);
    }
    for (size_t k = 0; k < R; k++) lp[k] = expf(lp[k]);
    if (!md_pos[i]) md_pos[i] = ordo_malloc(((size_t)nb->n_md + 1) * sizeof **md_pos);
    rk_slot_decode(nb, lp, md_pos[i]);
    free(lp);
  }
  if (nll) *nll = sum, *n_md_out = n_md;
}

static void nbm_validate(void *ctx, rk_val_metrics *v) {
  nbm_stage *s = ctx;
  if (!s->any_val) {
    *v = (rk_val_metrics){.tau = -1, .loss = NAN};
    return;
  }
  const nb_dataset *ds = s->ds;
  float **pos = ordo_calloc((size_t)ds->n, sizeof *pos);
  double nll;
  int64_t n_md;
  rk_nbm_positions(s->m, ds, s->val_mine, s->z, s->dual_dim, s->base, pos, &nll, &n_md);
  rk_val_sum(s->dist, ds, s->val_mine, pos, nll, n_md, v);
  for (int32_t i = 0; i < ds->n; i++) free(pos[i]);
  free(pos);
}

int rk_nbm_train(enc_model *m, const nb_dataset *ds, float *const *z, int dual_dim,
                 float *const *base, const uint8_t *train, const uint8_t *val, const rk_train_opts *o, const char *dir,
                 ordo_metrics *metrics, rk_train_result *res, ordo_err *e) {
  nbm_stage s = {.m = m, .ds = ds, .z = z, .base = base, .dual_dim = dual_dim, .threads = o->threads,
                 .val_mine = rk_val_part(o->dist, ds, val), .dist = o->dist};
  s.order = ordo_malloc((size_t)(ds->n ? ds->n : 1) * sizeof *s.order);
  s.slots = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *s.slots);
  for (int32_t i = 0; i < ds->n; i++) {
    s.any_val |= val[i] && z[i];
    if (!train[i] || !z[i] || ds->nbs[i].n_md == 0 || !rk_nbm_fits(&ds->nbs[i])) continue;
    s.order[s.n_use++] = i;
    s.slots[i] = ordo_malloc((size_t)ds->nbs[i].n_md * sizeof **s.slots);
    rk_true_slots(&ds->nbs[i], s.slots[i]);
  }
  rng_init(&s.r, o->init_seed ^ 0x5851f42d4c957f2dULL);
  trainer tr;
  trainer_config tc = o->tech;
  /* a step of nbm_notebooks notebooks on each rank, fewer when there are fewer */
  const int world = dist_world(o->dist);
  tc.accum_steps = s.n_use / world < o->nbm_notebooks ? s.n_use / world : o->nbm_notebooks;
  tc.precision = ORDO_DT_F32;
  tc.recompute = ENC_RECOMPUTE_NONE;
  tc.loss_scaling = 0;
  tc.adamw.lr = (float)o->nbm_lr;
  tc.seed = o->init_seed;
  tc.ckpt_dir = NULL;
  int rc = -1;
  if (s.n_use == 0 || tc.accum_steps == 0) {
    if (o->verbose && s.n_use == 0)
      fprintf(stderr, "notebook model: no training notebook with markdown: left out\n");
    else if (o->verbose)
      fprintf(stderr, "notebook model: %d training notebooks with markdown for %d ranks: left out\n",
              s.n_use, world);
    rc = 1;
    goto done;
  }
  int64_t per_epoch = s.n_use / ((int64_t)tc.accum_steps * world), total = per_epoch * o->nbm_epochs;
  tc.steps = total;
  tc.sched = (sched_config){.kind = SCHED_COSINE, .lr = (float)o->nbm_lr, .total_steps = total,
                            .warmup_steps = per_epoch / 5, .min_lr = (float)o->nbm_lr * 0.05f};
  if (trainer_init(&tr, m, &tc, e) != 0) goto done;
  if (trainer_set_dist(&tr, o->dist, e) != 0) {
    trainer_free(&tr);
    goto done;
  }
  s.tr = &tr;
  m->seed = o->init_seed;
  char sub[4200];
  snprintf(sub, sizeof sub, "%s/notebook", dir);
  if (!dist_is_root(o->dist) || ordo_dir_ensure(sub, e) == 0) {
    if (o->verbose)
      fprintf(stderr, "notebook model: L%d H%d A%d I%d over %d-wide cell vectors, %.2fM parameters, "
              "%d training notebooks, %d per step\n", m->cfg.num_hidden_layers, m->cfg.hidden_size,
              m->cfg.num_attention_heads, m->cfg.intermediate_size, m->cfg.embedding_size,
              params_count(&m->params, 0) / 1e6, s.n_use, tc.accum_steps * world);
    rk_train_opts so = *o;
    so.tech.save_every = 0;
    rk_stage st = {.name = "notebook", .m = m, .tr = &tr, .o = &so, .epochs = o->nbm_epochs,
                   .total = total, .save_dir = sub, .metrics = metrics, .has_val = s.any_val,
                   .ctx = &s, .epoch_begin = nbm_epoch_begin, .step = nbm_step,
                   .validate = nbm_validate};
    rk_stage_result sr;
    rc = rk_stage_run(&st, &sr, e);
    res->tau_nbm = sr.best_tau;
    res->seconds_nbm = sr.seconds;
  }
  trainer_free(&tr);
done:
  for (int32_t i = 0; i < ds->n; i++) free(s.slots[i]);
  free(s.slots), free(s.order), free(s.val_mine);
  return rc;
}
