/* Checkpoints: save -> load is bit-identical; k steps + save + load + (N - k) steps equals N steps
 * bit for bit on a small encoder with dropout; loads refuse mismatched or damaged checkpoints with
 * a message naming the file; a save killed (SIGKILL) at any stage leaves a loadable checkpoint. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ordo/checkpoint.h"
#include "ordo/mlm.h"
#include "ordo/model.h"
#include "ordo/optim.h"
#include "ordo/rng.h"
#include "ordo/schedule.h"

static char g_root[512]; /* scratch directory of this test run */

static void rm_rf(const char *path) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", path);
}

static void fill(float *x, size_t n, uint64_t seed) {
  ordo_rng r;
  rng_init(&r, seed);
  for (size_t i = 0; i < n; i++) x[i] = rng_normal(&r);
}

/* ---- a synthetic table with both state widths ---------------------------------------------- */

typedef struct synth {
  ordo_params p;
  opt_adamw8 o;
  ordo_scaler_state sc;
  sched_config sched;
  ckpt_progress pr;
} synth;

static void synth_init(synth *s, int64_t big) {
  params_init(&s->p);
  params_add(&s->p, "bert.embeddings.word_embeddings.weight", 2, (int64_t[]){big, 64}, 0);
  params_add(&s->p, "bert.encoder.layer.0.output.dense.weight", 2, (int64_t[]){96, 100}, 0);
  params_add(&s->p, "bert.encoder.layer.0.output.dense.bias", 1, (int64_t[]){96}, ORDO_PF_NO_DECAY);
  params_add(&s->p, "cls.frozen", 1, (int64_t[]){10}, ORDO_PF_FROZEN);
  params_alloc(&s->p);
  adamw_config ac = adamw_defaults();
  adamw8_config qc = adamw8_defaults();
  ordo_err e = {0};
  ORDO_CHECK(opt_adamw8_init(&s->o, &s->p, &ac, &qc, NULL, &e) == 0);
  s->sc = scaler_state_defaults();
  s->sched = (sched_config){.kind = SCHED_COSINE, .lr = 1e-3f, .warmup_steps = 3, .total_steps = 50};
  memset(&s->pr, 0, sizeof s->pr);
}

static void synth_free(synth *s) {
  opt_adamw8_free(&s->o);
  params_free(&s->p);
}

/* Puts the synth in a state defined by `seed` (weights, some optimizer steps, counters). */
static void synth_state(synth *s, uint64_t seed, int steps) {
  fill(s->p.data, s->p.total, seed);
  for (int k = 0; k < steps; k++) {
    fill(s->p.grad, s->p.total, seed * 100 + k);
    opt_adamw8_step(&s->o, &s->p, 1e-3f);
  }
  s->sc = (ordo_scaler_state){.enabled = 1, .scale = 32768.0f + (float)seed, .good_steps = 1234,
                              .growth_factor = 2.0f, .backoff_factor = 0.5f,
                              .growth_interval = 2000, .skipped_steps = 3};
  s->pr = (ckpt_progress){.step = (int64_t)seed, .epoch = 2, .micro_step = 4 * (int64_t)seed,
                          .tokens = 1000000007, .run_seed = 0xFEDCBA9876543210ull + seed,
                          .rng = {.seed = 0xFFFFFFFFFFFFFFF1ull, .pos = 123456789012345ull},
                          .loss = 1.0 / 3.0 + (double)seed};
}

static ckpt_io synth_io(synth *s) {
  return (ckpt_io){.params = &s->p, .adamw8 = &s->o, .scaler = &s->sc, .sched = &s->sched,
                   .progress = &s->pr};
}

/* Weights compared spec by spec: the alignment gaps between specs are not part of the state. */
static int bufs_equal(const ordo_params *p, const float *a, const float *b) {
  int eq = 1;
  for (int i = 0; eq && i < p->n; i++)
    eq = memcmp(a + p->specs[i].offset, b + p->specs[i].offset,
                (size_t)p->specs[i].numel * sizeof(float)) == 0;
  return eq;
}

