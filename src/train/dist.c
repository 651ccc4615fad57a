/* Collectives across ranks (see dist.h): MPI when built with it and launched under mpirun with
 * more than one rank, else the identity of a single process. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ordo/dist.h"

#ifdef ORDO_HAVE_MPI
#include <mpi.h>
#endif

/* The rank count the launcher announced (0 when not launched by one). */
static int launcher_world(void) {
  const char *keys[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", NULL};
  for (int i = 0; keys[i]; i++) {
    const char *v = getenv(keys[i]);
    if (v && *v) return atoi(v);
  }
  return 0;
}

int dist_launch_world(void) {
  int n = launcher_world();
  return n > 0 ? n : 1;
}

int dist_is_root(const ordo_dist *d) { return !d || d->rank == 0; }
int dist_world(const ordo_dist *d) { return d ? d->world : 1; }
int dist_rank(const ordo_dist *d) { return d ? d->rank : 0; }

void dist_fail(ordo_dist *d, const char *cmd, const char *msg, int code) {
  if (dist_world(d) > 1) fprintf(stderr, "%s: rank %d of %d: %s\n", cmd, d->rank, d->world, msg);
  else fprintf(stderr, "%s: %s\n", cmd, msg);
  dist_abort(d, code);
}

static void single(ordo_dist *d, double timeout_s) {
  memset(d, 0, sizeof *d);
  d->world = 1;
  d->timeout_s = timeout_s > 0 ? timeout_s : DIST_TIMEOUT_DEFAULT;
}

#ifndef ORDO_HAVE_MPI

int dist_available(void) { return 0; }

int dist_init(ordo_dist *d, double timeout_s, ordo_err *e) {
  single(d, timeout_s);
  int n = launcher_world();
  if (n > 1)
    return ordo_fail(e, "launched as one of %d ranks, but this ordo was built without MPI "
                        "(install libopenmpi-dev and rebuild to train on several processes)", n);
  return 0;
}

void dist_free(ordo_dist *d) { memset(d, 0, sizeof *d); }
void dist_sum_f32(ordo_dist *d, float *x, int64_t n, const char *what) { (void)d, (void)x, (void)n, (void)what; }
double dist_sum_f64(ordo_dist *d, double x, const char *what) { return (void)d, (void)what, x; }
int dist_same_u64(ordo_dist *d, uint64_t v, const char *what) { return (void)d, (void)v, (void)what, 1; }
void dist_barrier(ordo_dist *d, const char *what) { (void)d, (void)what; }
void dist_abort(ordo_dist *d, int code) { (void)d, (void)code; }
/* one rank: every sum, scatter and gather is the identity */
void dist_isum_f32(ordo_dist *d, float *x, int64_t n, const char *what) { (void)d, (void)x, (void)n, (void)what; }
void dist_ireduce_scatter_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what) { (void)d, (void)x, (void)counts, (void)what; }
void dist_iallgather_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what) { (void)d, (void)x, (void)counts, (void)what; }
void dist_iallgather_f64(ordo_dist *d, double *x, const int64_t *counts, const char *what) { (void)d, (void)x, (void)counts, (void)what; }
void dist_poll(ordo_dist *d) { (void)d; }
void dist_wait(ordo_dist *d) { (void)d; }
void dist_bcast_bytes(ordo_dist *d, void *x, int64_t n, const char *what) { (void)d, (void)x, (void)n, (void)what; }
void dist_gather_bytes(ordo_dist *d, void *all, const void *part, const int64_t *counts,
                       const char *what) {
  (void)d, (void)what;
  if (counts[0] > 0 && all != part) memmove(all, part, (size_t)counts[0]);
}

#else

enum { TAG_PROBE = 7301 };

/* A non-blocking collective started and not yet finished. */
typedef struct dist_op {
  MPI_Request req;
  const char *what;
  int *counts;               /* (2 * world) MPI's counts and displacements, kept until it ends */
  void *move_from, *move_to; /* reduce-scatter: this rank's part, moved to its place at the end */
  size_t move_bytes;
} dist_op;

typedef struct dist_mpi {
  MPI_Comm comm;
  dist_op *ops; /* (n_ops) started, in order */
  int n_ops, cap_ops;
  int64_t sent;     /* the collective number this rank sends when probing */
  int64_t *got;     /* (world) the numbers received from the peers' probes */
  MPI_Request *req; /* (2 * world) probe receives, then sends */
} dist_mpi;

