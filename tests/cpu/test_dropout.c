/* Dropout on both backends: the kept fraction is 1 - p, kept values are scaled by 1/(1-p),
 * backward regenerates exactly the forward mask, the mask is a function of (seed, offset + i)
 * only (so a shifted call reproduces a slice), p = 0 is the identity, in-place works, and
 * p = 1 drops everything. Then the attention op's dropout on its probabilities: kept
 * fraction, scaling, and that the value product reads the dropped copy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/ops.h"
#include "ordo/rng.h"

enum { N = 200003 }; /* odd, so the last Philox block is partial */

static void test_backend(const ordo_ops *ops, float *x, float *out, float *g, float *d) {
  const float ps[3] = {0.1f, 0.5f, 0.9f};
  for (int k = 0; k < 3; k++) {
    float p = ps[k], scale = 1.0f / (1.0f - p);
    ops->dropout_forward(NULL, out, x, p, 42, 1000, N);
    int64_t kept = 0;
    int scaled_ok = 1;
    for (int i = 0; i < N; i++) {
      if (out[i] != 0.0f) {
        kept++;
        scaled_ok &= out[i] == x[i] * scale;
      }
    }
    /* Binomial(N, 1-p): the kept fraction has std sqrt(p (1-p) / N) <= 1.2e-3; 5 std. */
    double frac = (double)kept / N, sd = sqrt(p * (1.0 - p) / N);
    EXPECT(fabs(frac - (1.0 - p)) <= 5 * sd, "%s p=%g: kept %.5f, expected %.5f +- %.5f",
           ops->name, p, frac, 1.0 - p, 5 * sd);
    EXPECT(scaled_ok, "%s p=%g: kept values scaled by 1/(1-p)", ops->name, p);

    /* backward: the same mask (from zero, so that FMA contraction cannot change the bits;
     * += is covered in test_ref_fd.c and test_fast.c) */
    memset(g, 0, N * sizeof(float));
    ops->dropout_backward(NULL, g, d, p, 42, 1000, N);
    int mask_ok = 1;
    for (int i = 0; i < N; i++) {
      float want = out[i] != 0.0f ? d[i] * scale : 0.0f;
      mask_ok &= g[i] == want;
    }
    EXPECT(mask_ok, "%s p=%g: backward regenerates the forward mask", ops->name, p);

    /* a call at offset 1000 + 37 on x[37..] reproduces the slice: the mask is (seed, index) */
    float *out2 = malloc((N - 37) * sizeof(float));
    ops->dropout_forward(NULL, out2, x + 37, p, 42, 1037, N - 37);
    EXPECT(memcmp(out2, out + 37, (N - 37) * sizeof(float)) == 0, "%s p=%g: offset shift",
           ops->name, p);
    /* another seed gives another mask */
    ops->dropout_forward(NULL, out2, x, p, 43, 1000, N - 37);
    EXPECT(memcmp(out2, out, (N - 37) * sizeof(float)) != 0, "%s p=%g: seed changes mask",
           ops->name, p);
    free(out2);
  }

  /* p = 0: identity forward (bits), pass-through backward */
  ops->dropout_forward(NULL, out, x, 0.0f, 42, 0, N);
  EXPECT(memcmp(out, x, N * sizeof(float)) == 0, "%s p=0 forward is identity", ops->name);
  memset(g, 0, N * sizeof(float));
  ops->dropout_backward(NULL, g, d, 0.0f, 42, 0, N);
  EXPECT(memcmp(g, d, N * sizeof(float)) == 0, "%s p=0 backward passes through", ops->name);

  /* in place (out aliases inp) equals out of place */
  ops->dropout_forward(NULL, out, x, 0.25f, 7, 3, N);
  memcpy(g, x, N * sizeof(float));
  ops->dropout_forward(NULL, g, g, 0.25f, 7, 3, N);
  EXPECT(memcmp(g, out, N * sizeof(float)) == 0, "%s in-place dropout", ops->name);

  /* p = 1: everything dropped, no inf/nan from 1/(1-p) */
  ops->dropout_forward(NULL, out, x, 1.0f, 7, 3, N);
  int zero = 1;
  for (int i = 0; i < N; i++) zero &= out[i] == 0.0f && !signbit(out[i]);
  EXPECT(zero, "%s p=1 drops everything", ops->name);
}

