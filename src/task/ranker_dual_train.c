/* Training the dual (cell-pair) encoder on the shared trainer: each micro-batch is a few whole
 * notebooks (every cell one row), the loss is the slot softmax's cross-entropy of each of their
 * markdown cells; validated each epoch by the Kendall tau of its own slot distributions decoded
 * by the weighted median, keeping the best weights. */
#include <math.h>
#include <string.h>

#include "ordo/files.h"
#include "ordo/ranker.h"
#include "ordo/rng.h"

typedef struct dual_task {
  const nb_dataset *ds;
  const tok *tk;
  const rk_dual_config *dc;
  const rk_cell_tokens *ct;
  const int32_t *nbs;     /* the epoch's notebooks, grouped */
  const int32_t *grp;     /* (n_groups + 1) offsets into nbs */
  int64_t first_group;    /* the step's first micro-batch (of every rank's) */
  int n_micro, first_micro; /* the step's micro-batches over all ranks; this rank's first */
  int T;
  int32_t *ids, *msk, *tt, **slots;
  float *dscore;
  int64_t tokens;
} dual_task;

static float dual_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)step;
  dual_task *t = ctx;
  int64_t gi = t->first_group + t->first_micro + i;
  int32_t a = t->grp[gi], b = t->grp[gi + 1];
  int rows = 0, longest = 0, n_md = 0;
  for (int32_t k = a; k < b; k++) {
    int32_t nbi = t->nbs[k];
    const nb_notebook *nb = &t->ds->nbs[nbi];
    n_md += nb->n_md;
    for (int32_t c = 0; c < nb->n_cells; c++, rows++) {
      int len = rk_dual_encode_cell(t->dc, t->tk, t->ct, nbi, nb, c, t->T, t->ids + (size_t)rows * t->T,
                                    t->msk + (size_t)rows * t->T, t->tt + (size_t)rows * t->T);
      longest = len > longest ? len : longest;
      t->tokens += len;
    }
  }
  enc_batch bt = rk_pack_rows(t->ids, t->msk, t->tt, rows, t->T, longest);
  bt.head_rows_only = 1; /* the cell vectors are the head's, at each cell's first row */
  enc_forward(m, &bt, 1);
  enc_zero_output_grads(m, &bt);
  const int L = 2 * t->dc->dim;
  /* each markdown weighs 1 / (markdown cells of the micro-batch), each micro-batch 1 / n_micro
   * (the micro-batches of every rank) */
  float g = dloss / (float)t->n_micro / (float)(n_md ? n_md : 1);
  double loss = 0;
  /* the embeddings and their gradient on the host; d_cls_logits is zero, so the upload replaces it */
  size_t nz = (size_t)rows * L;
  float *zh = ordo_malloc(2 * nz * sizeof *zh), *dz = zh + nz;
  enc_read(m, zh, m->cls_logits, nz * sizeof *zh);
  memset(dz, 0, nz * sizeof *dz);
  for (int32_t k = a, row0 = 0; k < b; k++) {
    const nb_notebook *nb = &t->ds->nbs[t->nbs[k]];
    const float *z = zh + (size_t)row0 * L;
    int32_t ns = nb->n_code + 1;
    float *lp = t->dscore;
    rk_dual_logprobs(nb, z, t->dc->dim, lp);
    const int32_t *truth = t->slots[t->nbs[k]];
    rk_slot_nll_grad(lp, nb->n_md, ns, truth, g, &loss);
    rk_dual_scores_backward(nb, z, t->dc->dim, lp, dz + (size_t)row0 * L);
    row0 += nb->n_cells;
  }
  enc_write(m, m->d_cls_logits, dz, nz * sizeof *dz);
  free(zh);
  m->has_d_cls = 1;
  enc_backward(m, &bt);
  return (float)(loss / (n_md ? n_md : 1) / t->n_micro);
}

/* The dual encoder alone on the notebooks in val (this rank's part of the held-out set; the
 * figures are summed over the ranks of d): Kendall tau (overall and per length bucket) and the
 * slot cross-entropy of their markdown cells. */
