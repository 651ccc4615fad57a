/* Training the rankers on a notebook dataset: group split, the pointwise encoder (optional), then
 * the slot MLP over lexical features (and the pointwise positions), validated each epoch by
 * Kendall tau on the held-out groups; the best weights are kept and written to the model dir. */
#include <math.h>
#include <omp.h>
#include <string.h>
#include <sys/stat.h>

#include "ordo/batching.h"
#include "ordo/checkpoint.h"
#include "ordo/files.h"
#include "ordo/progress.h"
#include "ordo/ranker.h"
#include "ordo/rng.h"
#include "ordo/schedule.h"

int rk_save_meta(const rk_model *m, const rk_train_result *res, const char *dir, ordo_err *e);

rk_train_opts rk_train_defaults(void) {
  rk_train_opts o;
  memset(&o, 0, sizeof o);
  o.val_frac = 0.1;
  o.seed = 42;
  o.init_seed = 42;
  o.slot_hidden = 0; /* by the model (slot_sized) */
  o.slot_epochs = 0;
  o.slot_lr = 3e-3;
  o.slot_max_nb = 1000;
  o.point = 0;
  o.dual = 1;
  o.dc = (rk_dual_config){.md_tokens = 64, .code_tokens = 64, .dim = 64};
  o.dual_cells = 256;
  o.dual_epochs = 5;
  o.dual_lr = 1e-3;
  o.nbm = 1;
  o.nbc = (rk_nbm_config){.layers = 2, .hidden = 64, .heads = 4, .intermediate = 256};
  o.nbm_epochs = 8;
  o.nbm_notebooks = 8;
  o.nbm_lr = 1e-3;
  o.nbm_over_slot = 1;
  o.stem = 1;
  o.layers = 2;
  o.hidden = 128;
  o.heads = 2;
  o.intermediate = 512;
  o.vocab_size = 8000;
  o.pc = (rk_point_config){.md_tokens = 48, .n_code = 12, .code_tokens = 14, .seq = 224};
  o.point_epochs = 1;
  o.batch = 16;
  o.point_lr = 1e-3;
  o.point_warmup = 0.05;
  o.max_minutes = 75; /* a safety cap per encoder: on nb-public at 2 threads the dual encoder on all
                         training notebooks takes about 14 minutes, each fold's about 8 */
  o.init_frozen = -1; /* frozen on the CPU backends, fine-tuned on a GPU */
  o.frozen_pool = RK_POOL_MEAN;
  o.frozen_hidden = 256;
  o.frozen_epochs = 10;
  o.frozen_lr = 1e-3;
  o.dual_folds = -1; /* by the route: RK_DUAL_FOLDS frozen, RK_DUAL_FOLDS_TRAINED trained, the
                        folds --dual-from's DIR holds */
  o.dense_feats = 1;
  o.tech = trainer_defaults(); /* clip 1.0, AdamW weight decay 0.01, 32-bit state, fp32 */
  return o;
}

/* ---- the pointwise encoder ----------------------------------------------------------------- */
typedef struct point_batch {
  const enc_batch *b;
  const float *targets;
} point_batch;

static float point_batch_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)step, (void)i;
  const point_batch *pb = ctx;
  enc_batch b = *pb->b;
  b.head_rows_only = 1; /* the head reads the first rows alone */
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  float loss = enc_loss_cls_mse(m, &b, pb->targets, dloss);
  enc_backward(m, &b);
  return loss;
}

float rk_point_train_step(trainer *t, const enc_batch *b, const float *targets) {
  ORDO_CHECK(t->cfg.accum_steps == 1);
  point_batch pb = {b, targets};
  trainer_stats st;
  trainer_step(t, &pb, NULL, point_batch_micro, &st);
  return st.loss;
}

/* A training step's samples, cut into accum micro-batches of B (the trainer's callback). */
typedef struct point_sample {
  int32_t nb, md;
} point_sample;

typedef struct point_task {
  const nb_dataset *ds;
  const rk_point_config *pc;
  const tok *tk;
  const rk_cell_tokens *ct;
  const point_sample *smp; /* the epoch's shuffled samples */
  int32_t *const *slots;
  int64_t first;           /* index of the step's first sample (of every rank's) */
  int B, T, n_micro;       /* n_micro: the step's micro-batches over all ranks */
  int first_micro;         /* this rank's first of them */
  int32_t *ids, *msk;
  float *tgt, *feats;
  int64_t real_tokens;
  int shrink;              /* run each micro-batch at its longest row's length */
  int64_t padded_tokens;   /* tokens the encoder processed (B x batch length) */
} point_task;

static float point_task_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)step;
  point_task *t = ctx;
  int longest = 0;
  for (int j = 0; j < t->B; j++) {
    point_sample s = t->smp[t->first + (int64_t)(t->first_micro + i) * t->B + j];
    const nb_notebook *nb = &t->ds->nbs[s.nb];
    int n = rk_point_encode_ct(t->pc, t->tk, t->ct, s.nb, nb, s.md, t->ids + (size_t)j * t->T,
                               t->msk + (size_t)j * t->T);
    t->real_tokens += n;
    longest = n > longest ? n : longest;
    t->tgt[j] = nb->n_code ? (float)t->slots[s.nb][s.md] / (float)nb->n_code : 0.0f;
    rk_point_head_features(nb, t->feats + (size_t)j * RK_POINT_NFEAT);
  }
  /* with shrink, the batch runs at its longest row's length */
  enc_batch b = rk_pack_rows(t->ids, t->msk, NULL, t->B, t->T, t->shrink ? longest : t->T);
  b.head_feats = t->feats;
  t->padded_tokens += (int64_t)b.B * b.T;
  point_batch pb = {&b, t->tgt};
  /* MSE is a mean over the B samples: each micro-batch carries 1/n_micro of the step (the
   * micro-batches of every rank) */
  return point_batch_micro(&pb, m, step, i, dloss / (float)t->n_micro) / (float)t->n_micro;
}

/* Rank 0's text (json, *len bytes) on every rank: the others' json is replaced. */
static void text_from_root(ordo_dist *d, char **json, size_t *len) {
  if (dist_world(d) < 2) return;
  int64_t n = (int64_t)*len;
  dist_bcast_bytes(d, &n, (int64_t)sizeof n, "tokenizer size");
  if (!dist_is_root(d)) {
    free(*json);
    *json = ordo_malloc((size_t)n + 1);
    (*json)[n] = 0;
    *len = (size_t)n;
  }
  dist_bcast_bytes(d, *json, n, "tokenizer");
}

/* Builds or loads the tokenizer; writes DIR/tokenizer.json (rank 0; a trained one is rank 0's on
 * every rank). */
static int point_tokenizer(const nb_dataset *ds, const uint8_t *train, const rk_train_opts *o,
                           const char *dir, tok **tk, ordo_err *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  const int root = dist_is_root(o->dist);
  if (o->tokenizer) {
    if (tok_load(tk, o->tokenizer, e) != 0) return -1;
    if (!root) return 0;
    struct stat sb;
    char src[4096];
    if (stat(o->tokenizer, &sb) == 0 && S_ISDIR(sb.st_mode))
      snprintf(src, sizeof src, "%s/tokenizer.json", o->tokenizer);
    else
      snprintf(src, sizeof src, "%s", o->tokenizer);
    size_t len;
    char *txt = ordo_read_file(src, &len, e);
    if (!txt) return -1;
    int rc = ordo_write_file_atomic(path, txt, len, e);
    free(txt);
    return rc;
  }
  /* BPE on the cells of (at most 1,500) training notebooks, each cell cut at 2,000 bytes */
  int64_t n = 0, cap = 0;
  const char **texts = NULL;
  size_t *lens = NULL;
  int32_t used = 0;
  for (int32_t i = 0; i < ds->n && used < 1500; i++) {
    if (!train[i]) continue;
    used++;
    for (int32_t k = 0; k < ds->nbs[i].n_cells; k++) {
      if (n == cap) {
        cap = cap ? cap * 2 : 4096;
        texts = ordo_realloc(texts, (size_t)cap * sizeof *texts);
        lens = ordo_realloc(lens, (size_t)cap * sizeof *lens);
      }
      texts[n] = ds->nbs[i].cells[k].source;
      lens[n] = (size_t)(ds->nbs[i].cells[k].len < 2000 ? ds->nbs[i].cells[k].len : 2000);
      n++;
    }
  }
  tok_train_opts to = {.vocab_size = o->vocab_size, .min_frequency = 2, .progress = o->verbose};
  char *json = NULL;
  double t0 = ordo_time();
  int rc = root ? tok_train_bpe_texts(texts, lens, (int)n, &to, &json, e) : 0;
  free(texts), free(lens);
  if (rc != 0) return -1;
  size_t json_len = root ? strlen(json) : 0;
  text_from_root(o->dist, &json, &json_len);
  rc = tok_load_json(tk, json, json_len, "trained tokenizer", e);
  if (rc == 0 && root) rc = ordo_write_file_atomic(path, json, json_len, e);
  free(json);
  if (rc == 0 && o->verbose)
    fprintf(stderr, "tokenizer: byte-level BPE, vocab %d, trained on %lld cells of %d notebooks in %.1f s\n",
            tok_vocab_size(*tk), (long long)n, used, ordo_time() - t0);
  return rc;
}

