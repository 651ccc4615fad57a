/* Internal to src/cpu: lets the compiler vectorize expf, erff and tanhf in `omp simd` loops by
 * calling glibc's vector math library (libmvec, linked through libm's linker script). glibc
 * declares these vector variants only under -ffast-math, which we do not want for the whole
 * engine, so the declarations are repeated here. libmvec provides only unmasked variants:
 * loops must call these functions unconditionally (select the argument, not the call).
 * libmvec is accurate to a few ulp, so the fast kernels differ from the scalar reference in
 * the last bits (tests/cpu/test_fast.c bounds it). Other compilers get the scalar calls. */
#ifndef ORDO_CPU_VECMATH_H
#define ORDO_CPU_VECMATH_H

#include <math.h>

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

#endif
