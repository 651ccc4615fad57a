/* The trainer's gradient sums over micro-batches and ranks, the buckets reduced during the
 * backward pass, and ZeRO stage 1 (see trainer.h). Every rank issues the same collectives in the
 * same order: they follow from the table and the model alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/trainer.h"
#include "train/trainer_internal.h"

/* fn(t, a, b) on each piece [a, b) of the table's elements [lo, hi) inside a trainable span. */
static void span_pieces(trainer *t, int64_t lo, int64_t hi, void (*fn)(trainer *, int64_t, int64_t)) {
  for (int k = 0; k < t->n_spans; k++) {
    int64_t a = t->spans[k][0], b = a + t->spans[k][1];
    if (a < lo) a = lo;
    if (b > hi) b = hi;
    if (a < b) fn(t, a, b);
  }
}

/* Each rank's count of the elements [a, b) (ZeRO shards). */
static const int64_t *parts_of(trainer *t, int64_t a, int64_t b) {
  for (int r = 0; r < dist_world(t->dist); r++) {
    int64_t x = t->shard[r] > a ? t->shard[r] : a, y = t->shard[r + 1] < b ? t->shard[r + 1] : b;
    t->counts[r] = y > x ? y - x : 0;
  }
  return t->counts;
}

/* Where table element a (inside a trainable span) is kept in t->acc: the spans packed. */
static float *acc_at(trainer *t, int64_t a) {
  int64_t packed = 0;
  for (int k = 0; k < t->n_spans; k++) {
    if (a >= t->spans[k][0] && a < t->spans[k][0] + t->spans[k][1])
      return t->acc + packed + (a - t->spans[k][0]);
    packed += t->spans[k][1];
  }
  ORDO_CHECKF(0, "element %lld is in no trainable span", (long long)a);
  return NULL;
}

static void keep_piece(trainer *t, int64_t a, int64_t b) {
  t->be.ops->copy(t->be.ctx, acc_at(t, a), t->p->gd + a, (size_t)(b - a) * sizeof(float));
  t->be.ops->zero(t->be.ctx, t->p->gd + a, (size_t)(b - a) * sizeof(float));
}

/* sum so far + this micro-batch's gradient: the order two ranks' all-reduce adds them in
 * (g + 1 * s: the same bits as s + g) */
static void add_piece(trainer *t, int64_t a, int64_t b) {
  t->be.ops->axpy(t->be.ctx, t->p->gd + a, 1.0f, acc_at(t, a), b - a);
}

/* The NCCL path: the working copy is in the backend's own memory and the job has an NCCL
 * communicator (dist_dev_init); its collectives act on p->gd and p->wd in place. Else the
 * collectives act on host memory (trainer_set_dist refuses a backend with its own memory). */
static int on_device(const trainer *t) {
  return t->dist && t->dist->dev && !t->be.ops->host_memory;
}

/* Whether the gradients go through collectives: several ranks, or the NCCL path even with one
 * (whose sum is the identity: a check that the path changes no bit). */
static int reducing(const trainer *t) { return dist_world(t->dist) > 1 || on_device(t); }

/* NCCL runs on a stream of its own: every backend op issued so far (the gradients or weights it
 * is to read) finishes first. */
static void device_ready(trainer *t) { t->be.ops->sync(t->be.ctx); }

static void start_sum(trainer *t, float *x, int64_t n, const char *what) {
  if (on_device(t)) device_ready(t), dist_dev_sum_f32(t->dist, x, n, what);
  else dist_isum_f32(t->dist, x, n, what);
}

static void start_reduce_scatter(trainer *t, float *x, const int64_t *counts, const char *what) {
  if (on_device(t)) device_ready(t), dist_dev_reduce_scatter_f32(t->dist, x, counts, what);
  else dist_ireduce_scatter_f32(t->dist, x, counts, what);
}

static void start_allgather(trainer *t, float *x, const int64_t *counts, const char *what) {
  if (on_device(t)) device_ready(t), dist_dev_allgather_f32(t->dist, x, counts, what);
  else dist_iallgather_f32(t->dist, x, counts, what);
}

