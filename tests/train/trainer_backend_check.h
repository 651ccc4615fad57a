/* Shared by the trainer's backend tests: a small parameter table trained by the shared trainer
 * (accumulation, clipping, an L2 term, 8- and 32-bit AdamW state, a frozen spec) on a quadratic
 * objective whose gradient is written with backend ops only, so the same run can be made on any
 * backend and compared with the CPU's: weights, optimizer state, the step statistics, and
 * checkpoints moved from one backend to the other. */
#ifndef ORDO_TEST_TRAINER_BACKEND_CHECK_H
#define ORDO_TEST_TRAINER_BACKEND_CHECK_H

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ordo/rng.h"
#include "ordo/trainer.h"

enum { TB_STEPS = 8, TB_ACCUM = 2 };

/* One run: its table, trainer, and the micro-batches' targets in the table's backend memory. */
typedef struct tb_run {
  ordo_backend be;
  ordo_params p;
  trainer t;
  float *target; /* (TB_ACCUM, total) */
  trainer_stats st[TB_STEPS];
} tb_run;

/* gradient of sum over micro-batches of 0.5 |w - target_i|^2 / TB_ACCUM, times dloss */
static inline float tb_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)m, (void)step;
  tb_run *r = ctx;
  const ordo_ops *ops = r->be.ops;
  const float s = dloss / TB_ACCUM;
  const float *tg = r->target + (size_t)i * r->p.total;
  for (int k = 0; k < r->p.n; k++) {
    const ordo_param_spec *sp = &r->p.specs[k];
    if (sp->flags & ORDO_PF_FROZEN) continue;
    ops->axpy(r->be.ctx, params_gd(&r->p, k), s, params_wd(&r->p, k), sp->numel);
    ops->axpy(r->be.ctx, params_gd(&r->p, k), -s, tg + sp->offset, sp->numel);
  }
  return 0.0f; /* the statistics compared are the gradient norm, the rate and the skips */
}

static inline trainer_config tb_config(const char *ckpt_dir) {
  trainer_config tc = trainer_defaults();
  tc.steps = TB_STEPS;
  tc.accum_steps = TB_ACCUM;
  tc.clip = 20; /* the norm falls from about 21 to 19: clipped in the first steps only */
  tc.l2 = 0.01f, tc.l2_pattern = "small";
  tc.sched = (sched_config){.kind = SCHED_LINEAR, .lr = 1e-2f, .warmup_steps = 2, .total_steps = TB_STEPS};
  tc.adamw.lr = 1e-2f;
  tc.q8.bits = 8; /* "big" gets 8-bit state (3 blocks, the last short), the rest 32-bit */
  tc.seed = 11;
  tc.ckpt_dir = ckpt_dir;
  return tc;
}

/* Builds the run on backend be (attached unless it is NULL: the plain host table). */
static inline void tb_init(tb_run *r, const ordo_backend *be, const char *ckpt_dir) {
  memset(r, 0, sizeof *r);
  params_init(&r->p);
  params_add(&r->p, "w.big", 2, (int64_t[]){3, 1700}, 0);
  params_add(&r->p, "w.small", 1, (int64_t[]){40}, 0);
  params_add(&r->p, "b.bias", 1, (int64_t[]){7}, ORDO_PF_NO_DECAY);
  params_add(&r->p, "w.frozen", 1, (int64_t[]){10}, ORDO_PF_FROZEN);
  params_alloc(&r->p);
  ordo_rng g;
  rng_init(&g, 5);
  for (size_t j = 0; j < r->p.total; j++) r->p.data[j] = rng_uniform(&g) - 0.5f;
  float *tg = ordo_malloc(TB_ACCUM * r->p.total * sizeof(float));
  for (size_t j = 0; j < TB_ACCUM * r->p.total; j++) tg[j] = 0.3f * (rng_uniform(&g) - 0.5f);
  if (be) params_attach(&r->p, be);
  r->be = be ? *be : backend_cpu();
  r->target = be_alloc_f32(&r->be, TB_ACCUM * r->p.total);
  be_upload(&r->be, r->target, tg, TB_ACCUM * r->p.total * sizeof(float));
  free(tg);
  trainer_config tc = tb_config(ckpt_dir);
  ordo_err e = {0};
  ORDO_CHECKF(trainer_init_params(&r->t, &r->p, &tc, &e) == 0, "%s", e.msg);
}

static inline void tb_free(tb_run *r) {
  be_free(&r->be, r->target);
  trainer_free(&r->t);
  params_free(&r->p);
}

static inline void tb_steps(tb_run *r, int64_t until) {
  while (r->t.prog.step < until) {
    int64_t s = r->t.prog.step;
    trainer_step(&r->t, r, NULL, tb_micro, &r->st[s]);
  }
}

