/* Learning-rate schedules. */
#include <math.h>
#include <string.h>

#include "ordo/schedule.h"

float sched_lr(const sched_config *s, int64_t step) {
  if (s->warmup_steps > 0 && step < s->warmup_steps)
    return s->lr * (float)step / (float)s->warmup_steps;
  if (s->kind == SCHED_CONSTANT) return s->lr;
  int64_t span = s->total_steps - s->warmup_steps;
  double prog = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
  if (prog > 1) prog = 1;
  if (prog < 0) prog = 0;
  double f = s->kind == SCHED_COSINE ? 0.5 * (1.0 + cos(M_PI * prog)) : 1.0 - prog;
  return (float)(s->min_lr + (s->lr - s->min_lr) * f);
}

int sched_kind_parse(const char *name, sched_kind *out) {
  if (strcmp(name, "linear") == 0) *out = SCHED_LINEAR;
  else if (strcmp(name, "cosine") == 0) *out = SCHED_COSINE;
  else if (strcmp(name, "constant") == 0) *out = SCHED_CONSTANT;
  else return -1;
  return 0;
}
