/* The frozen route's trainable part (ranker.h, rk_frozen): one MLP per side (code cells,
 * markdown cells) from the pretrained encoder's cached cell vectors to the dual scoring's
 * vectors, trained by the dual encoder's slot softmax on the shared trainer and epoch loop. */
#include <math.h>
#include <string.h>

#include "ordo/files.h"
#include "ordo/ranker.h"
#include "ordo/rng.h"
#include "ordo/safetensors.h"

void rk_frozen_init_head(rk_frozen *f, uint64_t seed) {
  ordo_rng r;
  rng_init(&r, seed ^ 0x6a09e667f3bcc909ULL);
  memset(f->params.data, 0, f->params.total * sizeof *f->params.data);
  for (int s = 0; s < 2; s++) {
    float *w1 = params_data(&f->params, f->w1[s]), *w2 = params_data(&f->params, f->w2[s]);
    float s1 = 1.0f / sqrtf((float)f->in), s2 = 1.0f / sqrtf((float)f->hidden);
    for (int64_t i = 0; i < (int64_t)f->hidden * f->in; i++) w1[i] = s1 * rng_normal(&r);
    for (int64_t i = 0; i < (int64_t)2 * f->dim * f->hidden; i++) w2[i] = s2 * rng_normal(&r);
  }
}

/* The weights of head `head`: the one trained on every training notebook (RK_HEAD_ALL, f->params
 * itself), or cross-fitting fold k's, a view of f->fold_w laid out as f->params. */
static ordo_params head_params(const rk_frozen *f, int head) {
  ordo_params p = f->params;
  if (head != RK_HEAD_ALL) {
    ORDO_CHECK(head >= 0 && head < f->folds);
    p.data = p.wd = f->fold_w + (size_t)head * f->params.total;
  }
  return p;
}

void rk_frozen_set_folds(rk_frozen *f, int folds) {
  free(f->fold_w);
  f->folds = folds;
  f->fold_w = folds > 0 ? ordo_calloc((size_t)folds * f->params.total, sizeof *f->fold_w) : NULL;
}

void rk_frozen_keep_fold(rk_frozen *f, int k) {
  ORDO_CHECK(k >= 0 && k < f->folds);
  memcpy(f->fold_w + (size_t)k * f->params.total, f->params.data, f->params.total * sizeof *f->fold_w);
}

/* One side's rows: x (R, in) -> h (R, hidden) pre-GELU, a (R, hidden), z (R, 2 dim). */
static void side_forward(const rk_frozen *f, const ordo_params *p, int s, const float *x, int R,
                         float *h, float *a, float *z) {
  const ordo_ops *op = ops_cpu();
  op->matmul_forward(NULL, h, x, params_data(p, f->w1[s]), params_data(p, f->b1[s]), R, f->in,
                     f->hidden);
  op->gelu_forward(NULL, a, h, (int64_t)R * f->hidden);
  op->matmul_forward(NULL, z, a, params_data(p, f->w2[s]), params_data(p, f->b2[s]), R,
                     f->hidden, 2 * f->dim);
}

/* Rows of side s in a notebook: code cells first, then markdown. */
static void side_rows(const nb_notebook *nb, int s, int *r0, int *R) {
  *r0 = s ? nb->n_code : 0;
  *R = s ? nb->n_md : nb->n_code;
}

/* Both sides of a notebook: h, a (n_cells, hidden) and z (n_cells, 2 dim), rows in cell order. */
static void heads_forward(const rk_frozen *f, const ordo_params *p, const nb_notebook *nb,
                          const float *x, float *h, float *a, float *z) {
  for (int s = 0; s < 2; s++) {
    int r0, R;
    side_rows(nb, s, &r0, &R);
    if (R > 0)
      side_forward(f, p, s, x + (size_t)r0 * f->in, R, h + (size_t)r0 * f->hidden,
                   a + (size_t)r0 * f->hidden, z + (size_t)r0 * 2 * f->dim);
  }
}

void rk_frozen_head(const rk_frozen *f, int head, const nb_notebook *nb, const float *x, float *z) {
  float *h = ordo_malloc(((size_t)nb->n_cells * f->hidden + 1) * sizeof *h);
  float *a = ordo_malloc(((size_t)nb->n_cells * f->hidden + 1) * sizeof *a);
  ordo_params p = head_params(f, head);
  heads_forward(f, &p, nb, x, h, a, z);
  free(h), free(a);
}

