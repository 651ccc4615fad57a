/* Encoder driver: recompute is bit-identical, gradient accumulation equals the large batch,
 * mixed-precision rounding and fp16 overflow, LoRA merge, activation memory per mode. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ordo/model.h"
#include "ordo/rng.h"

enum { B = 4, T = 12 };

static enc_config tiny_config(void) {
  enc_config c;
  hfconfig_defaults(&c, ORDO_ARCH_BERT);
  c.vocab_size = 61, c.hidden_size = c.embedding_size = 24, c.num_attention_heads = 3;
  c.num_hidden_layers = 2, c.intermediate_size = 40, c.max_position_embeddings = 32;
  c.hidden_dropout_prob = 0.1f, c.attention_probs_dropout_prob = 0.0f;
  c.num_labels = 1;
  return c;
}

typedef struct data {
  int32_t ids[B * T], mask[B * T], labels[B * T];
  float target[B];
} data;

static void make_data(data *d) {
  ordo_rng r;
  rng_init(&r, 5);
  for (int b = 0; b < B; b++) {
    int len = T - 2 * b; /* right padding of different lengths */
    for (int t = 0; t < T; t++) {
      int i = b * T + t;
      d->mask[i] = t < len;
      d->ids[i] = t < len ? 1 + (int32_t)rng_below(&r, 60) : 0;
      d->labels[i] = (t < len && rng_uniform(&r) < 0.3f) ? d->ids[i] : -100;
    }
    d->target[b] = rng_uniform(&r);
  }
}

/* One forward/backward of the MLM + classification losses on rows [b0, b0 + nb);
 * dloss scales both losses (micro-batch weight). */
static void step(enc_model *m, const data *d, int b0, int nb, float dloss) {
  enc_batch b = {.B = nb, .T = T, .ids = d->ids + b0 * T, .mask = d->mask + b0 * T,
                 .mlm_labels = d->labels + b0 * T};
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  enc_loss_cls_mse(m, &b, d->target + b0, dloss);
  enc_backward(m, &b);
}

static void build(enc_model *m, enc_recompute rc, const enc_lora_config *lora) {
  enc_config c = tiny_config();
  ordo_err e;
  ORDO_CHECK(enc_init_lora(m, &c, ENC_HEAD_CLS, lora, NULL, &e) == 0);
  enc_init_weights(m, 9);
  enc_set_recompute(m, rc);
  enc_plan(m, B, T, 0);
  m->seed = 77;
  m->step = 3;
}

static void test_recompute(void) {
  enc_lora_config lora = {.r = 2, .alpha = 4, .dropout = 0.2f, .targets = 0x3f};
  for (int with_lora = 0; with_lora < 2; with_lora++) {
    enc_model ref, m;
    data d;
    make_data(&d);
    build(&ref, ENC_RECOMPUTE_NONE, with_lora ? &lora : NULL);
    if (with_lora) /* B = 0 would make the adapters' path vanish: give it values */
      for (size_t j = 0; j < ref.params.total; j++) ref.params.data[j] += 0.01f * sinf((float)j);
    step(&ref, &d, 0, B, 1.0f);
    size_t arena_none = ref.arena.cap;
    for (enc_recompute rc = ENC_RECOMPUTE_ATTENTION; rc <= ENC_RECOMPUTE_LAYER; rc++) {
      build(&m, rc, with_lora ? &lora : NULL);
      memcpy(m.params.data, ref.params.data, ref.params.total * sizeof(float));
      step(&m, &d, 0, B, 1.0f);
      EXPECT(memcmp(m.params.grad, ref.params.grad, ref.params.total * sizeof(float)) == 0,
             "recompute %d lora %d: gradients not bit-identical", (int)rc, with_lora);
      EXPECT(memcmp(enc_hidden(&m), enc_hidden(&ref), (size_t)B * T * 24 * sizeof(float)) == 0,
             "recompute %d: hidden differs", (int)rc);
      EXPECT(m.arena.cap < arena_none, "recompute %d arena %zu !< %zu", (int)rc, m.arena.cap,
             arena_none);
      enc_free(&m);
    }
    enc_free(&ref);
  }
}

