/* Position schemes: the tables and biases against their formulas, RoPE's relative property,
 * position interpolation, and every scheme's gradients through the whole encoder against
 * finite differences (and bit-identical under activation recompute). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/model_internal.h"
#include "ordo/rng.h"

static void test_sinusoidal_table(void) {
  enum { P = 40, D = 10 };
  float t[P * D];
  enc_sinusoidal_table(t, P, D);
  double worst = 0;
  for (int p = 0; p < P; p++)
    for (int i = 0; i < D / 2; i++) {
      double w = 1.0 / pow(10000.0, 2.0 * i / D);
      worst = fmax(worst, fabs(t[p * D + 2 * i] - sin(p * w)));
      worst = fmax(worst, fabs(t[p * D + 2 * i + 1] - cos(p * w)));
    }
  EXPECT(worst < 1e-7, "sinusoidal table off the formula by %g", worst);
  EXPECT(t[0] == 0.0f && t[1] == 1.0f, "position 0 is (sin 0, cos 0)");
  /* RoFormer's stored table: sines then cosines of the same angles, per head size */
  enum { HS = 8 };
  float r[P * HS];
  enc_rope_table(r, P, HS);
  worst = 0;
  for (int p = 0; p < P; p++)
    for (int i = 0; i < HS / 2; i++) {
      double a = p / pow(10000.0, 2.0 * i / HS);
      worst = fmax(worst, fabs(r[p * HS + i] - sin(a)));
      worst = fmax(worst, fabs(r[p * HS + HS / 2 + i] - cos(a)));
    }
  EXPECT(worst < 1e-7, "rope table off the formula by %g", worst);
}

static enc_config tiny(enc_position pos) {
  enc_config c;
  hfconfig_defaults(&c, ORDO_ARCH_BERT);
  c.vocab_size = 37, c.hidden_size = c.embedding_size = 16, c.num_attention_heads = 4;
  c.num_hidden_layers = 2, c.intermediate_size = 24, c.max_position_embeddings = 20;
  c.hidden_dropout_prob = 0.0f, c.attention_probs_dropout_prob = 0.0f;
  c.position = pos;
  c.relative_buckets = 8, c.relative_max_distance = 12;
  return c;
}

static void test_alibi_values(void) {
  EXPECT_NEAR(enc_alibi_slope(0, 8), 0.5, 0);
  EXPECT_NEAR(enc_alibi_slope(7, 8), 1.0 / 256, 0);
  EXPECT_NEAR(enc_alibi_slope(1, 4), 1.0 / 16, 0);
  enc_config c = tiny(ENC_POS_ALIBI);
  enc_model m;
  ordo_err e = {{0}};
  EXPECT(enc_init(&m, &c, 0, NULL, &e) == 0, "%s", e.msg);
  EXPECT(m.emb.wpe < 0 && m.emb.rel_bias < 0, "alibi has no position parameters");
  enum { T = 9, NH = 4 };
  float bias[NH * T * T];
  enc_position_bias(&m, T, bias);
  int ok = 1;
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < T; i++)
      for (int j = 0; j < T; j++)
        ok &= bias[(h * T + i) * T + j] == (float)(-pow(2.0, -8.0 * (h + 1) / NH) * abs(i - j));
  EXPECT(ok, "alibi bias is -2^(-8(h+1)/NH) |i - j|");
  enc_free(&m);
}

/* T5's bidirectional buckets, worked by hand for 32 buckets and max distance 128: 16 per
 * direction, offsets 0..7 exact, then 8 + floor(8 log(n/8) / log(16)) up to bucket 15. */
static void test_relative_buckets(void) {
  const struct { int rel, want; } k[] = {
      {0, 0},     {-1, 1},     {-7, 7},    {-8, 8},    {-11, 8},   {-12, 9},  {-16, 10},
      {-32, 12},  {-64, 14},   {-127, 15}, {-128, 15}, {-5000, 15}, {1, 17},  {7, 23},
      {8, 24},    {16, 26},    {5000, 31},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    int got = enc_relative_bucket(k[i].rel, 32, 128);
    EXPECT(got == k[i].want, "bucket(%d) = %d, expected %d", k[i].rel, got, k[i].want);
  }
  enc_config c = tiny(ENC_POS_RELATIVE);
  enc_model m;
  ordo_err e = {{0}};
  EXPECT(enc_init(&m, &c, 0, NULL, &e) == 0, "%s", e.msg);
  enc_init_weights(&m, 3);
  EXPECT(m.emb.rel_bias >= 0 && m.params.specs[m.emb.rel_bias].shape[0] == 8 &&
             m.params.specs[m.emb.rel_bias].shape[1] == 4,
         "relative table is (buckets, heads)");
  enum { T = 7, NH = 4 };
  float bias[NH * T * T];
  enc_position_bias(&m, T, bias);
  const float *W = params_data(&m.params, m.emb.rel_bias);
  int ok = 1;
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < T; i++)
      for (int j = 0; j < T; j++)
        ok &= bias[(h * T + i) * T + j] == W[enc_relative_bucket(j - i, 8, 12) * NH + h];
  EXPECT(ok, "relative bias is the table entry of (bucket(j - i), h)");
  enc_free(&m);
}