static int params_equal(const ordo_params *a, const ordo_params *b) {
  return a->n == b->n && a->total == b->total && bufs_equal(a, a->data, b->data);
}

static int synth_equal(const synth *a, const synth *b) {
  int eq = params_equal(&a->p, &b->p);
  eq &= a->o.t == b->o.t && a->o.n_q == b->o.n_q && a->o.n_32 == b->o.n_32;
  eq &= memcmp(a->o.qm, b->o.qm, a->o.n_q) == 0 && memcmp(a->o.qv, b->o.qv, a->o.n_q) == 0;
  eq &= memcmp(a->o.sm, b->o.sm, a->o.n_blocks * 4) == 0 && memcmp(a->o.sv, b->o.sv, a->o.n_blocks * 4) == 0;
  eq &= memcmp(a->o.m32, b->o.m32, a->o.n_32 * 4) == 0 && memcmp(a->o.v32, b->o.v32, a->o.n_32 * 4) == 0;
  eq &= memcmp(&a->sc, &b->sc, sizeof a->sc) == 0;
  eq &= a->pr.step == b->pr.step && a->pr.epoch == b->pr.epoch && a->pr.micro_step == b->pr.micro_step &&
        a->pr.tokens == b->pr.tokens && a->pr.run_seed == b->pr.run_seed &&
        a->pr.rng.seed == b->pr.rng.seed && a->pr.rng.pos == b->pr.rng.pos && a->pr.loss == b->pr.loss;
  return eq;
}

static void test_roundtrip(void) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/rt", g_root);
  synth a, b;
  synth_init(&a, 300);
  synth_init(&b, 300);
  synth_state(&a, 5, 3);
  ordo_err e = {0};
  ckpt_io io = synth_io(&a);
  EXPECT(ckpt_save(&io, dir, &e) == 0, "%s", e.msg);
  EXPECT(ckpt_exists(dir), "manifest present");
  ckpt_io in = synth_io(&b);
  EXPECT(ckpt_load(&in, dir, &e) == 0, "%s", e.msg);
  EXPECT(synth_equal(&a, &b), "8-bit state: save -> load bit-identical");
  EXPECT(a.o.n_q > 0 && a.o.n_32 > 0, "both widths exercised");
  /* saving over an existing checkpoint replaces it */
  synth_state(&a, 6, 1);
  EXPECT(ckpt_save(&io, dir, &e) == 0, "%s", e.msg);
  EXPECT(ckpt_load(&in, dir, &e) == 0, "%s", e.msg);
  EXPECT(synth_equal(&a, &b), "second save replaced the first");
  /* a directory that is not a checkpoint is never replaced */
  char other[700], keep[760];
  snprintf(other, sizeof other, "%s/notackpt", g_root);
  snprintf(keep, sizeof keep, "%s/keep.txt", other);
  ORDO_CHECK(mkdir(other, 0755) == 0);
  ORDO_CHECK(ordo_write_file_atomic(keep, "x", 1, &e) == 0);
  EXPECT(ckpt_save(&io, other, &e) == -1 && strstr(e.msg, "not a checkpoint"), "other dir: %s", e.msg);
  struct stat kst;
  EXPECT(stat(keep, &kst) == 0, "its files are untouched");
  /* an infinite last loss (a skipped fp16 step) is saved as null and read back as NaN */
  a.pr.loss = INFINITY;
  EXPECT(ckpt_save(&io, dir, &e) == 0, "%s", e.msg);
  EXPECT(ckpt_load(&in, dir, &e) == 0 && isnan(b.pr.loss), "inf loss: %s", e.msg);
  synth_free(&a);
  synth_free(&b);

  /* the 32-bit optimizer of optim.h */
  ordo_params p, q;
  params_init(&p);
  params_add(&p, "w", 2, (int64_t[]){33, 17}, 0);
  params_add(&p, "b", 1, (int64_t[]){33}, ORDO_PF_NO_DECAY);
  params_alloc(&p);
  params_init(&q);
  params_add(&q, "w", 2, (int64_t[]){33, 17}, 0);
  params_add(&q, "b", 1, (int64_t[]){33}, ORDO_PF_NO_DECAY);
  params_alloc(&q);
  adamw_config ac = adamw_defaults();
  opt_adamw oa, ob;
  opt_adamw_init(&oa, &p, &ac);
  opt_adamw_init(&ob, &q, &ac);
  fill(p.data, p.total, 1);
  for (int k = 0; k < 3; k++) {
    fill(p.grad, p.total, 10 + k);
    opt_adamw_step(&oa, &p, 1e-2f);
  }
  ckpt_progress pa = {.step = 3}, pb = {0};
  ckpt_io sa = {.params = &p, .adamw = &oa, .progress = &pa};
  ckpt_io sb = {.params = &q, .adamw = &ob, .progress = &pb};
  snprintf(dir, sizeof dir, "%s/rt32", g_root);
  EXPECT(ckpt_save(&sa, dir, &e) == 0, "%s", e.msg);
  EXPECT(ckpt_load(&sb, dir, &e) == 0, "%s", e.msg);
  EXPECT(params_equal(&p, &q) && bufs_equal(&p, oa.m, ob.m) && bufs_equal(&p, oa.v, ob.v) &&
             oa.t == ob.t && pb.step == 3,
         "32-bit AdamW: save -> load bit-identical");
  opt_adamw_free(&oa);
  opt_adamw_free(&ob);
  params_free(&p);
  params_free(&q);
}