/* Every collective started has finished (the backend's later ops see its result). */
static void wait_all(trainer *t, const char *what) {
  if (on_device(t)) dist_dev_wait(t->dist, what);
  else dist_wait(t->dist);
}

static void finish_piece(trainer *t, int64_t a, int64_t b) {
  if (t->adding) add_piece(t, a, b);
  if (!reducing(t)) return;
  float *g = t->p->gd + a;
  if (t->shard) start_reduce_scatter(t, g, parts_of(t, a, b), "gradients");
  else start_sum(t, g, b - a, "gradients");
}

/* Starts the reduction of the pending range. */
static void flush(trainer *t) {
  if (t->pend[1] <= t->pend[0]) return;
  span_pieces(t, t->pend[0], t->pend[1], finish_piece);
  t->done[t->n_done][0] = t->pend[0];
  t->done[t->n_done++][1] = t->pend[1];
  t->pend[0] = t->pend[1] = 0;
}

/* The encoder's specs [first, end) are final: joined to the pending range when next to it (only
 * alignment padding between), started once the bucket is full. */
static void on_final(void *ctx, int first, int end) {
  trainer *t = ctx;
  const ordo_param_spec *s = t->p->specs;
  int64_t a = (int64_t)s[first].offset, b = (int64_t)(s[end - 1].offset + (size_t)s[end - 1].numel);
  int64_t *pd = t->pend;
  if (pd[1] > pd[0] && !(b <= pd[0] && pd[0] - b < 16) && !(a >= pd[1] && a - pd[1] < 16)) flush(t);
  if (pd[1] <= pd[0]) pd[0] = a, pd[1] = b;
  else pd[0] = a < pd[0] ? a : pd[0], pd[1] = b > pd[1] ? b : pd[1];
  if ((double)(pd[1] - pd[0]) * sizeof(float) >= t->cfg.bucket_mb * 1e6) flush(t);
  dist_poll(t->dist);
}

void trainer_micro_begin(trainer *t, int i, int n) {
  t->adding = i > 0;
  if (t->adding) span_pieces(t, 0, (int64_t)t->p->total, keep_piece);
  if (i == n - 1 && t->m && t->cfg.overlap && reducing(t)) {
    t->m->grads_final = on_final;
    t->m->grads_final_ctx = t;
  }
}

void trainer_micro_end(trainer *t, int i, int n) {
  if (t->m) t->m->grads_final = NULL;
  if (i < n - 1 && t->adding) span_pieces(t, 0, (int64_t)t->p->total, add_piece);
}

void trainer_grads_finish(trainer *t) {
  if (t->m) t->m->grads_final = NULL;
  flush(t);
  /* the rest: the table outside the ranges started, in table order */
  for (int i = 1; i < t->n_done; i++)
    for (int j = i; j > 0 && t->done[j][0] < t->done[j - 1][0]; j--) {
      int64_t x0 = t->done[j][0], x1 = t->done[j][1];
      t->done[j][0] = t->done[j - 1][0], t->done[j][1] = t->done[j - 1][1];
      t->done[j - 1][0] = x0, t->done[j - 1][1] = x1;
    }
  int64_t at = 0;
  for (int i = 0; i < t->n_done; i++) {
    if (t->done[i][0] > at) span_pieces(t, at, t->done[i][0], finish_piece);
    if (t->done[i][1] > at) at = t->done[i][1];
  }
  span_pieces(t, at, (int64_t)t->p->total, finish_piece);
  t->n_done = 0;
  t->adding = 0;
  wait_all(t, "gradients");
}