/* q_m . k_n after rotation depends on n - m only, for both backends. */
static void test_rope_offset(const ordo_ops *ops) {
  enum { C = 12, NH = 2, HS = 6, P = 6 };
  ordo_rng r;
  rng_init(&r, 11);
  float q[C], k[C];
  for (int i = 0; i < C; i++) q[i] = 2 * rng_uniform(&r) - 1, k[i] = 2 * rng_uniform(&r) - 1;
  /* rows: (q at p, k at p + d) for several p and one offset d */
  const int32_t starts[P] = {0, 3, 17, 100, 1000, 4000};
  const int d = 5;
  double dots[P][NH];
  for (int s = 0; s < P; s++) {
    float qkv[2 * 3 * C] = {0};
    memcpy(qkv, q, sizeof q);          /* row 0: q */
    memcpy(qkv + 3 * C + C, k, sizeof k); /* row 1: k */
    int32_t pos[2] = {starts[s], starts[s] + d};
    ops->rope_forward(NULL, qkv, pos, 1.0f, 10000.0f, 2, 2, C, NH);
    for (int h = 0; h < NH; h++) {
      double dot = 0;
      for (int i = 0; i < HS; i++) dot += (double)qkv[h * HS + i] * qkv[3 * C + C + h * HS + i];
      dots[s][h] = dot;
    }
  }
  for (int s = 1; s < P; s++)
    for (int h = 0; h < NH; h++)
      EXPECT(fabs(dots[s][h] - dots[0][h]) < 1e-5 * (1 + fabs(dots[0][h])),
             "%s: q.k at start %d = %.8g, at start 0 = %.8g", ops->name, starts[s], dots[s][h],
             dots[0][h]);
  /* and it does depend on the offset */
  float qkv[2 * 3 * C] = {0};
  memcpy(qkv, q, sizeof q);
  memcpy(qkv + 3 * C + C, k, sizeof k);
  int32_t pos[2] = {0, d + 1};
  ops->rope_forward(NULL, qkv, pos, 1.0f, 10000.0f, 2, 2, C, NH);
  double dot = 0;
  for (int i = 0; i < HS; i++) dot += (double)qkv[i] * qkv[3 * C + C + i];
  EXPECT(fabs(dot - dots[0][0]) > 1e-3, "%s: another offset gives another q.k", ops->name);
}

/* Position interpolation: with scale = L_train / L_target, position p is rotated as position
 * p * L_train / L_target of the training range. */
static void test_rope_interpolation(void) {
  enum { C = 8, NH = 1, L_TRAIN = 128, L_TARGET = 512 };
  const float scale = (float)L_TRAIN / L_TARGET;
  ordo_rng r;
  rng_init(&r, 12);
  float x[3 * C];
  for (int i = 0; i < 3 * C; i++) x[i] = 2 * rng_uniform(&r) - 1;
  int ok = 1, inside = 1;
  for (int p = 0; p < L_TARGET; p += 4) {
    float a[3 * C], b[3 * C];
    memcpy(a, x, sizeof x), memcpy(b, x, sizeof x);
    int32_t pt = p, ps = p / 4; /* p * 128 / 512, exact for multiples of 4 */
    ops_cpu()->rope_forward(NULL, a, &pt, scale, 10000.0f, 2, 1, C, NH);
    ops_cpu()->rope_forward(NULL, b, &ps, 1.0f, 10000.0f, 2, 1, C, NH);
    ok &= memcmp(a, b, sizeof a) == 0;
    inside &= (double)p * scale < L_TRAIN;
  }
  EXPECT(ok, "rotation at p with scale 1/4 equals rotation at p/4");
  EXPECT(inside, "every target position maps into the training range");
}

/* ---- the whole encoder ------------------------------------------------------------------ */

enum { MB = 3, MT = 10 };

typedef struct run {
  int32_t ids[MB * MT], mask[MB * MT];
  float target[MB * MT * 16];
} run;

static void make_run(run *d) {
  ordo_rng r;
  rng_init(&r, 21);
  for (int b = 0; b < MB; b++)
    for (int t = 0; t < MT; t++) {
      int i = b * MT + t;
      d->mask[i] = t < MT - 3 * b;
      d->ids[i] = d->mask[i] ? 1 + (int32_t)rng_below(&r, 36) : 0;
    }
  for (int i = 0; i < MB * MT * 16; i++) d->target[i] = 2 * rng_uniform(&r) - 1;
}

static double loss_of(enc_model *m, const run *d, int backward) {
  enc_batch b = {.B = MB, .T = MT, .ids = d->ids, .mask = d->mask};
  enc_forward(m, &b, 0);
  enc_zero_output_grads(m, &b);
  double l = enc_loss_hidden_mse(m, &b, d->target, 1.0f);
  if (backward) enc_backward(m, &b);
  return l;
}

