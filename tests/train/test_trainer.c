/* The shared trainer: fp16 loss scaling (a forced overflow skips the update and halves the
 * scale; the scale doubles after growth_interval good steps), clipping to the global norm,
 * accumulation equal to the large batch, and repeatability. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "ordo/rng.h"
#include "ordo/trainer.h"

enum { B = 4, T = 10 };

typedef struct ctx {
  int32_t ids[B * T], mask[B * T];
  float target[B];
  int force_overflow; /* poison the gradients of the next step */
} ctx;

static float micro(void *c_, enc_model *m, int64_t step, int i, float dloss) {
  (void)step;
  ctx *c = c_;
  int n = B / 2; /* the step's batch is cut into two micro-batches when accumulating */
  int per = (m->maxB == B) ? B : n;
  int b0 = per == B ? 0 : i * n;
  enc_batch b = {.B = per, .T = T, .ids = c->ids + b0 * T, .mask = c->mask + b0 * T};
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  float share = (float)per / B;
  float loss = enc_loss_cls_mse(m, &b, c->target + b0, dloss * share);
  enc_backward(m, &b);
  if (c->force_overflow) m->params.grad[m->params.specs[0].offset] = INFINITY;
  return loss * share;
}

static void build(enc_model *m, trainer *t, trainer_config *tc, int maxB) {
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_BERT);
  cfg.vocab_size = 50, cfg.hidden_size = cfg.embedding_size = 16, cfg.num_attention_heads = 2;
  cfg.num_hidden_layers = 2, cfg.intermediate_size = 32, cfg.max_position_embeddings = 16;
  cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0;
  cfg.classifier_dropout = 0, cfg.num_labels = 1;
  ordo_err e;
  ORDO_CHECK(enc_init(m, &cfg, ENC_HEAD_CLS, NULL, &e) == 0);
  enc_init_weights(m, 4);
  ORDO_CHECK(trainer_init(t, m, tc, &e) == 0);
  enc_plan(m, maxB, T, 0);
}

static void make(ctx *c) {
  memset(c, 0, sizeof *c);
  ordo_rng r;
  rng_init(&r, 8);
  for (int i = 0; i < B * T; i++) c->ids[i] = 1 + (int32_t)rng_below(&r, 49), c->mask[i] = 1;
  for (int b = 0; b < B; b++) c->target[b] = 3.0f * rng_uniform(&r);
}

static void test_loss_scaling(void) {
  ctx c;
  make(&c);
  trainer_config tc = trainer_defaults();
  tc.steps = 10;
  tc.precision = ORDO_DT_F16;
  enc_model m;
  trainer t;
  build(&m, &t, &tc, B);
  t.scaler.growth_interval = 3;
  EXPECT(t.scaler.enabled && t.scaler.scale == 65536.0f, "fp16 starts with scale 2^16 (%g)", t.scaler.scale);
  trainer_stats st;
  /* as with GradScaler, the first steps may overflow at 2^16 and back off until one fits */
  int tries = 0;
  do trainer_step(&t, &c, NULL, micro, &st);
  while (st.skipped && ++tries < 20);
  EXPECT(!st.skipped, "a step applied after %d back-offs", tries);
  float S = t.scaler.scale;
  EXPECT(S == 65536.0f / (float)(1 << tries), "scale %g after %d back-offs", S, tries);
  int64_t at = t.prog.step;
  float *w_before = ordo_malloc(m.params.total * sizeof(float));
  memcpy(w_before, m.params.data, m.params.total * sizeof(float));
  c.force_overflow = 1;
  trainer_step(&t, &c, NULL, micro, &st);
  c.force_overflow = 0;
  EXPECT(st.skipped == 1, "overflow skips the step");
  EXPECT(t.scaler.scale == S / 2, "scale halved: %g", t.scaler.scale);
  EXPECT(memcmp(w_before, m.params.data, m.params.total * sizeof(float)) == 0, "weights untouched");
  EXPECT(t.prog.step == at + 1, "a skipped step still advances the data position");
  int skipped = 0;
  for (int k = 0; k < 3; k++) trainer_step(&t, &c, NULL, micro, &st), skipped += st.skipped;
  EXPECT(skipped || t.scaler.scale == S, "scale doubled after 3 good steps: %g", t.scaler.scale);
  free(w_before);
  trainer_free(&t);
  enc_free(&m);
}

