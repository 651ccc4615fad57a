/* Optimizers over the parameter table. State buffers share the table's layout (offsets), so a
 * spec's moments sit at the same offset as its weights. Frozen specs get no update. */
#ifndef ORDO_OPTIM_H
#define ORDO_OPTIM_H

#include <stdint.h>

#include "ordo/params.h"

typedef struct adamw_config {
  float lr;           /* base learning rate (a schedule passes the current one to step) */
  float beta1, beta2, eps;
  float weight_decay; /* decoupled: p -= lr * wd * p */
  int decay_all;      /* 1: decay every parameter; 0 (default recipe): skip ORDO_PF_NO_DECAY */
} adamw_config;

typedef struct opt_adamw {
  adamw_config cfg;
  float *m, *v; /* first and second moments, params->total floats each */
  size_t n;
  int64_t t;    /* steps taken */
} opt_adamw;

/* torch.optim.AdamW defaults: lr 1e-3, betas 0.9/0.999, eps 1e-8, weight_decay 0.01. */
adamw_config adamw_defaults(void);
void opt_adamw_init(opt_adamw *o, const ordo_params *p, const adamw_config *cfg);
void opt_adamw_free(opt_adamw *o);
/* One step with learning rate lr, from p->grad, as torch.optim.AdamW computes it. */
void opt_adamw_step(opt_adamw *o, ordo_params *p, float lr);

/* Global L2 norm of the gradients of trainable parameters (double accumulation). */
double grad_global_norm(const ordo_params *p);
/* Scales all gradients by s. */
void grad_scale(ordo_params *p, float s);

#endif