/* The pointwise stage on the shared epoch loop (rk_stage): the epoch's sample order (shuffled, or
 * length-grouped batches), one step of B x N samples, validation by the held-out tau of the
 * pointwise positions. */
typedef struct point_stage {
  point_task task;
  trainer *tr;
  const rk_train_opts *o;
  point_sample *smp, *smp0; /* the epoch's order; the original order (length grouping) */
  int32_t *lens;            /* per sample token counts (length grouping), or NULL */
  int64_t ns, steps_per_epoch;
  ordo_rng r;
  int64_t all_real, all_padded;
  /* validation */
  rk_model *rm;
  const nb_dataset *ds;
  const uint8_t *val;
  int any_val;
  float **pred, **val_pred;
} point_stage;

static int64_t point_epoch_begin(void *ctx, int ep) {
  point_stage *p = ctx;
  if (p->lens) {
    length_batches lb;
    length_batches_plan(&lb, p->lens, (int32_t)p->ns, p->task.B, 50, p->o->init_seed, ep);
    for (int64_t k = 0; k < p->ns; k++) p->smp[k] = p->smp0[lb.order[k]];
    if (p->o->verbose)
      fprintf(stderr, "pointwise epoch %d: length-grouped batches, padding %.1f%% of tokens "
              "(plain shuffled batches: %.1f%%; %.0f%% of it saved)\n", ep + 1,
              100.0 * (lb.padded_tokens - lb.real_tokens) / (double)lb.padded_tokens,
              100.0 * (lb.random_padded_tokens - lb.real_tokens) / (double)lb.random_padded_tokens,
              100.0 * length_batches_padding_saved(&lb));
    length_batches_free(&lb);
  } else {
    for (int64_t a = p->ns - 1; a > 0; a--) { /* Fisher-Yates over the samples */
      int64_t b = (int64_t)(rng_u64(&p->r) % (uint64_t)(a + 1));
      point_sample t = p->smp[a];
      p->smp[a] = p->smp[b], p->smp[b] = t;
    }
  }
  return p->steps_per_epoch;
}

static void point_step(void *ctx, int ep, int64_t k, trainer_stats *st, int64_t *tokens) {
  (void)ep;
  point_stage *p = ctx;
  p->task.first = k * p->task.B * p->task.n_micro;
  p->task.real_tokens = 0;
  trainer_step(p->tr, &p->task, NULL, point_task_micro, st);
  *tokens = p->task.real_tokens;
  p->all_real += p->task.real_tokens;
  p->all_padded += p->task.padded_tokens;
  p->task.padded_tokens = 0;
}

/* Kendall tau of the pointwise positions on the held-out groups (its predictions kept in pred),
 * and their mean squared error against the true relative slots (the training loss). */
static void point_validate(void *ctx, rk_val_metrics *v) {
  point_stage *p = ctx;
  const nb_dataset *ds = p->ds;
  for (int32_t i = 0; i < ds->n; i++) free(p->pred[i]), p->pred[i] = NULL;
  if (!p->any_val) {
    *v = (rk_val_metrics){.tau = -1, .loss = NAN};
    return;
  }
  rk_point_predict(&p->rm->enc, p->rm->tk, &p->rm->pc, ds, p->val, p->o->threads, p->pred);
  float **pos = ordo_calloc((size_t)ds->n, sizeof *pos);
  double se = 0;
  int64_t n_md = 0;
  for (int32_t i = 0; i < ds->n; i++)
    if (p->pred[i]) {
      const nb_notebook *nb = &ds->nbs[i];
      int32_t *truth = ordo_malloc(((size_t)nb->n_md + 1) * sizeof *truth);
      rk_true_slots(nb, truth);
      for (int32_t md = 0; md < nb->n_md; md++, n_md++) {
        double t = nb->n_code ? (double)truth[md] / nb->n_code : 0.0, d = p->pred[i][md] - t;
        se += d * d;
      }
      free(truth);
      pos[i] = ordo_malloc(((size_t)nb->n_md + 1) * sizeof **pos);
      rk_point_to_pos(nb, p->pred[i], pos[i]);
    }
  rk_val_of_positions(ds, p->val, pos, v);
  v->loss = n_md ? se / (double)n_md : NAN;
  for (int32_t i = 0; i < ds->n; i++) free(pos[i]);
  free(pos);
}

/* the best epoch's held-out predictions serve the slot features later */
static void point_kept(void *ctx) {
  point_stage *p = ctx;
  for (int32_t i = 0; i < p->ds->n; i++) {
    free(p->val_pred[i]);
    p->val_pred[i] = p->pred[i];
    p->pred[i] = NULL;
  }
}

/* Trains the encoder; keeps the weights with the best validation tau in m, and their relative
 * predictions on the validation notebooks in val_pred (n notebooks, NULL elsewhere). */
static int point_train(rk_model *rm, trainer *tr, const nb_dataset *ds, const uint8_t *train,
                       const uint8_t *val, const rk_train_opts *o, const char *dir,
                       ordo_metrics *metrics, rk_train_result *res, float **val_pred,
                       ordo_err *e) {
  enc_model *m = &rm->enc;
  const rk_point_config *pc = &rm->pc;
  int B = o->batch, T = pc->seq;
  int per = pc->md_tokens > pc->code_tokens ? pc->md_tokens : pc->code_tokens;
  double t0 = ordo_time();
  rk_cell_tokens ct;
  rk_cell_tokens_build(&ct, rm->tk, ds, NULL, per, o->threads);
  if (o->verbose) fprintf(stderr, "pointwise: cells tokenized in %.1f s\n", ordo_time() - t0);
  int64_t ns = 0;
  for (int32_t i = 0; i < ds->n; i++)
    if (train[i]) ns += ds->nbs[i].n_md;
  point_sample *smp = ordo_malloc((size_t)(ns ? ns : 1) * sizeof *smp);
  int32_t **slots = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *slots);
  for (int32_t i = 0, k = 0; i < ds->n; i++) {
    if (!train[i]) continue;
    slots[i] = ordo_malloc((size_t)(ds->nbs[i].n_md + 1) * sizeof **slots);
    rk_true_slots(&ds->nbs[i], slots[i]);
    for (int32_t md = 0; md < ds->nbs[i].n_md; md++) smp[k++] = (point_sample){i, md};
  }
  const int N = rk_micro_per_step(tr);
  int64_t steps_per_epoch = ns / ((int64_t)B * N), total = steps_per_epoch * o->point_epochs;
  if (o->max_steps > 0 && total > o->max_steps) total = o->max_steps;
  if (total < 1) {
    ordo_fail(e, "pointwise: %lld training markdown cells are fewer than one batch of %d",
              (long long)ns, B * N);
    for (int32_t i = 0; i < ds->n; i++) free(slots[i]);
    free(smp), free(slots), rk_cell_tokens_free(&ct);
    return -1;
  }
  tr->cfg.steps = total;
  tr->cfg.sched = (sched_config){.kind = o->tech.sched.kind, .lr = (float)o->point_lr,
                                 .total_steps = total,
                                 .warmup_steps = (int64_t)(o->point_warmup * total), .min_lr = 0};
  int32_t *ids = ordo_malloc((size_t)B * T * sizeof *ids), *msk = ordo_malloc((size_t)B * T * sizeof *msk);
  float *tgt = ordo_malloc((size_t)B * sizeof *tgt);
  float *feats = ordo_malloc((size_t)B * RK_POINT_NFEAT * sizeof *feats);
  point_stage ps = {
      .task = {.ds = ds, .pc = pc, .tk = rm->tk, .ct = &ct, .smp = smp, .slots = slots, .B = B,
               .T = T, .n_micro = N, .first_micro = rk_first_micro(tr), .ids = ids, .msk = msk, .tgt = tgt, .feats = feats},
      .tr = tr, .o = o, .smp = smp, .ns = ns, .steps_per_epoch = steps_per_epoch, .rm = rm,
      .ds = ds, .val = val, .val_pred = val_pred};
  rng_init(&ps.r, o->init_seed ^ 0x9e3779b97f4a7c15ULL);
  for (int32_t i = 0; i < ds->n; i++) ps.any_val |= val[i];
  ps.pred = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *ps.pred);
  if (o->tech.group_by_length) {
    /* every sample's token count, once: the batches are planned from it each epoch */
    ps.lens = ordo_malloc((size_t)ns * sizeof *ps.lens);
    ps.smp0 = ordo_malloc((size_t)ns * sizeof *ps.smp0);
    memcpy(ps.smp0, smp, (size_t)ns * sizeof *ps.smp0);
    for (int64_t k = 0; k < ns; k++)
      ps.lens[k] = rk_point_encode_ct(pc, rm->tk, &ct, smp[k].nb, &ds->nbs[smp[k].nb], smp[k].md,
                                      ids, msk);
    ps.task.shrink = 1;
  }
  char ckpt_dir[4200];
  snprintf(ckpt_dir, sizeof ckpt_dir, "%s/checkpoint", dir);
  rk_stage st = {.name = "pointwise", .m = m, .tr = tr, .o = o, .epochs = o->point_epochs,
                 .total = total, .ckpt_dir = ckpt_dir, .save_dir = dir, .metrics = metrics,
                 .has_val = ps.any_val,
                 .ctx = &ps, .epoch_begin = point_epoch_begin, .step = point_step,
                 .validate = point_validate, .kept = point_kept};
  rk_stage_result sr;
  int rc = rk_stage_run(&st, &sr, e);
  if (o->verbose && ps.all_padded > 0)
    fprintf(stderr, "pointwise: %.1f%% of the encoder's tokens were padding\n",
            100.0 * (double)(ps.all_padded - ps.all_real) / (double)ps.all_padded);
  if (rc == 0 && sr.resumed_at > 0) {
    /* the best epoch may predate the resume: its held-out predictions, from its weights */
    uint8_t *need = ordo_calloc((size_t)(ds->n ? ds->n : 1), 1);
    int any = 0;
    for (int32_t i = 0; i < ds->n; i++) any |= need[i] = val[i] && !val_pred[i];
    if (any) rk_point_predict(m, rm->tk, pc, ds, need, o->threads, val_pred);
    free(need);
  }
  res->tau_point = sr.best_tau;
  res->point_steps = sr.steps;
  res->seconds_point = sr.seconds;
  res->point_loss_first = sr.loss_first;
  res->point_loss_last = sr.loss_last;
  for (int32_t i = 0; i < ds->n; i++) free(slots[i]), free(ps.pred[i]);
  free(slots), free(smp), free(ids), free(msk), free(tgt), free(feats), free(ps.pred);
  free(ps.lens), free(ps.smp0);
  rk_cell_tokens_free(&ct);
  return rc;
}