/* ---- resume: a small encoder with dropout, MLM loss, schedule, clipping, 8-bit AdamW ---------- */

enum { R_B = 3, R_T = 12, R_V = 60, R_STEPS = 7, R_K = 3 };

typedef struct run {
  enc_model m;
  mlm_data data;
  opt_adamw8 o8;
  opt_adamw o32;
  int use8;
  opt_groups gs;
  sched_config sched;
  ckpt_progress pr;
  int32_t ids[R_B * R_T], mask[R_B * R_T], rows[R_B * R_T], labels[R_B * R_T];
} run;

static void run_init(run *r, uint64_t init_seed, int use8) {
  memset(r, 0, sizeof *r);
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_BERT);
  cfg.vocab_size = R_V, cfg.hidden_size = 16, cfg.embedding_size = 16, cfg.num_hidden_layers = 2;
  cfg.num_attention_heads = 2, cfg.intermediate_size = 32, cfg.max_position_embeddings = 16;
  cfg.hidden_dropout_prob = 0.1f, cfg.attention_probs_dropout_prob = 0.0f, cfg.pad_token_id = 0;
  ordo_err e = {0};
  ordo_backend ref = backend_cpu_ref();
  ORDO_CHECK(enc_init(&r->m, &cfg, ENC_HEAD_MLM, &ref, &e) == 0);
  enc_init_weights(&r->m, init_seed);
  enc_plan(&r->m, R_B, R_T, R_B * R_T);
  r->m.seed = 77;
  int64_t n = 400;
  int32_t *stream = malloc(n * sizeof(int32_t));
  ordo_rng g;
  rng_init(&g, 99);
  for (int64_t i = 0; i < n; i++) stream[i] = 5 + (int32_t)rng_below(&g, R_V - 5);
  ORDO_CHECK(mlm_data_init(&r->data, stream, n, R_T, R_B, 1, 2, 3, 0, R_V, 77, &e) == 0);
  opt_groups_init(&r->gs);
  param_groups_config pc = param_groups_defaults();
  pc.layer_decay = 0.8;
  param_groups_build(&r->gs, &r->m.params, &pc);
  adamw_config ac = adamw_defaults();
  r->use8 = use8;
  if (use8) {
    adamw8_config qc = adamw8_defaults();
    qc.min_8bit_numel = 256; /* small model: 8-bit state for every matrix ... */
    qc.keep32[qc.n_keep32++] = "position_embeddings"; /* ... but one, by pattern */
    ORDO_CHECK(opt_adamw8_init(&r->o8, &r->m.params, &ac, &qc, &r->gs, &e) == 0);
  } else {
    opt_adamw_init(&r->o32, &r->m.params, &ac);
  }
  r->sched = (sched_config){.kind = SCHED_COSINE, .lr = 5e-3f, .warmup_steps = 2,
                            .total_steps = R_STEPS, .min_lr = 1e-4f};
  r->pr.run_seed = 77;
  rng_init(&r->pr.rng, 1234);
}

