/* The shared training loop: every objective (masked-LM pretraining, the AI4Code rankers) runs
 * its optimizer steps through it, so each technique is written once:
 *   gradient accumulation, loss scaling (fp16, GradScaler semantics), global-norm clipping,
 *   schedules, parameter groups with layer-wise rates, 8- or 32-bit AdamW, checkpoint/resume.
 *
 * A task supplies two callbacks. Per optimizer step the trainer calls prepare(ctx, step,
 * n_micro) once (draw the step's whole batch, learn the normaliser, e.g. the masked-token count)
 * and then micro(ctx, m, step, i, dloss) for i < n_micro: run forward, the loss with its
 * gradient seeded at dloss times this micro-batch's share of the step's normaliser, and
 * backward; return the micro-batch's share of the step's loss. So N micro-batches give the
 * gradient of the N-times larger batch. Everything a step does is a function of (seed, step):
 * data, masking and dropout keys, which is what makes resuming exact.
 *
 * Data parallelism (trainer.dist with more than one rank): each rank runs the same step on its
 * own part of the step's global batch, and the task normalises by the global batch's
 * normaliser (a dist_sum of the ranks' counts in prepare), so the ranks' gradients add up to the
 * whole batch's. The trainer sums the gradients over ranks on the trainable spans of the
 * parameter table, and the losses, before unscaling, clipping and the optimizer step: every rank
 * then takes the same step, and the weights stay identical. Only rank 0 writes checkpoints.
 * On a backend with its own memory the gradient and weight collectives act on the working copy
 * through NCCL (d->dev, dist_dev_init; the backend's ops finish before each starts, and each is
 * waited for before the backend reads its result); the loss, counts and norm parts stay host
 * scalars. With an NCCL communicator even one rank takes that path (a sum over one rank: the
 * same bits as without it).
 *
 * The sums are the same bits as one process's: a micro-batch's gradient is computed from zero and
 * then added to the step's sum so far (sum = sum + g_i), which is what the all-reduce of two
 * ranks does with their gradients. So 2 ranks x batch B x accumulation 1 equal 1 process x batch
 * B x accumulation 2 bit for bit (and any reduction order gives the same bits for two ranks).
 *
 * Overlap (cfg.overlap, tasks whose micro-batch runs enc_backward once on the trainer's model):
 * in the last micro-batch, the encoder tells the trainer when a layer's gradients are final; the
 * trainer gathers such layers into buckets of cfg.bucket_mb and starts each bucket's reduction
 * (non-blocking) while the backward pass goes on; the rest (embeddings, shared layers) is reduced
 * at the end, and everything is waited for before the step.
 *
 * ZeRO stage 1 (cfg.zero = 1, more than one rank): rank r holds the optimizer state of the
 * table's elements [shard[r], shard[r+1]) (boundaries on 8-bit blocks, about equal trainable
 * counts); gradients are reduce-scattered (each rank gets the sum of its part), the global norm
 * for clipping is the sum of the ranks' block parts in table order (the same bits as one
 * process's), each rank steps its part, and the updated parts are all-gathered. Checkpoints hold
 * the whole state (gathered to rank 0), so a run resumes on any number of ranks, with or without
 * ZeRO.
 *
 * Backends: the trainer works on the table's working copy (params.h) in the memory of the
 * backend the table is attached to when trainer_init runs (the host when it is not): the
 * accumulated gradient, the optimizer state, unscaling, clipping and the L2 term are backend ops,
 * and the host reads one thing per step, the gradient norm's block parts. Data parallelism runs
 * on host-memory backends only (MPI over host buffers); checkpoints download to save and upload
 * to load, so a checkpoint moves between backends. */
#ifndef ORDO_TRAINER_H
#define ORDO_TRAINER_H

#include <stdint.h>

#include "ordo/checkpoint.h"
#include "ordo/dist.h"
#include "ordo/metrics.h"
#include "ordo/model.h"
#include "ordo/optim.h"
#include "ordo/schedule.h"

typedef struct trainer_config {
  int64_t steps;          /* optimizer steps in the run */
  int accum_steps;        /* micro-batches per step (>= 1) */
  double clip;            /* global L2 norm clip, 0 = off */
  float l2;               /* classic L2 penalty 0.5 l2 |w|^2 (added to the gradient) ... */
  const char *l2_pattern; /* ... on the parameters whose name contains this (NULL: none) */
  sched_config sched;
  adamw_config adamw;     /* lr, betas, eps, weight decay */
  adamw8_config q8;       /* bits 8 or 32, min size, keep-32 patterns */
  int stable_embedding;   /* set by --stable-embedding (its keep-32 pattern is in q8) */
  param_groups_config groups;
  ordo_dtype precision;   /* F32, BF16 or F16 (storage of weights copies and activations) */
  int loss_scaling;       /* dynamic loss scaling: on by default for F16 */
  enc_recompute recompute;
  int group_by_length;    /* variable-length tasks: batches of similar length, padded only to
                             the batch's longest (batching.h) */
  uint64_t seed;
  int overlap;            /* reduce buckets of layers during the backward pass (see above) */
  double bucket_mb;       /* a bucket is started once it holds this many MB (0: every layer) */
  int zero;               /* 1: ZeRO stage 1 over the ranks (see above) */
  const char *ckpt_dir;   /* NULL: no checkpoints */
  int64_t save_every;     /* steps between checkpoints (0: only at the end) */
} trainer_config;