/* ---- the slot MLP -------------------------------------------------------------------------- */
/* Held-out positions of the notebooks in val, and the summed cross-entropy of their markdown
 * cells' true slots with the cells' count in *n_md_out. */
static double slot_val_positions(const rk_slot_model *sm, const nb_dataset *ds, const uint8_t *val,
                                 rk_lex *sims, float *const *pp, int threads, float **pos,
                                 int64_t *n_md_out) {
  double nll = 0;
  int64_t n_md = 0;
#pragma omp parallel num_threads(threads) reduction(+ : nll, n_md)
  {
    rk_slot_work w = {0};
#pragma omp for schedule(dynamic, 4)
    for (int32_t i = 0; i < ds->n; i++) {
      if (!val[i]) continue;
      const nb_notebook *nb = &ds->nbs[i];
      int32_t ns = nb->n_code + 1;
      float *prob = ordo_malloc(((size_t)nb->n_md * ns + 1) * sizeof *prob);
      int32_t *truth = ordo_malloc(((size_t)nb->n_md + 1) * sizeof *truth);
      rk_slot_predict_nb(sm, nb, &sims[i], pp ? pp[i] : NULL, &w, prob);
      rk_true_slots(nb, truth);
      for (int32_t md = 0; md < nb->n_md; md++, n_md++)
        nll -= log((double)prob[(size_t)md * ns + truth[md]] + 1e-12);
      if (!pos[i]) pos[i] = ordo_malloc((size_t)(nb->n_md + 1) * sizeof **pos);
      rk_slot_decode(nb, prob, pos[i]);
      free(prob), free(truth);
    }
    rk_slot_work_free(&w);
  }
  *n_md_out = n_md;
  return nll;
}

/* The slot model's step on the trainer: notebooks [first, last) of the epoch's order, cut into
 * micro-batches of nb_per_micro (over all ranks, this rank's from first_micro on); each
 * notebook's loss weighs 1 / (notebooks in the step). */
typedef struct slot_task {
  rk_slot_model *sm;
  const nb_dataset *ds;
  rk_lex *sims;
  float *const *pp;
  const int32_t *order;
  rk_slot_work *w;
  int nb_per_micro, first_micro;
  int32_t first, last;
  double lsum;
  int64_t lcnt;
} slot_task;

static float slot_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)m, (void)step;
  slot_task *t = ctx;
  int32_t a, b;
  rk_micro_span(t->first, t->last, t->first_micro, i, t->nb_per_micro, &a, &b);
  float weight = 1.0f / (float)(t->last - t->first);
  double loss = 0;
  for (int32_t k = a; k < b; k++) {
    const nb_notebook *nb = &t->ds->nbs[t->order[k]];
    if (nb->n_md == 0) continue;
    float l = rk_slot_loss_nb(t->sm, nb, &t->sims[t->order[k]], t->pp ? t->pp[t->order[k]] : NULL,
                              t->w, dloss * weight);
    t->lsum += l;
    t->lcnt++;
    loss += (double)l * weight;
  }
  return (float)loss;
}

/* Trains the slot MLP as stage `stage` of the run's records (metrics may be NULL). */
static int slot_train(const char *stage, ordo_metrics *metrics, rk_slot_model *sm,
                      const nb_dataset *ds, const uint8_t *train, const uint8_t *val,
                      rk_lex *sims, float *const *pp, const rk_train_opts *o,
                      rk_train_result *res, ordo_err *e) {
  int32_t n_tr = 0;
  int any_val = 0;
  for (int32_t i = 0; i < ds->n; i++) n_tr += train[i], any_val |= val[i];
  int32_t *order = ordo_malloc((size_t)(n_tr ? n_tr : 1) * sizeof *order);
  for (int32_t i = 0, k = 0; i < ds->n; i++)
    if (train[i]) order[k++] = i;
  const int NB = 8; /* notebooks per micro-batch */
  const int N = o->tech.accum_steps * dist_world(o->dist); /* micro-batches of a step, all ranks' */
  int64_t per_epoch = (n_tr + NB * N - 1) / (NB * N), total = per_epoch * o->slot_epochs;
  /* on the shared trainer: accumulation and the optimizer's state width come from the
   * technique flags; precision and recompute are encoder techniques, clipping is off and the
   * rate schedule is the slot model's own */
  trainer_config tc = o->tech;
  tc.precision = ORDO_DT_F32;
  tc.recompute = ENC_RECOMPUTE_NONE;
  tc.loss_scaling = 0;
  tc.clip = 0;
  tc.steps = total > 0 ? total : 1;
  tc.adamw.lr = (float)o->slot_lr;
  tc.adamw.weight_decay = 0;
  tc.sched = (sched_config){.kind = SCHED_COSINE, .lr = (float)o->slot_lr, .total_steps = total,
                            .warmup_steps = per_epoch / 10, .min_lr = (float)o->slot_lr * 0.05f};
  trainer tr;
  ordo_err te;
  ORDO_CHECKF(trainer_init_params(&tr, &sm->params, &tc, &te) == 0, "%s", te.msg);
  ORDO_CHECKF(trainer_set_dist(&tr, o->dist, &te) == 0, "%s", te.msg); /* host memory: no error */
  ordo_rng r;
  rng_init(&r, o->init_seed + 17);
  rk_slot_work w = {0};
  float *best = ordo_malloc(sm->params.total * sizeof *best);
  memcpy(best, sm->params.data, sm->params.total * sizeof *best);
  float **pos = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *pos);
  uint8_t *val_mine = rk_val_part(o->dist, ds, val); /* this rank's part, the figures summed */
  double best_tau = -2, t0 = ordo_time();
  int64_t step = 0;
  int rc = metrics ? metrics_stage_begin(metrics, stage, 0, NULL, NULL, 0, e) : 0;
  ordo_progress pb;
  progress_init(&pb, stage, total);
  pb.silent = !dist_is_root(o->dist);
  for (int ep = 0; ep < o->slot_epochs && rc == 0; ep++) {
    rng_shuffle_i32(&r, order, n_tr);
    double lsum = 0;
    int64_t lcnt = 0;
    slot_task task = {.sm = sm, .ds = ds, .sims = sims, .pp = pp, .order = order, .w = &w,
                      .nb_per_micro = NB, .first_micro = rk_first_micro(&tr)};
    for (int32_t a = 0; a < n_tr && rc == 0; a += NB * N, step++) {
      double ts = ordo_time();
      task.first = a;
      task.last = a + NB * N < n_tr ? a + NB * N : n_tr;
      task.lsum = 0, task.lcnt = 0;
      trainer_stats st;
      trainer_step(&tr, &task, NULL, slot_micro, &st);
      lsum += task.lsum, lcnt += task.lcnt;
      double nbs = (double)(task.last - task.first) / (ordo_time() - ts);
      if (metrics) {
        metrics_record_begin(metrics, step + 1);
        trainer_metrics_add(metrics, &st);
        metrics_record_add(metrics, "notebooks_per_s", nbs);
        metrics_record_add(metrics, "epoch", ep + 1);
        rc = metrics_record_end(metrics, e);
      }
      char tail[160];
      snprintf(tail, sizeof tail, "epoch %d/%d loss %.4f %.0f notebooks/s", ep + 1, o->slot_epochs,
               st.loss, nbs);
      progress_update(&pb, step + 1, tail);
    }
    double tv = -1;
    if (any_val && rc == 0) {
      rk_val_metrics vm;
      int64_t n_md;
      double nll = slot_val_positions(sm, ds, val_mine, sims, pp,
                                      o->threads > 0 ? o->threads : omp_get_max_threads(), pos,
                                      &n_md);
      rk_val_sum(o->dist, ds, val_mine, pos, nll, n_md, &vm);
      rk_val_agree(o, &vm);
      tv = vm.tau;
      rc = rk_val_log(metrics, step, ep + 1, &vm, e);
    }
    progress_clear(&pb);
    if (dist_world(o->dist) > 1) { /* the epoch's loss over every rank's notebooks */
      lsum = dist_sum_f64(o->dist, lsum, "slot loss");
      lcnt = (int64_t)dist_sum_f64(o->dist, (double)lcnt, "slot loss count");
    }
    if (o->verbose) {
      char tau[32] = "not measured"; /* nothing held out */
      if (any_val) snprintf(tau, sizeof tau, "%.4f", tv);
      fprintf(stderr, "slot epoch %d: loss %.4f, val tau %s (%.1f s)\n", ep + 1,
              lcnt ? lsum / lcnt : 0.0, tau, ordo_time() - t0);
    }
    if (tv > best_tau || !any_val) {
      best_tau = tv;
      memcpy(best, sm->params.data, sm->params.total * sizeof *best);
    }
  }
  progress_finish(&pb, NULL);
  memcpy(sm->params.data, best, sm->params.total * sizeof *best);
  res->tau_slot = best_tau;
  res->seconds_slot = ordo_time() - t0;
  for (int32_t i = 0; i < ds->n; i++) free(pos[i]);
  free(pos), free(best), free(order), free(val_mine);
  rk_slot_work_free(&w);
  trainer_free(&tr);
  return rc;
}