static void run_free(run *r) {
  if (r->use8) opt_adamw8_free(&r->o8);
  else opt_adamw_free(&r->o32);
  opt_groups_free(&r->gs);
  mlm_data_free(&r->data);
  enc_free(&r->m);
}

/* One optimizer step at global step pr.step; the data position is drawn from the run's RNG so
 * that a resume must restore it too. */
static float run_step(run *r) {
  int64_t step = r->pr.step;
  int64_t data_step = rng_below(&r->pr.rng, 1000);
  int nm = mlm_data_batch(&r->data, data_step, R_B, r->ids, r->mask, r->rows, r->labels);
  enc_batch b = {.B = R_B, .T = R_T, .ids = r->ids, .mask = r->mask, .mlm_rows = r->rows,
                 .n_mlm_rows = nm, .mlm_labels = r->labels};
  r->m.step = (uint64_t)step;
  params_zero_grad(&r->m.params);
  enc_forward(&r->m, &b, 1);
  enc_zero_output_grads(&r->m, &b);
  float loss = enc_loss_mlm(&r->m, &b, 1.0f, NULL);
  enc_backward(&r->m, &b);
  double gn = grad_global_norm(&r->m.params);
  if (gn > 1.0) grad_scale(&r->m.params, (float)(1.0 / (gn + 1e-6)));
  float lr = sched_lr(&r->sched, step);
  if (r->use8) opt_adamw8_step(&r->o8, &r->m.params, lr);
  else opt_adamw_step(&r->o32, &r->m.params, lr);
  r->pr.step++;
  r->pr.tokens += R_B * R_T;
  r->pr.loss = loss;
  return loss;
}

static ckpt_io run_io(run *r) {
  return (ckpt_io){.params = &r->m.params, .adamw8 = r->use8 ? &r->o8 : NULL,
                   .adamw = r->use8 ? NULL : &r->o32, .sched = &r->sched, .progress = &r->pr};
}

static int write_config(void *ctx, const char *dir, ordo_err *e) {
  char path[1024];
  snprintf(path, sizeof path, "%s/config.json", dir);
  return hfconfig_save(&((run *)ctx)->m.cfg, path, e);
}

