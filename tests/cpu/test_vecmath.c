/* ordo's own exp and GELU (src/cpu/vecmath.h) against double precision, in ulps of the float
 * nearest the double result (2^-149 where that is subnormal or 0):
 * - vm_expf within 2 ulp of exp over the range the kernels use, [VEC_EXP_MIN, 0], exp(0) = 1;
 * - GELU within GELU_ULP of 0.5 x erfc(-x / sqrt 2) (= 0.5 x (1 + erf(x / sqrt 2)), without the
 *   cancellation of 1 + erf in double in the negative tail) on [-20, 20], every 97th float,
 *   and at the edges (0, -0, denormals, huge, +-inf, NaN); monotone on runs of consecutive
 *   floats wherever the double function, rounded to float, is;
 * - its derivative within 8 ulp of Phi(x) + x phi(x) in double, or within 1e-7 absolute
 *   where the derivative crosses 0 (|GELU'| < 1/8, x in about [-1.27, -0.48]: there Phi(x) and
 *   x phi(x), both above 0.2 in size, cancel, and their roundings, a few 1e-8 absolute, exceed
 *   8 ulp of the sum);
 * Each through the loops the kernels run: the build's x86-64 level, the AVX-512 one where the
 * CPU has it (the same bits), and the backend ops gelu_forward / gelu_backward. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu_ops.h"
#include "cpu/vecmath.h"
#include "ordo/ops.h"

static double ulp_of(double ref) {
  float f = (float)ref;
  if (fabs(ref) < FLT_MIN || !isfinite(f)) return 0x1p-149;
  return ldexp(1.0, ilogb(f) - 23);
}
static double ulp_err(float got, double ref) {
  if (isnan(ref) || isnan(got)) return isnan(ref) && isnan(got) ? 0.0 : INFINITY;
  if (isinf(ref)) return got == ref ? 0.0 : INFINITY;
  return fabs((double)got - ref) / ulp_of(ref);
}

#define GELU_ULP 4.0

static double gelu_f64(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double gelu_grad_f64(double x) {
  return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
}

/* every `stride`-th float of [lo, hi] (both signs' bit patterns walked upward in value) */
static float *float_range(float lo, float hi, uint32_t stride, int64_t *n) {
  int64_t cap = 1 << 16, k = 0;
  float *v = malloc((size_t)cap * sizeof(float));
  for (float x = lo; x <= hi;) {
    if (k == cap) v = realloc(v, (size_t)(cap *= 2) * sizeof(float));
    v[k++] = x;
    uint32_t b = cpu_f32_bits(x);
    if (x < 0.0f) b = b - stride < 0x80000000u ? 0x80000000u : b - stride; /* toward -0 */
    else b += stride;
    float nx = cpu_f32_from_bits(b);
    if (x < 0.0f && nx == 0.0f) nx = 0.0f; /* -0 then +0 */
    if (nx == x) nx = cpu_f32_from_bits(1); /* from 0 to the smallest denormal */
    x = nx;
  }
  *n = k;
  return v;
}

static void test_exp(void) {
  int64_t n;
  float *y = float_range(VEC_EXP_MIN, 0.0f, 61, &n), *e = malloc((size_t)n * sizeof(float));
#pragma omp simd
  for (int64_t i = 0; i < n; i++) e[i] = vm_expf(y[i]);
  double worst = 0;
  float at = 0;
  for (int64_t i = 0; i < n; i++) {
    double u = ulp_err(e[i], exp((double)y[i]));
    if (u > worst) worst = u, at = y[i];
  }
  printf("exp: %lld arguments in [%g, 0], worst %.3f ulp at %.9g\n", (long long)n, (double)VEC_EXP_MIN,
         worst, (double)at);
  EXPECT(worst <= 2.0, "vm_expf: %.3f ulp at %.9g (bound 2)", worst, (double)at);
  EXPECT(vm_expf(0.0f) == 1.0f && vm_expf(-0.0f) == 1.0f, "vm_expf(0) = %.9g, not 1", (double)vm_expf(0.0f));
  free(y), free(e);
}

typedef struct {
  const char *name;
  void (*fwd)(float *, const float *, int64_t);
  void (*bwd)(float *, int, const float *, const float *, int64_t);
} gelu_path;

static const ordo_ops *F;
static void ops_fwd(float *out, const float *x, int64_t n) { F->gelu_forward(NULL, out, x, n); }
static void ops_bwd(float *dinp, int acc, const float *x, const float *dout, int64_t n) {
  F->gelu_backward(NULL, dinp, acc, x, dout, n);
}

/* around the derivative's zero crossing at -0.7518: where |GELU'| < 1/8 (not the tail below
 * -1.27, where it is small too and relative accuracy is required) */
static int near_crossing(float x, double ref) { return x > -1.5f && x < -0.4f && fabs(ref) < 0.125; }

static void check_values(const gelu_path *p, const float *x, int64_t n, const char *what) {
  float *g = malloc((size_t)n * sizeof(float)), *d = malloc((size_t)n * sizeof(float));
  float *one = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) one[i] = 1.0f, d[i] = NAN; /* overwritten, never read */
  p->fwd(g, x, n);
  p->bwd(d, ORDO_OVERWRITE, x, one, n);
  double wf = 0, wb = 0, wa = 0;
  float af = 0, ab = 0;
  for (int64_t i = 0; i < n; i++) {
    double uf = ulp_err(g[i], gelu_f64(x[i]));
    if (uf > wf) wf = uf, af = x[i];
    double rb = gelu_grad_f64(x[i]), ub = ulp_err(d[i], rb);
    if (near_crossing(x[i], rb)) {
      double ea = fabs((double)d[i] - rb);
      if (ea > wa) wa = ea;
      if (ea <= 1e-7) ub = 0;
    }
    if (ub > wb) wb = ub, ab = x[i];
  }
  printf("%s, %s (%lld values): forward worst %.3f ulp at %.9g; backward worst %.3f ulp at %.9g, "
         "%.3g absolute near the crossing\n",
         p->name, what, (long long)n, wf, (double)af, wb, (double)ab, wa);
  EXPECT(wf <= GELU_ULP, "%s: GELU %.3f ulp at %.9g (bound %g)", p->name, wf, (double)af, GELU_ULP);
  EXPECT(wb <= 8.0, "%s: GELU' %.3f ulp at %.9g (bound 8, or 1e-7 absolute near -0.7518)", p->name,
         wb, (double)ab);
  free(g), free(d), free(one);
}

