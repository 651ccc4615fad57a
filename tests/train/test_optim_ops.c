/* The backends' optimizer ops against the optimizers as they stand: adamw_step against
 * opt_adamw_step, adamw8_step (and its 32-bit specs' adamw_step) against opt_adamw8_step, and
 * sumsq_blocks against grad_norm_parts, on both CPU tables, all bit for bit: the trainer keeps
 * its bits when it calls the ops instead of its own loops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/core.h"
#include "ordo/optim.h"
#include "ordo/rng.h"

static void fill_normal(float *x, int64_t n, ordo_rng *r, float s) {
  for (int64_t i = 0; i < n; i++) x[i] = s * rng_normal(r);
}

/* 8-bit specs (a short last block among them), 32-bit ones, a frozen one. */
static void table(ordo_params *p) {
  params_init(p);
  params_add(p, "enc.layer.0.dense.weight", 2, (int64_t[]){70, 90}, 0); /* 6300: 3 blocks + 156 */
  params_add(p, "enc.layer.0.dense.bias", 1, (int64_t[]){70}, ORDO_PF_NO_DECAY);
  params_add(p, "enc.frozen.weight", 2, (int64_t[]){8, 8}, ORDO_PF_FROZEN);
  params_add(p, "head.weight", 2, (int64_t[]){3, 1111}, 0);
  params_add(p, "big", 1, (int64_t[]){4096}, ORDO_PF_NO_DECAY);
  params_alloc(p);
  ordo_rng r;
  rng_init(&r, 1);
  fill_normal(p->data, (int64_t)p->total, &r, 0.5f);
}

/* The hyperparameters of step t for one spec, as the optimizers compute them. */
static ordo_adamw_hp step_hp(const adamw_config *cfg, int t, float lr, double lr_mul, float wd) {
  ordo_adamw_hp hp = {.b1 = cfg->beta1, .b2 = cfg->beta2, .eps = cfg->eps};
  const double bc1 = 1.0 - pow((double)cfg->beta1, (double)t);
  hp.bc2_sqrt = (float)sqrt(1.0 - pow((double)cfg->beta2, (double)t));
  const double lr_g = (double)lr * lr_mul;
  hp.step_size = (float)(lr_g / bc1);
  hp.wd_mul = wd != 0.0f ? (float)(1.0 - lr_g * wd) : 1.0f;
  return hp;
}

static void test_adamw(const ordo_ops *ops) {
  ordo_params a, b;
  table(&a);
  table(&b);
  adamw_config cfg = adamw_defaults();
  cfg.weight_decay = 0.1f;
  opt_adamw ref;
  opt_adamw_init(&ref, &a, &cfg);
  float *m = calloc(b.total, sizeof(float)), *v = calloc(b.total, sizeof(float));
  ordo_rng r;
  rng_init(&r, 2);
  for (int t = 1; t <= 7; t++) {
    fill_normal(a.grad, (int64_t)a.total, &r, 1.0f);
    memcpy(b.grad, a.grad, a.total * sizeof(float));
    const float lr = 1e-2f * (float)t;
    opt_adamw_step(&ref, &a, lr);
    for (int i = 0; i < b.n; i++) {
      const ordo_param_spec *s = &b.specs[i];
      if (s->flags & ORDO_PF_FROZEN) continue;
      const float wd = s->flags & ORDO_PF_NO_DECAY ? 0.0f : cfg.weight_decay;
      ops->adamw_step(NULL, b.data + s->offset, b.grad + s->offset, m + s->offset,
                      v + s->offset, s->numel, step_hp(&cfg, t, lr, 1.0, wd));
    }
  }
  EXPECT(memcmp(a.data, b.data, a.total * sizeof(float)) == 0,
         "%s adamw_step: weights bit-identical to opt_adamw_step", ops->name);
  EXPECT(memcmp(ref.m, m, a.total * sizeof(float)) == 0 && memcmp(ref.v, v, a.total * sizeof(float)) == 0,
         "%s adamw_step: moments bit-identical", ops->name);
  free(m);
  free(v);
  opt_adamw_free(&ref);
  params_free(&a);
  params_free(&b);
}

/* The state of one spec as the op keeps it: codes, block scales or 32-bit moments. */
typedef struct spec_state {
  uint8_t *qm, *qv;
  float *sm, *sv, *m, *v;
} spec_state;

