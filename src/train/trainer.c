/* The shared training loop (see trainer.h). */
#include <math.h>
#include <string.h>

#include "ordo/trainer.h"
#include "train/optim_internal.h"
#include "train/trainer_internal.h"

trainer_config trainer_defaults(void) {
  trainer_config c;
  memset(&c, 0, sizeof c);
  c.steps = 1;
  c.accum_steps = 1;
  c.clip = 1.0;
  c.sched = (sched_config){.kind = SCHED_LINEAR, .lr = 1e-3f, .warmup_steps = 0, .total_steps = 1};
  c.adamw = adamw_defaults();
  c.q8 = adamw8_defaults();
  c.q8.bits = 32;
  c.groups = param_groups_defaults();
  c.precision = ORDO_DT_F32;
  c.loss_scaling = -1; /* auto: on for fp16 */
  c.recompute = ENC_RECOMPUTE_NONE;
  c.bucket_mb = 4.0;
  return c;
}

static int init_common(trainer *t, ordo_params *p, const trainer_config *c, ordo_err *e) {
  if (c->accum_steps < 1) return ordo_fail(e, "accumulation steps must be >= 1, got %d", c->accum_steps);
  if (c->steps < 1) return ordo_fail(e, "steps must be >= 1");
  t->cfg = *c;
  t->p = p;
  t->be = train_backend(p);
  opt_groups_init(&t->groups);
  param_groups_config gc = c->groups;
  gc.weight_decay = c->adamw.weight_decay;
  gc.decay_all = c->adamw.decay_all;
  param_groups_build(&t->groups, p, &gc);
  if (opt_adamw8_init(&t->opt, p, &c->adamw, &c->q8, &t->groups, e) != 0) {
    opt_groups_free(&t->groups);
    return -1;
  }
  /* the all-reduce spans: maximal runs of trainable parameters in the table (frozen parts,
   * unallocated zero pages, are neither read nor written) */
  t->spans = ordo_malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *t->spans);
  t->n_spans = 0;
  size_t end = 0;
  int prev_trainable = 0;
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    ORDO_CHECK(s->offset >= end); /* the table is laid out in order */
    int trainable = !(s->flags & ORDO_PF_FROZEN);
    if (trainable && prev_trainable && s->offset - end < 16) /* only padding between: one span */
      t->spans[t->n_spans - 1][1] = (int64_t)(s->offset + (size_t)s->numel) - t->spans[t->n_spans - 1][0];
    else if (trainable)
      t->spans[t->n_spans][0] = (int64_t)s->offset, t->spans[t->n_spans++][1] = s->numel;
    prev_trainable = trainable;
    end = s->offset + (size_t)s->numel;
  }
  /* the micro-batches' sum so far, of the trainable spans only (LoRA: the adapters) */
  int64_t n_train = 0;
  for (int k = 0; k < t->n_spans; k++) n_train += t->spans[k][1];
  if (c->accum_steps > 1) t->acc = be_alloc_f32(&t->be, (size_t)(n_train > 0 ? n_train : 1));
  trainer_norm_setup(t);
  t->done = ordo_malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *t->done);
  t->scaler = scaler_state_defaults();
  t->scaler.enabled = c->loss_scaling < 0 ? c->precision == ORDO_DT_F16 : c->loss_scaling;
  t->prog.run_seed = c->seed;
  rng_init(&t->prog.rng, c->seed);
  return 0;
}

int trainer_init(trainer *t, enc_model *m, const trainer_config *c, ordo_err *e) {
  memset(t, 0, sizeof *t);
  t->m = m;
  /* both change the activation plan: set before enc_plan (checked there) */
  if (c->recompute != m->recompute) enc_set_recompute(m, c->recompute);
  if (c->precision != m->precision) enc_set_precision(m, c->precision);
  if (init_common(t, &m->params, c, e) != 0) return -1;
  m->seed = c->seed;
  return 0;
}

int trainer_init_params(trainer *t, ordo_params *p, const trainer_config *c, ordo_err *e) {
  memset(t, 0, sizeof *t);
  if (c->precision != ORDO_DT_F32 || c->recompute != ENC_RECOMPUTE_NONE)
    return ordo_fail(e, "mixed precision and recompute apply to encoders, not to this model");
  return init_common(t, p, c, e);
}

void trainer_free(trainer *t) {
  trainer_dist_free(t);
  free(t->spans);
  opt_adamw8_free(&t->opt);
  opt_groups_free(&t->groups);
  memset(t, 0, sizeof *t);
}

static ckpt_io io_of(trainer *t) {
  return (ckpt_io){.params = t->p, .adamw8 = &t->opt, .scaler = &t->scaler,
                   .sched = &t->cfg.sched, .progress = &t->prog, .write_extra = t->write_extra,
                   .extra_ctx = t->extra_ctx};
}

/* The whole optimizer state, laid out as one process's (for a checkpoint under ZeRO). */
static int whole_state(trainer *t, opt_adamw8 *whole, ordo_err *e) {
  return opt_adamw8_init(whole, t->p, &t->cfg.adamw, &t->cfg.q8, &t->groups, e);
}