int dist_available(void) { return 1; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Any MPI error ends the job: a half-finished collective cannot be recovered from. */
static void mpi_ok(const ordo_dist *d, int rc, const char *call, const char *what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fprintf(stderr, "ordo: rank %d of %d: %s (%s) failed: %s; aborting the job\n", d->rank,
          d->world, call, what, msg);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

int dist_init(ordo_dist *d, double timeout_s, ordo_err *e) {
  single(d, timeout_s);
  /* one process needs no MPI; a PMIx launcher that gives no size still means a job */
  int n = launcher_world();
  if (n == 1 || (n == 0 && !getenv("PMIX_RANK"))) return 0;
  int inited = 0, provided = 0;
  MPI_Initialized(&inited);
  if (!inited && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return ordo_fail(e, "MPI_Init_thread failed (launched as one of %d ranks)", n);
  dist_mpi *im = ordo_calloc(1, sizeof *im);
  MPI_Comm_dup(MPI_COMM_WORLD, &im->comm);
  MPI_Comm_set_errhandler(im->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(im->comm, &d->rank);
  MPI_Comm_size(im->comm, &d->world);
  im->got = ordo_calloc((size_t)d->world, sizeof(int64_t));
  im->req = ordo_calloc(2 * (size_t)d->world, sizeof(MPI_Request));
  d->impl = im;
  return 0;
}

void dist_free(ordo_dist *d) {
  dist_mpi *im = d->impl;
  if (im) {
    ORDO_CHECKF(im->n_ops == 0, "dist_free: %d collectives never waited for", im->n_ops);
    free(im->ops);
    MPI_Comm_free(&im->comm);
    free(im->got);
    free(im->req);
    free(im);
    MPI_Finalize();
  }
  memset(d, 0, sizeof *d);
}

/* Collective d->n_coll has waited timeout_s. The ranks still alive are waiting in it too and
 * time out at about the same moment: each tells every other one so, and waits half a timeout
 * more to hear the same. The ranks not heard from are the dead or hung ones: named, then the
 * job is aborted. (A rank stopped inside the collective, after reaching it, is found the same
 * way.) */
static void __attribute__((noreturn)) timed_out(ordo_dist *d, MPI_Request *coll, const char *what,
                                                double waited) {
  dist_mpi *im = d->impl;
  int w = d->world, n = 0;
  im->sent = d->n_coll;
  for (int p = 0; p < w; p++) {
    if (p == d->rank) continue;
    im->got[p] = -1;
    MPI_Irecv(&im->got[p], 1, MPI_INT64_T, p, TAG_PROBE, im->comm, &im->req[n++]);
  }
  for (int p = 0; p < w; p++)
    if (p != d->rank) MPI_Isend(&im->sent, 1, MPI_INT64_T, p, TAG_PROBE, im->comm, &im->req[n++]);
  double t0 = now_s();
  int heard = 0, done = 0;
  while (now_s() - t0 < 0.5 * d->timeout_s && !heard && !done) {
    MPI_Testall(w - 1, im->req, &heard, MPI_STATUSES_IGNORE); /* the receives */
    MPI_Test(coll, &done, MPI_STATUS_IGNORE);                 /* late, but it may still come */
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  char missing[512] = "";
  size_t len = 0;
  for (int p = 0; p < w && len + 16 < sizeof missing; p++)
    if (p != d->rank && im->got[p] != d->n_coll)
      len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%d", len ? ", " : "", p);
  if (len > 0)
    fprintf(stderr, "ordo: rank %d of %d: collective %lld (%s) waited %.0f s (timeout %g s) for "
                    "rank(s) %s (dead or hung); aborting the job\n",
            d->rank, w, (long long)d->n_coll, what, waited, d->timeout_s, missing);
  else /* e.g. the stopped rank itself, woken by the launcher's abort */
    fprintf(stderr, "ordo: rank %d of %d: collective %lld (%s) waited %.0f s (timeout %g s); every "
                    "rank answered after the timeout; aborting the job\n",
            d->rank, w, (long long)d->n_coll, what, waited, d->timeout_s);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 3);
  abort(); /* not reached */
}

/* Waits for a non-blocking collective, at most timeout_s. */
static void wait_coll(ordo_dist *d, MPI_Request *req, const char *what) {
  double t0 = now_s();
  for (long spin = 0;; spin++) {
    int done = 0;
    mpi_ok(d, MPI_Test(req, &done, MPI_STATUS_IGNORE), "MPI_Test", what);
    if (done) break;
    if ((spin & 255) == 0) {
      double waited = now_s() - t0;
      if (waited > d->timeout_s) timed_out(d, req, what, waited);
      /* a long wait (a rank writing a checkpoint): leave the cores to the ranks still working */
      if (waited > 0.01) {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
      }
    }
  }
  d->n_coll++;
}

/* A new entry at the end of the started collectives. */
static dist_op *op_push(ordo_dist *d, const char *what) {
  dist_mpi *im = d->impl;
  if (im->n_ops == im->cap_ops) {
    im->cap_ops = im->cap_ops ? 2 * im->cap_ops : 16;
    im->ops = ordo_realloc(im->ops, (size_t)im->cap_ops * sizeof *im->ops);
  }
  dist_op *op = &im->ops[im->n_ops++];
  memset(op, 0, sizeof *op);
  op->what = what;
  return op;
}

/* MPI's int counts and displacements from the parts' counts (each part must fit an int). */
static int *mpi_counts(const ordo_dist *d, const int64_t *counts) {
  int *c = ordo_malloc(2 * (size_t)d->world * sizeof(int));
  int64_t off = 0;
  for (int r = 0; r < d->world; r++) {
    ORDO_CHECKF(counts[r] >= 0 && counts[r] <= INT_MAX && off <= INT_MAX,
                "rank %d's part (%lld at %lld) does not fit MPI's int counts", r,
                (long long)counts[r], (long long)off);
    c[r] = (int)counts[r];
    c[d->world + r] = (int)off;
    off += counts[r];
  }
  return c;
}

void dist_isum_f32(ordo_dist *d, float *x, int64_t n, const char *what) {
  if (!d || !d->impl) return;
  dist_mpi *im = d->impl;
  double t0 = now_s();
  /* in pieces that fit MPI's int counts */
  for (int64_t off = 0; off < n; off += 1 << 30) {
    int64_t k = n - off < (1 << 30) ? n - off : (1 << 30);
    dist_op *op = op_push(d, what);
    mpi_ok(d, MPI_Iallreduce(MPI_IN_PLACE, x + off, (int)k, MPI_FLOAT, MPI_SUM, im->comm, &op->req),
           "MPI_Iallreduce", what);
  }
  d->coll_s += now_s() - t0;
  d->coll_bytes += n * (int64_t)sizeof(float);
}

void dist_ireduce_scatter_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what) {
  if (!d || !d->impl) return;
  dist_mpi *im = d->impl;
  double t0 = now_s();
  dist_op *op = op_push(d, what);
  op->counts = mpi_counts(d, counts);
  /* in place, MPI leaves this rank's part at the start of x */
  op->move_from = x;
  op->move_to = x + op->counts[d->world + d->rank];
  op->move_bytes = (size_t)counts[d->rank] * sizeof(float);
  mpi_ok(d, MPI_Ireduce_scatter(MPI_IN_PLACE, x, op->counts, MPI_FLOAT, MPI_SUM, im->comm, &op->req),
         "MPI_Ireduce_scatter", what);
  d->coll_s += now_s() - t0;
  for (int r = 0; r < d->world; r++) d->coll_bytes += counts[r] * (int64_t)sizeof(float);
}

static void iallgather(ordo_dist *d, void *x, const int64_t *counts, MPI_Datatype type,
                       size_t size, const char *what) {
  if (!d || !d->impl) return;
  dist_mpi *im = d->impl;
  double t0 = now_s();
  dist_op *op = op_push(d, what);
  op->counts = mpi_counts(d, counts);
  mpi_ok(d, MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, op->counts,
                            op->counts + d->world, type, im->comm, &op->req),
         "MPI_Iallgatherv", what);
  d->coll_s += now_s() - t0;
  for (int r = 0; r < d->world; r++) d->coll_bytes += counts[r] * (int64_t)size;
}

void dist_iallgather_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what) {
  iallgather(d, x, counts, MPI_FLOAT, sizeof(float), what);
}

void dist_iallgather_f64(ordo_dist *d, double *x, const int64_t *counts, const char *what) {
  iallgather(d, x, counts, MPI_DOUBLE, sizeof(double), what);
}

void dist_poll(ordo_dist *d) {
  if (!d || !d->impl) return;
  dist_mpi *im = d->impl;
  double t0 = now_s();
  for (int i = 0; i < im->n_ops; i++) {
    int done = 0;
    if (im->ops[i].req != MPI_REQUEST_NULL)
      mpi_ok(d, MPI_Test(&im->ops[i].req, &done, MPI_STATUS_IGNORE), "MPI_Test", im->ops[i].what);
  }
  d->coll_s += now_s() - t0;
}

void dist_wait(ordo_dist *d) {
  if (!d || !d->impl) return;
  dist_mpi *im = d->impl;
  double t0 = now_s();
  for (int i = 0; i < im->n_ops; i++) {
    dist_op *op = &im->ops[i];
    wait_coll(d, &op->req, op->what);
    if (op->move_bytes && op->move_to != op->move_from)
      memmove(op->move_to, op->move_from, op->move_bytes);
    free(op->counts);
  }
  im->n_ops = 0;
  d->coll_s += now_s() - t0;
}

void dist_sum_f32(ordo_dist *d, float *x, int64_t n, const char *what) {
  dist_isum_f32(d, x, n, what);
  dist_wait(d);
}

void dist_bcast_bytes(ordo_dist *d, void *x, int64_t n, const char *what) {
  if (!d || !d->impl) return;
  dist_mpi *im = d->impl;
  ORDO_CHECKF(n >= 0 && n <= INT_MAX, "dist_bcast_bytes: %lld bytes", (long long)n);
  double t0 = now_s();
  MPI_Request r;
  mpi_ok(d, MPI_Ibcast(x, (int)n, MPI_BYTE, 0, im->comm, &r), "MPI_Ibcast", what);
  wait_coll(d, &r, what);
  d->coll_s += now_s() - t0;
}

void dist_gather_bytes(ordo_dist *d, void *all, const void *part, const int64_t *counts,
                       const char *what) {
  if (!d || !d->impl) {
    if (counts[0] > 0 && all != part) memmove(all, part, (size_t)counts[0]);
    return;
  }
  dist_mpi *im = d->impl;
  double t0 = now_s();
  int *c = mpi_counts(d, counts);
  MPI_Request r;
  if (d->rank == 0) {
    if (counts[0] > 0 && all != part) memmove(all, part, (size_t)counts[0]); /* rank 0's part comes first */
    mpi_ok(d, MPI_Igatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, c, c + d->world, MPI_BYTE, 0,
                           im->comm, &r), "MPI_Igatherv", what);
  } else {
    mpi_ok(d, MPI_Igatherv(part, c[d->rank], MPI_BYTE, NULL, NULL, NULL, MPI_BYTE, 0, im->comm, &r),
           "MPI_Igatherv", what);
  }
  wait_coll(d, &r, what);
  free(c);
  d->coll_s += now_s() - t0;
}