/* The options of a slot model: its width and epochs as the flags say, or by default
 * RK_SLOT_HIDDEN x RK_SLOT_EPOCHS, and RK_SLOT_HIDDEN_ALL x RK_SLOT_EPOCHS_ALL for the model with
 * evidence when cross-fitting gives it every training notebook (the 6,435 of nb-public's
 * repository split take the larger model: bench/ai4code/NOTES.md). */
static rk_train_opts slot_sized(const rk_train_opts *o, int all_notebooks) {
  rk_train_opts so = *o;
  if (so.slot_hidden <= 0) so.slot_hidden = all_notebooks ? RK_SLOT_HIDDEN_ALL : RK_SLOT_HIDDEN;
  if (so.slot_epochs <= 0) so.slot_epochs = all_notebooks ? RK_SLOT_EPOCHS_ALL : RK_SLOT_EPOCHS;
  return so;
}

/* ---- the whole run ------------------------------------------------------------------------- */
/* The shared trainer of an encoder stage: the technique flags, the stage's rate and seed (its
 * steps, schedule and checkpoints are set by the stage). */
static int stage_trainer(trainer *t, enc_model *m, const rk_train_opts *o, double lr, ordo_err *e) {
  trainer_config tc = o->tech;
  tc.adamw.lr = (float)lr;
  tc.seed = o->init_seed;
  tc.ckpt_dir = NULL;
  if (trainer_init(t, m, &tc, e) != 0) return -1;
  if (trainer_set_dist(t, o->dist, e) == 0) return 0;
  trainer_free(t);
  return -1;
}

/* An encoder with a head of num_labels outputs (and head_features inputs beside the text): from
 * --init's config and weights, or a RoBERTa of the option's sizes for the tokenizer, with
 * positions for rows of seq tokens. */
static int build_encoder(enc_model *m, const tok *tk, const rk_train_opts *o, int num_labels,
                         int head_features, int type_vocab, int seq, ordo_err *e) {
  enc_config cfg;
  if (o->init) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", o->init);
    if (hfconfig_load(&cfg, path, e) != 0) return -1;
    if (cfg.vocab_size < tok_vocab_size(tk))
      return ordo_fail(e, "%s: vocab_size %d is smaller than the tokenizer's %d", o->init,
                       cfg.vocab_size, tok_vocab_size(tk));
    if (cfg.type_vocab_size < type_vocab)
      return ordo_fail(e, "%s: type_vocab_size %d, this model needs %d", o->init,
                       cfg.type_vocab_size, type_vocab);
  } else {
    hfconfig_defaults(&cfg, ORDO_ARCH_ROBERTA);
    cfg.num_hidden_layers = o->layers;
    cfg.hidden_size = cfg.embedding_size = o->hidden;
    cfg.num_attention_heads = o->heads;
    cfg.intermediate_size = o->intermediate;
    cfg.vocab_size = tok_vocab_size(tk);
    int32_t pad = tok_special_id(tk, TOK_SP_PAD);
    cfg.pad_token_id = pad >= 0 ? pad : 0;
    cfg.max_position_embeddings = seq + cfg.pad_token_id + 2;
    cfg.type_vocab_size = type_vocab;
  }
  cfg.attention_probs_dropout_prob = 0.0f; /* the recipe measured in bench/ai4code/NOTES.md */
  cfg.num_labels = num_labels;
  cfg.head_features = head_features;
  if (enc_init(m, &cfg, ENC_HEAD_CLS, o->be, e) != 0) return -1;
  if (enc_check_seq(&m->cfg, seq, e) != 0) {
    enc_free(m);
    return ordo_err_prefix(e, "%s", o->init ? o->init : "the encoder");
  }
  enc_init_weights(m, o->init_seed);
  if (o->init && enc_load(m, o->init, NULL, e) != 0) {
    enc_free(m);
    return -1;
  }
  return 0;
}

/* The notebook-level model over base distributions (log-probabilities) of the slot model's
 * and held-out notebooks, trained on the former: rm->nbm, written to DIR/notebook. */
static int nbm_stage(rk_model *rm, const nb_dataset *ds, float *const *z, float *const *base,
                     const uint8_t *train, const uint8_t *val, const rk_train_opts *o,
                     const char *dir, ordo_metrics *met, rk_train_result *res, ordo_err *e) {
  if (rk_nbm_init(&rm->nbm, &o->nbc, 2 * rm->dc.dim, o->be, e) != 0) return -1;
  rk_nbm_init_weights(&rm->nbm, o->init_seed);
  int rc = rk_nbm_train(&rm->nbm, ds, z, rm->dc.dim, base, train, val, o, dir, met, res, e);
  if (rc == 0) rm->has_nbm = 1;
  else enc_free(&rm->nbm);
  return rc < 0 ? -1 : 0;
}

/* The frozen route's dual part (rk_frozen): the pretrained encoder of --init copied to
 * DIR/frozen, the cell vectors of the training and held-out notebooks (from the cache there
 * where the cells are the same, the rest computed and added to it), with folds > 1 the
 * cross-fitted MLPs (rk_frozen_cross_fit: the out-of-fold vectors of the dual_tr notebooks into
 * z), and the MLPs trained on all dual_tr notebooks (DIR/dual/head.safetensors). */