static void test_clip_and_accum(void) {
  ctx c;
  make(&c);
  trainer_config tc = trainer_defaults();
  tc.steps = 4;
  tc.clip = 0.01;
  enc_model m;
  trainer t;
  build(&m, &t, &tc, B);
  trainer_stats st;
  trainer_step(&t, &c, NULL, micro, &st);
  double after = grad_global_norm(&m.params);
  EXPECT(st.grad_norm > 0.01, "the raw norm %g exceeds the clip", st.grad_norm);
  EXPECT(fabs(after - 0.01) < 1e-6, "clipped norm %g", after);
  float *g_big = ordo_malloc(m.params.total * sizeof(float));
  /* the step's gradient without clipping, from one batch of B and from 2 x B/2 */
  enc_model m1, m2;
  trainer t1, t2;
  tc.clip = 0;
  build(&m1, &t1, &tc, B);
  trainer_step(&t1, &c, NULL, micro, &st);
  memcpy(g_big, m1.params.grad, m1.params.total * sizeof(float));
  float loss_big = st.loss;
  tc.accum_steps = 2;
  build(&m2, &t2, &tc, B / 2);
  trainer_step(&t2, &c, NULL, micro, &st);
  double num = 0, den = 0;
  for (size_t j = 0; j < m1.params.total; j++) {
    num += ((double)m2.params.grad[j] - g_big[j]) * ((double)m2.params.grad[j] - g_big[j]);
    den += (double)g_big[j] * g_big[j];
  }
  EXPECT(sqrt(num / den) < 1e-5, "accumulated gradient rel err %.3g", sqrt(num / den));
  EXPECT(fabsf(st.loss - loss_big) < 1e-5f * fabsf(loss_big), "loss %g vs %g", st.loss, loss_big);
  free(g_big);
  trainer_free(&t), trainer_free(&t1), trainer_free(&t2);
  enc_free(&m), enc_free(&m1), enc_free(&m2);
}

/* The all-reduce spans: maximal runs of trainable specs, padding inside a run, frozen specs out. */
static void test_spans(void) {
  ordo_params p;
  params_init(&p);
  int64_t s5[1] = {5}, s40[1] = {40}, s3[1] = {3};
  params_add(&p, "a", 1, s5, 0);
  params_add(&p, "b", 1, s40, 0);              /* offset 16: padding after a */
  params_add(&p, "frozen", 1, s3, ORDO_PF_FROZEN);
  params_add(&p, "c", 1, s3, 0);
  params_add_contiguous(&p, "d", 1, s5, 0);
  params_alloc(&p);
  trainer t;
  trainer_config tc = trainer_defaults();
  ordo_err e;
  ORDO_CHECK(trainer_init_params(&t, &p, &tc, &e) == 0);
  EXPECT(t.n_spans == 2, "%d spans", t.n_spans);
  if (t.n_spans == 2) {
    EXPECT(t.spans[0][0] == 0 && t.spans[0][1] == 56, "span 0: [%lld, +%lld)", (long long)t.spans[0][0],
           (long long)t.spans[0][1]);
    EXPECT(t.spans[1][0] == (int64_t)p.specs[3].offset && t.spans[1][1] == 8,
           "span 1: [%lld, +%lld)", (long long)t.spans[1][0], (long long)t.spans[1][1]);
  }
  trainer_free(&t);
  params_free(&p);
}

int main(void) {
  test_spans();
  test_loss_scaling();
  test_clip_and_accum();
  return test_summary();
}
