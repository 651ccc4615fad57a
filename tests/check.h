/* Minimal test harness: CHECK_* record failures and go on; test_summary() prints
 * "N passed, N failed" and returns the exit status. */
#ifndef ORDO_TEST_CHECK_H
#define ORDO_TEST_CHECK_H

#include <math.h>
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

static inline int test_summary(void) {
  printf("%d passed, %d failed\n", t_pass, t_fail);
  return t_fail ? 1 : 0;
}

#endif