static int frozen_stage(rk_model *rm, const nb_dataset *ds, const uint8_t *train,
                        const uint8_t *dual_tr, const int32_t *fold, int folds,
                        const uint8_t *val, const rk_train_opts *o, const char *dir,
                        ordo_metrics *met, rk_train_result *res, float **x, float **z,
                        ordo_err *e) {
  const int root = dist_is_root(o->dist);
  char tokp[4200], sub[4200], cache[4300];
  snprintf(tokp, sizeof tokp, "%s/tokenizer.json", o->init);
  snprintf(sub, sizeof sub, "%s/frozen", dir);
  snprintf(cache, sizeof cache, "%s/cell_vectors.safetensors", sub);
  if (rk_frozen_open(&rm->fz, o->init, tokp, o->frozen_pool, &o->dc, o->frozen_hidden, o->be, e) != 0)
    return -1;
  rm->dual_frozen = rm->has_dual = 1;
  rm->fz.progress = o->verbose;
  rm->fz.grow = 1;
  rm->dc = o->dc;
  rk_frozen_init_head(&rm->fz, o->init_seed);
  if (rk_frozen_cache_load(&rm->fz, cache, e) != 0) return -1;
  if (root && (ordo_dir_ensure(sub, e) != 0 || enc_save(&rm->fz.enc, sub, e) != 0)) return -1;
  if (o->verbose)
    fprintf(stderr, "dual model (frozen): %s L%d H%d, %.2fM parameters kept as they are, %s "
            "pooling, cells of %d/%d tokens; MLPs %d -> %d -> 2 x %d per side; %lld cell vectors "
            "cached\n", rm->fz.enc.cfg.model_type, rm->fz.enc.cfg.num_hidden_layers,
            rm->fz.in, params_count(&rm->fz.enc.params, 0) / 1e6, rk_pool_name(o->frozen_pool),
            o->dc.md_tokens, o->dc.code_tokens, rm->fz.in, rm->fz.hidden, rm->fz.dim,
            (long long)rm->fz.cache.n);
  uint8_t *need = ordo_malloc((size_t)(ds->n ? ds->n : 1));
  for (int32_t i = 0; i < ds->n; i++) need[i] = train[i] || val[i];
  double t0 = ordo_time();
  rk_frozen_vectors(&rm->fz, rm->tk, &rm->dc, ds, need, o->threads, x);
  double dt = ordo_time() - t0;
  if (o->verbose)
    fprintf(stderr, "dual (frozen): cell vectors: %lld computed in %.1f s (%.1f cells/s), %lld "
            "from the cache\n", (long long)rm->fz.computed, dt,
            rm->fz.computed / (dt > 0 ? dt : 1e-9), (long long)rm->fz.reused);
  int rc = root && rm->fz.computed > 0 ? rk_frozen_cache_save(&rm->fz, cache, e) : 0;
  if (rc == 0 && folds > 1)
    rc = rk_frozen_cross_fit(&rm->fz, ds, x, dual_tr, fold, folds, val, o, dir, met, z, e);
  if (rc == 0 && folds > 1) rk_frozen_init_head(&rm->fz, o->init_seed);
  if (rc == 0) rc = rk_frozen_train(&rm->fz, RK_HEAD_ALL, ds, x, dual_tr, val, o, dir, met, res, e);
  free(need);
  return rc;
}

/* A dual encoder trained from the start (or from --init's weights) on the train notebooks into
 * *m (built here), its weights written to DIR/<name>; planned for inference batches after. */
static int trained_dual(enc_model *m, const tok *tk, const nb_dataset *ds, const uint8_t *train,
                        const uint8_t *val, const rk_train_opts *o, const char *dir,
                        const char *name, ordo_metrics *met, rk_train_result *res, ordo_err *e) {
  int T = (o->dc.md_tokens > o->dc.code_tokens ? o->dc.md_tokens : o->dc.code_tokens) + 2;
  if (build_encoder(m, tk, o, 2 * o->dc.dim, 0, 2, T, e) != 0) return -1;
  trainer tr;
  if (stage_trainer(&tr, m, o, o->dual_lr, e) != 0) {
    enc_free(m);
    return -1;
  }
  int maxB = o->dual_cells;
  for (int32_t i = 0; i < ds->n; i++)
    if (train[i] && ds->nbs[i].n_cells > maxB) maxB = ds->nbs[i].n_cells;
  if (maxB > 4 * o->dual_cells) maxB = 4 * o->dual_cells;
  enc_plan(m, maxB, T, 0);
  m->seed = o->init_seed;
  if (o->verbose)
    fprintf(stderr, "%s model: L%d H%d A%d I%d, %.2fM parameters, cells of %d/%d tokens, head 2 x "
            "%d, up to %d cells per micro-batch\n", name, m->cfg.num_hidden_layers,
            m->cfg.hidden_size, m->cfg.num_attention_heads, m->cfg.intermediate_size,
            params_count(&m->params, 0) / 1e6, o->dc.md_tokens, o->dc.code_tokens, o->dc.dim,
            o->dual_cells);
  int rc = rk_dual_train(m, &tr, tk, &o->dc, ds, train, val, o, dir, name, met, res, e);
  trainer_free(&tr);
  if (rc != 0) {
    enc_free(m);
    return -1;
  }
  enc_plan(m, 256, T, 0); /* inference batches from here on */
  return 0;
}

/* Cross-fitting a trained dual encoder: fold k's encoder (rm->dual_fold[k], DIR/dual_fold<k + 1>)
 * trained on the train notebooks of the other folds gives the cell vectors z of fold k's. With
 * from (--dual-from, its folds checked to be these), the folds' encoders are taken from there. */
static int trained_cross_fit(rk_model *rm, const nb_dataset *ds, const uint8_t *train,
                             const int32_t *fold, int folds, const uint8_t *val,
                             const rk_train_opts *o, const char *dir, const char *from,
                             ordo_metrics *met, rk_train_result *res, float **z, ordo_err *e) {
  rm->dual_fold = ordo_calloc((size_t)folds, sizeof *rm->dual_fold);
  size_t n = (size_t)(ds->n ? ds->n : 1);
  uint8_t *in = ordo_malloc(n), *out = ordo_malloc(n);
  int threads = o->threads > 0 ? o->threads : omp_get_max_threads(), rc = 0;
  for (int k = 0; k < folds && rc == 0; k++) {
    int32_t n_in = 0, n_out = 0;
    for (int32_t i = 0; i < ds->n; i++) {
      in[i] = train[i] && fold[i] != k, out[i] = train[i] && fold[i] == k;
      n_in += in[i], n_out += out[i];
    }
    char name[32], path[4300];
    snprintf(name, sizeof name, "dual_fold%d", k + 1);
    rk_train_result r = {0}; /* a fold's figures are its own, not the run's */
    r.tau_dual = -1;
    double t0 = ordo_time();
    if (from) {
      rc = rk_dual_load(&rm->dual_fold[k], from, name, &o->dc, o->be, e);
      snprintf(path, sizeof path, "%s/%s", dir, name);
      if (rc == 0 && dist_is_root(o->dist) &&
          (ordo_dir_ensure(path, e) != 0 || enc_save(&rm->dual_fold[k], path, e) != 0))
        rc = -1, rm->dual_folds = k + 1;
    } else {
      rc = trained_dual(&rm->dual_fold[k], rm->tk, ds, in, val, o, dir, name, met, &r, e);
      res->fold_steps += r.dual_steps, res->seconds_folds += r.seconds_dual;
    }
    if (rc != 0) break;
    rm->dual_folds = k + 1;
    rk_dual_embed(&rm->dual_fold[k], rm->tk, &rm->dc, ds, out, threads, z);
    if (o->verbose && from)
      fprintf(stderr, "dual fold %d/%d: encoder taken from --dual-from, out-of-fold vectors of %d "
              "notebooks: %.1f s\n", k + 1, folds, n_out, ordo_time() - t0);
    else if (o->verbose)
      fprintf(stderr, "dual fold %d/%d: encoder trained on %d notebooks (held-out tau %.4f), "
              "out-of-fold vectors of the other %d: %.1f s\n", k + 1, folds, n_in, r.tau_dual,
              n_out, ordo_time() - t0);
  }
  free(in), free(out);
  return rc;
}

/* Every trained part's weights in one number, to check that the ranks agree. */
static uint64_t model_checksum(rk_model *rm) {
  enc_model *parts[3] = {rm->has_dual && !rm->dual_frozen ? &rm->dual : NULL,
                         rm->has_point ? &rm->enc : NULL, rm->has_nbm ? &rm->nbm : NULL};
  uint64_t h = params_checksum(&rm->slot.params);
  if (rm->dual_frozen) h = h * 0x100000001b3ULL ^ params_checksum(&rm->fz.params);
  for (int k = 0; k < 3 + rm->dual_folds; k++) {
    enc_model *p = k < 3 ? parts[k] : &rm->dual_fold[k - 3];
    if (!p) continue;
    params_download(&p->params); /* the host image of the working copy */
    h = h * 0x100000001b3ULL ^ params_checksum(&p->params);
  }
  return h;
}

uint64_t rk_fold_hash(const nb_dataset *ds, const uint8_t *train, const int32_t *fold) {
  uint64_t h = ORDO_FNV_OFFSET; /* over (id, fold) of each train notebook */
  for (int32_t i = 0; i < ds->n; i++) {
    if (!train[i]) continue;
    h = ordo_fnv1a(h, ds->nbs[i].id, strlen(ds->nbs[i].id));
    h = ordo_fnv1a(h, &fold[i], sizeof fold[i]);
  }
  return h;
}