static void test_resume(int use8) {
  float full[R_STEPS], resumed[R_STEPS];
  run a;
  run_init(&a, 3, use8);
  for (int s = 0; s < R_STEPS; s++) full[s] = run_step(&a);

  char dir[600];
  snprintf(dir, sizeof dir, "%s/resume%d", g_root, use8);
  ordo_err e = {0};
  {
    run b;
    run_init(&b, 3, use8);
    for (int s = 0; s < R_K; s++) resumed[s] = run_step(&b);
    ckpt_io io = run_io(&b);
    io.write_extra = write_config;
    io.extra_ctx = &b;
    EXPECT(ckpt_save(&io, dir, &e) == 0, "%s", e.msg);
    run_free(&b);
  }
  {
    run c;
    run_init(&c, 4242, use8); /* different weights and a fresh RNG: all must come from the files */
    c.pr.step = 0;
    ckpt_io io = run_io(&c);
    EXPECT(ckpt_load(&io, dir, &e) == 0, "%s", e.msg);
    EXPECT(c.pr.step == R_K, "resumed at step %lld", (long long)c.pr.step);
    for (int s = R_K; s < R_STEPS; s++) resumed[s] = run_step(&c);
    int same = memcmp(full, resumed, sizeof full) == 0;
    EXPECT(same, "%s: losses of %d steps == %d + save + load + %d, bit for bit",
           use8 ? "8-bit" : "32-bit", R_STEPS, R_K, R_STEPS - R_K);
    EXPECT(params_equal(&a.m.params, &c.m.params),
           "final weights bit-identical");
    if (use8)
      EXPECT(memcmp(a.o8.qm, c.o8.qm, a.o8.n_q) == 0 && memcmp(a.o8.sv, c.o8.sv, a.o8.n_blocks * 4) == 0,
             "final 8-bit state bit-identical");
    printf("resume (%s state): losses", use8 ? "8-bit" : "32-bit");
    for (int s = 0; s < R_STEPS; s++) printf(" %.7f%s", full[s], s == R_K - 1 ? " |" : "");
    printf("\n");
    struct stat sb;
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    EXPECT(stat(cfg, &sb) == 0, "extra file written into the checkpoint");
    run_free(&c);
  }
  run_free(&a);
}

/* ---- refusing bad checkpoints --------------------------------------------------------------- */

static void corrupt_byte(const char *path, long off) {
  FILE *f = fopen(path, "r+b");
  ORDO_CHECK(f);
  fseek(f, off, SEEK_SET);
  int c = fgetc(f);
  fseek(f, off, SEEK_SET);
  fputc(c ^ 0x5A, f);
  fclose(f);
}

static void replace_in_file(const char *path, const char *from, const char *to) {
  size_t len;
  char *t = ordo_read_file(path, &len, NULL);
  ORDO_CHECK(t);
  char *hit = strstr(t, from);
  ORDO_CHECK(hit);
  FILE *f = fopen(path, "wb");
  fwrite(t, 1, (size_t)(hit - t), f);
  fputs(to, f);
  fputs(hit + strlen(from), f);
  fclose(f);
  free(t);
}