static void dual_val(enc_model *m, const tok *tk, const rk_dual_config *dc, const nb_dataset *ds,
                     const uint8_t *val, int threads, ordo_dist *d, rk_val_metrics *v) {
  float **z = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *z);
  float **pos = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *pos);
  rk_dual_embed(m, tk, dc, ds, val, threads, z);
  double nll = 0;
  int64_t n_md = 0;
  for (int32_t i = 0; i < ds->n; i++)
    if (z[i]) {
      const nb_notebook *nb = &ds->nbs[i];
      pos[i] = ordo_malloc(((size_t)nb->n_md + 1) * sizeof **pos);
      rk_dual_positions(nb, z[i], dc->dim, pos[i]);
      int32_t ns = nb->n_code + 1;
      float *lp = ordo_malloc(((size_t)nb->n_md * ns + 1) * sizeof *lp);
      int32_t *truth = ordo_malloc(((size_t)nb->n_md + 1) * sizeof *truth);
      rk_dual_logprobs(nb, z[i], dc->dim, lp);
      rk_true_slots(nb, truth);
      for (int32_t md = 0; md < nb->n_md; md++) nll -= lp[(size_t)md * ns + truth[md]], n_md++;
      free(lp), free(truth), free(z[i]);
    }
  rk_val_sum(d, ds, val, pos, nll, n_md, v);
  for (int32_t i = 0; i < ds->n; i++) free(pos[i]);
  free(z), free(pos);
}

/* The dual stage on the shared epoch loop (rk_stage). */
typedef struct dual_stage {
  dual_task task;
  trainer *tr;
  const int32_t *order, *grp, *n_grp; /* per epoch: notebooks, micro-batch offsets, counts */
  int32_t n_use;
  enc_model *m;
  const uint8_t *val; /* this rank's part of the held-out notebooks */
  ordo_dist *dist;
  int any_val, threads;
} dual_stage;

static int64_t dual_epoch_begin(void *ctx, int ep) {
  dual_stage *d = ctx;
  d->task.nbs = d->order + (size_t)ep * (d->n_use + 1);
  d->task.grp = d->grp + (size_t)ep * (d->n_use + 2);
  return d->n_grp[ep] / d->task.n_micro;
}

static void dual_step(void *ctx, int ep, int64_t k, trainer_stats *st, int64_t *tokens) {
  (void)ep;
  dual_stage *d = ctx;
  d->task.first_group = k * d->task.n_micro;
  d->task.tokens = 0;
  trainer_step(d->tr, &d->task, NULL, dual_micro, st);
  *tokens = d->task.tokens;
}

static void dual_validate(void *ctx, rk_val_metrics *v) {
  dual_stage *d = ctx;
  if (!d->any_val) {
    *v = (rk_val_metrics){.tau = -1, .loss = NAN};
    return;
  }
  dual_val(d->m, d->task.tk, d->task.dc, d->task.ds, d->val, d->threads, d->dist, v);
}

