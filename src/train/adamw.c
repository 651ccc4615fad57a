/* AdamW with decoupled weight decay and bias correction (Loshchilov & Hutter), computed in the
 * same order as torch.optim.AdamW so that results agree to float rounding. */
#include <math.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/optim.h"

adamw_config adamw_defaults(void) {
  return (adamw_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                        .weight_decay = 0.01f, .decay_all = 0};
}

void opt_adamw_init(opt_adamw *o, const ordo_params *p, const adamw_config *cfg) {
  memset(o, 0, sizeof *o);
  o->cfg = *cfg;
  o->n = p->total;
  o->m = ordo_alloc_aligned(p->total * sizeof(float));
  o->v = ordo_alloc_aligned(p->total * sizeof(float));
}

void opt_adamw_free(opt_adamw *o) {
  ordo_free_aligned(o->m);
  ordo_free_aligned(o->v);
  memset(o, 0, sizeof *o);
}

void opt_adamw_step(opt_adamw *o, ordo_params *p, float lr) {
  ORDO_CHECK(o->n == p->total);
  o->t++;
  const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
  /* torch: bias_correction1 = 1 - beta1^t, step_size = lr / bc1,
   *        denom = sqrt(v) / sqrt(bc2) + eps, p -= step_size * m / denom */
  /* the scalars in double, as torch computes them in Python, then used as float */
  const double bc1 = 1.0 - pow((double)b1, (double)o->t);
  const double bc2 = 1.0 - pow((double)b2, (double)o->t);
  const float step_size = (float)((double)lr / bc1);
  const float bc2_sqrt = (float)sqrt(bc2);
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    if (s->flags & ORDO_PF_FROZEN) continue;
    const int decay = o->cfg.decay_all || !(s->flags & ORDO_PF_NO_DECAY);
    const float wd_mul = decay ? (float)(1.0 - (double)lr * o->cfg.weight_decay) : 1.0f;
    float *w = p->data + s->offset, *g = p->grad + s->offset;
    float *m = o->m + s->offset, *v = o->v + s->offset;
    const int64_t n = s->numel;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t j = 0; j < n; j++) {
      w[j] *= wd_mul;
      m[j] += (1.0f - b1) * (g[j] - m[j]); /* torch: m.lerp_(g, 1 - beta1) */
      v[j] = v[j] * b2 + (1.0f - b2) * g[j] * g[j];
      float denom = sqrtf(v[j]) / bc2_sqrt + eps;
      w[j] -= step_size * (m[j] / denom);
    }
  }
}

/* Calls fn(ctx, squared sum) for each block of the trainable specs' elements in [lo, hi). */
static int64_t norm_blocks(const ordo_params *p, size_t lo, size_t hi,
                           void (*fn)(void *ctx, double part), void *ctx) {
  int64_t n = 0;
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    if (s->flags & ORDO_PF_FROZEN) continue;
    const float *g = p->grad + s->offset;
    for (int64_t b = 0; b < s->numel; b += Q8_BLOCK) {
      if (s->offset + (size_t)b < lo || s->offset + (size_t)b >= hi) continue;
      int64_t e = b + Q8_BLOCK < s->numel ? b + Q8_BLOCK : s->numel;
      double part = 0;
      for (int64_t j = b; j < e; j++) part += (double)g[j] * g[j];
      if (fn) fn(ctx, part);
      n++;
    }
  }
  return n;
}

static void add_part(void *ctx, double part) { *(double *)ctx += part; }

static void store_part(void *ctx, double part) {
  double **at = ctx;
  *(*at)++ = part;
}

double grad_global_norm(const ordo_params *p) {
  double ss = 0;
  norm_blocks(p, 0, SIZE_MAX, add_part, &ss);
  return sqrt(ss);
}

int64_t grad_norm_parts(const ordo_params *p, size_t lo, size_t hi, double *parts) {
  double *at = parts;
  return norm_blocks(p, lo, hi, parts ? store_part : NULL, &at);
}

void grad_scale(ordo_params *p, float s) {
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *sp = &p->specs[i];
    if (sp->flags & ORDO_PF_FROZEN) continue; /* never written: left untouched (no memory) */
    float *g = p->grad + sp->offset;
    for (int64_t j = 0; j < sp->numel; j++) g[j] *= s;
  }
}