static void test_errors(void) {
  char dir[600], path[700];
  snprintf(dir, sizeof dir, "%s/bad", g_root);
  synth a, b;
  synth_init(&a, 300);
  synth_init(&b, 300);
  synth_state(&a, 8, 2);
  synth_state(&b, 9, 1);
  ordo_err e = {0};
  ckpt_io io = synth_io(&a), in = synth_io(&b);
  EXPECT(ckpt_save(&io, dir, &e) == 0, "%s", e.msg);
  float *before = malloc(b.p.total * 4);
  memcpy(before, b.p.data, b.p.total * 4);

  EXPECT(ckpt_load(&in, "/nonexistent/ckpt", &e) == -1 && strstr(e.msg, "/nonexistent/ckpt"),
         "missing dir: %s", e.msg);

  /* a flipped byte in the weights */
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  corrupt_byte(path, 5000);
  EXPECT(ckpt_load(&in, dir, &e) == -1 && strstr(e.msg, "checksum") && strstr(e.msg, "model.safetensors"),
         "corrupt weights: %s", e.msg);
  EXPECT(memcmp(before, b.p.data, b.p.total * 4) == 0, "failed load leaves the weights untouched");
  EXPECT(ckpt_save(&io, dir, &e) == 0, "%s", e.msg);

  /* a truncated optimizer file */
  snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
  EXPECT(truncate(path, 1000) == 0, "truncate");
  EXPECT(ckpt_load(&in, dir, &e) == -1 && strstr(e.msg, "optimizer.safetensors") && strstr(e.msg, "bytes"),
         "truncated optimizer state: %s", e.msg);
  EXPECT(ckpt_save(&io, dir, &e) == 0, "%s", e.msg);

  /* another format version */
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  replace_in_file(path, "\"version\":\t1", "\"version\":\t2");
  EXPECT(ckpt_load(&in, dir, &e) == -1 && strstr(e.msg, "version 2") && strstr(e.msg, "manifest.json"),
         "version: %s", e.msg);
  replace_in_file(path, "\"version\":\t2", "\"version\":\t1");
  replace_in_file(path, "\"run_seed\":", "\"run_seeds\":");
  EXPECT(ckpt_load(&in, dir, &e) == -1 && strstr(e.msg, "run_seed") && strstr(e.msg, "manifest.json"),
         "missing key: %s", e.msg);
  EXPECT(ckpt_save(&io, dir, &e) == 0, "%s", e.msg);

  /* another model: same tensor count, another shape */
  synth c;
  synth_init(&c, 301);
  ckpt_io ic = synth_io(&c);
  EXPECT(ckpt_load(&ic, dir, &e) == -1 && strstr(e.msg, "word_embeddings") && strstr(e.msg, "[301,64]"),
         "shape mismatch: %s", e.msg);
  synth_free(&c);

  /* state widths that differ from the checkpoint's */
  opt_adamw8 o2;
  adamw_config ac = adamw_defaults();
  adamw8_config qc = adamw8_defaults();
  qc.keep32[qc.n_keep32++] = "word_embeddings";
  ORDO_CHECK(opt_adamw8_init(&o2, &b.p, &ac, &qc, NULL, &e) == 0);
  ckpt_io iw = in;
  iw.adamw8 = &o2;
  EXPECT(ckpt_load(&iw, dir, &e) == -1 && strstr(e.msg, "word_embeddings") && strstr(e.msg, "8-bit"),
         "width mismatch: %s", e.msg);
  EXPECT(memcmp(before, b.p.data, b.p.total * 4) == 0, "failed load leaves the weights untouched");
  opt_adamw8_free(&o2);

  /* another optimizer */
  opt_adamw o32;
  opt_adamw_init(&o32, &b.p, &ac);
  ckpt_io i32 = {.params = &b.p, .adamw = &o32, .progress = &b.pr};
  EXPECT(ckpt_load(&i32, dir, &e) == -1 && strstr(e.msg, "adamw8"), "optimizer kind: %s", e.msg);
  opt_adamw_free(&o32);

  /* weights only (no optimizer given) is allowed */
  ckpt_io iwo = {.params = &b.p, .progress = &b.pr};
  EXPECT(ckpt_load(&iwo, dir, &e) == 0, "weights only: %s", e.msg);
  EXPECT(params_equal(&a.p, &b.p), "weights only: loaded");
  free(before);
  synth_free(&a);
  synth_free(&b);
}

/* ---- interrupted saves ---------------------------------------------------------------------- */

static void kill_at(void *ctx, const char *stage) {
  if (strcmp((const char *)ctx, stage) == 0) raise(SIGKILL);
}

static int count_tmp(const char *dir) {
  const char *slash = strrchr(dir, '/');
  char parent[600], prefix[300];
  snprintf(parent, sizeof parent, "%.*s", (int)(slash - dir), dir);
  snprintf(prefix, sizeof prefix, "%s.tmp.", slash + 1);
  DIR *d = opendir(parent);
  int n = 0;
  struct dirent *de;
  while (d && (de = readdir(d))) n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
  if (d) closedir(d);
  return n;
}