static double rel_err(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return sqrt(num / (den > 0 ? den : 1));
}

static void test_accumulation(void) {
  /* MSE over the batch is a mean over samples: two halves with weight 1/2 each give the
   * gradient of the whole batch. Dropout keys differ per row position, so dropout is off. */
  enc_model big, acc;
  data d;
  make_data(&d);
  build(&big, ENC_RECOMPUTE_NONE, NULL);
  build(&acc, ENC_RECOMPUTE_NONE, NULL);
  big.cfg.hidden_dropout_prob = acc.cfg.hidden_dropout_prob = 0;
  big.cfg.classifier_dropout = acc.cfg.classifier_dropout = 0;
  step(&big, &d, 0, B, 1.0f);
  step(&acc, &d, 0, B / 2, 0.5f);
  step(&acc, &d, B / 2, B / 2, 0.5f);
  double r = rel_err(acc.params.grad, big.params.grad, big.params.total);
  /* float32 sums in another order: a few ulps of the gradient norm */
  EXPECT(r < 1e-5, "accumulated gradient rel err %.3g", r);
  enc_free(&big);
  enc_free(&acc);
}

static void test_precision(void) {
  data d;
  make_data(&d);
  enc_model f32, lp;
  build(&f32, ENC_RECOMPUTE_NONE, NULL);
  step(&f32, &d, 0, B, 1.0f);
  enc_config c = tiny_config();
  ordo_err e;
  ORDO_CHECK(enc_init(&lp, &c, ENC_HEAD_CLS, NULL, &e) == 0);
  enc_init_weights(&lp, 9);
  enc_set_precision(&lp, ORDO_DT_BF16);
  enc_plan(&lp, B, T, 0);
  lp.seed = 77, lp.step = 3;
  step(&lp, &d, 0, B, 1.0f);
  const float *h = enc_hidden(&lp);
  int all_bf16 = 1;
  for (int i = 0; i < B * T * 24; i++) all_bf16 &= bf16_to_f32(f32_to_bf16(h[i])) == h[i];
  EXPECT(all_bf16, "stored activations are bf16 values");
  double r = rel_err(enc_hidden(&lp), enc_hidden(&f32), (size_t)B * T * 24);
  /* bf16 keeps 8 bits of mantissa: relative rounding 2^-9 per op, a few ops deep */
  EXPECT(r < 2e-2 && r > 0, "bf16 hidden rel err %.3g", r);
  enc_free(&lp);

  /* fp16: a loss scale that overflows the activation gradients gives inf gradients */
  ORDO_CHECK(enc_init(&lp, &c, ENC_HEAD_CLS, NULL, &e) == 0);
  enc_init_weights(&lp, 9);
  enc_set_precision(&lp, ORDO_DT_F16);
  enc_plan(&lp, B, T, 0);
  step(&lp, &d, 0, B, 65536.0f);
  int finite = 1;
  for (size_t j = 0; j < lp.params.total; j++) finite &= isfinite(lp.params.grad[j]) != 0;
  EXPECT(finite, "scale 2^16 stays finite in fp16");
  params_zero_grad(&lp.params);
  step(&lp, &d, 0, B, 1e12f);
  int has_inf = 0;
  for (size_t j = 0; j < lp.params.total; j++) has_inf |= !isfinite(lp.params.grad[j]);
  EXPECT(has_inf, "a 1e12 loss scale overflows fp16");
  enc_free(&lp);
  enc_free(&f32);
}

