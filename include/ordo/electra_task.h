/* ELECTRA (Clark et al. 2020) on the shared trainer: the generator, a narrower encoder, learns the
 * masked LM on the masked batch of an mlm_task; its samples replace the masked tokens, and the
 * discriminator learns to tell every real position replaced or original. Loss = MLM + lambda RTD;
 * both models' parameters (sharing the embeddings) are one table stepped by one optimizer. */
#ifndef ORDO_ELECTRA_TASK_H
#define ORDO_ELECTRA_TASK_H

#include "ordo/mlm_task.h"
#include "ordo/model.h"
#include "ordo/params.h"

typedef struct electra_task {
  mlm_task *mlm;
  enc_model *gen, *disc;
  float lambda;
  int n_micro;
  uint64_t seed;
  int32_t *dids;   /* (B, T) the discriminator's input */
  float *replaced; /* (B, T) 1 where the generator's sample differs from the original */
  float *probs;    /* the generator's softmax rows of a micro-batch's masked positions, read
                      from the backend for sampling (probs_cap floats) */
  size_t probs_cap;
} electra_task;

/* The generator of a discriminator: its depth, head size and embeddings, gen_frac of its heads
 * and intermediate width (at least one of each); initialised from seed + 1, its parameters and
 * the discriminator's joined into *joint (the generator's named "generator.", the embeddings
 * shared). Returns the number of shared tensors, or -1 with e set. */
int electra_generator_init(enc_model *gen, enc_model *disc, double gen_frac, uint64_t seed,
                           ordo_params *joint, ordo_err *e);
/* The task over mlm's batches, with buffers for its micro-batches of B sequences of T tokens. */
void electra_task_init(electra_task *t, mlm_task *mlm, enc_model *gen, enc_model *disc,
                       float lambda, uint64_t seed);
void electra_task_free(electra_task *t);
/* trainer_prepare_fn: draws the step's masked batch. */
void electra_task_prepare(void *ctx, int64_t step, int n_micro);
/* trainer_micro_fn: the generator's MLM, its samples, the discriminator's RTD on micro-batch i
 * (the trainer's model argument is unused: the task holds both). */
float electra_task_micro(void *ctx, enc_model *unused, int64_t step, int i, float dloss);

#endif
