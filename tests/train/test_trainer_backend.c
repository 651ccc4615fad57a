/* The trainer, the optimizers and checkpoints behind the backend interface, checked on the CPU
 * with a backend that keeps its own memory: the fast CPU ops on separate host buffers
 * (host_memory 0), so the working copy, the gradients, the accumulation buffer and the optimizer
 * state live apart from the table's host image, as on a GPU. Anything that reads the host image
 * where it should use the working copy, or forgets an upload or a download, changes the result;
 * the runs must be bit-identical to the plain host table's, and checkpoints must move between
 * the two either way; and data parallelism on such memory without NCCL is refused. */
#include "train/trainer_backend_check.h"

static void *sep_alloc(ordo_ctx *c, size_t bytes) {
  (void)c;
  return bytes ? ordo_alloc_aligned(bytes) : NULL; /* zero-filled */
}
static void sep_free(ordo_ctx *c, void *p) {
  (void)c;
  ordo_free_aligned(p);
}
static void sep_move(ordo_ctx *c, void *dst, const void *src, size_t bytes) {
  (void)c;
  memcpy(dst, src, bytes);
}
static void sep_zero(ordo_ctx *c, void *dst, size_t bytes) {
  (void)c;
  memset(dst, 0, bytes);
}

static ordo_ops g_sep_ops;

static ordo_backend separate_backend(void) {
  g_sep_ops = *ops_cpu();
  g_sep_ops.name = "cpu-separate";
  g_sep_ops.host_memory = 0;
  g_sep_ops.alloc = sep_alloc, g_sep_ops.free = sep_free;
  g_sep_ops.upload = sep_move, g_sep_ops.download = sep_move, g_sep_ops.copy = sep_move;
  g_sep_ops.zero = sep_zero;
  return (ordo_backend){.ops = &g_sep_ops, .ctx = NULL};
}

static void expect_same(tb_run *ref, tb_run *r, const char *what) {
  tb_weights(ref), tb_weights(r);
  EXPECT(memcmp(ref->p.data, r->p.data, ref->p.total * sizeof(float)) == 0,
         "%s: weights differ (largest relative difference %.3g)", what, tb_weight_rel(ref, r));
  size_t differ;
  int gap;
  double rel;
  tb_state_diff(ref, r, &differ, &gap, &rel);
  EXPECT(differ == 0, "%s: %zu optimizer-state values differ", what, differ);
  EXPECT(ref->t.opt.t == r->t.opt.t, "%s: optimizer step %lld vs %lld", what,
         (long long)ref->t.opt.t, (long long)r->t.opt.t);
  if (t_fail == 0)
    printf("%s: weights, 8- and 32-bit optimizer state bit-identical to the host table's\n", what);
}

/* ---- a BERT encoder through the model driver and the trainer: classification (MSE) with
 * dropout, fp16 storage and loss scaling, accumulation, clipping, 8-bit AdamW, a checkpoint ---- */
enum { EB = 4, ET = 10, EN = 6 };

typedef struct enc_run {
  enc_model m;
  trainer t;
  int32_t ids[EB * ET], mask[EB * ET];
  float target[EB];
  float loss[EN];
} enc_run;

static float enc_micro(void *c_, enc_model *m, int64_t step, int i, float dloss) {
  (void)step;
  enc_run *r = c_;
  const int n = EB / 2, b0 = i * n;
  enc_batch b = {.B = n, .T = ET, .ids = r->ids + b0 * ET, .mask = r->mask + b0 * ET};
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  float loss = enc_loss_cls_mse(m, &b, r->target + b0, dloss * 0.5f);
  enc_backward(m, &b);
  return 0.5f * loss;
}

static void enc_run_init(enc_run *r, const ordo_backend *be, const char *ckpt_dir) {
  memset(r, 0, sizeof *r);
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_BERT);
  cfg.vocab_size = 50, cfg.hidden_size = cfg.embedding_size = 32, cfg.num_attention_heads = 2;
  cfg.num_hidden_layers = 2, cfg.intermediate_size = 64, cfg.max_position_embeddings = 16;
  cfg.num_labels = 1;
  ordo_err e = {0};
  ORDO_CHECKF(enc_init(&r->m, &cfg, ENC_HEAD_CLS, be, &e) == 0, "%s", e.msg);
  enc_init_weights(&r->m, 4);
  trainer_config tc = trainer_defaults();
  tc.steps = EN, tc.accum_steps = 2, tc.clip = 0.5, tc.precision = ORDO_DT_F16;
  tc.q8.bits = 8, tc.q8.min_8bit_numel = 1024; /* the larger matrices get 8-bit state */
  tc.seed = 9, tc.ckpt_dir = ckpt_dir;
  tc.sched.lr = tc.adamw.lr = 3e-3f, tc.sched.total_steps = EN;
  ORDO_CHECKF(trainer_init(&r->t, &r->m, &tc, &e) == 0, "%s", e.msg);
  enc_plan(&r->m, EB / 2, ET, 0);
  ordo_rng g;
  rng_init(&g, 8);
  for (int k = 0; k < EB * ET; k++) r->ids[k] = 1 + (int32_t)rng_below(&g, 49), r->mask[k] = k % ET < 8;
  for (int b = 0; b < EB; b++) r->target[b] = 3.0f * rng_uniform(&g);
}