static void test_lora_merge(void) {
  enc_lora_config lora = {.r = 3, .alpha = 6, .dropout = 0, .targets = 0x3f};
  enc_model m;
  data d;
  make_data(&d);
  build(&m, ENC_RECOMPUTE_NONE, &lora);
  for (int i = 0; i < m.params.n; i++)
    if (m.params.specs[i].flags & ORDO_PF_LORA) {
      float *w = params_data(&m.params, i);
      for (int64_t j = 0; j < m.params.specs[i].numel; j++) w[j] = 0.05f * cosf((float)(i + j));
    }
  int frozen_ok = 1;
  for (int i = 0; i < m.params.n; i++) {
    int lora_p = (m.params.specs[i].flags & ORDO_PF_LORA) != 0;
    frozen_ok &= lora_p == !(m.params.specs[i].flags & ORDO_PF_FROZEN);
  }
  EXPECT(frozen_ok, "only adapters are trainable");
  enc_batch b = {.B = B, .T = T, .ids = d.ids, .mask = d.mask};
  enc_forward(&m, &b, 0);
  size_t n = (size_t)B * T * 24;
  float *before = malloc(n * sizeof(float));
  memcpy(before, enc_hidden(&m), n * sizeof(float));
  enc_lora_merge(&m);
  enc_forward(&m, &b, 0);
  double r = rel_err(enc_hidden(&m), before, n);
  EXPECT(r < 1e-5, "merged output rel err %.3g", r);
  /* frozen weights got no gradient */
  params_zero_grad(&m.params);
  step(&m, &d, 0, B, 1.0f);
  int idx = params_find(&m.params, "bert.encoder.layer.0.attention.self.query.weight");
  float gmax = 0;
  for (int64_t j = 0; j < m.params.specs[idx].numel; j++)
    gmax = fmaxf(gmax, fabsf(params_grad(&m.params, idx)[j]));
  EXPECT(gmax == 0, "frozen query weight has gradient %g", gmax);
  char dir[] = "/tmp/ordo_lora_XXXXXX";
  ORDO_CHECK(mkdtemp(dir));
  ordo_err e;
  EXPECT(enc_lora_save_adapters(&m, dir, &e) == 0, "save adapters");
  char path[256];
  snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
  EXPECT(access(path, R_OK) == 0, "adapter file");
  unlink(path);
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  unlink(path);
  rmdir(dir);
  free(before);
  enc_free(&m);
}

/* Attention-probability dropout in the driver: recompute (attention or whole layer) redraws
 * the same masks, so gradients stay bit-identical; the dropout is really applied in training
 * (hidden state and gradients differ from p = 0) and never in evaluation. */
static void test_attention_dropout(void) {
  data d;
  make_data(&d);
  enc_model off, ref, m;
  build(&off, ENC_RECOMPUTE_NONE, NULL);
  build(&ref, ENC_RECOMPUTE_NONE, NULL);
  ref.cfg.attention_probs_dropout_prob = 0.2f;
  step(&off, &d, 0, B, 1.0f);
  step(&ref, &d, 0, B, 1.0f);
  size_t nh = (size_t)B * T * 24;
  EXPECT(memcmp(enc_hidden(&ref), enc_hidden(&off), nh * sizeof(float)) != 0,
         "attention dropout changes the training forward");
  EXPECT(memcmp(ref.params.grad, off.params.grad, ref.params.total * sizeof(float)) != 0,
         "attention dropout changes the gradients");
  for (enc_recompute rc = ENC_RECOMPUTE_ATTENTION; rc <= ENC_RECOMPUTE_LAYER; rc++) {
    build(&m, rc, NULL);
    m.cfg.attention_probs_dropout_prob = 0.2f;
    memcpy(m.params.data, ref.params.data, ref.params.total * sizeof(float));
    step(&m, &d, 0, B, 1.0f);
    EXPECT(memcmp(m.params.grad, ref.params.grad, ref.params.total * sizeof(float)) == 0,
           "attention dropout, recompute %d: gradients not bit-identical", (int)rc);
    EXPECT(memcmp(enc_hidden(&m), enc_hidden(&ref), nh * sizeof(float)) == 0,
           "attention dropout, recompute %d: hidden differs", (int)rc);
    enc_free(&m);
  }
  /* another step draws other masks */
  float *h3 = malloc(nh * sizeof(float));
  memcpy(h3, enc_hidden(&ref), nh * sizeof(float));
  ref.step = 4;
  step(&ref, &d, 0, B, 1.0f);
  EXPECT(memcmp(enc_hidden(&ref), h3, nh * sizeof(float)) != 0,
         "attention dropout: another step, another mask");
  /* evaluation: no dropout, the same bits as the model without it */
  enc_batch b = {.B = B, .T = T, .ids = d.ids, .mask = d.mask};
  enc_forward(&ref, &b, 0);
  enc_forward(&off, &b, 0);
  EXPECT(memcmp(enc_hidden(&ref), enc_hidden(&off), nh * sizeof(float)) == 0,
         "attention dropout is off in evaluation");
  free(h3);
  enc_free(&ref);
  enc_free(&off);
}