/* The directional derivative along a random direction over every trainable parameter, and
 * over the position parameters alone, against central differences of the float model.
 * Bound 2e-3 relative: the loss (~3) carries float rounding of ~1e-6, which the step
 * h = 2e-3 turns into ~5e-4 of the difference; the h^4 term left after Richardson is
 * smaller (measured: 1e-4 to 4e-4). A missing or wrong backward term is off by O(1). */
static void test_scheme_gradients(enc_position pos, float rope_scale) {
  enc_config c = tiny(pos);
  c.rope_scale = rope_scale;
  enc_model m;
  ordo_err e = {{0}};
  EXPECT(enc_init(&m, &c, 0, NULL, &e) == 0, "%s", e.msg);
  enc_init_weights(&m, 17);
  /* larger weights than HF's 0.02, so that attention is far from uniform */
  for (int i = 0; i < m.params.n; i++) {
    if (m.params.specs[i].ndim != 2 || (m.params.specs[i].flags & ORDO_PF_FROZEN)) continue;
    float *w = params_data(&m.params, i);
    for (int64_t j = 0; j < m.params.specs[i].numel; j++) w[j] *= 20.0f;
  }
  enc_plan(&m, MB, MT, 0);
  run d;
  make_run(&d);
  params_zero_grad(&m.params);
  loss_of(&m, &d, 1);
  ordo_rng r;
  rng_init(&r, 99);
  size_t n = m.params.total;
  float *dir = calloc(n, sizeof(float)), *w0 = malloc(n * sizeof(float));
  memcpy(w0, m.params.data, n * sizeof(float));
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0: every trainable parameter; pass 1: the relative table only */
    if (pass == 1 && m.emb.rel_bias < 0) break;
    memset(dir, 0, n * sizeof(float));
    double analytic = 0;
    for (int i = 0; i < m.params.n; i++) {
      const ordo_param_spec *s = &m.params.specs[i];
      if (s->flags & ORDO_PF_FROZEN) continue;
      if (pass == 1 && i != m.emb.rel_bias) continue;
      for (int64_t j = 0; j < s->numel; j++) {
        float v = 2 * rng_uniform(&r) - 1;
        dir[s->offset + j] = v;
        analytic += (double)v * params_grad(&m.params, i)[j];
      }
    }
    /* central differences at h and h/2, Richardson-combined: the h^2 error term cancels */
    double fds[2];
    const float hs[2] = {4e-3f, 2e-3f};
    for (int k = 0; k < 2; k++) {
      double l[2];
      for (int sg = 0; sg < 2; sg++) {
        for (size_t j = 0; j < n; j++) m.params.data[j] = w0[j] + (sg ? -hs[k] : hs[k]) * dir[j];
        l[sg] = loss_of(&m, &d, 0);
      }
      fds[k] = (l[0] - l[1]) / (2 * (double)hs[k]);
    }
    memcpy(m.params.data, w0, n * sizeof(float));
    double fd = (4 * fds[1] - fds[0]) / 3;
    EXPECT(fabs(fd - analytic) <= 2e-3 * fabs(fd) + 1e-6,
           "%s (scale %g)%s: gradient . v = %.8g, differences %.8g", enc_position_name(pos),
           rope_scale, pass ? " relative table" : "", analytic, fd);
  }
  /* recompute gives the same bits */
  float *g0 = malloc(n * sizeof(float));
  memcpy(g0, m.params.grad, n * sizeof(float));
  for (int rc = ENC_RECOMPUTE_ATTENTION; rc <= ENC_RECOMPUTE_LAYER; rc++) {
    enc_model m2;
    EXPECT(enc_init(&m2, &c, 0, NULL, &e) == 0, "%s", e.msg);
    memcpy(m2.params.data, m.params.data, n * sizeof(float));
    enc_set_recompute(&m2, (enc_recompute)rc);
    enc_plan(&m2, MB, MT, 0);
    params_zero_grad(&m2.params);
    loss_of(&m2, &d, 1);
    EXPECT(memcmp(m2.params.grad, g0, n * sizeof(float)) == 0, "%s: recompute %d changes the gradients",
           enc_position_name(pos), rc);
    enc_free(&m2);
  }
  free(g0);
  free(dir);
  free(w0);
  enc_free(&m);
}

int main(void) {
  test_sinusoidal_table();
  test_alibi_values();
  test_relative_buckets();
  test_rope_offset(ops_cpu_ref());
  test_rope_offset(ops_cpu());
  test_rope_interpolation();
  test_scheme_gradients(ENC_POS_LEARNED, 1.0f);
  test_scheme_gradients(ENC_POS_SINUSOIDAL, 1.0f);
  test_scheme_gradients(ENC_POS_ROPE, 1.0f);
  test_scheme_gradients(ENC_POS_ROPE, 0.25f);
  test_scheme_gradients(ENC_POS_ALIBI, 1.0f);
  test_scheme_gradients(ENC_POS_RELATIVE, 1.0f);
  return test_summary();
}