double dist_sum_f64(ordo_dist *d, double x, const char *what) {
  if (!d || !d->impl) return x;
  dist_mpi *im = d->impl;
  double t0 = now_s();
  MPI_Request r;
  mpi_ok(d, MPI_Iallreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, im->comm, &r),
         "MPI_Iallreduce", what);
  wait_coll(d, &r, what);
  d->coll_s += now_s() - t0;
  return x;
}

int dist_same_u64(ordo_dist *d, uint64_t v, const char *what) {
  if (!d || !d->impl) return 1;
  dist_mpi *im = d->impl;
  uint64_t mx[2] = {v, ~v}; /* max of v and of ~v: equal to (v, ~v) only when all v agree */
  MPI_Request r;
  mpi_ok(d, MPI_Iallreduce(MPI_IN_PLACE, mx, 2, MPI_UINT64_T, MPI_MAX, im->comm, &r),
         "MPI_Iallreduce", what);
  wait_coll(d, &r, what);
  return mx[0] == v && mx[1] == ~v;
}

void dist_abort(ordo_dist *d, int code) {
  if (!d || !d->impl) return;
  fflush(stdout);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
}

void dist_barrier(ordo_dist *d, const char *what) {
  if (!d || !d->impl) return;
  dist_mpi *im = d->impl;
  MPI_Request r;
  mpi_ok(d, MPI_Ibarrier(im->comm, &r), "MPI_Ibarrier", what);
  wait_coll(d, &r, what);
}

#endif

#ifndef ORDO_HAVE_NCCL
/* no NCCL in this build: device collectives refuse to start */
int dist_dev_available(void) { return 0; }
int dist_dev_init(ordo_dist *d, int device, ordo_err *e) {
  (void)d, (void)device;
  return ordo_fail(e, "this ordo was built without NCCL (needs CUDA and NCCL at configure time)");
}
void dist_dev_free(ordo_dist *d) { (void)d; }
static void __attribute__((noreturn)) no_nccl(const char *what) {
  ORDO_CHECKF(0, "%s: device collectives need a build with NCCL", what);
  abort();
}
void dist_dev_sum_f32(ordo_dist *d, float *x, int64_t n, const char *what) { (void)d, (void)x, (void)n, no_nccl(what); }
void dist_dev_reduce_scatter_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what) { (void)d, (void)x, (void)counts, no_nccl(what); }
void dist_dev_allgather_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what) { (void)d, (void)x, (void)counts, no_nccl(what); }
void dist_dev_wait(ordo_dist *d, const char *what) { (void)d, no_nccl(what); }
#endif
