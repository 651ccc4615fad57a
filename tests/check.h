/* Minimal test harness: CHECK_* record failures and go on; test_summary() prints
 * "N passed, N failed" and returns the exit status. */
#ifndef ORDO_TEST_CHECK_H
#define ORDO_TEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define EXPECT(cond, ...)                                                     \
  do {                                                                        \
    if (cond) {                                                               \
      t_pass++;                                                               \
    } else {                                                                  \
      t_fail++;                                                               \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
      fprintf(stderr, __VA_ARGS__);                                           \
      fputc('\n', stderr);                                                    \
    }                                                                         \
  } while (0)

#define EXPECT_NEAR(a, b, tol)                                                \
  EXPECT(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)", (double)(a), \
         (double)(b), (double)(tol))

/* The norm-wise relative error ||a - b||_2 / ||b||_2 of a against the truth b (an all-zero truth:
 * the absolute error); NaN in either gives NaN, which fails every "<= tol". */
static inline double rel_err_f32(const float *a, const float *b, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - (double)b[i];
    num += d * d;
    den += (double)b[i] * (double)b[i];
  }
  return den == 0.0 ? sqrt(num) : sqrt(num / den);
}

static inline int test_summary(void) {
  printf("%d passed, %d failed\n", t_pass, t_fail);
  return t_fail ? 1 : 0;
}

#endif
