/* The masked-LM task on the shared trainer (its prepare and micro callbacks): a step's batch is
 * drawn whole (B * accum sequences) and cut into micro-batches of B, so accumulation reproduces
 * the large batch. With several ranks the step's global batch is world * accum * B sequences and
 * rank r draws its rows [r * accum * B, (r + 1) * accum * B): N ranks of batch B take the step
 * one rank of batch N * B takes, with the same sequences and masks. */
#ifndef ORDO_MLM_TASK_H
#define ORDO_MLM_TASK_H

#include "ordo/dist.h"
#include "ordo/mlm.h"
#include "ordo/model.h"

typedef struct mlm_task {
  mlm_data *data;
  ordo_dist *dist; /* NULL: one process */
  int B, T;
  int32_t *ids, *mask, *rows, *labels; /* the step's whole batch */
  int *first;  /* (n_micro + 1): micro-batch i's masked rows are [first[i], first[i+1]) */
  int n_masked;
  int n_micro;
  int32_t *tt, *sop; /* with data->sop: token types (B * accum, T), order labels (B * accum) */
} mlm_task;

/* Buffers for micro-batches of B sequences of T tokens, up to accum of them per step. */
void mlm_task_init(mlm_task *t, mlm_data *data, ordo_dist *dist, int B, int T, int accum);
void mlm_task_free(mlm_task *t);
/* trainer_prepare_fn: draws this rank's part of the step's batch. */
void mlm_task_prepare(void *ctx, int64_t step, int n_micro);
/* trainer_micro_fn: masked-LM forward and backward of micro-batch i; with data->sop, plus the
 * sentence-order cross-entropy of the model's ENC_HEAD_SOP (a mean over the global batch). */
float mlm_task_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss);
/* Micro-batch i with its masked rows shifted to indices into it (mlm_task_micro_end shifts them
 * back), and its share of the step's masked tokens (the loss is a mean over all of them): for
 * objectives built on the masked batch (ELECTRA). */
enc_batch mlm_task_micro_begin(mlm_task *t, int i, float *share);
void mlm_task_micro_end(mlm_task *t, int i);

/* Held-out causal-LM evaluation: the mean next-token cross-entropy (nats) over every target of
 * every sequence of d (clm_data_init; stream order, batches of at most B sequences, no dropout),
 * and the number of targets in *n_targets. The model must be planned for (B, d->seq) with
 * B * seq head rows. Perplexity is exp of it. */
double clm_eval_loss(enc_model *m, const mlm_data *d, int B, int64_t *n_targets);

#endif
