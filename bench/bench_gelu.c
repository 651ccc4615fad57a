/* GELU forward and backward of the fast CPU backend at the feed-forward's shape in the CPU
 * benchmark's step (bench/cpu_train.sh: 2,048 tokens x intermediate 1,024), with a memcpy of
 * the same size beside them (the memory traffic of the forward alone: read one array, write
 * one). Inputs are N(0, 1)-like values in [-4, 4]; the backward overwrites its gradient, as
 * the model's does. Best of --reps runs, ms and ns per element. A table, not a test.
 *
 *   bench_gelu [--rows N] [--cols N] [--reps N] [--threads N] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/ops.h"
#include "ordo/rng.h"

static int arg_int(const char *flag, const char *v, int lo, int hi) {
  char *end;
  long n = strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || n < lo || n > hi) {
    fprintf(stderr, "bench_gelu: %s must be an integer in [%d, %d], got '%s'\n", flag, lo, hi, v);
    exit(2);
  }
  return (int)n;
}

#define BEST_MS(dst, reps, stmt)                       \
  do {                                                 \
    double b_ = 1e30;                                  \
    for (int r_ = 0; r_ < (reps); r_++) {              \
      double t0_ = ordo_time();                        \
      stmt;                                            \
      double t_ = (ordo_time() - t0_) * 1e3;           \
      b_ = t_ < b_ ? t_ : b_;                          \
    }                                                  \
    (dst) = b_;                                        \
  } while (0)

int main(int argc, char **argv) {
  int rows = 2048, cols = 1024, reps = 20, threads = 1;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--rows") == 0 && v) rows = arg_int("--rows", v, 1, 1 << 20), i++;
    else if (strcmp(argv[i], "--cols") == 0 && v) cols = arg_int("--cols", v, 1, 1 << 20), i++;
    else if (strcmp(argv[i], "--reps") == 0 && v) reps = arg_int("--reps", v, 1, 10000), i++;
    else if (strcmp(argv[i], "--threads") == 0 && v) threads = arg_int("--threads", v, 1, 256), i++;
    else {
      fprintf(stderr, "usage: bench_gelu [--rows N] [--cols N] [--reps N] [--threads N]\n"
                      "  GELU forward/backward of the fast CPU backend on a rows x cols tensor\n"
                      "  (default 2048 x 1024, 20 reps, 1 thread)\n");
      return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  if ((int64_t)rows * cols > ((int64_t)1 << 28)) {
    fprintf(stderr, "bench_gelu: rows x cols above 2^28 elements\n");
    return 2;
  }
  omp_set_num_threads(threads);
  const int64_t n = (int64_t)rows * cols;
  float *x = ordo_malloc((size_t)n * sizeof(float)), *y = ordo_malloc((size_t)n * sizeof(float));
  float *d = ordo_malloc((size_t)n * sizeof(float)), *g = ordo_malloc((size_t)n * sizeof(float));
  ordo_rng r;
  rng_init(&r, 1);
  for (int64_t i = 0; i < n; i++) x[i] = 8.0f * rng_uniform(&r) - 4.0f, d[i] = rng_uniform(&r) - 0.5f;
  const ordo_ops *F = ops_cpu();
  double fwd, bwd, cpy;
  BEST_MS(cpy, reps, memcpy(y, x, (size_t)n * sizeof(float)));
  BEST_MS(fwd, reps, F->gelu_forward(NULL, y, x, n));
  BEST_MS(bwd, reps, F->gelu_backward(NULL, g, ORDO_OVERWRITE, x, d, n));
  double sum = 0; /* keeps the results live */
  for (int64_t i = 0; i < n; i += 4099) sum += (double)y[i] + (double)g[i];
  printf("GELU %d x %d, %d thread(s), best of %d (checksum %.6g)\n\n", rows, cols, threads, reps, sum);
  printf("| op | ms | ns / element |\n| --- | --- | --- |\n");
  printf("| gelu_forward | %.3f | %.3f |\n", fwd, fwd * 1e6 / (double)n);
  printf("| gelu_backward | %.3f | %.3f |\n", bwd, bwd * 1e6 / (double)n);
  printf("| memcpy (same size) | %.3f | %.3f |\n", cpy, cpy * 1e6 / (double)n);
  free(x), free(y), free(d), free(g);
  return 0;
}