/* Head features: the output layer reads [pooled text; features], so the logits move by exactly
 * W f, the feature weights' gradient matches central differences of the loss, and the weights
 * are saved and loaded under their name with the config key. */
static void test_head_features(void) {
  enum { NF = 2 };
  enc_config c = tiny_config();
  c.hidden_dropout_prob = 0, c.head_features = NF;
  enc_model m;
  ordo_err e = {{0}};
  EXPECT(enc_init(&m, &c, ENC_HEAD_CLS, NULL, &e) == 0, "%s", e.msg);
  enc_init_weights(&m, 4);
  enc_plan(&m, B, T, 0);
  EXPECT(m.cls_feat_w >= 0, "feature weights present");
  data d;
  make_data(&d);
  float f[B * NF], zero[B * NF] = {0}, base[B], with[B];
  for (int i = 0; i < B * NF; i++) f[i] = 0.5f * (float)(i % 3) - 0.4f;
  float *W = params_data(&m.params, m.cls_feat_w);
  for (int i = 0; i < NF; i++) W[i] = 0.3f * (float)(i + 1);
  enc_batch b = {.B = B, .T = T, .ids = d.ids, .mask = d.mask, .head_feats = zero};
  enc_forward(&m, &b, 0);
  memcpy(base, m.cls_logits, sizeof base);
  b.head_feats = f;
  enc_forward(&m, &b, 0);
  memcpy(with, m.cls_logits, sizeof with);
  for (int i = 0; i < B; i++) EXPECT_NEAR(with[i] - base[i], W[0] * f[i * NF] + W[1] * f[i * NF + 1], 1e-6);
  params_zero_grad(&m.params);
  enc_forward(&m, &b, 1);
  enc_zero_output_grads(&m, &b);
  enc_loss_cls_mse(&m, &b, d.target, 1.0f);
  enc_backward(&m, &b);
  const float *gW = params_grad(&m.params, m.cls_feat_w);
  for (int k = 0; k < NF; k++) {
    const float h = 1e-2f, w0 = W[k];
    double l[2];
    for (int sgn = 0; sgn < 2; sgn++) {
      W[k] = w0 + (sgn ? -h : h);
      enc_forward(&m, &b, 0);
      double sum = 0;
      for (int i = 0; i < B; i++) sum += (m.cls_logits[i] - d.target[i]) * (double)(m.cls_logits[i] - d.target[i]);
      l[sgn] = sum / B;
    }
    W[k] = w0;
    double fd = (l[0] - l[1]) / (2 * h);
    EXPECT(fabs(fd - gW[k]) < 1e-4 * (1 + fabs(fd)), "feature weight %d: grad %.6g, differences %.6g", k, gW[k], fd);
  }
  char dir[] = "/tmp/ordo-test-headfeat-XXXXXX";
  ORDO_CHECK(mkdtemp(dir));
  EXPECT(enc_save(&m, dir, &e) == 0, "%s", e.msg);
  char path[128];
  snprintf(path, sizeof path, "%s/config.json", dir);
  enc_config c2;
  EXPECT(hfconfig_load(&c2, path, &e) == 0 && c2.head_features == NF, "config keeps head_features: %s", e.msg);
  enc_model m2;
  int missing = -1;
  EXPECT(enc_init(&m2, &c2, ENC_HEAD_CLS, NULL, &e) == 0 && enc_load(&m2, dir, &missing, &e) == 0 &&
         missing == 0, "reload: %s (%d missing)", e.msg, missing);
  EXPECT(memcmp(params_data(&m2.params, m2.cls_feat_w), W, NF * sizeof *W) == 0, "feature weights reloaded");
  enc_free(&m2);
  enc_free(&m);
  unlink(path);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  unlink(path);
  rmdir(dir);
}

