/* Internal to src/cpu: vectorizable math for `omp simd` loops. Two kinds:
 *
 * ordo's own exp and normal CDF (vm_*, below): branch-free inline C that GCC vectorizes in the
 * caller's loop (8 lanes for x86-64-v3, 16 where a file is compiled for AVX-512), constants
 * derived by tools/ref/fit_vecmath.py, accuracy checked against double precision by
 * tests/cpu/test_vecmath.c. GELU and its derivative use them.
 *
 * glibc's vector math library for expf, erff and tanhf elsewhere: the compiler vectorizes these
 * calls (libmvec, linked through libm's linker script). glibc
 * declares these vector variants only under -ffast-math, which we do not want for the whole
 * engine, so the declarations are repeated here. libmvec provides only unmasked variants:
 * loops must call these functions unconditionally (select the argument, not the call).
 * libmvec is accurate to a few ulp, so the fast kernels differ from the scalar reference in
 * the last bits (tests/cpu/test_fast.c bounds it). Other compilers get the scalar calls. */
#ifndef ORDO_CPU_VECMATH_H
#define ORDO_CPU_VECMATH_H

#include <math.h>
#include <stdint.h>

#include "cpu/cpu_ops.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(_OPENMP) && \
    defined(__GLIBC__)
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
float erff(float);
#pragma omp declare simd notinbranch
float tanhf(float);
#endif

/* Keeping libmvec's expf on its fast path: for arguments below about -87 (e^-87 = 1.6e-38,
 * the edge of the normal floats) its vector expf falls back to scalar code for the whole
 * vector, which made GELU's backward ten times slower on large activations. So arguments are
 * clamped to [VEC_EXP_MIN, 0] before the call, and results at or below VEC_EXP_TINY (reached
 * only through the clamp) are flushed to 0 after it; the scalar expf would give a denormal or
 * 0 there, so the difference is below 2e-38 absolute.
 * GCC does not if-convert a loop that contains a call, so a clamp or select in the same loop
 * as the call leaves it scalar: callers run clamp, call and flush as three separate loops. */
#define VEC_EXP_MIN (-87.0f)
#define VEC_EXP_TINY 1.7e-38f

/* ---- ordo's own exp ------------------------------------------------------------------------
 * exp(y) for y <= 0 as 2^k p(r): k = round(y log2 e), r = y - k ln2 with ln2 in two parts (the
 * high part has 16 significant bits, so k * VM_LN2_HI is exact for |k| < 256 and so is the
 * subtraction), p a degree-6 fit of exp on |r| <= ln2/2 with p(0) = 1 exactly. The argument
 * may come in two parts (hi + lo, |lo| << |hi|): GELU's -x^2/2 is exact as such a pair, which
 * keeps exp(-x^2/2) relatively accurate where x^2/2 is large (its float rounding alone would
 * cost up to 40 ulp at x = 13).
 *
 * vm_exp_split returns exp(hi + lo) 2^64 as (1 + m) s, m = exp(r) - 1 (|m| < 0.42) and the
 * scale s = 2^(k + 64), a normal float down to y = VM_EXP_FLOOR: a caller whose result is tiny
 * multiplies by 2^-64 last and rounds into the subnormals once. At and below VM_EXP_FLOOR s is 0
 * (exp(-128) = 2.6e-56 is 0 in float after the 2^-64); NaN propagates. y > 0 is outside its
 * range. */
#define VM_EXP_FLOOR (-128.0f) /* -16^2 / 2 */

/* c ? a : b through the bits: GCC keeps a float select as a branch (with the arithmetic of one
 * side moved into it), which stops the vectorizer ("control flow in loop"); this one vectorizes */
static inline float vm_select(int c, float a, float b) {
  const uint32_t m = 0u - (uint32_t)(c != 0);
  return cpu_f32_from_bits((cpu_f32_bits(a) & m) | (cpu_f32_bits(b) & ~m));
}
#define VM_2M64 0x1p-64f
#define VM_LOG2E 1.44269504088896341f
#define VM_LN2_HI 0.693145751953125f     /* ln 2 rounded to 16 significant bits */
#define VM_LN2_LO 1.42860682030941723e-6f /* ln 2 - VM_LN2_HI */
#define VM_ROUND_SHIFT 12582912.0f       /* 1.5 * 2^23: y + it holds round(y) in its low bits */
/* tools/ref/fit_vecmath.py: degree 6 on |r| <= 0.3486, relative error 3.3e-9 */
#define VM_EXP_C2 0.49999994f
#define VM_EXP_C3 0.1666652f
#define VM_EXP_C4 0.041668296f
#define VM_EXP_C5 0.008368906f
#define VM_EXP_C6 0.0013818833f

