/* AdamW with decoupled weight decay and bias correction (Loshchilov & Hutter), computed in the
 * same order as torch.optim.AdamW so that results agree to float rounding; the element update is
 * the backend's adamw_step op, shared with the 32-bit state of opt_adamw8. Also the gradient
 * reductions the trainer needs: block norms and scaling, as backend ops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/optim.h"
#include "train/optim_internal.h"

adamw_config adamw_defaults(void) {
  return (adamw_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                        .weight_decay = 0.01f, .decay_all = 0};
}

ordo_backend train_backend(const ordo_params *p) { return p->be.ops ? p->be : backend_cpu(); }

ordo_adamw_hp adamw_hp(const adamw_config *c, int64_t t, double lr_g, float weight_decay) {
  /* torch: bias_correction1 = 1 - beta1^t, step_size = lr / bc1,
   *        denom = sqrt(v) / sqrt(bc2) + eps, p -= step_size * m / denom;
   * the scalars in double, as torch computes them in Python, then used as float */
  const double bc1 = 1.0 - pow((double)c->beta1, (double)t);
  const double bc2 = 1.0 - pow((double)c->beta2, (double)t);
  return (ordo_adamw_hp){.b1 = c->beta1, .b2 = c->beta2, .eps = c->eps,
                         .bc2_sqrt = (float)sqrt(bc2), .step_size = (float)(lr_g / bc1),
                         .wd_mul = weight_decay != 0.0f ? (float)(1.0 - lr_g * weight_decay) : 1.0f};
}

void *state_to_host(const ordo_backend *be, const void *src, size_t bytes) {
  if (!src || !bytes || be->ops->host_memory) return (void *)src;
  void *h = ordo_malloc(bytes);
  be->ops->download(be->ctx, h, src, bytes);
  return h;
}

void state_from_host(const ordo_backend *be, void *src, void *host, size_t bytes, int upload) {
  if (host == src) return;
  if (upload && bytes) be->ops->upload(be->ctx, src, host, bytes);
  free(host);
}

void opt_adamw_init(opt_adamw *o, const ordo_params *p, const adamw_config *cfg) {
  memset(o, 0, sizeof *o);
  o->cfg = *cfg;
  o->n = p->total;
  o->be = train_backend(p);
  o->m = be_alloc_f32(&o->be, p->total); /* zero-filled */
  o->v = be_alloc_f32(&o->be, p->total);
}

void opt_adamw_free(opt_adamw *o) {
  if (o->be.ops) be_free(&o->be, o->m), be_free(&o->be, o->v);
  memset(o, 0, sizeof *o);
}

void opt_adamw_step(opt_adamw *o, ordo_params *p, float lr) {
  ORDO_CHECK(o->n == p->total);
  o->t++;
  const ordo_ops *ops = o->be.ops;
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    if (s->flags & ORDO_PF_FROZEN) continue;
    const int decay = o->cfg.decay_all || !(s->flags & ORDO_PF_NO_DECAY);
    ordo_adamw_hp hp = adamw_hp(&o->cfg, o->t, (double)lr, decay ? o->cfg.weight_decay : 0.0f);
    ops->adamw_step(o->be.ctx, params_wd(p, i), params_gd(p, i), o->m + s->offset,
                    o->v + s->offset, s->numel, hp);
  }
}

void opt_adamw_to_host(const opt_adamw *o, opt_adamw *h) {
  *h = *o;
  h->m = state_to_host(&o->be, o->m, o->n * sizeof(float));
  h->v = state_to_host(&o->be, o->v, o->n * sizeof(float));
}

void opt_adamw_from_host(opt_adamw *o, opt_adamw *h, int upload) {
  state_from_host(&o->be, o->m, h->m, o->n * sizeof(float), upload);
  state_from_host(&o->be, o->v, h->v, o->n * sizeof(float), upload);
  if (upload) o->t = h->t;
}

/* The blocks of spec s whose first element lies in the table's [lo, hi): [*k0, *k1). */
static void spec_blocks(const ordo_param_spec *s, size_t lo, size_t hi, int64_t *k0, int64_t *k1) {
  const int64_t nb = (s->numel + Q8_BLOCK - 1) / Q8_BLOCK;
  int64_t a = lo <= s->offset ? 0 : (int64_t)((lo - s->offset + Q8_BLOCK - 1) / Q8_BLOCK);
  int64_t b = hi <= s->offset ? 0 : hi - s->offset >= (size_t)nb * Q8_BLOCK ? nb
                                  : (int64_t)((hi - s->offset + Q8_BLOCK - 1) / Q8_BLOCK);
  *k0 = a < nb ? a : nb;
  *k1 = b > *k0 ? b : *k0;
}

int64_t grad_norm_parts(const ordo_params *p, size_t lo, size_t hi, double *parts) {
  const ordo_backend be = train_backend(p);
  int64_t n = 0;
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    if (s->flags & ORDO_PF_FROZEN) continue;
    int64_t k0, k1;
    spec_blocks(s, lo, hi, &k0, &k1);
    if (k1 == k0) continue;
    const int64_t e0 = k0 * Q8_BLOCK, e1 = k1 * Q8_BLOCK < s->numel ? k1 * Q8_BLOCK : s->numel;
    if (parts) be.ops->sumsq_blocks(be.ctx, parts + n, params_gd(p, i) + e0, e1 - e0, Q8_BLOCK);
    n += k1 - k0;
  }
  return n;
}

double grad_global_norm(const ordo_params *p) {
  const ordo_backend be = train_backend(p);
  const int64_t n = grad_norm_parts(p, 0, SIZE_MAX, NULL);
  double *parts = be.ops->alloc(be.ctx, (size_t)(n > 0 ? n : 1) * sizeof(double));
  double *host = ordo_malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
  grad_norm_parts(p, 0, SIZE_MAX, parts);
  if (n) be_download(&be, host, parts, (size_t)n * sizeof(double));
  double ss = 0;
  for (int64_t k = 0; k < n; k++) ss += host[k];
  be_free(&be, parts);
  free(host);
  return sqrt(ss);
}

void grad_scale(ordo_params *p, float s) {
  const ordo_backend be = train_backend(p);
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *sp = &p->specs[i];
    if (sp->flags & ORDO_PF_FROZEN) continue; /* never written: left untouched (no memory) */
    be.ops->scale(be.ctx, params_gd(p, i), s, sp->numel);
  }
}
