/* Learning-rate schedules: linear warmup, then linear, cosine or constant decay. */
#ifndef ORDO_SCHEDULE_H
#define ORDO_SCHEDULE_H

#include <stdint.h>

typedef enum { SCHED_LINEAR = 0, SCHED_COSINE, SCHED_CONSTANT } sched_kind;

typedef struct sched_config {
  sched_kind kind;
  float lr;             /* peak rate */
  int64_t warmup_steps; /* linear ramp from 0 over these steps */
  int64_t total_steps;  /* decay reaches min_lr at total_steps */
  float min_lr;
} sched_config;

/* Rate for 0-based step `step` (the rate used by the step'th update), as HF's
 * get_{linear,cosine,constant}_schedule_with_warmup with min_lr added. */
float sched_lr(const sched_config *s, int64_t step);
/* Parses "linear", "cosine", "constant"; -1 if unknown. */
int sched_kind_parse(const char *name, sched_kind *out);

#endif
