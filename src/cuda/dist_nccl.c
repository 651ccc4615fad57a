/* The device-buffer collectives of dist.h on NCCL (built with ORDO_NCCL). The communicator's
 * ncclUniqueId comes from rank 0 over MPI (dist_bcast_bytes); the collectives run on a stream of
 * their own; waits poll the stream with the job's timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime.h>
#include <nccl.h>

#include "ordo/dist.h"

typedef struct dist_nccl {
  ncclComm_t comm;
  cudaStream_t stream;
  int device;
} dist_nccl;

/* Any CUDA or NCCL error ends the job: a half-done collective cannot be recovered from. */
static void fail(ordo_dist *d, const char *call, const char *what, const char *msg) {
  fprintf(stderr, "ordo: rank %d of %d: %s (%s) failed: %s; aborting the job\n", d->rank, d->world,
          call, what, msg);
  fflush(stderr);
  dist_abort(d, 1);
  abort(); /* one process: nothing else to stop */
}

static void cuda_ok(ordo_dist *d, cudaError_t rc, const char *call, const char *what) {
  if (rc != cudaSuccess) fail(d, call, what, cudaGetErrorString(rc));
}

static void nccl_ok(ordo_dist *d, ncclResult_t rc, const char *call, const char *what) {
  if (rc != ncclSuccess) fail(d, call, what, ncclGetErrorString(rc));
}

int dist_dev_available(void) { return 1; }

int dist_dev_init(ordo_dist *d, int device, ordo_err *e) {
  int n = 0;
  cudaError_t rc = cudaGetDeviceCount(&n);
  if (rc != cudaSuccess || n == 0)
    return ordo_fail(e, "no CUDA device (%s)", rc != cudaSuccess ? cudaGetErrorString(rc) : "none found");
  if (device < 0 || device >= n)
    return ordo_fail(e, "CUDA device %d does not exist (this machine has %d)", device, n);
  cuda_ok(d, cudaSetDevice(device), "cudaSetDevice", "NCCL setup");
  ncclUniqueId id;
  if (d->rank == 0) nccl_ok(d, ncclGetUniqueId(&id), "ncclGetUniqueId", "NCCL setup");
  dist_bcast_bytes(d, &id, (int64_t)sizeof id, "NCCL id");
  dist_nccl *dn = ordo_calloc(1, sizeof *dn);
  dn->device = device;
  nccl_ok(d, ncclCommInitRank(&dn->comm, d->world, id, d->rank), "ncclCommInitRank", "NCCL setup");
  cuda_ok(d, cudaStreamCreateWithFlags(&dn->stream, cudaStreamNonBlocking), "cudaStreamCreate",
          "NCCL setup");
  d->dev = dn;
  return 0;
}

void dist_dev_free(ordo_dist *d) {
  dist_nccl *dn = d->dev;
  if (!dn) return;
  cudaStreamSynchronize(dn->stream);
  cudaStreamDestroy(dn->stream);
  ncclCommDestroy(dn->comm);
  free(dn);
  d->dev = NULL;
}

static dist_nccl *comm_of(ordo_dist *d, const char *what) {
  ORDO_CHECKF(d && d->dev, "%s: dist_dev_init was not called", what);
  return d->dev;
}

void dist_dev_sum_f32(ordo_dist *d, float *x, int64_t n, const char *what) {
  dist_nccl *dn = comm_of(d, what);
  nccl_ok(d, ncclAllReduce(x, x, (size_t)n, ncclFloat, ncclSum, dn->comm, dn->stream),
          "ncclAllReduce", what);
  d->coll_bytes += n * (int64_t)sizeof(float);
}

/* ncclReduceScatter / ncclAllGather want equal parts: uneven ones (ZeRO's shards end on blocks)
 * are one reduce / broadcast per rank, grouped so NCCL runs them as one operation. */
static int equal_parts(const ordo_dist *d, const int64_t *counts) {
  for (int r = 1; r < d->world; r++)
    if (counts[r] != counts[0]) return 0;
  return 1;
}

void dist_dev_reduce_scatter_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what) {
  dist_nccl *dn = comm_of(d, what);
  if (equal_parts(d, counts)) {
    float *mine = x + (size_t)d->rank * (size_t)counts[0];
    nccl_ok(d, ncclReduceScatter(x, mine, (size_t)counts[0], ncclFloat, ncclSum, dn->comm, dn->stream),
            "ncclReduceScatter", what);
  } else {
    nccl_ok(d, ncclGroupStart(), "ncclGroupStart", what);
    size_t off = 0;
    for (int r = 0; r < d->world; r++) {
      nccl_ok(d, ncclReduce(x + off, x + off, (size_t)counts[r], ncclFloat, ncclSum, r, dn->comm,
                            dn->stream), "ncclReduce", what);
      off += (size_t)counts[r];
    }
    nccl_ok(d, ncclGroupEnd(), "ncclGroupEnd", what);
  }
  for (int r = 0; r < d->world; r++) d->coll_bytes += counts[r] * (int64_t)sizeof(float);
}

void dist_dev_allgather_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what) {
  dist_nccl *dn = comm_of(d, what);
  if (equal_parts(d, counts)) {
    const float *mine = x + (size_t)d->rank * (size_t)counts[0];
    nccl_ok(d, ncclAllGather(mine, x, (size_t)counts[0], ncclFloat, dn->comm, dn->stream),
            "ncclAllGather", what);
  } else {
    nccl_ok(d, ncclGroupStart(), "ncclGroupStart", what);
    size_t off = 0;
    for (int r = 0; r < d->world; r++) {
      nccl_ok(d, ncclBroadcast(x + off, x + off, (size_t)counts[r], ncclFloat, r, dn->comm,
                               dn->stream), "ncclBroadcast", what);
      off += (size_t)counts[r];
    }
    nccl_ok(d, ncclGroupEnd(), "ncclGroupEnd", what);
  }
  for (int r = 0; r < d->world; r++) d->coll_bytes += counts[r] * (int64_t)sizeof(float);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void dist_dev_wait(ordo_dist *d, const char *what) {
  dist_nccl *dn = comm_of(d, what);
  double t0 = now_s();
  for (;;) {
    cudaError_t rc = cudaStreamQuery(dn->stream);
    if (rc == cudaSuccess) break;
    if (rc != cudaErrorNotReady) cuda_ok(d, rc, "cudaStreamQuery", what);
    double waited = now_s() - t0;
    if (waited > d->timeout_s) {
      fprintf(stderr, "ordo: rank %d of %d: NCCL collective (%s) waited %.0f s (timeout %g s); "
                      "aborting the job\n", d->rank, d->world, what, waited, d->timeout_s);
      fflush(stderr);
      ncclCommAbort(dn->comm);
      dist_abort(d, 3);
      abort();
    }
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
  d->coll_s += now_s() - t0;
  d->n_coll++;
}