int trainer_resume(trainer *t, ordo_err *e) {
  if (!t->cfg.ckpt_dir) return 0;
  /* a folder that is no checkpoint would be refused by the first save: say so before step 1 */
  if (ckpt_check_dir(t->cfg.ckpt_dir, e) != 0) return -1;
  if (!ckpt_exists(t->cfg.ckpt_dir)) return 0;
  ckpt_io io = io_of(t);
  opt_adamw8 whole;
  /* under ZeRO each rank reads the whole state and keeps its part */
  if (t->shard) {
    if (whole_state(t, &whole, e) != 0) return -1;
    io.adamw8 = &whole;
  }
  int rc = ckpt_load(&io, t->cfg.ckpt_dir, e);
  if (t->shard) {
    if (rc == 0) trainer_state_take(t, &whole);
    opt_adamw8_free(&whole);
  }
  if (rc != 0) return -1;
  if (t->prog.run_seed != t->cfg.seed)
    return ordo_fail(e, "%s: the checkpoint's run used seed %llu, this one %llu", t->cfg.ckpt_dir,
                     (unsigned long long)t->prog.run_seed, (unsigned long long)t->cfg.seed);
  return 1;
}

int trainer_save(trainer *t, ordo_err *e) {
  if (!t->cfg.ckpt_dir) return 0;
  const int root = dist_is_root(t->dist);
  ckpt_io io = io_of(t);
  opt_adamw8 whole;
  if (t->shard) { /* every rank's part to rank 0 */
    if (root && whole_state(t, &whole, e) != 0) return -1;
    trainer_state_gather(t, &whole);
    if (root) io.adamw8 = &whole;
  }
  int rc = root ? ckpt_save(&io, t->cfg.ckpt_dir, e) : 0;
  if (t->shard && root) opt_adamw8_free(&whole);
  return rc;
}

void trainer_metrics_add(ordo_metrics *m, const trainer_stats *st) {
  metrics_record_add(m, "loss", st->loss);
  metrics_record_add(m, "lr", st->lr);
  metrics_record_add(m, "grad_norm", st->grad_norm);
  metrics_record_add(m, "loss_scale", st->loss_scale);
  metrics_record_add(m, "skipped", st->skipped);
  metrics_record_add(m, "mem_mb", metrics_rss_mb());
}

size_t trainer_state_bytes(const trainer *t) { return opt_adamw8_state_bytes(&t->opt); }

void trainer_step(trainer *t, void *ctx, trainer_prepare_fn prepare, trainer_micro_fn micro,
                  trainer_stats *st) {
  enc_model *m = t->m;
  ordo_params *p = t->p;
  const int n = t->cfg.accum_steps;
  const int64_t step = t->prog.step;
  const int world = dist_world(t->dist), rank = dist_rank(t->dist);
  const float scale = t->scaler.enabled ? t->scaler.scale : 1.0f;
  ORDO_CHECKF(t->be.ops == train_backend(p).ops, "trainer_step: the table moved to backend %s "
              "after trainer_init", train_backend(p).ops->name);
  params_zero_grad(p);
  if (prepare) prepare(ctx, step, n);
  float loss = 0;
  for (int i = 0; i < n; i++) {
    /* each micro-batch of each rank its own dropout masks */
    if (m) m->step = (uint64_t)((step * world + rank) * n + i);
    trainer_micro_begin(t, i, n);
    loss += micro(ctx, m, step, i, scale);
    trainer_micro_end(t, i, n);
  }
  /* each rank's gradient is its share of the global batch's: their sum is the whole one */
  trainer_grads_finish(t);
  if (world > 1) loss = (float)dist_sum_f64(t->dist, loss, "loss");
  if (scale != 1.0f) grad_scale(p, 1.0f / scale); /* unscale before clipping */
  if (t->cfg.l2 > 0 && t->cfg.l2_pattern) {
    for (int i = 0; i < p->n; i++) {
      const ordo_param_spec *s = &p->specs[i];
      if ((s->flags & ORDO_PF_FROZEN) || !strstr(s->name, t->cfg.l2_pattern)) continue;
      t->be.ops->axpy(t->be.ctx, params_gd(p, i), t->cfg.l2, params_wd(p, i), s->numel);
    }
  }
  double gn = trainer_grad_norm(t);
  memset(st, 0, sizeof *st);
  st->loss = loss;
  st->grad_norm = gn;
  st->lr = sched_lr(&t->cfg.sched, step);
  st->loss_scale = scale;
  if (!isfinite(gn)) {
    /* GradScaler: skip the update, halve the scale (without scaling: skip and report) */
    st->skipped = 1;
    t->scaler.skipped_steps++;
    if (t->scaler.enabled) {
      t->scaler.scale *= t->scaler.backoff_factor;
      t->scaler.good_steps = 0;
    }
  } else {
    if (t->cfg.clip > 0 && gn > t->cfg.clip) grad_scale(p, (float)(t->cfg.clip / (gn + 1e-6)));
    opt_adamw8_step(&t->opt, p, st->lr);
    trainer_params_gather(t);
    if (t->scaler.enabled && ++t->scaler.good_steps >= t->scaler.growth_interval) {
      t->scaler.scale *= t->scaler.growth_factor;
      t->scaler.good_steps = 0;
    }
  }
  t->prog.step++;
  t->prog.micro_step += n;
  t->prog.loss = loss;
}