double rk_frozen_head_loss(rk_frozen *f, const nb_notebook *nb, const float *x,
                           const int32_t *truth, float g) {
  if (nb->n_md == 0) return 0;
  const ordo_ops *op = ops_cpu();
  const ordo_params *p = &f->params;
  size_t nh = (size_t)nb->n_cells * f->hidden, nz = (size_t)nb->n_cells * 2 * f->dim;
  float *h = ordo_malloc((nh + 1) * sizeof *h), *a = ordo_malloc((nh + 1) * sizeof *a);
  float *z = ordo_malloc((nz + 1) * sizeof *z), *dz = ordo_calloc(nz + 1, sizeof *dz);
  float *da = ordo_malloc((nh + 1) * sizeof *da), *dh = ordo_malloc((nh + 1) * sizeof *dh);
  heads_forward(f, p, nb, x, h, a, z);
  int32_t ns = nb->n_code + 1;
  float *lp = ordo_malloc(((size_t)nb->n_md * ns + 1) * sizeof *lp);
  double loss = 0;
  rk_dual_logprobs(nb, z, f->dim, lp);
  rk_slot_nll_grad(lp, nb->n_md, ns, truth, g, &loss);
  rk_dual_scores_backward(nb, z, f->dim, lp, dz);
  memset(da, 0, nh * sizeof *da), memset(dh, 0, nh * sizeof *dh);
  for (int s = 0; s < 2; s++) {
    int r0, R;
    side_rows(nb, s, &r0, &R);
    if (R == 0) continue;
    size_t oh = (size_t)r0 * f->hidden;
    op->matmul_backward(NULL, da + oh, params_grad(p, f->w2[s]), params_grad(p, f->b2[s]),
                        dz + (size_t)r0 * 2 * f->dim, a + oh, params_data(p, f->w2[s]), R,
                        f->hidden, 2 * f->dim);
    op->gelu_backward(NULL, dh + oh, ORDO_ACCUMULATE, h + oh, da + oh, (int64_t)R * f->hidden);
    op->matmul_backward(NULL, NULL, params_grad(p, f->w1[s]), params_grad(p, f->b1[s]), dh + oh,
                        x + (size_t)r0 * f->in, params_data(p, f->w1[s]), R, f->in, f->hidden);
  }
  free(h), free(a), free(z), free(dz), free(da), free(dh), free(lp);
  return loss;
}

/* DIR/dual/head.safetensors, or head_fold<k + 1>.safetensors for fold k */
static void head_path(const char *dir, int head, char *path, size_t cap) {
  if (head == RK_HEAD_ALL) snprintf(path, cap, "%s/dual/head.safetensors", dir);
  else snprintf(path, cap, "%s/dual/head_fold%d.safetensors", dir, head + 1);
}

/* the weights being trained (f->params) as head `head`'s file */
static int head_save_as(const rk_frozen *f, const char *dir, int head, ordo_err *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/dual", dir);
  if (ordo_dir_ensure(path, e) != 0) return -1;
  head_path(dir, head, path, sizeof path);
  return st_save_params(&f->params, path, e);
}

int rk_frozen_head_save(const rk_frozen *f, const char *dir, ordo_err *e) {
  return head_save_as(f, dir, RK_HEAD_ALL, e);
}

int rk_frozen_head_load(rk_frozen *f, const char *dir, int head, ordo_err *e) {
  char path[4200];
  head_path(dir, head, path, sizeof path);
  ordo_params p = head_params(f, head);
  return st_load_params(&p, path, 0, e);
}

/* ---- training on the shared epoch loop (rk_stage) ------------------------------------------- */
typedef struct head_stage {
  rk_frozen *f;
  int head; /* which head is trained (RK_HEAD_ALL or a fold): where its file goes */
  trainer *tr;
  const nb_dataset *ds;
  float *const *x;
  int32_t *order, n_use, **truth;
  int nb_per_micro, n_micro, first_micro;
  int32_t first, last; /* the step's notebooks in order */
  double md_step;      /* markdown cells of the step */
  int64_t cells;
  const uint8_t *val; /* this rank's part */
  int any_val;
  ordo_rng r;
  const rk_train_opts *o;
  const char *dir;
} head_stage;