void trainer_norm_setup(trainer *t) {
  free(t->norm_counts), free(t->norm_parts);
  be_free(&t->be, t->norm_dev);
  const int w = t->shard ? dist_world(t->dist) : 1;
  t->norm_counts = ordo_malloc((size_t)w * sizeof(int64_t));
  t->n_norm_parts = 0;
  for (int q = 0; q < w; q++) {
    size_t lo = t->shard ? (size_t)t->shard[q] : 0, hi = t->shard ? (size_t)t->shard[q + 1] : SIZE_MAX;
    t->norm_counts[q] = grad_norm_parts(t->p, lo, hi, NULL);
    t->n_norm_parts += t->norm_counts[q];
  }
  const int64_t mine = t->norm_counts[t->shard ? dist_rank(t->dist) : 0];
  t->norm_parts = ordo_malloc((size_t)(t->n_norm_parts > 0 ? t->n_norm_parts : 1) * sizeof(double));
  t->norm_dev = t->be.ops->alloc(t->be.ctx, (size_t)(mine > 0 ? mine : 1) * sizeof(double));
}

double trainer_grad_norm(trainer *t) {
  const int r = t->shard ? dist_rank(t->dist) : 0;
  int64_t at = 0;
  for (int k = 0; k < r; k++) at += t->norm_counts[k];
  size_t lo = t->shard ? (size_t)t->shard[r] : 0, hi = t->shard ? (size_t)t->shard[r + 1] : SIZE_MAX;
  const int64_t n = grad_norm_parts(t->p, lo, hi, t->norm_dev);
  /* the step's one read from the backend */
  if (n) be_download(&t->be, t->norm_parts + at, t->norm_dev, (size_t)n * sizeof(double));
  if (t->shard) {
    dist_iallgather_f64(t->dist, t->norm_parts, t->norm_counts, "gradient norm");
    dist_wait(t->dist);
  }
  double ss = 0;
  for (int64_t k = 0; k < t->n_norm_parts; k++) ss += t->norm_parts[k];
  return sqrt(ss);
}

static void gather_piece(trainer *t, int64_t a, int64_t b) {
  start_allgather(t, t->p->wd + a, parts_of(t, a, b), "weights");
}

void trainer_params_gather(trainer *t) {
  if (!t->shard) return;
  span_pieces(t, 0, (int64_t)t->p->total, gather_piece);
  wait_all(t, "weights");
}

/* The state arrays of an opt_adamw8, with their element sizes. */
typedef struct state_arrays {
  void *a[6];
} state_arrays;
static const int k_state_elem[6] = {1, 1, sizeof(float), sizeof(float), sizeof(float), sizeof(float)};
static state_arrays arrays_of(const opt_adamw8 *o) {
  return (state_arrays){{o->qm, o->qv, o->sm, o->sv, o->m32, o->v32}};
}

/* Element counts of the six arrays for the state of the table's [0, end). */
static void sizes_to(const trainer *t, int64_t end, int64_t n[6]) {
  size_t q, b, f;
  opt_adamw8_range_sizes(&t->opt, t->p, (size_t)end, &q, &b, &f);
  n[0] = n[1] = (int64_t)q, n[2] = n[3] = (int64_t)b, n[4] = n[5] = (int64_t)f;
}

void trainer_state_gather(trainer *t, opt_adamw8 *whole) {
  int w = dist_world(t->dist), root = dist_is_root(t->dist);
  int64_t *bytes = ordo_malloc(6 * (size_t)w * sizeof(int64_t));
  for (int r = 0; r < w; r++) {
    int64_t lo[6], hi[6];
    sizes_to(t, t->shard[r], lo);
    sizes_to(t, t->shard[r + 1], hi);
    for (int k = 0; k < 6; k++) bytes[k * w + r] = (hi[k] - lo[k]) * k_state_elem[k];
  }
  /* through host copies where the state is in the backend's own memory */
  opt_adamw8 hm, hw;
  opt_adamw8_to_host(&t->opt, &hm);
  if (root) opt_adamw8_to_host(whole, &hw);
  state_arrays mine = arrays_of(&hm), all = root ? arrays_of(&hw) : (state_arrays){{0}};
  for (int k = 0; k < 6; k++)
    dist_gather_bytes(t->dist, all.a[k], mine.a[k], bytes + k * w, "optimizer state");
  opt_adamw8_from_host(&t->opt, &hm, 0);
  if (root) hw.t = t->opt.t, opt_adamw8_from_host(whole, &hw, 1);
  free(bytes);
}