static void enc_run_steps(enc_run *r, int64_t until) {
  trainer_stats st;
  while (r->t.prog.step < until) {
    int64_t s = r->t.prog.step;
    trainer_step(&r->t, r, NULL, enc_micro, &st);
    r->loss[s] = st.loss;
  }
  params_download(&r->m.params);
}

static void enc_run_free(enc_run *r) {
  trainer_free(&r->t);
  enc_free(&r->m);
}

static void test_encoder(const ordo_backend *sep, const char *dir) {
  enc_run a, b;
  enc_run_init(&a, NULL, NULL);
  enc_run_steps(&a, EN);
  enc_run_init(&b, sep, NULL);
  enc_run_steps(&b, EN);
  EXPECT(memcmp(a.loss, b.loss, sizeof a.loss) == 0, "encoder: losses differ (last %.9g vs %.9g)",
         a.loss[EN - 1], b.loss[EN - 1]);
  EXPECT(memcmp(a.m.params.data, b.m.params.data, a.m.params.total * sizeof(float)) == 0,
         "encoder: weights differ");
  EXPECT(a.loss[EN - 1] < a.loss[0], "encoder: the loss falls (%g -> %g)", a.loss[0], a.loss[EN - 1]);
  enc_run_free(&b);
  /* saved on separate memory half way, resumed on the host */
  char ck[700];
  snprintf(ck, sizeof ck, "%s/enc", dir);
  enc_run_init(&b, sep, ck);
  enc_run_steps(&b, EN / 2);
  ordo_err e = {0};
  EXPECT(trainer_save(&b.t, &e) == 0, "%s", e.msg);
  enc_run_free(&b);
  enc_run_init(&b, NULL, ck);
  EXPECT(trainer_resume(&b.t, &e) == 1, "resume: %s", e.msg);
  enc_run_steps(&b, EN);
  EXPECT(memcmp(a.loss + EN / 2, b.loss + EN / 2, sizeof(float) * (EN - EN / 2)) == 0 &&
             memcmp(a.m.params.data, b.m.params.data, a.m.params.total * sizeof(float)) == 0,
         "encoder: the run resumed on the host differs");
  if (t_fail == 0)
    printf("encoder (fp16, loss scaling, accumulation, clipping, 8-bit AdamW, dropout): %d steps on "
           "separate memory bit-identical to the host's, loss %.4f -> %.4f; saved there at step "
           "%d, resumed on the host: identical\n", EN, a.loss[0], a.loss[EN - 1], EN / 2);
  enc_run_free(&a), enc_run_free(&b);
}

