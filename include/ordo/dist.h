/* Data parallelism across processes: the collectives the trainer needs, behind one small
 * interface with two implementations. A build with MPI (ORDO_MPI) joins the job mpirun started;
 * a build without it, or a process started without mpirun, is rank 0 of 1 and every collective
 * is the identity. Callers never test for MPI: they pass an ordo_dist (NULL = one process).
 *
 * Failure: a collective (non-blocking, polled) waits at most timeout_s. Then the ranks still
 * alive, all waiting in it, tell each other so; the ranks not heard from within half a timeout
 * more are named ("rank R: collective k (...) waited S s for rank(s) X (dead or hung)") and the
 * whole job is aborted (MPI_Abort): a job never hangs silently, it ends within 1.5 timeouts. A
 * rank that dies is seen at once by mpirun, which ends the job and names the rank. Any MPI error
 * aborts the job with the MPI message and the rank. */
#ifndef ORDO_DIST_H
#define ORDO_DIST_H

#include <stdint.h>

#include "ordo/core.h"

/* Seconds a collective waits for the other ranks before aborting the job (--dist-timeout). */
#define DIST_TIMEOUT_DEFAULT 600.0

typedef struct ordo_dist {
  int rank, world;
  double timeout_s;   /* > 0 */
  int64_t n_coll;     /* collectives so far (timeout messages carry it) */
  double coll_s;      /* seconds spent in collectives, waiting included */
  int64_t coll_bytes; /* bytes reduced, summed over collectives */
  void *impl;         /* the communicator (MPI builds); NULL for one process */
  void *dev;          /* the NCCL communicator and its stream (dist_dev_init); else NULL */
} ordo_dist;

/* The rank count the launcher (mpirun) announced in the environment; 1 when not launched by one.
 * Needs no MPI: commands that run as one process use it to refuse a multi-rank launch. */
int dist_launch_world(void);
/* 1 when this build can run more than one rank (was built with MPI). */
int dist_available(void);
/* Joins the job this process was launched in. Under mpirun with more than one rank (seen from
 * the launcher's environment: OMPI_COMM_WORLD_SIZE, PMIX/PMI sizes) it initialises MPI; else it
 * is rank 0 of 1 and MPI is never touched. Errors: several ranks in a build without MPI. */
int dist_init(ordo_dist *d, double timeout_s, ordo_err *e);
/* Finalises MPI when dist_init initialised it. */
void dist_free(ordo_dist *d);
/* Rank 0, or no ordo_dist at all: the process that writes logs, metrics and checkpoints. */
int dist_is_root(const ordo_dist *d);
int dist_world(const ordo_dist *d);
int dist_rank(const ordo_dist *d);
/* In place sum over ranks of n floats; every rank gets the same bits. `what` names it in
 * timeout messages. */
void dist_sum_f32(ordo_dist *d, float *x, int64_t n, const char *what);
/* Sum over ranks of one double (e.g. a token count), the same on every rank. */
double dist_sum_f64(ordo_dist *d, double x, const char *what);
/* 1 when every rank passed the same v (e.g. a checksum of the weights), else 0 on every rank. */
int dist_same_u64(ordo_dist *d, uint64_t v, const char *what);
/* Non-blocking collectives on float arrays (gradient buckets started during the backward pass,
 * ZeRO's shards): each starts at once; dist_wait finishes every one started, in the order they
 * were started, each with the timeout. The arrays must stay untouched until then. coll_s counts
 * the time spent starting and waiting (the communication the computation did not hide).
 * counts[r] (world of them) is rank r's part of x, the parts back to back in rank order.
 *   dist_isum_f32: x (n floats) summed over ranks, in place, on every rank;
 *   dist_ireduce_scatter_f32: the same sum, but only this rank's part is written (at its place
 *     in x); the rest of x is left undefined;
 *   dist_iallgather_f32 / _f64: each rank's part of x goes to every rank (in place). */
void dist_isum_f32(ordo_dist *d, float *x, int64_t n, const char *what);
void dist_ireduce_scatter_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what);
void dist_iallgather_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what);
void dist_iallgather_f64(ordo_dist *d, double *x, const int64_t *counts, const char *what);
/* Lets started collectives advance (Open MPI moves them only inside MPI calls): call it now and
 * then during long computation. */
void dist_poll(ordo_dist *d);
void dist_wait(ordo_dist *d);
/* Rank 0 receives every rank's part (counts[r] bytes, from `part` on rank r) into `all`, back to
 * back in rank order; `all` is used on rank 0 only. */
void dist_gather_bytes(ordo_dist *d, void *all, const void *part, const int64_t *counts,
                       const char *what);
/* Rank 0's n bytes of x to every rank. */
void dist_bcast_bytes(ordo_dist *d, void *x, int64_t n, const char *what);

/* ---- device buffers: NCCL (a build with ORDO_NCCL, src/cuda/dist_nccl.c) ---------------------
 * The collectives above for GPU memory, on a CUDA stream of their own (so that a bucket's
 * reduction runs beside the backward pass's kernels), with the same meanings (counts[r] is rank
 * r's part; uneven parts are grouped reduces / broadcasts, in place). dist_dev_init joins NCCL
 * on the given device: rank 0 makes the ncclUniqueId and MPI carries it to every rank (one
 * process: a communicator of one, no MPI). Every CUDA and NCCL call is checked: an error aborts
 * the job with the call, the message and the rank. dist_dev_wait polls the stream for at most
 * the timeout, then aborts the communicator and the job naming the collective. */
int dist_dev_available(void); /* 1 when built with NCCL */
/* Errors: a build without NCCL, no CUDA device, a device index out of range. */
int dist_dev_init(ordo_dist *d, int device, ordo_err *e);
void dist_dev_free(ordo_dist *d);
void dist_dev_sum_f32(ordo_dist *d, float *x, int64_t n, const char *what);
void dist_dev_reduce_scatter_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what);
void dist_dev_allgather_f32(ordo_dist *d, float *x, const int64_t *counts, const char *what);
void dist_dev_wait(ordo_dist *d, const char *what);

/* Ends the whole job (MPI_Abort) when there are several ranks; nothing for one process. */
void dist_abort(ordo_dist *d, int code);
/* A command's error on this rank: "CMD: rank R of W: MSG" (under mpirun) or "CMD: MSG" on
 * stderr, then dist_abort: the other ranks would wait for this one. */
void dist_fail(ordo_dist *d, const char *cmd, const char *msg, int code);
/* Waits for every rank (with the timeout). */
void dist_barrier(ordo_dist *d, const char *what);

#endif