/* steps 1, accum 1, clip 1.0, linear schedule, torch AdamW defaults, 32-bit state, fp32. */
trainer_config trainer_defaults(void);

typedef void (*trainer_prepare_fn)(void *ctx, int64_t step, int n_micro);
typedef float (*trainer_micro_fn)(void *ctx, enc_model *m, int64_t step, int micro, float dloss);

typedef struct trainer_stats {
  float loss;       /* the step's loss (sum of the micro-batches' shares) */
  double grad_norm; /* before clipping (after unscaling) */
  float lr;
  float loss_scale; /* 1 without loss scaling */
  int skipped;      /* 1 when the update was skipped (non-finite gradients) */
} trainer_stats;

typedef struct trainer {
  trainer_config cfg;
  enc_model *m;     /* the encoder trained, or NULL for a plain parameter table */
  ordo_params *p;   /* the parameters stepped: &m->params, or the table given */
  ordo_backend be;  /* the table's backend at init (its working copy's memory) */
  opt_groups groups;
  opt_adamw8 opt;
  ordo_scaler_state scaler;
  ckpt_progress prog;
  int (*write_extra)(void *ctx, const char *dir, ordo_err *e); /* files saved with checkpoints */
  void *extra_ctx;
  ordo_dist *dist;  /* NULL (default): one process; set by trainer_set_dist */
  int64_t (*spans)[2]; /* (n_spans) [element offset, count]: the trainable runs of the table */
  int n_spans;
  float *acc;          /* (the spans' elements, packed; backend memory) the step's gradient
                          so far, with accumulation; else NULL */
  int adding;          /* the micro-batch's gradient adds to acc when final */
  int64_t (*done)[2];  /* (n_done) ranges of the table reduced during this backward pass */
  int n_done;
  int64_t pend[2];     /* final ranges not yet started, merged: [start, end) */
  int64_t *shard;      /* ZeRO: (world + 1) rank r's part of the table; NULL without */
  int64_t *counts;     /* (world) scratch: the ranks' parts of one range */
  double *norm_parts;  /* (n_norm_parts) squared sums of the gradient's blocks, every rank's */
  int64_t n_norm_parts;
  int64_t *norm_counts; /* (world, or 1 without ZeRO) how many of them each rank computes */
  double *norm_dev;     /* this rank's parts, in backend memory */
} trainer;

/* Sets the model's precision and recompute mode (call before enc_plan), builds the parameter
 * groups and the optimizer. */
int trainer_init(trainer *t, enc_model *m, const trainer_config *c, ordo_err *e);
/* The same for a model that is not an encoder (e.g. a small MLP head): a parameter table only.
 * Precision and recompute apply to encoders: they must be fp32 / none here; micro gets m NULL. */
int trainer_init_params(trainer *t, ordo_params *p, const trainer_config *c, ordo_err *e);
void trainer_free(trainer *t);
/* Joins the ranks of d (NULL: one process); before trainer_resume and the first step. With
 * cfg.zero and more than one rank (or one NCCL rank: one shard) it shards the optimizer state.
 * Errors: several ranks on a backend with its own memory and no NCCL communicator in d. */
int trainer_set_dist(trainer *t, ordo_dist *d, ordo_err *e);
/* Resumes from cfg.ckpt_dir when it holds a checkpoint: returns 1 when resumed, 0 when there
 * was none, -1 on an error (a damaged or mismatched checkpoint is an error, never ignored). */
int trainer_resume(trainer *t, ordo_err *e);
/* One optimizer step (prepare may be NULL). */
void trainer_step(trainer *t, void *ctx, trainer_prepare_fn prepare, trainer_micro_fn micro,
                  trainer_stats *st);
/* Writes a checkpoint to cfg.ckpt_dir (atomically); on rank 0 only (other ranks hold the same
 * state; under ZeRO every rank calls it: their parts of the state are gathered to rank 0). */
int trainer_save(trainer *t, ordo_err *e);
/* Adds a step's statistics to the metrics record being built: loss, lr, grad_norm, loss_scale,
 * skipped, and the process's resident memory mem_mb. */
void trainer_metrics_add(ordo_metrics *m, const trainer_stats *st);
/* Bytes of this rank's optimizer state (its part under ZeRO). */
size_t trainer_state_bytes(const trainer *t);

#endif
