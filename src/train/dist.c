/* Collectives across ranks (see dist.h): MPI when built with it and launched under mpirun with
 * more than one rank, else the identity of a single process. */
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

int dist_is_root(const ordo_dist *d) { return !d || d->rank == 0; }
int dist_world(const ordo_dist *d) { return d ? d->world : 1; }
int dist_rank(const ordo_dist *d) { return d ? d->rank : 0; }

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

#else

enum { TAG_ARRIVE = 7301 };

typedef struct dist_mpi {
  MPI_Comm comm;
  int64_t sent;          /* this rank's collective number, sent to every peer */
  int64_t *got;          /* (world) the numbers received */
  MPI_Request *req;      /* (2 * world) receives, then sends */
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
    MPI_Comm_free(&im->comm);
    free(im->got);
    free(im->req);
    free(im);
    MPI_Finalize();
  }
  memset(d, 0, sizeof *d);
}

/* Every rank tells every other that it reached collective number n_coll, and waits (at most
 * timeout_s) to hear the same from all: after this, the collective itself cannot hang on a rank
 * that is stopped or stuck, and a timeout names the ranks that never came. */
static void arrive(ordo_dist *d, const char *what) {
  dist_mpi *im = d->impl;
  int w = d->world, n = 0;
  im->sent = d->n_coll;
  for (int p = 0; p < w; p++) {
    if (p == d->rank) continue;
    im->got[p] = -1;
    mpi_ok(d, MPI_Irecv(&im->got[p], 1, MPI_INT64_T, p, TAG_ARRIVE, im->comm, &im->req[n++]),
           "MPI_Irecv", what);
  }
  for (int p = 0; p < w; p++) {
    if (p == d->rank) continue;
    mpi_ok(d, MPI_Isend(&im->sent, 1, MPI_INT64_T, p, TAG_ARRIVE, im->comm, &im->req[n++]),
           "MPI_Isend", what);
  }
  double t0 = now_s();
  for (long spin = 0;; spin++) {
    int done = 0;
    mpi_ok(d, MPI_Testall(n, im->req, &done, MPI_STATUSES_IGNORE), "MPI_Testall", what);
    if (done) break;
    double waited = now_s() - t0;
    if (waited > d->timeout_s) {
      char missing[512] = "";
      size_t len = 0;
      for (int p = 0; p < w && len + 16 < sizeof missing; p++)
        if (p != d->rank && im->got[p] < 0)
          len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%d", len ? ", " : "", p);
      fprintf(stderr, "ordo: rank %d of %d: collective %lld (%s) waited %.0f s (timeout %g s) for "
                      "rank(s) %s, which died or hang; aborting the job\n",
              d->rank, w, (long long)d->n_coll, what, waited, d->timeout_s, missing);
      fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    if (spin > 1000) {
      struct timespec ts = {0, 100000}; /* 0.1 ms: leave the cores to the ranks still working */
      nanosleep(&ts, NULL);
    }
  }
  for (int p = 0; p < w; p++)
    if (p != d->rank && im->got[p] != d->n_coll) {
      fprintf(stderr, "ordo: rank %d of %d: at collective %lld (%s) rank %d is at collective %lld: "
                      "the ranks run different steps; aborting the job\n",
              d->rank, w, (long long)d->n_coll, what, p, (long long)im->got[p]);
      fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 4);
    }
  d->n_coll++;
}

void dist_sum_f32(ordo_dist *d, float *x, int64_t n, const char *what) {
  if (!d || !d->impl) return;
  dist_mpi *im = d->impl;
  double t0 = now_s();
  arrive(d, what);
  /* in pieces that fit MPI's int counts */
  for (int64_t off = 0; off < n; off += 1 << 30) {
    int64_t k = n - off < (1 << 30) ? n - off : (1 << 30);
    mpi_ok(d, MPI_Allreduce(MPI_IN_PLACE, x + off, (int)k, MPI_FLOAT, MPI_SUM, im->comm),
           "MPI_Allreduce", what);
  }
  d->coll_s += now_s() - t0;
  d->coll_bytes += n * (int64_t)sizeof(float);
}

double dist_sum_f64(ordo_dist *d, double x, const char *what) {
  if (!d || !d->impl) return x;
  dist_mpi *im = d->impl;
  double t0 = now_s();
  arrive(d, what);
  mpi_ok(d, MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, im->comm), "MPI_Allreduce",
         what);
  d->coll_s += now_s() - t0;
  return x;
}

int dist_same_u64(ordo_dist *d, uint64_t v, const char *what) {
  if (!d || !d->impl) return 1;
  dist_mpi *im = d->impl;
  arrive(d, what);
  uint64_t lo = v, hi = v;
  mpi_ok(d, MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, im->comm), "MPI_Allreduce",
         what);
  mpi_ok(d, MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, im->comm), "MPI_Allreduce",
         what);
  return lo == hi;
}

void dist_abort(ordo_dist *d, int code) {
  if (!d || !d->impl) return;
  fflush(stdout);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
}

void dist_barrier(ordo_dist *d, const char *what) {
  if (!d || !d->impl) return;
  arrive(d, what); /* every rank has reached this point once all arrivals are in */
}

#endif
