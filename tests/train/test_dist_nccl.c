/* The NCCL collectives (dist.h's device buffers) with one rank give what the collectives of a
 * process without MPI give (the identity), bit for bit: a sum, a reduce-scatter and an all-gather
 * of a buffer on the GPU, downloaded and compared with the same calls on the host. Where ordo is
 * built without NCCL, or the machine has no CUDA device, it says so and exits 77 (ctest: skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/dist.h"
#include "ordo/rng.h"

#ifdef ORDO_HAVE_NCCL
#include <cuda_runtime.h>
#endif

int main(void) {
  if (!dist_dev_available()) {
    printf("skipped: built without NCCL\n");
    return 77;
  }
#ifdef ORDO_HAVE_NCCL
  ordo_dist d;
  ordo_err e;
  ORDO_CHECK(dist_init(&d, 60, &e) == 0);
  if (dist_dev_init(&d, 0, &e) != 0) {
    printf("skipped: %s\n", e.msg);
    dist_free(&d);
    return 77;
  }
  enum { N = 3 * 2048 + 5 };
  float *host = malloc(N * sizeof(float)), *back = malloc(N * sizeof(float)), *dev = NULL;
  ordo_rng r;
  rng_init(&r, 11);
  for (int i = 0; i < N; i++) host[i] = rng_uniform(&r) * 2.0f - 1.0f;
  ORDO_CHECK(cudaMalloc((void **)&dev, N * sizeof(float)) == cudaSuccess);
  ORDO_CHECK(cudaMemcpy(dev, host, N * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  const int64_t all[1] = {N};
  dist_dev_sum_f32(&d, dev, N, "test sum");
  dist_dev_reduce_scatter_f32(&d, dev, all, "test reduce-scatter");
  dist_dev_allgather_f32(&d, dev, all, "test all-gather");
  dist_dev_wait(&d, "test");
  ORDO_CHECK(cudaMemcpy(back, dev, N * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
  /* the same on the host, one process */
  dist_sum_f32(&d, host, N, "host sum");
  dist_ireduce_scatter_f32(&d, host, all, "host reduce-scatter");
  dist_iallgather_f32(&d, host, all, "host all-gather");
  dist_wait(&d);
  EXPECT(memcmp(back, host, N * sizeof(float)) == 0, "one NCCL rank differs from no MPI");
  cudaFree(dev);
  free(host), free(back);
  dist_dev_free(&d);
  dist_free(&d);
#endif
  return test_summary();
}
