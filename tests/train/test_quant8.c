/* Dynamic tree quantization maps and block-wise 8-bit quantization. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "ordo/core.h"
#include "ordo/optim.h"
#include "ordo/rng.h"

static void test_maps(void) {
  q8_map s, u;
  q8_map_dynamic(&s, 1);
  q8_map_dynamic(&u, 0);
  int mono_s = 1, mono_u = 1, zero_s = 0, zero_u = 0, nonneg_u = 1;
  for (int i = 0; i < 256; i++) {
    if (i && !(s.v[i] > s.v[i - 1])) mono_s = 0;
    if (i && !(u.v[i] > u.v[i - 1])) mono_u = 0;
    zero_s += s.v[i] == 0.0f;
    zero_u += u.v[i] == 0.0f;
    nonneg_u &= u.v[i] >= 0.0f;
  }
  EXPECT(mono_s, "signed map strictly increasing (256 distinct entries)");
  EXPECT(mono_u, "unsigned map strictly increasing (256 distinct entries)");
  EXPECT(s.v[0] == -1.0f && s.v[255] == 1.0f, "signed map spans [-1, 1]: %g .. %g", s.v[0], s.v[255]);
  EXPECT(u.v[0] == 0.0f && u.v[255] == 1.0f, "unsigned map spans [0, 1]: %g .. %g", u.v[0], u.v[255]);
  EXPECT(zero_s == 1 && zero_u == 1, "exactly one exact zero: %d %d", zero_s, zero_u);
  EXPECT(nonneg_u, "unsigned map non-negative");
  /* the definition: the top decade of the signed map has 6 fraction bits (64 levels in (0.1, 1]),
   * the unsigned one 7 (128 levels); the smallest magnitudes are 1e-6 / 1e-7 */
  int top_s = 0, top_u = 0;
  for (int i = 0; i < 256; i++) {
    top_s += s.v[i] > 0.1f;
    top_u += u.v[i] > 0.1f;
  }
  EXPECT(top_s == 64 && top_u == 128, "levels in (0.1, 1]: signed %d (64), unsigned %d (128)", top_s, top_u);
  EXPECT_NEAR(s.v[254], 1.0 - 0.9 / 64, 1e-7);
  EXPECT_NEAR(u.v[254], 1.0 - 0.9 / 128, 1e-7);
  EXPECT_NEAR(u.v[1], 1e-7, 1e-13);
  float smallest_pos = 1;
  for (int i = 0; i < 256; i++)
    if (s.v[i] > 0 && s.v[i] < smallest_pos) smallest_pos = s.v[i];
  EXPECT_NEAR(smallest_pos, 1e-6, 1e-12);
  /* symmetric apart from the spare code: -v is in the map for every positive v */
  int sym = 1;
  for (int i = 0; i < 256; i++) {
    if (s.v[i] <= 0) continue;
    int found = 0;
    for (int j = 0; j < 256; j++) found |= s.v[j] == -s.v[i];
    sym &= found;
  }
  EXPECT(sym, "signed map symmetric");
  for (int i = 0; i < 255; i++)
    if (!(s.mid[i] > s.v[i] && s.mid[i] < s.v[i + 1])) {
      EXPECT(0, "midpoint %d between its neighbours", i);
      break;
    }
}

/* q8_code returns the nearest entry (up to float rounding of the midpoints): brute force on many
 * points, including exact entries, midpoints and values outside the range. */
static void test_nearest(void) {
  q8_map s;
  q8_map_dynamic(&s, 1);
  ordo_rng r;
  rng_init(&r, 3);
  int bad = 0;
  for (int t = 0; t < 20000; t++) {
    float x;
    if (t < 256) x = s.v[t];
    else if (t < 511) x = s.mid[t - 256];
    else if (t < 2000) x = (rng_uniform(&r) * 2 - 1) * powf(10.0f, -7.0f * rng_uniform(&r));
    else x = rng_uniform(&r) * 2.4f - 1.2f;
    int c = q8_code(&s, x);
    float best = fabsf(s.v[c] - x);
    /* a point at a midpoint may go either way: the midpoint itself is rounded to float */
    for (int k = 0; k < 256; k++)
      if (fabsf(s.v[k] - x) < best - 1.2e-7f * fabsf(x)) bad++;
    if (t < 256 && c != t) bad++;
  }
  EXPECT(bad == 0, "%d points not mapped to the nearest code", bad);
}

/* Quantize -> dequantize error of every value is within half the gap between the two map entries
 * around it, times the block's absmax. Blocks have very different scales and a partial tail. */
static void test_block_error(int is_signed) {
  q8_map m;
  q8_map_dynamic(&m, is_signed);
  const int64_t n = 5 * Q8_BLOCK + 777;
  const int64_t nb = (n + Q8_BLOCK - 1) / Q8_BLOCK;
  float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
  uint8_t *c = malloc(n);
  float *amax = malloc(nb * sizeof(float));
  ordo_rng r;
  rng_init(&r, 17 + is_signed);
  for (int64_t i = 0; i < n; i++) {
    float scale = powf(10.0f, -(float)(i / Q8_BLOCK)); /* block b: about 10^-b */
    float v = rng_normal(&r) * scale * expf(2.0f * rng_normal(&r)); /* heavy-tailed, like Adam's v */
    x[i] = is_signed ? v : v * v;
  }
  for (int64_t i = 2 * Q8_BLOCK; i < 3 * Q8_BLOCK; i++) x[i] = 0.0f; /* an all-zero block */
  q8_quantize(&m, x, n, c, amax);
  q8_dequantize(&m, c, amax, n, y);
  int bad = 0, amax_ok = 1;
  double worst = 0;
  for (int64_t b = 0; b < nb; b++) {
    int64_t lo = b * Q8_BLOCK, hi = lo + Q8_BLOCK < n ? lo + Q8_BLOCK : n;
    float a = 0;
    for (int64_t i = lo; i < hi; i++) a = fmaxf(a, fabsf(x[i]));
    amax_ok &= a == amax[b];
    for (int64_t i = lo; i < hi; i++) {
      if (a == 0) {
        bad += y[i] != 0.0f;
        continue;
      }
      double xn = (double)x[i] / a;
      int k = 0;
      while (k < 254 && m.v[k + 1] < xn) k++; /* m.v[k] < xn <= m.v[k+1] (or clamped) */
      double halfgap = 0.5 * ((double)m.v[k + 1] - m.v[k]);
      double err = fabs((double)y[i] - x[i]);
      /* slack: float rounding of x / absmax and of code * absmax (a few ulps of absmax) */
      double bound = halfgap * a + 4e-7 * a;
      if (err > bound) bad++;
      if (err / a > worst) worst = err / a;
      if (fabsf(x[i]) == a && y[i] != x[i]) bad++; /* the absmax itself is exact (map holds +-1) */
    }
  }
  EXPECT(amax_ok, "block absmax");
  EXPECT(bad == 0, "%s: %d values outside half a map gap times absmax", is_signed ? "signed" : "unsigned", bad);
  printf("%s map: worst |error| / absmax %.3g over %lld values in %lld blocks\n",
         is_signed ? "signed" : "unsigned", worst, (long long)n, (long long)nb);
  free(x), free(y), free(c), free(amax);
}

int main(void) {
  test_maps();
  test_nearest();
  test_block_error(1);
  test_block_error(0);
  return test_summary();
}