void trainer_state_take(trainer *t, opt_adamw8 *whole) {
  int r = dist_rank(t->dist);
  int64_t lo[6], hi[6];
  sizes_to(t, t->shard[r], lo);
  sizes_to(t, t->shard[r + 1], hi);
  opt_adamw8 hm, hw;
  opt_adamw8_to_host(&t->opt, &hm);
  opt_adamw8_to_host(whole, &hw);
  state_arrays mine = arrays_of(&hm), all = arrays_of(&hw);
  for (int k = 0; k < 6; k++)
    if (hi[k] > lo[k])
      memcpy(mine.a[k], (char *)all.a[k] + lo[k] * k_state_elem[k],
             (size_t)(hi[k] - lo[k]) * k_state_elem[k]);
  opt_adamw8_from_host(whole, &hw, 0);
  hm.t = whole->t;
  opt_adamw8_from_host(&t->opt, &hm, 1);
}

/* x moved to the nearest boundary of an 8-bit block of the spec it falls in (padding stays). */
static int64_t snap_to_block(const ordo_params *p, int64_t x) {
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    int64_t a = (int64_t)s->offset, n = s->numel;
    if (x < a || x >= a + n) continue;
    int64_t rel = (x - a + Q8_BLOCK / 2) / Q8_BLOCK * Q8_BLOCK;
    return a + (rel < n ? rel : n);
  }
  return x;
}

int trainer_set_dist(trainer *t, ordo_dist *d, ordo_err *e) {
  const int w = dist_world(d), r = dist_rank(d);
  if (w > 1 && !t->be.ops->host_memory && !(d && d->dev))
    return ordo_fail(e, "--device %s under mpirun needs the NCCL path: %s", t->be.ops->name,
                     dist_dev_available() ? "no NCCL communicator was set up (dist_dev_init)"
                                          : "this build has no NCCL (configure with -DORDO_NCCL=ON)");
  t->dist = d;
  ordo_params *p = t->p;
  /* one NCCL rank shards too (one shard, the whole table): its collectives are checked */
  if (!t->cfg.zero || !reducing(t)) return 0;
  if (t->cfg.zero != 1) return ordo_fail(e, "ZeRO stage %d: only stage 1 is built", t->cfg.zero);
  /* about equal trainable counts, each boundary on a block of the spec it falls in */
  int64_t n = 0;
  for (int k = 0; k < t->n_spans; k++) n += t->spans[k][1];
  t->shard = ordo_malloc(((size_t)w + 1) * sizeof(int64_t));
  t->counts = ordo_malloc((size_t)w * sizeof(int64_t));
  t->shard[0] = 0;
  t->shard[w] = (int64_t)p->total;
  for (int q = 1; q < w; q++) {
    int64_t want = n * q / w, x = (int64_t)p->total;
    for (int k = 0; k < t->n_spans; k++) {
      if (want < t->spans[k][1]) {
        x = t->spans[k][0] + want;
        break;
      }
      want -= t->spans[k][1];
    }
    x = snap_to_block(p, x);
    t->shard[q] = x > t->shard[q - 1] ? x : t->shard[q - 1];
  }
  trainer_norm_setup(t);
  int64_t step = t->opt.t;
  opt_adamw8_free(&t->opt);
  if (opt_adamw8_init_range(&t->opt, p, &t->cfg.adamw, &t->cfg.q8, &t->groups,
                            (size_t)t->shard[r], (size_t)t->shard[r + 1], e) != 0)
    return -1;
  t->opt.t = step;
  return 0;
}

void trainer_dist_free(trainer *t) {
  if (t->be.ops) be_free(&t->be, t->acc), be_free(&t->be, t->norm_dev);
  free(t->done), free(t->shard), free(t->counts), free(t->norm_parts), free(t->norm_counts);
}
