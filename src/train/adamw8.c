/* AdamW with per-group rates and decay, and 8-bit block-wise quantized moments (Dettmers et
 * al. 2021). Each step dequantizes a block of moments to float32, applies exactly the update of
 * opt_adamw_step (torch.optim.AdamW's order), then requantizes with the block's new absmax. */
#include <math.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/optim.h"
#include "train/optim_internal.h"

adamw8_config adamw8_defaults(void) {
  adamw8_config c;
  memset(&c, 0, sizeof c);
  c.bits = 8;
  c.min_8bit_numel = 4096;
  return c;
}

static int keeps_32bit(const adamw8_config *qc, const ordo_param_spec *s) {
  if (qc->bits == 32 || s->numel < qc->min_8bit_numel) return 1;
  for (int i = 0; i < qc->n_keep32; i++)
    if (qc->keep32[i] && qc->keep32[i][0] && strstr(s->name, qc->keep32[i])) return 1;
  return 0;
}

int opt_adamw8_init(opt_adamw8 *o, const ordo_params *p, const adamw_config *cfg,
                    const adamw8_config *qc, const opt_groups *groups, ordo_err *e) {
  return opt_adamw8_init_range(o, p, cfg, qc, groups, 0, SIZE_MAX, e);
}

/* The elements [lo, hi) of the table that spec s holds, as indices into s. */
static void spec_range(const ordo_param_spec *s, size_t lo, size_t hi, int64_t *a, int64_t *b) {
  size_t end = s->offset + (size_t)s->numel;
  *a = lo <= s->offset ? 0 : lo >= end ? s->numel : (int64_t)(lo - s->offset);
  *b = hi <= s->offset ? 0 : hi >= end ? s->numel : (int64_t)(hi - s->offset);
  if (*b < *a) *b = *a;
}

void opt_adamw8_range_sizes(const opt_adamw8 *o, const ordo_params *p, size_t end, size_t *n_q,
                            size_t *n_blocks, size_t *n_32) {
  *n_q = *n_blocks = *n_32 = 0;
  for (int i = 0; i < p->n; i++) {
    int64_t a, b;
    spec_range(&p->specs[i], 0, end, &a, &b);
    if (o->spec[i].bits == 32) *n_32 += (size_t)b;
    if (o->spec[i].bits == 8) *n_q += (size_t)b, *n_blocks += (size_t)((b + Q8_BLOCK - 1) / Q8_BLOCK);
  }
}

int opt_adamw8_init_range(opt_adamw8 *o, const ordo_params *p, const adamw_config *cfg,
                          const adamw8_config *qc, const opt_groups *groups, size_t lo, size_t hi,
                          ordo_err *e) {
  memset(o, 0, sizeof *o);
  if (qc->bits != 8 && qc->bits != 32)
    return ordo_fail(e, "optimizer state bits must be 8 or 32, got %d", qc->bits);
  if (qc->n_keep32 < 0 || qc->n_keep32 > ADAMW8_MAX_KEEP32)
    return ordo_fail(e, "at most %d 32-bit state patterns, got %d", ADAMW8_MAX_KEEP32, qc->n_keep32);
  o->cfg = *cfg;
  o->n_specs = p->n;
  o->spec = ordo_calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *o->spec);
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    adamw8_spec *os = &o->spec[i];
    if (groups) {
      if (s->group < 0 || s->group >= groups->n) {
        int g = s->group;
        opt_adamw8_free(o);
        return ordo_fail(e, "parameter %s: group %d out of range (%d groups)", s->name, g,
                         groups->n);
      }
      os->lr_mul = groups->g[s->group].lr_mul;
      os->weight_decay = groups->g[s->group].weight_decay;
    } else {
      os->lr_mul = 1.0;
      os->weight_decay = cfg->decay_all || !(s->flags & ORDO_PF_NO_DECAY) ? cfg->weight_decay : 0.0f;
    }
    if (s->flags & ORDO_PF_FROZEN) continue; /* bits 0: no state */
    spec_range(s, lo, hi, &os->lo, &os->hi);
    const int64_t n = os->hi - os->lo;
    if (keeps_32bit(qc, s)) {
      os->bits = 32;
      os->off = o->n_32;
      o->n_32 += (size_t)n;
    } else {
      os->bits = 8;
      ORDO_CHECKF((os->lo % Q8_BLOCK == 0 || os->lo == s->numel) &&
                      (os->hi % Q8_BLOCK == 0 || os->hi == s->numel),
                  "%s: state range [%lld, %lld) is not on 8-bit blocks", s->name,
                  (long long)os->lo, (long long)os->hi);
      os->off = o->n_q;
      os->block_off = o->n_blocks;
      o->n_q += (size_t)n;
      o->n_blocks += (size_t)((n + Q8_BLOCK - 1) / Q8_BLOCK);
    }
  }
  /* moments start at zero: the exact-zero code, with zeroed block scales */
  q8_map_dynamic(&o->map_m, 1);
  q8_map_dynamic(&o->map_v, 0);
  if (o->n_q) {
    o->qm = ordo_alloc_aligned(o->n_q);
    o->qv = ordo_alloc_aligned(o->n_q);
    memset(o->qm, q8_code(&o->map_m, 0.0f), o->n_q);
    memset(o->qv, q8_code(&o->map_v, 0.0f), o->n_q);
    o->sm = ordo_alloc_aligned(o->n_blocks * sizeof(float));
    o->sv = ordo_alloc_aligned(o->n_blocks * sizeof(float));
  }
  if (o->n_32) {
    o->m32 = ordo_alloc_aligned(o->n_32 * sizeof(float));
    o->v32 = ordo_alloc_aligned(o->n_32 * sizeof(float));
  }
  return 0;
}