int rk_dual_train(enc_model *m, trainer *tr, const tok *tk, const rk_dual_config *dc,
                  const nb_dataset *ds, const uint8_t *train, const uint8_t *val,
                  const rk_train_opts *o, const char *dir, const char *name,
                  ordo_metrics *metrics, rk_train_result *res, ordo_err *e) {
  int per = dc->md_tokens > dc->code_tokens ? dc->md_tokens : dc->code_tokens;
  int T = per + 2, maxB = m->maxB;
  double t0 = ordo_time();
  rk_cell_tokens ct;
  rk_cell_tokens_build(&ct, tk, ds, train, per, o->threads);
  /* the notebooks trained on: with markdown, and small enough for one micro-batch */
  int32_t n_use = 0, skipped = 0;
  int32_t *nbs = ordo_malloc((size_t)(ds->n ? ds->n : 1) * sizeof *nbs);
  int32_t **slots = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *slots);
  for (int32_t i = 0; i < ds->n; i++) {
    if (!train[i] || ds->nbs[i].n_md == 0) continue;
    if (ds->nbs[i].n_cells > maxB) {
      skipped++;
      continue;
    }
    nbs[n_use++] = i;
    slots[i] = ordo_malloc((size_t)ds->nbs[i].n_md * sizeof **slots);
    rk_true_slots(&ds->nbs[i], slots[i]);
  }
  if (o->verbose)
    fprintf(stderr, "%s: %d training notebooks (%d with more than %d cells left out), cells "
            "tokenized in %.1f s\n", name, n_use, skipped, maxB, ordo_time() - t0);
  /* every epoch's order, packed into micro-batches of whole notebooks of at most dual_cells rows
   * (a larger notebook alone), planned up front so that the schedule knows the step count */
  const int N = rk_micro_per_step(tr), E = o->dual_epochs;
  int32_t *order = ordo_malloc((size_t)E * (n_use + 1) * sizeof *order);
  int32_t *grp = ordo_malloc((size_t)E * (n_use + 2) * sizeof *grp), *n_grp = ordo_calloc((size_t)E, sizeof *n_grp);
  ordo_rng r;
  rng_init(&r, o->init_seed ^ 0xd1b54a32d192ed03ULL);
  int64_t total = 0;
  for (int ep = 0; ep < E; ep++) {
    int32_t *ord = order + (size_t)ep * (n_use + 1), *g = grp + (size_t)ep * (n_use + 2), rows = 0;
    memcpy(ord, nbs, (size_t)n_use * sizeof *ord);
    rng_shuffle_i32(&r, ord, n_use);
    g[0] = 0;
    for (int32_t k = 0; k < n_use; k++) {
      int c = ds->nbs[ord[k]].n_cells;
      if (rows > 0 && rows + c > o->dual_cells) g[++n_grp[ep]] = k, rows = 0;
      rows += c;
    }
    if (n_use > 0) g[++n_grp[ep]] = n_use;
    total += n_grp[ep] / N;
  }
  if (o->max_steps > 0 && total > o->max_steps) total = o->max_steps;
  if (n_use == 0 || total < 1) {
    for (int32_t i = 0; i < ds->n; i++) free(slots[i]);
    free(nbs), free(slots), free(grp), free(order), free(n_grp), rk_cell_tokens_free(&ct);
    return ordo_fail(e, "%s: %d training notebooks with markdown cells make no step of %d "
                     "micro-batches", name, n_use, N);
  }
  tr->cfg.steps = total;
  tr->cfg.sched = (sched_config){.kind = o->tech.sched.kind, .lr = (float)o->dual_lr,
                                 .total_steps = total,
                                 .warmup_steps = (int64_t)(o->point_warmup * total), .min_lr = 0};
  int32_t *ids = ordo_malloc((size_t)maxB * T * sizeof *ids), *msk = ordo_malloc((size_t)maxB * T * sizeof *msk);
  int32_t *tt = ordo_malloc((size_t)maxB * T * sizeof *tt);
  int max_md_rows = 1;
  for (int32_t k = 0; k < n_use; k++) {
    const nb_notebook *nb = &ds->nbs[nbs[k]];
    int rr = nb->n_md * (nb->n_code + 1);
    max_md_rows = rr > max_md_rows ? rr : max_md_rows;
  }
  float *dscore = ordo_malloc((size_t)max_md_rows * sizeof *dscore);
  char sub[4200], ckpt_dir[4300];
  snprintf(sub, sizeof sub, "%s/%s", dir, name);
  snprintf(ckpt_dir, sizeof ckpt_dir, "%s/checkpoint_%s", dir, name);
  int rc = dist_is_root(o->dist) ? ordo_dir_ensure(sub, e) : 0;
  uint8_t *val_mine = rk_val_part(o->dist, ds, val);
  if (rc == 0) {
    dual_stage ds_ = {.task = {.ds = ds, .tk = tk, .dc = dc, .ct = &ct, .n_micro = N,
                               .first_micro = rk_first_micro(tr), .T = T,
                               .ids = ids, .msk = msk, .tt = tt, .slots = slots, .dscore = dscore},
                      .tr = tr, .order = order, .grp = grp, .n_grp = n_grp, .n_use = n_use,
                      .m = m, .val = val_mine, .dist = o->dist, .threads = o->threads};
    for (int32_t i = 0; i < ds->n; i++) ds_.any_val |= val[i];
    rk_stage st = {.name = name, .m = m, .tr = tr, .o = o, .epochs = E, .total = total,
                   .ckpt_dir = ckpt_dir, .save_dir = sub, .metrics = metrics, .has_val = ds_.any_val, .ctx = &ds_,
                   .epoch_begin = dual_epoch_begin, .step = dual_step, .validate = dual_validate};
    rk_stage_result sr;
    rc = rk_stage_run(&st, &sr, e);
    rk_dual_result(res, &sr);
  }
  for (int32_t i = 0; i < ds->n; i++) free(slots[i]);
  free(slots), free(nbs), free(grp), free(order), free(n_grp), free(ids), free(msk), free(tt), free(dscore);
  free(val_mine);
  rk_cell_tokens_free(&ct);
  return rc;
}