int main(void) {
  ordo_backend sep = separate_backend();
  tb_run ref, r;
  tb_train_both(&ref, &r, &sep);
  int clipped = 0;
  for (int s = 0; s < TB_STEPS; s++) {
    EXPECT(ref.st[s].grad_norm == r.st[s].grad_norm && ref.st[s].lr == r.st[s].lr &&
               ref.st[s].skipped == r.st[s].skipped,
           "step %d: grad norm %.17g vs %.17g", s + 1, ref.st[s].grad_norm, r.st[s].grad_norm);
    clipped += ref.st[s].grad_norm > 20;
  }
  EXPECT(clipped > 0 && clipped < TB_STEPS, "clipping engaged at %d of %d steps", clipped, TB_STEPS);
  int64_t n8, n32;
  opt_adamw8_counts(&ref.t.opt, &ref.p, &n8, &n32);
  EXPECT(n8 > 0 && n32 > 0, "both state widths in use: %lld 8-bit, %lld 32-bit", (long long)n8,
         (long long)n32);
  printf("%d steps, accumulation %d, clipped at %d steps, %lld 8-bit and %lld 32-bit states\n",
         TB_STEPS, TB_ACCUM, clipped, (long long)n8, (long long)n32);
  expect_same(&ref, &r, "separate memory");

  /* the moments read back for a spec, and the global norm and scaling of the gradients */
  float m1[5100], v1[5100], m2[5100], v2[5100];
  opt_adamw8_moments(&ref.t.opt, &ref.p, 0, m1, v1);
  opt_adamw8_moments(&r.t.opt, &r.p, 0, m2, v2);
  EXPECT(memcmp(m1, m2, sizeof m1) == 0 && memcmp(v1, v2, sizeof v1) == 0, "moments differ");
  double n1 = grad_global_norm(&ref.p), n2 = grad_global_norm(&r.p);
  EXPECT(n1 == n2 && n1 > 0, "global norm %.17g vs %.17g", n1, n2);
  grad_scale(&ref.p, 0.25f), grad_scale(&r.p, 0.25f);
  EXPECT(grad_global_norm(&r.p) == grad_global_norm(&ref.p) && grad_global_norm(&r.p) == 0.25 * n2,
         "scaled norm %.17g, expected %.17g", grad_global_norm(&r.p), 0.25 * n2);
  tb_free(&r);

  /* checkpoints across: host -> separate, separate -> host */
  char dir[512];
  tb_scratch(dir, sizeof dir, "backend");
  tb_resume_across(&r, NULL, &sep, dir);
  expect_same(&ref, &r, "saved on the host, resumed on separate memory");
  tb_free(&r);
  tb_resume_across(&r, &sep, NULL, dir);
  expect_same(&ref, &r, "saved on separate memory, resumed on the host");
  tb_free(&r);

  /* plain AdamW (opt_adamw) and its checkpoint on separate memory */
  tb_run a, b;
  tb_init(&a, NULL, NULL), tb_init(&b, &sep, NULL);
  opt_adamw oa, ob;
  adamw_config ac = adamw_defaults();
  opt_adamw_init(&oa, &a.p, &ac), opt_adamw_init(&ob, &b.p, &ac);
  for (int s = 0; s < 3; s++) {
    params_zero_grad(&a.p), params_zero_grad(&b.p);
    tb_micro(&a, NULL, s, 0, 1.0f), tb_micro(&b, NULL, s, 0, 1.0f);
    opt_adamw_step(&oa, &a.p, 1e-2f), opt_adamw_step(&ob, &b.p, 1e-2f);
  }
  ckpt_progress pr = {0};
  ckpt_io io = {.params = &b.p, .adamw = &ob, .progress = &pr};
  char ck[700];
  snprintf(ck, sizeof ck, "%s/adamw", dir);
  ordo_err e = {0};
  EXPECT(ckpt_save(&io, ck, &e) == 0, "%s", e.msg);
  tb_run c;
  tb_init(&c, NULL, NULL);
  opt_adamw oc;
  opt_adamw_init(&oc, &c.p, &ac);
  ckpt_io in = {.params = &c.p, .adamw = &oc, .progress = &pr};
  EXPECT(ckpt_load(&in, ck, &e) == 0, "%s", e.msg);
  tb_weights(&b);
  EXPECT(memcmp(a.p.data, b.p.data, a.p.total * sizeof(float)) == 0, "opt_adamw: weights differ");
  EXPECT(memcmp(a.p.data, c.p.data, a.p.total * sizeof(float)) == 0, "opt_adamw: loaded weights differ");
  opt_adamw hb;
  opt_adamw_to_host(&ob, &hb);
  EXPECT(memcmp(hb.m, oa.m, a.p.total * sizeof(float)) == 0 &&
             memcmp(hb.v, oa.v, a.p.total * sizeof(float)) == 0 &&
             memcmp(oc.m, oa.m, a.p.total * sizeof(float)) == 0 && oc.t == 3,
         "opt_adamw: moments differ");
  opt_adamw_from_host(&ob, &hb, 0);
  printf("opt_adamw: 3 steps on separate memory and their checkpoint loaded on the host "
         "bit-identical to the host's\n");
  opt_adamw_free(&oa), opt_adamw_free(&ob), opt_adamw_free(&oc);
  tb_free(&a), tb_free(&b), tb_free(&c);
  test_encoder(&sep, dir);

  /* without NCCL, data parallelism runs its collectives over host memory: two ranks on separate
   * memory and no NCCL communicator are refused with a message saying so, before any collective
   * (a job description of two ranks, no MPI) */
  tb_init(&a, &sep, NULL);
  ordo_dist two = {.rank = 0, .world = 2, .timeout_s = 1};
  EXPECT(trainer_set_dist(&a.t, &two, &e) == -1 && strstr(e.msg, "mpirun") &&
             strstr(e.msg, "cpu-separate") && strstr(e.msg, "NCCL"),
         "two ranks on separate memory: %s", e.msg);
  EXPECT(a.t.dist == NULL, "the refused job is not joined");
  tb_free(&a);
  tb_free(&ref);
  tb_scratch_remove(dir);
  return test_summary();
}