/* The cross-fitting folds of the training notebooks (nb_folds into *fold, allocated here):
 * their count, 0 for none, -1 on an error. The default on a small dataset takes as many folds
 * as it has units (none below 2); asked for, fewer units than folds is an error. With
 * --dual-from, the folds of its model, whose encoders are taken as they are (*taken set): they
 * must be the same folds of the same notebooks. */
static int train_folds(const nb_dataset *ds, const rk_train_opts *o, const uint8_t *train,
                       int frozen, int32_t **fold, int *taken, ordo_err *e) {
  int held = 0;
  *taken = 0;
  uint64_t held_hash = 0;
  if (o->dual_from && rk_dual_folds_of(o->dual_from, &held, &held_hash, e) != 0) return -1;
  int folds = o->dual_folds >= 0 ? o->dual_folds
              : frozen           ? RK_DUAL_FOLDS
              : o->dual_from     ? held
              : o->dual          ? RK_DUAL_FOLDS_TRAINED
                                 : 0;
  if (folds > 1 && !o->dual)
    return ordo_fail(e, "--dual-folds %d: cross-fitting is for the dual part (not with --no-dual)",
                     folds);
  if (folds > 1) {
    *fold = ordo_malloc((size_t)(ds->n ? ds->n : 1) * sizeof **fold);
    int got = nb_folds(ds, o->split_by, train, folds, o->init_seed, *fold);
    if (got < folds && o->dual_folds > 0) {
      free(*fold), *fold = NULL;
      return ordo_fail(e, "--dual-folds %d: the training side holds only %d %s to deal out",
                       folds, got, nb_split_unit(ds, o->split_by));
    }
    if (got < folds) {
      folds = got > 1 ? got : 0;
      if (folds > 1) nb_folds(ds, o->split_by, train, folds, o->init_seed, *fold);
    }
  }
  const char *bad = NULL;
  if (held > 0 && folds < 2)
    bad = "its dual encoder was trained on every training notebook, so its evidence on the slot "
          "model's notebooks would not be out of sample";
  else if (held > 0 && folds != held)
    bad = "the folds' encoders are taken as they are";
  else if (held > 0 && rk_fold_hash(ds, train, *fold) != held_hash)
    bad = "its folds were dealt other notebooks than this run's (another dataset, split, "
          "--init-seed or --max-train?), so their encoders' evidence would not be out of fold";
  if (bad) {
    free(*fold), *fold = NULL;
    return ordo_fail(e, "--dual-from %s holds the encoders of %d folds, this run deals %d: %s",
                     o->dual_from, held, folds, bad);
  }
  *taken = held > 0;
  return folds > 1 ? folds : 0;
}

/* Checkpoint folder k of model DIR: the pointwise encoder's, the dual encoder's, then fold
 * k - 1's dual encoder's. */
static const char *ckpt_sub(const char *dir, int k, char *buf, size_t cap) {
  if (k < 2) snprintf(buf, cap, "%s/%s", dir, k ? "checkpoint_dual" : "checkpoint");
  else snprintf(buf, cap, "%s/checkpoint_dual_fold%d", dir, k - 1);
  return buf;
}

int rk_train_check_dir(const char *dir, int force, ordo_err *e) {
  /* the pointwise and dual encoders' checkpoints, and the cross-fitting folds' */
  enum { N_SUB = 2 + RK_MAX_FOLDS };
  char sub[4200];
  int resumable = 0;
  for (int k = 0; k < N_SUB; k++) resumable |= ckpt_exists(ckpt_sub(dir, k, sub, sizeof sub));
  char cache[4200]; /* a frozen route's cell vectors: a rerun reuses them */
  snprintf(cache, sizeof cache, "%s/frozen/cell_vectors.safetensors", dir);
  resumable |= ordo_is_file(cache);
  if (ordo_out_dir_check(dir, force || resumable, e) != 0) return -1;
  for (int k = 0; k < N_SUB; k++)
    if (ckpt_check_dir(ckpt_sub(dir, k, sub, sizeof sub), e) != 0) return -1;
  return 0;
}

