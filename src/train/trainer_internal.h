/* The trainer's gradient sums over micro-batches and ranks (src/train/trainer_dist.c), used by
 * the step in trainer.c. */
#ifndef ORDO_TRAINER_INTERNAL_H
#define ORDO_TRAINER_INTERNAL_H

#include "ordo/trainer.h"

/* Before micro-batch i of n: its gradient starts from zero (the sum so far kept in t->acc), and
 * in the last one the encoder's final layers start their reductions (cfg.overlap). */
void trainer_micro_begin(trainer *t, int i, int n);
/* After micro-batch i of n (not the last): the sum so far plus its gradient. */
void trainer_micro_end(trainer *t, int i, int n);
/* After the last micro-batch: every gradient summed (over micro-batches and ranks; under ZeRO
 * only this rank's part is the sum), every reduction waited for. */
void trainer_grads_finish(trainer *t);
/* The global gradient norm: grad_global_norm's bits, under ZeRO from the ranks' parts. */
double trainer_grad_norm(trainer *t);
/* After the optimizer step under ZeRO: every rank's updated part to every rank. */
void trainer_params_gather(trainer *t);
/* Checkpoints under ZeRO: the whole state gathered on rank 0 (into `whole`, initialised there),
 * and this rank's part taken from a whole state. */
void trainer_state_gather(trainer *t, opt_adamw8 *whole);
void trainer_state_take(trainer *t, opt_adamw8 *whole);
void trainer_dist_free(trainer *t);
/* The gradient norm's parts: how many each rank computes (its ZeRO part, or the whole table
 * without ZeRO) and their buffers. */
void trainer_norm_setup(trainer *t);

#endif