void opt_adamw8_free(opt_adamw8 *o) {
  free(o->spec);
  ordo_free_aligned(o->qm);
  ordo_free_aligned(o->qv);
  ordo_free_aligned(o->sm);
  ordo_free_aligned(o->sv);
  ordo_free_aligned(o->m32);
  ordo_free_aligned(o->v32);
  memset(o, 0, sizeof *o);
}

/* The per-element update shared by both state widths: the exact expression order of
 * opt_adamw_step (torch: p.mul_(1 - lr*wd); m.lerp_(g, 1-b1); v.mul_(b2).addcmul_(g, g, 1-b2);
 * p.addcdiv_(m, v.sqrt()/sqrt(bc2) + eps, value=-lr/bc1)). */
static inline void adamw_elem(float *w, float *m, float *v, float g, float wd_mul, float b1,
                              float b2, float eps, float bc2_sqrt, float step_size) {
  *w *= wd_mul;
  *m += (1.0f - b1) * (g - *m);
  *v = *v * b2 + (1.0f - b2) * g * g;
  float denom = sqrtf(*v) / bc2_sqrt + eps;
  *w -= step_size * (*m / denom);
}

typedef struct step_scalars {
  float b1, b2, eps, bc2_sqrt;
  double bc1;
} step_scalars;

static void spec_rates(const step_scalars *k, const adamw8_spec *os, float lr, float *step_size,
                       float *wd_mul) {
  /* the group's rate in double, as torch keeps it in a Python float, then used as float */
  const double lr_g = (double)lr * os->lr_mul;
  *step_size = (float)(lr_g / k->bc1);
  *wd_mul = os->weight_decay != 0.0f ? (float)(1.0 - lr_g * os->weight_decay) : 1.0f;
}