/* Attention-probability dropout: with q = k = 0 every probability is 1/T, so Pd (left in the
 * forward scratch) is (1/T) / (1 - p) where kept and 0 where dropped, and with v = 1 each
 * output is the row sum of Pd. */
static void test_attention_backend(const ordo_ops *ops) {
  enum { B = 2, T = 64, C = 8, NH = 2, NA = B * NH * T * T };
  float *qkv = calloc(B * T * 3 * C, sizeof(float)), *out = malloc(B * T * C * sizeof(float));
  float *att = malloc(NA * sizeof(float)), *pd = malloc(NA * sizeof(float));
  for (int r = 0; r < B * T; r++)
    for (int j = 2 * C; j < 3 * C; j++) qkv[r * 3 * C + j] = 1.0f;
  const float ps[2] = {0.1f, 0.5f};
  for (int k = 0; k < 2; k++) {
    float p = ps[k], want = (1.0f / T) * (1.0f / (1.0f - p));
    ops->attention_forward(NULL, out, att, pd, qkv, NULL, 0, NULL, p, 42, 1001, B, T, C, NH);
    int64_t kept = 0;
    int values_ok = 1, att_ok = 1, rows_ok = 1;
    for (int i = 0; i < NA; i++) {
      kept += pd[i] != 0.0f;
      values_ok &= pd[i] == 0.0f || pd[i] == want;
      att_ok &= att[i] == 1.0f / T; /* att keeps the undropped probabilities */
    }
    /* Binomial(NA, 1-p): the kept fraction has std sqrt(p (1-p) / NA) <= 3.1e-3; 5 std. */
    double frac = (double)kept / NA, sd = sqrt(p * (1.0 - p) / NA);
    EXPECT(fabs(frac - (1.0 - p)) <= 5 * sd, "%s attention p=%g: kept %.5f, expected %.5f +- %.5f",
           ops->name, p, frac, 1.0 - p, 5 * sd);
    EXPECT(values_ok, "%s attention p=%g: kept probabilities scaled by 1/(1-p)", ops->name, p);
    EXPECT(att_ok, "%s attention p=%g: att holds the undropped probabilities", ops->name, p);
    for (int b = 0; b < B; b++)
      for (int h = 0; h < NH; h++)
        for (int t = 0; t < T; t++) {
          double sum = 0;
          for (int u = 0; u < T; u++) sum += pd[(((int64_t)b * NH + h) * T + t) * T + u];
          for (int i = 0; i < C / NH; i++)
            rows_ok &= fabs(out[((int64_t)b * T + t) * C + h * (C / NH) + i] - sum) <= 1e-5 * sum;
        }
    EXPECT(rows_ok, "%s attention p=%g: the value product reads the dropped probabilities",
           ops->name, p);
  }
  free(qkv), free(out), free(att), free(pd);
}

int main(void) {
  float *x = malloc(N * sizeof(float)), *out = malloc(N * sizeof(float));
  float *g = malloc(N * sizeof(float)), *d = malloc(N * sizeof(float));
  ordo_rng r;
  rng_init(&r, 5);
  for (int i = 0; i < N; i++) x[i] = 0.5f + rng_uniform(&r), d[i] = rng_uniform(&r) - 0.5f;
  test_backend(ops_cpu_ref(), x, out, g, d);
  test_backend(ops_cpu(), x, out, g, d);
  test_attention_backend(ops_cpu_ref());
  test_attention_backend(ops_cpu());
  /* both backends draw the same mask */
  float *o2 = malloc(N * sizeof(float));
  ops_cpu_ref()->dropout_forward(NULL, out, x, 0.3f, 11, 17, N);
  ops_cpu()->dropout_forward(NULL, o2, x, 0.3f, 11, 17, N);
  EXPECT(memcmp(out, o2, N * sizeof(float)) == 0, "ref and fast masks identical");
  free(x), free(out), free(g), free(d), free(o2);
  return test_summary();
}
