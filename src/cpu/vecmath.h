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

#endif