void opt_adamw8_step(opt_adamw8 *o, ordo_params *p, float lr) {
  ORDO_CHECK(o->n_specs == p->n);
  o->t++;
  step_scalars k = {.b1 = o->cfg.beta1, .b2 = o->cfg.beta2, .eps = o->cfg.eps};
  k.bc1 = 1.0 - pow((double)k.b1, (double)o->t);
  k.bc2_sqrt = (float)sqrt(1.0 - pow((double)k.b2, (double)o->t));

  /* 32-bit specs, as opt_adamw_step */
  for (int i = 0; i < p->n; i++) {
    const adamw8_spec *os = &o->spec[i];
    if (os->bits != 32) continue;
    const ordo_param_spec *s = &p->specs[i];
    float step_size, wd_mul;
    spec_rates(&k, os, lr, &step_size, &wd_mul);
    float *w = p->data + s->offset + os->lo, *g = p->grad + s->offset + os->lo;
    float *m = o->m32 + os->off, *v = o->v32 + os->off;
    const int64_t n = os->hi - os->lo;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t j = 0; j < n; j++)
      adamw_elem(&w[j], &m[j], &v[j], g[j], wd_mul, k.b1, k.b2, k.eps, k.bc2_sqrt, step_size);
  }

  /* 8-bit specs: one parallel loop over every block of every spec; blocks are independent,
   * so the result does not depend on the number of threads */
  if (!o->n_blocks) return;
  for (int i = 0; i < p->n; i++) {
    const adamw8_spec *os = &o->spec[i];
    if (os->bits != 8) continue;
    const ordo_param_spec *s = &p->specs[i];
    float step_size, wd_mul;
    spec_rates(&k, os, lr, &step_size, &wd_mul);
    const int64_t n = os->hi - os->lo, nb = (n + Q8_BLOCK - 1) / Q8_BLOCK;
    float *w0 = p->data + s->offset + os->lo;
    const float *g0 = p->grad + s->offset + os->lo;
    uint8_t *qm0 = o->qm + os->off, *qv0 = o->qv + os->off;
    float *sm = o->sm + os->block_off, *sv = o->sv + os->block_off;
    const q8_map *mm = &o->map_m, *mv = &o->map_v;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
      float mf[Q8_BLOCK], vf[Q8_BLOCK];
      const int64_t base = b * Q8_BLOCK;
      const int len = (int)(n - base < Q8_BLOCK ? n - base : Q8_BLOCK);
      float *w = w0 + base;
      const float *g = g0 + base;
      uint8_t *qm = qm0 + base, *qv = qv0 + base;
      const float am = sm[b], av = sv[b];
      for (int j = 0; j < len; j++) {
        mf[j] = mm->v[qm[j]] * am;
        vf[j] = mv->v[qv[j]] * av;
      }
      for (int j = 0; j < len; j++)
        adamw_elem(&w[j], &mf[j], &vf[j], g[j], wd_mul, k.b1, k.b2, k.eps, k.bc2_sqrt, step_size);
      sm[b] = q8_quantize_block(mm, mf, len, qm);
      sv[b] = q8_quantize_block(mv, vf, len, qv);
    }
  }
}

size_t opt_adamw8_state_bytes(const opt_adamw8 *o) {
  return 2 * o->n_q + 2 * o->n_blocks * sizeof(float) + 2 * o->n_32 * sizeof(float);
}

void opt_adamw8_counts(const opt_adamw8 *o, const ordo_params *p, int64_t *n8, int64_t *n32) {
  *n8 = *n32 = 0;
  for (int i = 0; i < p->n; i++) {
    if (o->spec[i].bits == 8) *n8 += p->specs[i].numel;
    if (o->spec[i].bits == 32) *n32 += p->specs[i].numel;
  }
}

void opt_adamw8_moments(const opt_adamw8 *o, const ordo_params *p, int idx, float *m, float *v) {
  ORDO_CHECK(idx >= 0 && idx < p->n && o->n_specs == p->n);
  const adamw8_spec *os = &o->spec[idx];
  const int64_t n = p->specs[idx].numel;
  ORDO_CHECKF(os->bits == 0 || (os->lo == 0 && os->hi == n), "opt_adamw8_moments: %s is sharded",
              p->specs[idx].name);
  if (os->bits == 32) {
    memcpy(m, o->m32 + os->off, (size_t)n * sizeof(float));
    memcpy(v, o->v32 + os->off, (size_t)n * sizeof(float));
  } else if (os->bits == 8) {
    q8_dequantize(&o->map_m, o->qm + os->off, o->sm + os->block_off, n, m);
    q8_dequantize(&o->map_v, o->qv + os->off, o->sv + os->block_off, n, v);
  } else {
    memset(m, 0, (size_t)n * sizeof(float));
    memset(v, 0, (size_t)n * sizeof(float));
  }
}