/* on runs of consecutive floats: wherever the double function rounded to float does not fall
 * (rise) from one float to the next, the fast one does not fall (rise) by more than
 * MONO_ULP ulp either: the noise of its last bits (measured 3.0), not a wrong trend */
#define MONO_ULP 3.0
static void check_monotone(const gelu_path *p) {
  static const float starts[] = {-20.0f, -13.3f, -9.0f, -5.0f, -2.0f, -1.0f, -0.76f, -0.3f,
                                 -1e-3f, 0.0f,   1e-3f, 0.5f,  1.0f,  2.0f,  5.0f,  5.4f};
  enum { RUN = 20000 };
  float *x = malloc(RUN * sizeof(float)), *g = malloc(RUN * sizeof(float)), *r = malloc(RUN * sizeof(float));
  int64_t bad = 0;
  float at = 0;
  double worst = 0;
  for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
    x[0] = starts[s];
    for (int i = 1; i < RUN; i++) x[i] = nextafterf(x[i - 1], INFINITY);
    for (int i = 0; i < RUN; i++) r[i] = (float)gelu_f64(x[i]);
    p->fwd(g, x, RUN);
    for (int i = 1; i < RUN; i++) {
      double back = 0; /* how far g moves against r's direction, in ulp of r */
      if (r[i] >= r[i - 1] && g[i] < g[i - 1]) back = ((double)g[i - 1] - g[i]) / ulp_of(r[i]);
      if (r[i] <= r[i - 1] && g[i] > g[i - 1]) back = ((double)g[i] - g[i - 1]) / ulp_of(r[i]);
      if (back > worst) worst = back;
      if (back > MONO_ULP) {
        if (!bad) at = x[i];
        bad++;
      }
    }
  }
  printf("%s: largest step against the double function's direction %.3f ulp\n", p->name, worst);
  EXPECT(bad == 0, "%s: GELU not monotone where the double one is: %lld steps above %g ulp, first at %.9g",
         p->name, (long long)bad, MONO_ULP, (double)at);
  free(x), free(g), free(r);
}

static void check_edges(const gelu_path *p) {
  const float x[] = {0.0f,     -0.0f,     FLT_TRUE_MIN, -FLT_TRUE_MIN, 1e-40f, -1e-40f, FLT_MIN,
                     -FLT_MIN, 1e30f,     -1e30f,       FLT_MAX,       -FLT_MAX, 13.3f, -13.3f,
                     16.0f,    -16.0f,    16.5f,        -16.5f,        INFINITY, -INFINITY, NAN};
  enum { N = sizeof x / sizeof x[0] };
  float g[N], d[N], one[N];
  for (int i = 0; i < N; i++) one[i] = 1.0f;
  p->fwd(g, x, N);
  p->bwd(d, ORDO_OVERWRITE, x, one, N);
  for (int i = 0; i < N; i++) {
    /* the double formulas: GELU(-inf) = -inf * 0 and GELU'(+-inf) = .. + inf * 0 are NaN */
    double rf = gelu_f64(x[i]), rb = gelu_grad_f64(x[i]);
    EXPECT(ulp_err(g[i], rf) <= GELU_ULP && (isnan(rf) || signbit(g[i]) == signbit((float)rf)), "%s: GELU(%g) = %g, want %g",
           p->name, (double)x[i], (double)g[i], rf);
    EXPECT(ulp_err(d[i], rb) <= 8.0, "%s: GELU'(%g) = %g, want %g", p->name, (double)x[i], (double)d[i], rb);
  }
}

static void check_path(const gelu_path *p, const float *x, int64_t n) {
  check_values(p, x, n, "every 97th float of [-20, 20]");
  check_edges(p);
  check_monotone(p);
}

int main(void) {
  F = ops_cpu();
  test_exp();
  int64_t n;
  float *x = float_range(-20.0f, 20.0f, 97, &n);
  const gelu_path base = {"x86-64 level", cpu_gelu_forward_span, cpu_gelu_backward_span};
  const gelu_path ops = {"ops_cpu", ops_fwd, ops_bwd};
  check_path(&base, x, n);
  check_path(&ops, x, n);
  if (cpu_has_avx512f()) {
    const gelu_path wide = {"AVX-512", cpu_gelu_forward_span_avx512, cpu_gelu_backward_span_avx512};
    check_path(&wide, x, n);
    /* the same bits as the x86-64 level */
    float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
    float *one = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) one[i] = 1.0f;
    cpu_gelu_forward_span(a, x, n), cpu_gelu_forward_span_avx512(b, x, n);
    EXPECT(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "GELU: AVX-512 and x86-64 level differ");
    cpu_gelu_backward_span(a, ORDO_OVERWRITE, x, one, n), cpu_gelu_backward_span_avx512(b, ORDO_OVERWRITE, x, one, n);
    EXPECT(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "GELU': AVX-512 and x86-64 level differ");
    free(a), free(b), free(one);
  } else {
    printf("AVX-512 path: skipped: the CPU has no AVX-512F\n");
  }
  free(x);
  return test_summary();
}