static void test_adamw8(const ordo_ops *ops) {
  ordo_params a, b;
  table(&a);
  table(&b);
  adamw_config cfg = adamw_defaults();
  cfg.weight_decay = 0.1f;
  adamw8_config qc = adamw8_defaults();
  ordo_err e = {0};
  opt_adamw8 o;
  EXPECT(opt_adamw8_init(&o, &a, &cfg, &qc, NULL, &e) == 0, "%s", e.msg);
  q8_map mm, mv;
  q8_map_dynamic(&mm, 1);
  q8_map_dynamic(&mv, 0);
  spec_state st[8] = {{0}};
  int n8 = 0;
  for (int i = 0; i < b.n; i++) {
    const int64_t n = b.specs[i].numel, nb = (n + Q8_BLOCK - 1) / Q8_BLOCK;
    if (o.spec[i].bits == 8) {
      n8++;
      st[i].qm = malloc((size_t)n);
      st[i].qv = malloc((size_t)n);
      memset(st[i].qm, q8_code(&mm, 0.0f), (size_t)n);
      memset(st[i].qv, q8_code(&mv, 0.0f), (size_t)n);
      st[i].sm = calloc((size_t)nb, sizeof(float));
      st[i].sv = calloc((size_t)nb, sizeof(float));
    } else if (o.spec[i].bits == 32) {
      st[i].m = calloc((size_t)n, sizeof(float));
      st[i].v = calloc((size_t)n, sizeof(float));
    }
  }
  EXPECT(n8 == 2, "two 8-bit specs, got %d", n8);
  ordo_rng r;
  rng_init(&r, 3);
  for (int t = 1; t <= 9; t++) {
    fill_normal(a.grad, (int64_t)a.total, &r, t == 5 ? 1e-6f : 1.0f); /* one step of tiny values */
    memcpy(b.grad, a.grad, a.total * sizeof(float));
    const float lr = 3e-3f * (float)t;
    opt_adamw8_step(&o, &a, lr);
    for (int i = 0; i < b.n; i++) {
      const ordo_param_spec *s = &b.specs[i];
      const adamw8_spec *os = &o.spec[i];
      ordo_adamw_hp hp = step_hp(&cfg, t, lr, os->lr_mul, os->weight_decay);
      float *w = b.data + s->offset, *g = b.grad + s->offset;
      if (os->bits == 8)
        ops->adamw8_step(NULL, w, g, st[i].qm, st[i].qv, st[i].sm, st[i].sv, mm.v, mm.mid, mv.v,
                         mv.mid, s->numel, Q8_BLOCK, hp);
      else if (os->bits == 32)
        ops->adamw_step(NULL, w, g, st[i].m, st[i].v, s->numel, hp);
    }
  }
  EXPECT(memcmp(a.data, b.data, a.total * sizeof(float)) == 0,
         "%s adamw8_step: weights bit-identical to opt_adamw8_step", ops->name);
  for (int i = 0; i < b.n; i++) {
    const adamw8_spec *os = &o.spec[i];
    const int64_t n = b.specs[i].numel, nb = (n + Q8_BLOCK - 1) / Q8_BLOCK;
    if (os->bits == 8) {
      EXPECT(memcmp(o.qm + os->off, st[i].qm, (size_t)n) == 0 &&
                 memcmp(o.qv + os->off, st[i].qv, (size_t)n) == 0,
             "%s %s: codes bit-identical", ops->name, b.specs[i].name);
      EXPECT(memcmp(o.sm + os->block_off, st[i].sm, (size_t)nb * sizeof(float)) == 0 &&
                 memcmp(o.sv + os->block_off, st[i].sv, (size_t)nb * sizeof(float)) == 0,
             "%s %s: block scales bit-identical", ops->name, b.specs[i].name);
    } else if (os->bits == 32) {
      EXPECT(memcmp(o.m32 + os->off, st[i].m, (size_t)n * sizeof(float)) == 0 &&
                 memcmp(o.v32 + os->off, st[i].v, (size_t)n * sizeof(float)) == 0,
             "%s %s: 32-bit moments bit-identical", ops->name, b.specs[i].name);
    }
    free(st[i].qm), free(st[i].qv), free(st[i].sm), free(st[i].sv), free(st[i].m), free(st[i].v);
  }
  opt_adamw8_free(&o);
  params_free(&a);
  params_free(&b);
}

/* grad_norm_parts' blocks are each trainable spec's Q8_BLOCK blocks in table order. */
static void test_sumsq(const ordo_ops *ops) {
  ordo_params p;
  table(&p);
  ordo_rng r;
  rng_init(&r, 4);
  fill_normal(p.grad, (int64_t)p.total, &r, 3.0f);
  int64_t n = grad_norm_parts(&p, 0, SIZE_MAX, NULL);
  double *want = calloc((size_t)n, sizeof(double)), *got = calloc((size_t)n + 1, sizeof(double));
  grad_norm_parts(&p, 0, SIZE_MAX, want);
  int64_t k = 0;
  for (int i = 0; i < p.n; i++) {
    const ordo_param_spec *s = &p.specs[i];
    if (s->flags & ORDO_PF_FROZEN) continue;
    ops->sumsq_blocks(NULL, got + k, p.grad + s->offset, s->numel, Q8_BLOCK);
    k += (s->numel + Q8_BLOCK - 1) / Q8_BLOCK;
  }
  EXPECT(k == n, "%s: %lld blocks, grad_norm_parts %lld", ops->name, (long long)k, (long long)n);
  EXPECT(memcmp(want, got, (size_t)n * sizeof(double)) == 0,
         "%s sumsq_blocks: bit-identical to grad_norm_parts", ops->name);
  free(want);
  free(got);
  params_free(&p);
}

int main(void) {
  const ordo_ops *tables[2] = {ops_cpu_ref(), ops_cpu()};
  for (int i = 0; i < 2; i++) {
    test_adamw(tables[i]);
    test_adamw8(tables[i]);
    test_sumsq(tables[i]);
  }
  return test_summary();
}