static float head_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)m, (void)step;
  head_stage *hs = ctx;
  int32_t a, b;
  rk_micro_span(hs->first, hs->last, hs->first_micro, i, hs->nb_per_micro, &a, &b);
  float g = dloss / (float)hs->md_step;
  double loss = 0;
  for (int32_t k = a; k < b; k++) {
    int32_t nbi = hs->order[k];
    loss += rk_frozen_head_loss(hs->f, &hs->ds->nbs[nbi], hs->x[nbi], hs->truth[nbi], g);
    hs->cells += hs->ds->nbs[nbi].n_cells;
  }
  return (float)(loss / hs->md_step);
}

static int64_t head_epoch_begin(void *ctx, int ep) {
  (void)ep;
  head_stage *hs = ctx;
  rng_shuffle_i32(&hs->r, hs->order, hs->n_use);
  int per = hs->nb_per_micro * hs->n_micro;
  return (hs->n_use + per - 1) / per;
}

static void head_step(void *ctx, int ep, int64_t k, trainer_stats *st, int64_t *cells) {
  (void)ep;
  head_stage *hs = ctx;
  int32_t per = hs->nb_per_micro * hs->n_micro;
  hs->first = (int32_t)(k * per);
  hs->last = hs->first + per < hs->n_use ? hs->first + per : hs->n_use;
  hs->md_step = 0;
  for (int32_t j = hs->first; j < hs->last; j++) hs->md_step += hs->ds->nbs[hs->order[j]].n_md;
  hs->cells = 0;
  trainer_step(hs->tr, hs, NULL, head_micro, st);
  *cells = hs->cells;
}