/* Added input vectors and explicit positions: a zero vector and the architecture's own positions
 * given explicitly change nothing; the gradient written to d_add_emb matches central differences
 * of the loss; explicit positions move the output. */
static void test_added_inputs(void) {
  enc_config c = tiny_config();
  c.hidden_dropout_prob = 0;
  enc_model m;
  ordo_err e = {{0}};
  EXPECT(enc_init(&m, &c, ENC_HEAD_CLS, NULL, &e) == 0, "%s", e.msg);
  enc_init_weights(&m, 6);
  enc_plan(&m, B, T, 0);
  data d;
  make_data(&d);
  enum { E = 24 };
  static float add[B * T * E], zero[B * T * E], dadd[B * T * E];
  int32_t pos[B * T];
  ordo_rng r;
  rng_init(&r, 8);
  for (int i = 0; i < B * T * E; i++) add[i] = 0.5f * rng_normal(&r);
  for (int i = 0; i < B * T; i++) pos[i] = i % T; /* BERT's own positions */
  float base[B], same[B];
  enc_batch b = {.B = B, .T = T, .ids = d.ids, .mask = d.mask};
  enc_forward(&m, &b, 0);
  memcpy(base, m.cls_logits, sizeof base);
  b.add_emb = zero, b.pos_ids = pos;
  enc_forward(&m, &b, 0);
  memcpy(same, m.cls_logits, sizeof same);
  EXPECT(memcmp(base, same, sizeof base) == 0, "zero vectors at the own positions change nothing");
  for (int i = 0; i < B * T; i++) pos[i] = (i * 7) % T;
  enc_forward(&m, &b, 0);
  EXPECT(fabsf(m.cls_logits[0] - base[0]) > 1e-6f, "explicit positions move the output");
  b.add_emb = add, b.d_add_emb = dadd;
  enc_forward(&m, &b, 1);
  enc_zero_output_grads(&m, &b);
  enc_loss_cls_mse(&m, &b, d.target, 1.0f);
  enc_backward(&m, &b);
  double worst = 0;
  for (int k = 0; k < B * T * E; k += 37) {
    if (!d.mask[k / E]) continue;
    const float h = 1e-2f, v0 = add[k];
    double l[2];
    for (int sgn = 0; sgn < 2; sgn++) {
      add[k] = v0 + (sgn ? -h : h);
      enc_forward(&m, &b, 0);
      double sum = 0;
      for (int i = 0; i < B; i++) sum += (m.cls_logits[i] - d.target[i]) * (double)(m.cls_logits[i] - d.target[i]);
      l[sgn] = sum / B;
    }
    add[k] = v0;
    double fd = (l[0] - l[1]) / (2 * h), err = fabs(fd - dadd[k]) / (1e-3 + fabs(fd));
    worst = err > worst ? err : worst;
  }
  EXPECT(worst < 2e-2, "d_add_emb against differences: worst relative error %.3g", worst);
  enc_free(&m);
}

int main(void) {
  test_added_inputs();
  test_head_features();
  test_recompute();
  test_accumulation();
  test_precision();
  test_lora_merge();
  test_attention_dropout();
  return test_summary();
}
