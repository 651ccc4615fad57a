/* AdamW with per-group rates and decay, and 8-bit block-wise quantized moments (Dettmers et
 * al. 2021). Each step dequantizes a block of moments to float32, applies exactly the update of
 * opt_adamw_step (torch.optim.AdamW's order), then requantizes with the block's new absmax: the
 * backend's adamw8_step op; 32-bit state takes adamw_step, opt_adamw_step's op. The state lives
 * in the memory of the table's backend. */
#include <math.h>
#include <stdlib.h>
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
  o->be = train_backend(p);
  const ordo_backend *be = &o->be;
  o->maps = be_alloc_f32(be, 2 * (256 + 255));
  be_upload(be, o->maps, o->map_m.v, sizeof o->map_m.v);
  be_upload(be, o->maps + 256, o->map_m.mid, sizeof o->map_m.mid);
  be_upload(be, o->maps + 511, o->map_v.v, sizeof o->map_v.v);
  be_upload(be, o->maps + 767, o->map_v.mid, sizeof o->map_v.mid);
  if (o->n_q) {
    o->qm = be->ops->alloc(be->ctx, o->n_q);
    o->qv = be->ops->alloc(be->ctx, o->n_q);
    uint8_t *h = state_to_host(be, o->qm, o->n_q);
    memset(h, q8_code(&o->map_m, 0.0f), o->n_q);
    state_from_host(be, o->qm, h, o->n_q, 1);
    h = state_to_host(be, o->qv, o->n_q);
    memset(h, q8_code(&o->map_v, 0.0f), o->n_q);
    state_from_host(be, o->qv, h, o->n_q, 1);
    o->sm = be_alloc_f32(be, o->n_blocks);
    o->sv = be_alloc_f32(be, o->n_blocks);
  }
  if (o->n_32) {
    o->m32 = be_alloc_f32(be, o->n_32);
    o->v32 = be_alloc_f32(be, o->n_32);
  }
  return 0;
}

void opt_adamw8_free(opt_adamw8 *o) {
  free(o->spec);
  if (o->be.ops) {
    void *a[7] = {o->qm, o->qv, o->sm, o->sv, o->m32, o->v32, o->maps};
    for (int k = 0; k < 7; k++) be_free(&o->be, a[k]);
  }
  memset(o, 0, sizeof *o);
}

/* The six state arrays and their bytes. */
static void state_arrays(const opt_adamw8 *o, void *a[6], size_t bytes[6]) {
  void *x[6] = {o->qm, o->qv, o->sm, o->sv, o->m32, o->v32};
  size_t b[6] = {o->n_q, o->n_q, o->n_blocks * sizeof(float), o->n_blocks * sizeof(float),
                 o->n_32 * sizeof(float), o->n_32 * sizeof(float)};
  memcpy(a, x, sizeof x);
  memcpy(bytes, b, sizeof b);
}

void opt_adamw8_to_host(const opt_adamw8 *o, opt_adamw8 *h) {
  void *a[6];
  size_t bytes[6];
  state_arrays(o, a, bytes);
  for (int k = 0; k < 6; k++) a[k] = state_to_host(&o->be, a[k], bytes[k]);
  *h = *o;
  h->qm = a[0], h->qv = a[1], h->sm = a[2], h->sv = a[3], h->m32 = a[4], h->v32 = a[5];
}

void opt_adamw8_from_host(opt_adamw8 *o, opt_adamw8 *h, int upload) {
  void *a[6], *ha[6];
  size_t bytes[6], hb[6];
  state_arrays(o, a, bytes);
  state_arrays(h, ha, hb);
  for (int k = 0; k < 6; k++) state_from_host(&o->be, a[k], ha[k], bytes[k], upload);
  if (upload) o->t = h->t;
}

void opt_adamw8_step(opt_adamw8 *o, ordo_params *p, float lr) {
  ORDO_CHECK(o->n_specs == p->n);
  o->t++;
  const ordo_ops *ops = o->be.ops;
  ordo_ctx *ctx = o->be.ctx;
  /* 32-bit specs first, then 8-bit ones (each an independent op: the order changes no bits) */
  for (int bits = 32; bits >= 8; bits -= 24)
    for (int i = 0; i < p->n; i++) {
      const adamw8_spec *os = &o->spec[i];
      if (os->bits != bits) continue;
      /* the group's rate in double, as torch keeps it in a Python float */
      ordo_adamw_hp hp = adamw_hp(&o->cfg, o->t, (double)lr * os->lr_mul, os->weight_decay);
      float *w = params_wd(p, i) + os->lo;
      const float *g = params_gd(p, i) + os->lo;
      const int64_t n = os->hi - os->lo;
      if (bits == 32)
        ops->adamw_step(ctx, w, g, o->m32 + os->off, o->v32 + os->off, n, hp);
      else
        ops->adamw8_step(ctx, w, g, o->qm + os->off, o->qv + os->off, o->sm + os->block_off,
                         o->sv + os->block_off, o->maps, o->maps + 256, o->maps + 511,
                         o->maps + 767, n, Q8_BLOCK, hp);
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
  const ordo_backend *be = &o->be;
  if (os->bits == 32) {
    be_download(be, m, o->m32 + os->off, (size_t)n * sizeof(float));
    be_download(be, v, o->v32 + os->off, (size_t)n * sizeof(float));
  } else if (os->bits == 8) {
    const int64_t nb = (n + Q8_BLOCK - 1) / Q8_BLOCK;
    uint8_t *q = ordo_malloc((size_t)n);
    float *sc = ordo_malloc((size_t)nb * sizeof(float));
    be_download(be, q, o->qm + os->off, (size_t)n);
    be_download(be, sc, o->sm + os->block_off, (size_t)nb * sizeof(float));
    q8_dequantize(&o->map_m, q, sc, n, m);
    be_download(be, q, o->qv + os->off, (size_t)n);
    be_download(be, sc, o->sv + os->block_off, (size_t)nb * sizeof(float));
    q8_dequantize(&o->map_v, q, sc, n, v);
    free(q);
    free(sc);
  } else {
    memset(m, 0, (size_t)n * sizeof(float));
    memset(v, 0, (size_t)n * sizeof(float));
  }
}