int rk_train(const nb_dataset *ds, const rk_train_opts *o, const char *dir, rk_train_result *res,
             ordo_err *e) {
  memset(res, 0, sizeof *res);
  res->tau_slot = res->tau_lex = res->tau_point = res->tau_both = -1;
  res->tau_nbm = res->tau_with_nbm = res->tau_median = res->tau_joint = -1;
  res->tau_fold_all = res->tau_fold_mean = -1;
  if (!ds->has_orders) return ordo_fail(e, "training needs the true orders (train_orders.csv)");
  const int root = dist_is_root(o->dist); /* the one rank that writes */
  int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
  uint8_t *val = ordo_calloc((size_t)(ds->n ? ds->n : 1), 1);
  uint8_t *train = ordo_calloc((size_t)(ds->n ? ds->n : 1), 1);
  nb_split(ds, o->split_by, o->val_frac, o->seed, val);
  int32_t n_tr = 0, n_val = 0;
  for (int32_t i = 0; i < ds->n; i++) {
    train[i] = !val[i] && (o->max_train_nb <= 0 || n_tr < o->max_train_nb);
    n_tr += train[i], n_val += val[i];
  }
  res->validated = n_val > 0;
  if (n_tr == 0) {
    free(val), free(train);
    return ordo_fail(e, "no training notebooks left after the split (--val-frac %g)", o->val_frac);
  }
  if (o->verbose) {
    char *sum = nb_split_summary(ds, o->split_by, val);
    fprintf(stderr, "split (seed %llu): %d training notebooks, %s\n", (unsigned long long)o->seed, n_tr, sum);
    free(sum);
  }
  rk_model rm;
  memset(&rm, 0, sizeof rm);
  rm.pc = o->pc;
  trainer tr;
  int have_trainer = 0;
  int rc = -1;
  float **pp = NULL;
  uint8_t *slot_tr = NULL, *dual_tr = NULL;
  rk_lex *sims = NULL;
  float **z = NULL; /* the dual encoder's cell vectors of the slot model's and held-out notebooks */
  float **x = NULL; /* the frozen route's encoder vectors of the training and held-out notebooks */
  ai4_tfidf tf = {0};
  const int frozen = o->dual && o->init && !o->dual_from &&
                     (o->init_frozen < 0 ? !o->be || o->be->ops->host_memory : o->init_frozen);
  int32_t *fold = NULL; /* cross-fitting's fold of each training notebook */
  int folds_taken; /* --dual-from's folds' encoders are taken */
  int folds = train_folds(ds, o, train, frozen, &fold, &folds_taken, e);
  if (folds < 0 || (root && ordo_dir_ensure(dir, e) != 0)) { /* nothing written before */
    free(val), free(train), free(fold);
    return -1;
  }
  ordo_metrics met, *metp = root ? &met : NULL;
  if (root && metrics_open(&met, dir, e) != 0) {
    free(val), free(train);
    return -1;
  }

  if (o->point || o->dual) {
    rk_train_opts to = *o;
    if (o->dual && o->dual_from) to.tokenizer = o->dual_from; /* the reused encoder's */
    /* a pretrained checkpoint's own tokenizer: a new one would map its ids onto embeddings
     * learned for other tokens */
    if (o->init && !o->tokenizer) to.tokenizer = o->init;
    if (point_tokenizer(ds, train, &to, dir, &rm.tk, e) != 0) goto done;
  }
  /* the slot MLP with learned evidence trains on the first slot_max_nb notebooks of the
   * training side (at most a fifth of it when a dual encoder is trained); the dual encoder on
   * the others, the lexical slot MLP on all of them. With cross-fitting (the frozen route's MLPs,
   * or trained dual encoders) every part trains on all of them: the evidence of each is out of
   * fold */
  slot_tr = ordo_calloc((size_t)(ds->n ? ds->n : 1), 1);
  dual_tr = ordo_calloc((size_t)(ds->n ? ds->n : 1), 1);
  {
    int32_t n_slot = o->slot_max_nb > 0 && o->slot_max_nb < n_tr && folds < 2 ? o->slot_max_nb : n_tr;
    if (o->dual && o->slot_max_nb > 0 && folds < 2 && n_slot > n_tr / 5) n_slot = n_tr / 5 > 0 ? n_tr / 5 : 1;
    for (int32_t i = 0, k = 0; i < ds->n; i++) {
      if (!train[i]) continue;
      if (k < n_slot) slot_tr[i] = 1, k++;
      dual_tr[i] = !slot_tr[i] || o->slot_max_nb <= 0 || n_tr == 1 || folds > 1;
    }
  }
  z = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *z);
  if (o->dual && o->dual_from) {
    /* an encoder trained before, taken as it is: on the same split and seed, so that without
     * folds the slot model's notebooks are still unseen by it, and with them its folds' encoders
     * (checked by train_folds to be dealt the same) give the evidence of the training notebooks */
    if (rk_dual_load(&rm.dual, o->dual_from, "dual", &o->dc, o->be, e) != 0) goto done;
    rm.has_dual = 1;
    rm.dc = o->dc;
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/dual", dir);
    if (root && (ordo_dir_ensure(sub, e) != 0 || enc_save(&rm.dual, sub, e) != 0)) goto done;
    if (o->verbose) fprintf(stderr, "dual model: taken from %s/dual\n", o->dual_from);
  } else if (frozen) {
    x = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *x);
    if (frozen_stage(&rm, ds, train, dual_tr, fold, folds, val, o, dir, metp, res, x, z, e) != 0)
      goto done;
  } else if (o->dual) {
    rm.dc = o->dc;
    if (trained_dual(&rm.dual, rm.tk, ds, dual_tr, val, o, dir, "dual", metp, res, e) != 0) goto done;
    rm.has_dual = 1;
  }
  if (rm.has_dual && !frozen && folds > 1) {
    rm.fold_hash = rk_fold_hash(ds, train, fold);
    if (trained_cross_fit(&rm, ds, train, fold, folds, val, o, dir,
                          folds_taken ? o->dual_from : NULL, metp, res, z, e) != 0)
      goto done;
  }
  if (o->point) {
    if (build_encoder(&rm.enc, rm.tk, o, 1, RK_POINT_NFEAT, 1, o->pc.seq, e) != 0) goto done;
    rm.has_point = 1;
    if (stage_trainer(&tr, &rm.enc, o, o->point_lr, e) != 0) goto done;
    have_trainer = 1;
    enc_plan(&rm.enc, o->batch, o->pc.seq, 0);
    rm.enc.seed = o->init_seed;
    if (o->verbose)
      fprintf(stderr, "pointwise model: %s L%d H%d A%d I%d, %.2fM parameters, T %d, batch %d\n",
              rm.enc.cfg.model_type, rm.enc.cfg.num_hidden_layers, rm.enc.cfg.hidden_size,
              rm.enc.cfg.num_attention_heads, rm.enc.cfg.intermediate_size,
              params_count(&rm.enc.params, 0) / 1e6, o->pc.seq, o->batch);
    pp = ordo_calloc((size_t)ds->n, sizeof *pp);
    if (point_train(&rm, &tr, ds, train, val, o, dir, metp, res, pp, e) != 0) goto done;
  }
  if (rm.has_point) {
    double t0 = ordo_time();
    uint8_t *need = ordo_malloc((size_t)ds->n);
    for (int32_t i = 0; i < ds->n; i++) need[i] = slot_tr[i] && !pp[i];
    rk_point_predict(&rm.enc, rm.tk, &rm.pc, ds, need, threads, pp);
    free(need);
    if (o->verbose) fprintf(stderr, "pointwise predictions for the slot features: %.1f s\n", ordo_time() - t0);
  }
  {
    double t0 = ordo_time();
    ai4_tfidf_fit(&tf, ds, NULL, o->stem, threads);
    /* term priors, cross-fitted: a training notebook's prior comes from the other half of the
     * training side, so that the slot model learns how far to trust it on unseen notebooks;
     * held-out and future notebooks use the prior of all training notebooks */
    rk_term_prior half[2];
    uint8_t *in_half = ordo_calloc((size_t)ds->n, 1);
    for (int f = 0; f < 2; f++) {
      for (int32_t i = 0; i < ds->n; i++) in_half[i] = train[i] && (i % 2) == f;
      rk_term_prior_fit(&half[f], ds, in_half, o->stem);
    }
    free(in_half);
    rk_term_prior_fit(&rm.prior, ds, train, o->stem);
    rm.has_prior = 1;
    rm.stem = o->stem;
    sims = ordo_calloc((size_t)ds->n, sizeof *sims);
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (int32_t i = 0; i < ds->n; i++)
      if (train[i] || val[i])
        rk_lex_compute(&sims[i], &tf, train[i] ? &half[1 - i % 2] : &rm.prior, &ds->nbs[i]);
    rk_term_prior_free(&half[0]), rk_term_prior_free(&half[1]);
    if (o->verbose) fprintf(stderr, "lexical features: TF-IDF and BM25 in %.1f s\n", ordo_time() - t0);
  }
  if (x && o->dense_feats) {
    /* the pretrained encoder's similarities, for the slot model with evidence */
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (int32_t i = 0; i < ds->n; i++)
      if (x[i] && (slot_tr[i] || val[i])) rk_lex_dense(&sims[i], &ds->nbs[i], x[i], rm.fz.in);
  }
  if (x) /* no longer needed */
    for (int32_t i = 0; i < ds->n; i++) free(x[i]), x[i] = NULL;
  if (rm.has_dual) {
    /* the dual encoder's evidence on the notebooks the slot model trains and validates on */
    double t0 = ordo_time();
    uint8_t *need = ordo_malloc((size_t)(ds->n ? ds->n : 1));
    for (int32_t i = 0; i < ds->n; i++) need[i] = (slot_tr[i] || val[i]) && !z[i]; /* not out of fold */
    rk_model_dual_vectors(&rm, ds, need, threads, z);
    for (int32_t i = 0; i < ds->n; i++) {
      if (!z[i]) continue;
      const nb_notebook *nb = &ds->nbs[i];
      sims[i].dual = ordo_malloc(((size_t)nb->n_md * (nb->n_code + 1) + 1) * sizeof *sims[i].dual);
      rk_dual_logprobs(nb, z[i], rm.dc.dim, sims[i].dual);
      /* a trained dual encoder's own vectors give the similarities (the frozen route's come from
       * the pretrained encoder, above) */
      if (!rm.dual_frozen && o->dense_feats) rk_lex_dense(&sims[i], nb, z[i], 2 * rm.dc.dim);
    }
    if (o->verbose) fprintf(stderr, "dual encoder evidence for the slot features: %.1f s\n", ordo_time() - t0);
    if (o->dual_from && n_val > 0) { /* the reused encoder alone, measured as training does */
      float **pos = ordo_calloc((size_t)ds->n, sizeof *pos);
      for (int32_t i = 0; i < ds->n; i++)
        if (val[i]) {
          pos[i] = ordo_malloc(((size_t)ds->nbs[i].n_md + 1) * sizeof **pos);
          rk_dual_positions(&ds->nbs[i], z[i], rm.dc.dim, pos[i]);
        }
      res->tau_dual = rk_tau_of_positions(ds, val, pos);
      for (int32_t i = 0; i < ds->n; i++) free(pos[i]);
      free(pos);
      if (o->verbose) fprintf(stderr, "dual encoder alone: val tau %.4f\n", res->tau_dual);
    }
    free(need);
    if (o->nbm && !o->nbm_over_slot) {
      /* over the dual encoder's distributions: the slot ranker reads the refined ones */
      float **base = ordo_calloc((size_t)ds->n, sizeof *base);
      for (int32_t i = 0; i < ds->n; i++) base[i] = sims[i].dual;
      int nbm_rc = nbm_stage(&rm, ds, z, base, slot_tr, val, o, dir, metp, res, e);
      free(base);
      if (nbm_rc != 0) goto done;
      for (int32_t i = 0; i < ds->n && rm.has_nbm; i++) {
        if (!z[i]) continue;
        const nb_notebook *nb = &ds->nbs[i];
        sims[i].nbm = ordo_malloc(((size_t)nb->n_md * (nb->n_code + 1) + 1) * sizeof *sims[i].nbm);
        rk_nbm_logprobs(&rm.nbm, nb, z[i], rm.dc.dim, sims[i].dual, sims[i].nbm);
      }
    }
  }
  /* lexical features only; then, with learned evidence (pointwise positions, dual slot
   * probabilities), the same with it as features, kept only when it validates better */
  const rk_train_opts lex_o = slot_sized(o, 0), with_o = slot_sized(o, folds > 1);
  rk_slot_init(&rm.slot, lex_o.slot_hidden, ops_cpu_ref());
  rk_slot_init_weights(&rm.slot, o->init_seed);
  if (slot_train("slot_lex", metp, &rm.slot, ds, train, val, sims, NULL, &lex_o, res, e) != 0)
    goto done;
  res->tau_lex = res->tau_slot;
  /* the candidates with learned evidence: the dual encoder's slot distributions, then the
   * notebook-level model's in their place; each kept when it validates better than the best so
   * far (with nothing held out, the last one trained is kept) */
  for (int k = 0; k < 2 && (pp || rm.has_dual); k++) {
    int use_nbm = k == 1;
    if (use_nbm && !rm.has_nbm) break;
    rk_train_result r2 = *res;
    rk_slot_model with;
    rk_slot_init(&with, with_o.slot_hidden, ops_cpu_ref());
    rk_slot_init_weights(&with, o->init_seed);
    with.use_point = pp != NULL;
    with.use_dual = rm.has_dual && !use_nbm;
    with.use_nbm = use_nbm;
    with.use_dense = rm.has_dual && o->dense_feats;
    if (slot_train(use_nbm ? "slot_nbm" : "slot", metp, &with, ds, slot_tr, val, sims, pp, &with_o,
                   &r2, e) != 0) {
      rk_slot_free(&with);
      goto done;
    }
    if (pp && !use_nbm) res->tau_both = r2.tau_slot;
    if (rm.has_dual && !use_nbm) res->tau_with_dual = r2.tau_slot;
    if (use_nbm) res->tau_with_nbm = r2.tau_slot;
    int keep_with = res->validated ? r2.tau_slot > res->tau_slot : 1;
    const char *with_what = use_nbm ? (pp ? "pointwise, notebook model" : "notebook model")
                            : pp && rm.has_dual ? "pointwise, dual" : pp ? "pointwise" : "dual";
    if (o->verbose && res->validated)
      fprintf(stderr, "slot ranker: best so far %.4f, with the evidence of the %s %.4f: keeping %s\n",
              res->tau_slot, with_what, r2.tau_slot, keep_with ? "the latter" : "the former");
    else if (o->verbose)
      fprintf(stderr, "slot ranker: no held-out notebooks to compare on: keeping the one with the "
                      "encoder evidence (%s)\n", with_what);
    if (keep_with) {
      rk_slot_free(&rm.slot);
      rm.slot = with;
      res->tau_slot = r2.tau_slot;
    } else {
      rk_slot_free(&with);
    }
    res->seconds_slot += r2.seconds_slot;
  }
  {
    char pp[4200];
    snprintf(pp, sizeof pp, "%s/term_prior.json", dir);
    if (root && rk_term_prior_save(&rm.prior, pp, e) != 0) goto done;
  }
  if (o->nbm && o->nbm_over_slot && rm.has_dual) {
    /* over the kept slot ranker's distributions: kept as the model's last stage when it
     * validates better */
    double t0 = ordo_time();
    float **base = ordo_calloc((size_t)ds->n, sizeof *base);
#pragma omp parallel num_threads(threads)
    {
      rk_slot_work w = {0};
#pragma omp for schedule(dynamic, 4)
      for (int32_t i = 0; i < ds->n; i++) {
        if (!z[i]) continue;
        const nb_notebook *nb = &ds->nbs[i];
        size_t R = (size_t)nb->n_md * (nb->n_code + 1);
        base[i] = ordo_malloc((R + 1) * sizeof **base);
        rk_slot_predict_nb(&rm.slot, nb, &sims[i], pp ? pp[i] : NULL, &w, base[i]);
        for (size_t k = 0; k < R; k++) base[i][k] = logf(base[i][k] + 1e-30f);
      }
      rk_slot_work_free(&w);
    }
    if (o->verbose) fprintf(stderr, "slot ranker's distributions for the notebook model: %.1f s\n", ordo_time() - t0);
    int nbm_rc = nbm_stage(&rm, ds, z, base, slot_tr, val, o, dir, metp, res, e);
    for (int32_t i = 0; i < ds->n; i++) free(base[i]);
    free(base);
    if (nbm_rc != 0) goto done;
    int keep = rm.has_nbm && (res->validated ? res->tau_nbm > res->tau_slot : 1);
    if (o->verbose && rm.has_nbm)
      fprintf(stderr, "notebook model over the slot ranker: %.4f against %.4f: %s\n", res->tau_nbm,
              res->tau_slot, keep ? "kept" : "left out");
    if (keep) {
      rm.nbm_over_slot = 1;
      res->tau_slot = res->tau_nbm;
    } else if (rm.has_nbm) {
      enc_free(&rm.nbm);
      rm.has_nbm = 0;
    }
  }
  /* the decoding: weighted medians, or the minimum of expected inversions over all cells, chosen
   * on the held-out notebooks (the medians when nothing is held out) */
  rk_md_order_fit(&rm.mdo, ds, train);
  const int fold_heads = rk_model_fold_heads(&rm);
  /* with nothing held out: the mean over the frozen route's folds' MLPs, the trained encoder on
   * all (each fold's encoder saw a part of the repositories: bench/ai4code/NOTES.md) */
  rm.fold_mean = fold_heads > 1 && rm.dual_frozen;
  if (n_val > 0) {
    /* the kept model's held-out predictions, as `ordo ai4code predict` makes them: with each
     * decoding, and with cross-fitting from the dual part (MLPs or encoder) trained on all and
     * from the mean over the folds' (res->tau_fold_all, tau_fold_mean); the best is kept */
    float **pos = NULL;
    int n_ways = fold_heads > 1 ? 2 : 1, best_way = 0, best_joint = 0;
    for (int way = 0; way < n_ways; way++) {
      rm.fold_mean = way;
      float **p = ordo_calloc((size_t)ds->n, sizeof *p);
      rm.alt_pos = ordo_calloc((size_t)ds->n, sizeof *rm.alt_pos);
      rm.decode_joint = 0;
      rk_predict_positions(&rm, ds, val, threads, p);
      double taus[2] = {rk_tau_of_positions(ds, val, p), rk_tau_of_positions(ds, val, rm.alt_pos)};
      dist_bcast_bytes(o->dist, taus, (int64_t)sizeof taus, "decoding figures"); /* rank 0 chooses */
      int joint = taus[1] > taus[0];
      if (joint)
        for (int32_t i = 0; i < ds->n; i++) {
          float *t = p[i];
          p[i] = rm.alt_pos[i], rm.alt_pos[i] = t;
        }
      for (int32_t i = 0; i < ds->n; i++) free(rm.alt_pos[i]);
      free(rm.alt_pos);
      rm.alt_pos = NULL;
      if (n_ways > 1) {
        *(way ? &res->tau_fold_mean : &res->tau_fold_all) = taus[joint];
        if (o->verbose)
          fprintf(stderr, "cross-fitting, predictions from %s: %.4f\n",
                  way ? "the mean over the folds'" : rm.dual_frozen ? "the MLPs trained on all" :
                  "the encoder trained on all", taus[joint]);
      }
      if (way == 0 || taus[joint] > res->tau_slot) {
        /* the kept model's figure is this final pass's, as predict gives it */
        res->tau_median = taus[0], res->tau_joint = taus[1], res->tau_slot = taus[joint];
        best_way = way, best_joint = joint;
        if (pos)
          for (int32_t i = 0; i < ds->n; i++) free(pos[i]);
        free(pos);
        pos = p;
      } else {
        for (int32_t i = 0; i < ds->n; i++) free(p[i]);
        free(p);
      }
    }
    rm.fold_mean = best_way, rm.decode_joint = best_joint;
    if (o->verbose)
      fprintf(stderr, "decoding: weighted medians %.4f, fewest expected inversions over all cells "
              "%.4f: keeping %s\n", res->tau_median, res->tau_joint,
              rm.decode_joint ? "the latter" : "the medians");
    char hp[4200];
    snprintf(hp, sizeof hp, "%s/heldout.jsonl", dir);
    int hrc = root ? rk_heldout_write(ds, val, pos, hp, e) : 0;
    for (int32_t i = 0; i < ds->n; i++) free(pos[i]);
    free(pos);
    if (hrc != 0) goto done;
  }
  if (dist_world(o->dist) > 1 && !dist_same_u64(o->dist, model_checksum(&rm), "weights check")) {
    ordo_fail(e, "rank %d: the ranks ended with different weights", dist_rank(o->dist));
    goto done;
  }
  if (root && rk_save_meta(&rm, res, dir, e) != 0) goto done;
  rc = 0;
done:
  if (sims)
    for (int32_t i = 0; i < ds->n; i++) rk_lex_free(&sims[i]);
  free(sims);
  if (z)
    for (int32_t i = 0; i < ds->n; i++) free(z[i]);
  free(z);
  if (x)
    for (int32_t i = 0; i < ds->n; i++) free(x[i]);
  free(x);
  if (pp)
    for (int32_t i = 0; i < ds->n; i++) free(pp[i]);
  free(pp);
  ai4_tfidf_free(&tf);
  if (have_trainer) trainer_free(&tr);
  if (root) metrics_close(&met);
  rk_model_free(&rm);
  free(val), free(train), free(slot_tr), free(dual_tr), free(fold);
  return rc;
}