static inline float vm_exp_split(float hi, float lo, float *s) {
  const float t = (hi + lo) * VM_LOG2E + VM_ROUND_SHIFT;
  const float kf = t - VM_ROUND_SHIFT;
  const uint32_t k = cpu_f32_bits(t) - cpu_f32_bits(VM_ROUND_SHIFT); /* two's complement k */
  const float r = (hi - kf * VM_LN2_HI) + lo - kf * VM_LN2_LO;
  float p = VM_EXP_C6;
  p = p * r + VM_EXP_C5;
  p = p * r + VM_EXP_C4;
  p = p * r + VM_EXP_C3;
  p = p * r + VM_EXP_C2;
  p = p * r + 1.0f;
  *s = vm_select(hi <= VM_EXP_FLOOR, 0.0f, cpu_f32_from_bits((k + 127u + 64u) << 23));
  return p * r;
}

/* v exp(hi + lo) 2^64, the exponential never rounded on its own: (m v + v) s, one fused
 * rounding (where the compiler contracts it) and an exact power of two */
static inline float vm_mul_exp_2p64(float v, float hi, float lo) {
  float s;
  const float m = vm_exp_split(hi, lo, &s);
  return (m * v + v) * s;
}

/* exp(y) for y in [VM_EXP_FLOOR, 0] (within 2 ulp of exp in double, exp(0) = 1 exactly) */
static inline float vm_expf(float y) { return vm_mul_exp_2p64(1.0f, y, 0.0f) * VM_2M64; }

/* -x^2 / 2 as hi + lo exactly (up to lo's rounding, 2^-24 of 2^-11 of hi): with FMA the
 * product's rounding error is one fmaf; without it x is split into two 12-bit halves whose
 * products are exact in float. */
static inline void vm_neg_half_sq(float x, float *hi, float *lo) {
#if defined(__FMA__) || defined(__AVX512F__)
  const float s = x * x;
  *hi = -0.5f * s;
  *lo = -0.5f * fmaf(x, x, -s);
#else
  const float xh = cpu_f32_from_bits(cpu_f32_bits(x) & 0xFFFFF000u), xl = x - xh;
  *hi = -0.5f * (xh * xh);
  *lo = -(xh * xl + 0.5f * (xl * xl));
#endif
}

/* ---- the normal CDF's tail -----------------------------------------------------------------
 * Mills' ratio R(a) = Phi(-a) / phi(a) for a >= 0 (phi the normal density), so that
 * Phi(-a) = R(a) exp(-a^2/2) / sqrt(2 pi) keeps its relative accuracy in the whole negative
 * tail, where 1 + erf(x / sqrt 2) would cancel, and Phi(a) = 1 - Phi(-a) needs no second fit.
 * R = 1 / (a + g(a)) with g = M / N a rational fit (tools/ref/fit_vecmath.py, on [0, 16]: the
 * error it passes to R, |g - M/N| / (a + g), is 1e-9 with these float coefficients, M scaled by
 * sqrt(2 pi)), so that vm_phi_q(a) = N / (a sqrt(2 pi) N + M) is Q(a) = R(a) / sqrt(2 pi) =
 * Phi(-a) exp(a^2/2) itself: N's rounding errors cancel in the quotient as a grows and M's are
 * damped by g / (a + g), which a direct fit P / D of Q does not do (its Horner errors reached
 * 3 ulp).
 * Callers hold a to [0, VM_R_A_MAX]: beyond 16, exp(-a^2/2) is 0 in float (after the 2^-64),
 * and a^2 no longer overflows for the largest floats. */
#define VM_R_A_MAX 16.0f
#define VM_G_M0 2.5066283f /* sqrt(2 pi) */
#define VM_G_M1 1.502387f
#define VM_G_M2 0.4844502f
#define VM_G_M3 0.08413019f
#define VM_G_M4 0.006772456f
#define VM_G_M5 -6.1573566e-08f
#define VM_G_N0 1.2533141f /* sqrt(pi / 2) */
#define VM_G_N1 1.3219899f
#define VM_G_N2 0.67307043f
#define VM_G_N3 0.19804043f
#define VM_G_N4 0.03360313f
#define VM_G_N5 0.0027003223f
#define VM_SQRT_2PI 2.50662827463100050f
#define VM_INV_SQRT_2PI 0.3989422804014327f