/* The whole run on the host (ref) and on be (r). */
static inline void tb_train_both(tb_run *ref, tb_run *r, const ordo_backend *be) {
  tb_init(ref, NULL, NULL);
  tb_steps(ref, TB_STEPS);
  tb_init(r, be, NULL);
  tb_steps(r, TB_STEPS);
}

/* The weights on the host. */
static inline void tb_weights(tb_run *r) { params_download(&r->p); }

/* Largest relative difference of the weights (the host images, after tb_weights). */
static inline double tb_weight_rel(const tb_run *a, const tb_run *b) {
  double worst = 0;
  for (size_t j = 0; j < a->p.total; j++) {
    double d = fabs((double)a->p.data[j] - b->p.data[j]) / (fabs((double)a->p.data[j]) + 1e-6);
    if (d > worst) worst = d;
  }
  return worst;
}

/* The optimizer states compared on the host: *bytes_differ counts differing values of codes,
 * scales and moments, *code_gap the largest difference of two 8-bit codes, *rel32 the largest
 * difference of a 32-bit moment or a block scale relative to its array's largest magnitude. */
static inline void tb_state_diff(const tb_run *a, const tb_run *b, size_t *bytes_differ, int *code_gap,
                          double *rel32) {
  opt_adamw8 ha, hb;
  opt_adamw8_to_host(&a->t.opt, &ha);
  opt_adamw8_to_host(&b->t.opt, &hb);
  *bytes_differ = 0, *code_gap = 0, *rel32 = 0;
  const uint8_t *qa[2] = {ha.qm, ha.qv}, *qb[2] = {hb.qm, hb.qv};
  for (int k = 0; k < 2; k++)
    for (size_t j = 0; j < ha.n_q; j++) {
      int d = abs((int)qa[k][j] - (int)qb[k][j]);
      *bytes_differ += d != 0;
      if (d > *code_gap) *code_gap = d;
    }
  const float *fa[4] = {ha.sm, ha.sv, ha.m32, ha.v32}, *fb[4] = {hb.sm, hb.sv, hb.m32, hb.v32};
  const size_t nf[4] = {ha.n_blocks, ha.n_blocks, ha.n_32, ha.n_32};
  for (int k = 0; k < 4; k++) {
    double top = 0, worst = 0;
    for (size_t j = 0; j < nf[k]; j++) {
      *bytes_differ += memcmp(&fa[k][j], &fb[k][j], sizeof(float)) != 0;
      double d = fabs((double)fa[k][j] - fb[k][j]);
      if (d > worst) worst = d;
      if (fabs((double)fa[k][j]) > top) top = fabs((double)fa[k][j]);
    }
    if (top > 0 && worst / top > *rel32) *rel32 = worst / top;
  }
  opt_adamw8_from_host((opt_adamw8 *)&a->t.opt, &ha, 0);
  opt_adamw8_from_host((opt_adamw8 *)&b->t.opt, &hb, 0);
}

/* A fresh scratch directory under the build folder. */
static inline void tb_scratch(char *dir, size_t cap, const char *name) {
  snprintf(dir, cap, "tb_%s.%ld", name, (long)getpid());
  char cmd[800];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ORDO_CHECK(system(cmd) == 0);
  ORDO_CHECK(mkdir(dir, 0755) == 0);
}

static inline void tb_scratch_remove(const char *dir) {
  char cmd[800];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ORDO_CHECK(system(cmd) == 0);
}

/* Called after each tb_init of tb_resume_across_with (e.g. to join a job). */
typedef void (*tb_setup_fn)(tb_run *r, void *ctx);

/* Trains `first` steps on backend a (NULL: host), saves, resumes on backend b and trains to the
 * end into *out (initialised here; the caller frees it); setup (when not NULL) after each init. */
static inline void tb_resume_across_with(tb_run *out, const ordo_backend *a, const ordo_backend *b,
                                         const char *dir, tb_setup_fn setup, void *ctx) {
  char ck[700];
  snprintf(ck, sizeof ck, "%s/ck", dir);
  tb_run first;
  tb_init(&first, a, ck);
  if (setup) setup(&first, ctx);
  tb_steps(&first, TB_STEPS / 2);
  ordo_err e = {0};
  EXPECT(trainer_save(&first.t, &e) == 0, "save: %s", e.msg);
  tb_free(&first);
  tb_init(out, b, ck);
  if (setup) setup(out, ctx);
  EXPECT(trainer_resume(&out->t, &e) == 1, "resume: %s", e.msg);
  EXPECT(out->t.prog.step == TB_STEPS / 2, "resumed at step %lld", (long long)out->t.prog.step);
  tb_steps(out, TB_STEPS);
  tb_weights(out);
  tb_scratch_remove(ck);
}

static inline void tb_resume_across(tb_run *out, const ordo_backend *a, const ordo_backend *b,
                                    const char *dir) {
  tb_resume_across_with(out, a, b, dir, NULL, NULL);
}

#endif
