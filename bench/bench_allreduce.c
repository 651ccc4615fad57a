/* All-reduce time of a gradient span through the trainer's collective (dist_sum_f32), for the
 * message sizes of real models. Run under mpirun (one process: the collective is the identity):
 *
 *   mpirun -np 2 build/bench/bench_allreduce [MILLION_FLOATS...]   (default 0.85 4.4 109.5)
 *
 * Prints one line per size: bytes, best and median milliseconds of ROUNDS (env, default 5), the
 * algorithm bandwidth (bytes / s) and the bus bandwidth nccl-tests reports for an all-reduce
 * (algbw * 2 (n - 1) / n), so that the figures compare with published ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/dist.h"

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  ordo_dist d;
  ordo_err e;
  if (dist_init(&d, DIST_TIMEOUT_DEFAULT, &e) != 0) {
    fprintf(stderr, "bench_allreduce: %s\n", e.msg);
    return 1;
  }
  const char *r = getenv("ROUNDS");
  int rounds = r ? atoi(r) : 5;
  if (rounds < 1 || rounds > 1000) rounds = 5;
  double def[] = {0.85, 4.4, 109.5};
  int n_sizes = argc > 1 ? argc - 1 : 3;
  if (dist_is_root(&d))
    printf("ranks %d\n| floats | MB | best s | median s | algbw GB/s | busbw GB/s |\n"
           "|---|---|---|---|---|---|\n", d.world);
  for (int k = 0; k < n_sizes; k++) {
    int64_t n = (int64_t)((argc > 1 ? atof(argv[k + 1]) : def[k]) * 1e6);
    if (n < 1) continue;
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 97) * 1e-3f;
    double *t = malloc((size_t)rounds * sizeof(double));
    dist_sum_f32(&d, x, n, "warm-up");
    for (int i = 0; i < rounds; i++) {
      dist_barrier(&d, "bench");
      double t0 = ordo_time();
      dist_sum_f32(&d, x, n, "bench");
      t[i] = ordo_time() - t0;
    }
    qsort(t, (size_t)rounds, sizeof(double), cmp_d);
    double bytes = (double)n * sizeof(float), alg = bytes / t[0] / 1e9;
    if (dist_is_root(&d))
      printf("| %lld | %.1f | %.3f | %.3f | %.3f | %.3f |\n", (long long)n, bytes / 1e6, 1e3 * t[0],
             1e3 * t[rounds / 2], alg, d.world > 1 ? alg * 2 * (d.world - 1) / d.world : 0.0);
    free(t);
    free(x);
  }
  dist_free(&d);
  return 0;
}