static void head_validate(void *ctx, rk_val_metrics *v) {
  head_stage *hs = ctx;
  const nb_dataset *ds = hs->ds;
  if (!hs->any_val) {
    *v = (rk_val_metrics){.tau = -1, .loss = NAN};
    return;
  }
  float **pos = ordo_calloc((size_t)ds->n, sizeof *pos);
  double nll = 0;
  int64_t n_md = 0;
  for (int32_t i = 0; i < ds->n; i++) {
    if (!hs->val[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    int32_t ns = nb->n_code + 1;
    float *z = ordo_malloc(((size_t)nb->n_cells * 2 * hs->f->dim + 1) * sizeof *z);
    float *lp = ordo_malloc(((size_t)nb->n_md * ns + 1) * sizeof *lp);
    int32_t *truth = ordo_malloc(((size_t)nb->n_md + 1) * sizeof *truth);
    rk_frozen_head(hs->f, RK_HEAD_ALL, nb, hs->x[i], z); /* the weights being trained */
    rk_dual_logprobs(nb, z, hs->f->dim, lp);
    rk_true_slots(nb, truth);
    for (int32_t md = 0; md < nb->n_md; md++) nll -= lp[(size_t)md * ns + truth[md]], n_md++;
    pos[i] = ordo_malloc(((size_t)nb->n_md + 1) * sizeof **pos);
    rk_dual_positions(nb, z, hs->f->dim, pos[i]);
    free(z), free(lp), free(truth);
  }
  rk_val_sum(hs->o->dist, ds, hs->val, pos, nll, n_md, v);
  for (int32_t i = 0; i < ds->n; i++) free(pos[i]);
  free(pos);
}

static int head_save(void *ctx, const char *dir, ordo_err *e) {
  head_stage *hs = ctx;
  return head_save_as(hs->f, dir, hs->head, e);
}

int rk_frozen_train(rk_frozen *f, int head, const nb_dataset *ds, float *const *x,
                    const uint8_t *train, const uint8_t *val, const rk_train_opts *o,
                    const char *dir, ordo_metrics *metrics, rk_train_result *res, ordo_err *e) {
  head_stage hs = {.f = f, .head = head, .ds = ds, .x = x, .nb_per_micro = 16, .o = o, .dir = dir};
  char name[32] = "dual";
  if (head != RK_HEAD_ALL) snprintf(name, sizeof name, "dual_fold%d", head + 1);
  hs.order = ordo_malloc((size_t)(ds->n ? ds->n : 1) * sizeof *hs.order);
  hs.truth = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *hs.truth);
  for (int32_t i = 0; i < ds->n; i++) {
    hs.any_val |= val[i];
    if (!train[i] || ds->nbs[i].n_md == 0) continue;
    hs.order[hs.n_use++] = i;
    hs.truth[i] = ordo_malloc((size_t)ds->nbs[i].n_md * sizeof **hs.truth);
    rk_true_slots(&ds->nbs[i], hs.truth[i]);
  }
  trainer_config tc = o->tech; /* accumulation and the optimizer's state width from the flags */
  tc.precision = ORDO_DT_F32;
  tc.recompute = ENC_RECOMPUTE_NONE;
  tc.loss_scaling = 0;
  tc.seed = o->init_seed;
  tc.ckpt_dir = NULL;
  tc.adamw.lr = (float)o->frozen_lr;
  trainer tr;
  int rc = -1;
  if (hs.n_use == 0) {
    ordo_fail(e, "dual (frozen): no training notebook with markdown cells");
    goto out;
  }
  if (trainer_init_params(&tr, &f->params, &tc, e) != 0) goto out;
  if (trainer_set_dist(&tr, o->dist, e) != 0) {
    trainer_free(&tr);
    goto out;
  }
  hs.tr = &tr;
  hs.n_micro = rk_micro_per_step(&tr);
  hs.first_micro = rk_first_micro(&tr);
  int per = hs.nb_per_micro * hs.n_micro;
  int64_t total = (int64_t)o->frozen_epochs * ((hs.n_use + per - 1) / per);
  if (o->max_steps > 0 && total > o->max_steps) total = o->max_steps;
  tr.cfg.steps = total;
  tr.cfg.sched = (sched_config){.kind = o->tech.sched.kind, .lr = (float)o->frozen_lr,
                                .total_steps = total,
                                .warmup_steps = (int64_t)(o->point_warmup * total), .min_lr = 0};
  rng_init(&hs.r, o->init_seed ^ 0xbb67ae8584caa73bULL);
  uint8_t *val_mine = rk_val_part(o->dist, ds, val);
  hs.val = val_mine;
  rk_stage st = {.name = name, .params = &f->params, .save = head_save, .unit = "cells",
                 .tr = &tr, .o = o, .epochs = o->frozen_epochs, .total = total, .save_dir = dir,
                 .metrics = metrics, .has_val = hs.any_val, .ctx = &hs,
                 .epoch_begin = head_epoch_begin, .step = head_step, .validate = head_validate};
  rk_stage_result sr;
  rc = rk_stage_run(&st, &sr, e);
  rk_dual_result(res, &sr);
  free(val_mine);
  trainer_free(&tr);
out:
  for (int32_t i = 0; i < ds->n; i++) free(hs.truth[i]);
  free(hs.truth), free(hs.order);
  return rc;
}

int rk_frozen_cross_fit(rk_frozen *f, const nb_dataset *ds, float *const *x, const uint8_t *train,
                        const int32_t *fold, int folds, const uint8_t *val, const rk_train_opts *o,
                        const char *dir, ordo_metrics *metrics, float **z, ordo_err *e) {
  rk_frozen_set_folds(f, folds);
  uint8_t *in = ordo_malloc((size_t)(ds->n ? ds->n : 1));
  int rc = 0;
  for (int k = 0; k < folds && rc == 0; k++) {
    int32_t n_in = 0, n_out = 0;
    for (int32_t i = 0; i < ds->n; i++) {
      in[i] = train[i] && fold[i] != k;
      n_in += in[i], n_out += train[i] && fold[i] == k;
    }
    rk_frozen_init_head(f, o->init_seed);
    rk_train_result r; /* a fold's figures are its own, not the run's */
    memset(&r, 0, sizeof r);
    if ((rc = rk_frozen_train(f, k, ds, x, in, val, o, dir, metrics, &r, e)) != 0) break;
    rk_frozen_keep_fold(f, k);
    for (int32_t i = 0; i < ds->n; i++) {
      if (!train[i] || fold[i] != k) continue;
      z[i] = ordo_malloc(((size_t)ds->nbs[i].n_cells * 2 * f->dim + 1) * sizeof **z);
      rk_frozen_head(f, k, &ds->nbs[i], x[i], z[i]);
    }
    if (o->verbose)
      fprintf(stderr, "dual (frozen) fold %d/%d: MLPs trained on %d notebooks, out-of-fold vectors "
              "of the other %d; held-out tau %.4f\n", k + 1, folds, n_in, n_out, r.tau_dual);
  }
  free(in);
  return rc;
}