static inline float vm_phi_q(float a) {
  float m = VM_G_M5, n = VM_G_N5;
  m = m * a + VM_G_M4, n = n * a + VM_G_N4;
  m = m * a + VM_G_M3, n = n * a + VM_G_N3;
  m = m * a + VM_G_M2, n = n * a + VM_G_N2;
  m = m * a + VM_G_M1, n = n * a + VM_G_N1;
  m = m * a + VM_G_M0, n = n * a + VM_G_N0;
  return n / ((a * VM_SQRT_2PI) * n + m);
}

/* Near 0 Phi(x) - 1/2 = x S(x^2), S a degree-3 fit on |x| <= VM_S_MAX (tools/ref/fit_vecmath.py:
 * the error it passes to GELU is 7.7e-10 relative), so GELU(x) = x/2 + x^2 S(x^2), a sum led by
 * the exact x/2. 1 - Q e, whose Q and products each round near 1/2, reached 4.1 ulp there. */
#define VM_S_MAX 0.25f
#define VM_S_C0 0.3989423f
#define VM_S_C1 -0.06649187f
#define VM_S_C2 0.0100217555f
#define VM_S_C3 -0.0016233283f

/* GELU(x) = x Phi(x), with Q(a) = R(a) / sqrt(2 pi): for |x| < VM_S_MAX the odd polynomial;
 * beyond, for x < 0, x Q(|x|) exp(-x^2/2) (scaled by 2^64 until the last product, so that a
 * subnormal result is rounded once), for x > 0, x (1 - Q(x) exp(-x^2/2)). */
static inline float vm_gelu(float x) {
  const float a = fabsf(x), ac = vm_select(a > VM_R_A_MAX, VM_R_A_MAX, a); /* NaN stays NaN */
  float hi, lo, s;
  vm_neg_half_sq(ac, &hi, &lo);
  const float m = vm_exp_split(hi, lo, &s), q = vm_phi_q(ac);
  /* x < 0: x Q e, x taken before the exponential's fused product (one rounding fewer);
   * x >= 0: 1 - Q e */
  const float v = vm_select(x < 0.0f, x * q, q), w = ((m * v + v) * s) * VM_2M64;
  const float y = x * x;
  float sp = VM_S_C3;
  sp = sp * y + VM_S_C2;
  sp = sp * y + VM_S_C1;
  sp = sp * y + VM_S_C0;
  const float near = copysignf(y * sp + 0.5f * x, x); /* -0 for a negative denormal x */
  return vm_select(a < VM_S_MAX, near, vm_select(x < 0.0f, w, x * (1.0f - w)));
}

/* GELU'(x) = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi): with e = exp(-x^2/2) and
 * w = Q(|x|) - |x| / sqrt(2 pi) (one fused rounding where the compiler contracts it), e w for
 * x < 0 and 1 - e w for x >= 0. w crosses 0 at |x| = 0.7518, where the derivative does: there
 * Q's own error sets an absolute, not a relative, accuracy. At x = +-inf, like the formula in
 * double, NaN (inf * 0). */
static inline float vm_gelu_grad(float x) {
  const float a = fabsf(x), ac = vm_select(a > VM_R_A_MAX, VM_R_A_MAX, a);
  float hi, lo;
  vm_neg_half_sq(ac, &hi, &lo);
  const float w = vm_phi_q(ac) - a * VM_INV_SQRT_2PI;
  const float v = vm_mul_exp_2p64(w, hi, lo) * VM_2M64;
  return vm_select(x < 0.0f, v, 1.0f - v);
}

/* The loops of cpu_gelu_forward_span / cpu_gelu_backward_span (cpu_ops.h), inline so that each
 * file compiles them for its own instruction set */
static inline void vm_gelu_forward_span(float *out, const float *x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) out[i] = vm_gelu(x[i]);
}
/* acc = 0 writes 0 + dout vm_gelu_grad(x) (the bits of accumulating onto zeros, -0 included)
 * without reading dinp */
static inline void vm_gelu_backward_span(float *dinp, int acc, const float *x, const float *dout, int64_t n) {
  if (acc) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) dinp[i] += dout[i] * vm_gelu_grad(x[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) dinp[i] = dout[i] * vm_gelu_grad(x[i]) + 0.0f;
  }
}

#endif