/* A child process saves state B over checkpoint A and is killed (SIGKILL) at a given stage. */
static void test_killed_at_stages(void) {
  const char *stages[] = {"begin", "model", "optimizer", "extra", "manifest", "synced", "swapped"};
  char dir[600];
  snprintf(dir, sizeof dir, "%s/killed", g_root);
  synth a, b, r;
  synth_init(&a, 2000);
  synth_init(&b, 2000);
  synth_init(&r, 2000);
  synth_state(&a, 1, 2);
  synth_state(&b, 2, 3);
  ordo_err e = {0};
  ckpt_io ia = synth_io(&a), ir = synth_io(&r);
  for (size_t k = 0; k < sizeof stages / sizeof stages[0]; k++) {
    EXPECT(ckpt_save(&ia, dir, &e) == 0, "%s", e.msg);
    EXPECT(count_tmp(dir) == 0, "a good save leaves (and clears) no tmp directory");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      ckpt_io ib = synth_io(&b);
      ib.on_stage = kill_at;
      ib.stage_ctx = (void *)stages[k];
      ordo_err ce;
      ckpt_save(&ib, dir, &ce);
      _exit(3); /* not reached: killed at the stage */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child killed at '%s'", stages[k]);
    int after_swap = strcmp(stages[k], "swapped") == 0;
    EXPECT(count_tmp(dir) == 1, "killed at '%s': its tmp directory is left", stages[k]);
    EXPECT(ckpt_load(&ir, dir, &e) == 0, "killed at '%s': load: %s", stages[k], e.msg);
    EXPECT(synth_equal(&r, after_swap ? &b : &a), "killed at '%s': the %s checkpoint, complete",
           stages[k], after_swap ? "new" : "previous");
  }
  EXPECT(ckpt_save(&ia, dir, &e) == 0, "%s", e.msg);
  EXPECT(count_tmp(dir) == 0, "the next save removes a dead process's tmp directory");
  synth_free(&a);
  synth_free(&b);
  synth_free(&r);
}

/* kill -9 at random moments of a save loop: the checkpoint is always one of the two, complete. */
static void test_killed_randomly(void) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/random", g_root);
  synth a, b, r;
  synth_init(&a, 8000); /* about 2 MB of weights: a save takes a few milliseconds */
  synth_init(&b, 8000);
  synth_init(&r, 8000);
  synth_state(&a, 1, 1);
  synth_state(&b, 2, 1);
  ordo_err e = {0};
  ckpt_io ia = synth_io(&a), ir = synth_io(&r);
  EXPECT(ckpt_save(&ia, dir, &e) == 0, "%s", e.msg);
  ordo_rng g;
  rng_init(&g, (uint64_t)time(NULL));
  int n_a = 0, n_b = 0, bad = 0;
  for (int it = 0; it < 12; it++) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      ckpt_io ib = synth_io(&b), ia2 = synth_io(&a);
      ordo_err ce;
      for (int i = 0;; i++) ckpt_save(i & 1 ? &ia2 : &ib, dir, &ce);
    }
    usleep(2000 + rng_below(&g, 40000));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (ckpt_load(&ir, dir, &e) != 0) {
      bad++;
      fprintf(stderr, "after kill %d: %s\n", it, e.msg);
      continue;
    }
    if (synth_equal(&r, &a)) n_a++;
    else if (synth_equal(&r, &b)) n_b++;
    else bad++;
  }
  printf("random kill -9 during saves: 12 kills, loaded the A state %d times, B %d, bad %d\n", n_a,
         n_b, bad);
  EXPECT(bad == 0, "%d kills left an unloadable or mixed checkpoint", bad);
  synth_free(&a);
  synth_free(&b);
  synth_free(&r);
}

int main(void) {
  snprintf(g_root, sizeof g_root, "ckpt_test.%ld", (long)getpid());
  rm_rf(g_root);
  ORDO_CHECK(mkdir(g_root, 0755) == 0);
  test_roundtrip();
  test_resume(1);
  test_resume(0);
  test_errors();
  test_killed_at_stages();
  test_killed_randomly();
  int rc = test_summary();
  if (rc == 0) rm_rf(g_root);
  return rc;
}
