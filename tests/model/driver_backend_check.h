/* Shared by the model driver's backend tests: small models of several families run one training
 * step (forward with dropout, losses, backward) on a backend and on the plain reference, from the
 * same weights, after a change of the weights made in the backend's memory (so that a driver
 * reading the host image instead of the working copy gives other numbers). Compared on the host:
 * the losses, the hidden state, every head's output, every parameter gradient, d_add_emb, the
 * decoder's logits, and a checkpoint saved from the backend and loaded on the host. The same
 * driver runs on both sides, so this checks that a backend gives the driver's numbers (its ops,
 * its memory, the uploads and downloads); the driver's own correctness is ordo parity's, against
 * transformers. */
#ifndef ORDO_TEST_DRIVER_BACKEND_CHECK_H
#define ORDO_TEST_DRIVER_BACKEND_CHECK_H

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ordo/files.h"
#include "ordo/model.h"
#include "ordo/rng.h"

enum { DB_B = 3, DB_T = 9, DB_NF = 3 };

/* One case: a configuration, its heads and what its batch carries. */
typedef struct db_case {
  const char *name;
  ordo_arch arch;
  int heads, lora, head_features, proj, add_emb, hidden_mse, rtd, recompute;
  enc_position position;
  ordo_dtype precision;
  int emulated; /* precision kept in float32 arrays rounded in place (enc_set_precision_emulated) */
} db_case;

static const db_case k_db_cases[] = {
    {.name = "bert mlm rows + cls(features) + pooler", .arch = ORDO_ARCH_BERT,
     .heads = ENC_HEAD_MLM | ENC_HEAD_POOLER | ENC_HEAD_CLS, .head_features = DB_NF},
    {.name = "bert lora(query, value, dropout) cls, recompute layer", .arch = ORDO_ARCH_BERT,
     .heads = ENC_HEAD_CLS, .lora = 1, .recompute = ENC_RECOMPUTE_LAYER},
    {.name = "roberta relative positions, add_emb, hidden mse", .arch = ORDO_ARCH_ROBERTA,
     .heads = ENC_HEAD_CLS, .position = ENC_POS_RELATIVE, .add_emb = 1, .hidden_mse = 1},
    {.name = "electra rtd, embedding projection", .arch = ORDO_ARCH_ELECTRA, .heads = ENC_HEAD_RTD,
     .proj = 1, .rtd = 1},
    {.name = "gpt2 rope + lora(c_attn), next-token loss", .arch = ORDO_ARCH_GPT2,
     .heads = ENC_HEAD_MLM, .lora = 1, .position = ENC_POS_ROPE},
    {.name = "gpt2 alibi, bf16", .arch = ORDO_ARCH_GPT2, .heads = ENC_HEAD_MLM,
     .position = ENC_POS_ALIBI, .precision = ORDO_DT_BF16},
    {.name = "bert mlm, fp16, recompute attention", .arch = ORDO_ARCH_BERT, .heads = ENC_HEAD_MLM,
     .precision = ORDO_DT_F16, .recompute = ENC_RECOMPUTE_ATTENTION},
};

static enc_config db_config(const db_case *k) {
  enc_config c;
  hfconfig_defaults(&c, k->arch);
  c.vocab_size = 53, c.hidden_size = 24, c.embedding_size = k->proj ? 16 : 24;
  c.num_attention_heads = 3, c.num_hidden_layers = 2, c.intermediate_size = 40;
  c.max_position_embeddings = 32, c.type_vocab_size = 2, c.pad_token_id = 0;
  c.hidden_dropout_prob = 0.1f, c.attention_probs_dropout_prob = 0.1f;
  c.num_labels = 2, c.head_features = k->head_features;
  if (k->position) c.position = k->position;
  return c;
}

/* The batch: ids, padding, token types, MLM rows and labels, targets, add_emb (host arrays). */
typedef struct db_data {
  int32_t ids[DB_B * DB_T], mask[DB_B * DB_T], tt[DB_B * DB_T], pos[DB_B * DB_T];
  int32_t rows[DB_B * DB_T], labels[DB_B * DB_T], cls[DB_B];
  int n_rows;
  float target[DB_B * 2], replaced[DB_B * DB_T], feats[DB_B * DB_NF];
  float add[DB_B * DB_T * 24], hidden_target[DB_B * DB_T * 24];
} db_data;

static void db_make_data(db_data *d, const db_case *k) {
  ordo_rng r;
  rng_init(&r, 17);
  memset(d, 0, sizeof *d);
  int causal = k->arch == ORDO_ARCH_GPT2;
  for (int b = 0; b < DB_B; b++)
    for (int t = 0; t < DB_T; t++) {
      int i = b * DB_T + t, real = causal || t < DB_T - 2 * b;
      d->mask[i] = real;
      d->ids[i] = real ? 1 + (int32_t)rng_below(&r, 52) : 0;
      d->tt[i] = k->arch == ORDO_ARCH_GPT2 ? 0 : t >= DB_T / 2;
      d->pos[i] = t;
      d->replaced[i] = rng_uniform(&r) < 0.3f;
    }
  /* MLM: a subset of rows (the causal LM: every row, each predicting the next token) */
  for (int i = 0; i < DB_B * DB_T; i++) {
    if (causal) {
      int last = i % DB_T == DB_T - 1;
      d->labels[d->n_rows] = last ? -100 : d->ids[i + 1];
      d->rows[d->n_rows++] = i;
    } else if (d->mask[i] && rng_uniform(&r) < 0.4f) {
      d->labels[d->n_rows] = rng_uniform(&r) < 0.8f ? d->ids[i] : -100;
      d->rows[d->n_rows++] = i;
    }
  }
  for (int i = 0; i < DB_B * 2; i++) d->target[i] = rng_uniform(&r);
  for (int b = 0; b < DB_B; b++) d->cls[b] = (int32_t)rng_below(&r, 2);
  for (int i = 0; i < DB_B * DB_NF; i++) d->feats[i] = 2 * rng_uniform(&r) - 1;
  for (size_t i = 0; i < sizeof d->add / sizeof *d->add; i++) d->add[i] = 0.1f * rng_normal(&r);
  for (size_t i = 0; i < sizeof d->hidden_target / sizeof *d->hidden_target; i++)
    d->hidden_target[i] = rng_normal(&r);
}

/* One model of a case on be (NULL: the plain reference, backend_cpu_ref), its step's results
 * downloaded. */
typedef struct db_run {
  enc_model m;
  db_data d;
  float loss, d_add[DB_B * DB_T * 24];
  float *hidden, *head, *grad; /* host copies: (BT, C); the head's output; params.total */
  size_t n_head;
} db_run;

static void db_build(db_run *r, const db_case *k, const ordo_backend *be) {
  ordo_backend ref = backend_cpu_ref();
  if (!be) be = &ref;
  enc_config c = db_config(k);
  enc_lora_config lc = {0}, *lora = NULL;
  ordo_err e = {{0}};
  if (k->lora) {
    const char *bert[] = {"query", "value"}, *gpt2[] = {"c_attn"};
    int gp = k->arch == ORDO_ARCH_GPT2;
    lc.r = 4, lc.alpha = 8, lc.dropout = 0.1f, lc.train_heads = 1;
    ORDO_CHECK(enc_lora_parse_targets(k->arch, gp ? gpt2 : bert, gp ? 1 : 2, &lc.targets, &e) == 0);
    lora = &lc;
  }
  ORDO_CHECKF(enc_init_lora(&r->m, &c, k->heads, lora, be, &e) == 0, "%s: %s", k->name, e.msg);
  enc_init_weights(&r->m, 23);
  /* LoRA's B starts at zero: give the adapters something to do */
  for (int i = 0; i < r->m.params.n; i++) {
    const ordo_param_spec *s = &r->m.params.specs[i];
    if (strstr(s->name, "lora_B"))
      for (int64_t j = 0; j < s->numel; j++) params_data(&r->m.params, i)[j] = 0.01f * (float)(j % 7);
  }
  params_upload(&r->m.params);
  /* a change made in the backend's memory only: the host image is now stale */
  r->m.be.ops->scale(r->m.be.ctx, r->m.params.wd, 1.03125f, (int64_t)r->m.params.total);
  enc_set_recompute(&r->m, (enc_recompute)k->recompute);
  if (k->precision && k->emulated) enc_set_precision_emulated(&r->m, k->precision);
  else if (k->precision) enc_set_precision(&r->m, k->precision);
  enc_plan(&r->m, DB_B, DB_T, DB_B * DB_T);
  r->m.seed = 99, r->m.step = 3;
}

static void db_step(db_run *r, const db_case *k) {
  enc_model *m = &r->m;
  db_data *d = &r->d;
  db_make_data(d, k);
  int causal = k->arch == ORDO_ARCH_GPT2;
  enc_batch b = {.B = DB_B, .T = DB_T, .ids = d->ids, .mask = d->mask,
                 .tt = causal ? NULL : d->tt, .mlm_rows = d->rows, .n_mlm_rows = d->n_rows,
                 .mlm_labels = d->labels, .head_feats = k->head_features ? d->feats : NULL};
  if (k->add_emb) b.add_emb = d->add, b.d_add_emb = r->d_add, b.pos_ids = d->pos;
  params_zero_grad(&m->params);
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  r->loss = 0;
  if (k->heads & ENC_HEAD_MLM) r->loss += enc_loss_mlm(m, &b, 1.0f, NULL);
  if ((k->heads & ENC_HEAD_CLS) && !k->hidden_mse) {
    if (k->lora) r->loss += enc_loss_cls_ce(m, &b, d->cls, 0.5f);
    else r->loss += enc_loss_cls_mse(m, &b, d->target, 1.0f);
  }
  if (k->rtd) r->loss += enc_loss_rtd(m, &b, d->replaced, 1.0f);
  if (k->hidden_mse) r->loss += enc_loss_hidden_mse(m, &b, d->hidden_target, 0.25f);
  enc_backward(m, &b);
  size_t C = (size_t)m->cfg.hidden_size, BT = (size_t)DB_B * DB_T;
  r->hidden = malloc(BT * C * sizeof(float));
  enc_read(m, r->hidden, enc_hidden(m), BT * C * sizeof(float));
  const float *head = m->cls_logits ? m->cls_logits : m->rtd_logits ? m->rtd_logits : m->mlm_logits;
  r->n_head = m->cls_logits ? (size_t)DB_B * m->cfg.num_labels
              : m->rtd_logits ? BT : (size_t)d->n_rows * m->cfg.vocab_size;
  r->head = malloc(r->n_head * sizeof(float));
  enc_read(m, r->head, head, r->n_head * sizeof(float));
  r->grad = malloc(m->params.total * sizeof(float));
  enc_read(m, r->grad, m->params.gd, m->params.total * sizeof(float));
}

static void db_free(db_run *r) {
  free(r->hidden), free(r->head), free(r->grad);
  enc_free(&r->m);
}

static double db_rel(const float *a, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d, den += (double)ref[i] * ref[i];
  }
  if (num == 0) return 0;
  return den > 0 ? sqrt(num / den) : INFINITY;
}

/* Every parameter gradient of r against ref: the worst relative error over the specs whose
 * reference gradient is not rounding noise next to the whole gradient's norm. */
static double db_grad_rel(const db_run *r, const db_run *ref, const char **worst_name) {
  const ordo_params *p = &ref->m.params;
  double all = 0, worst = 0;
  for (size_t i = 0; i < p->total; i++) all += (double)ref->grad[i] * ref->grad[i];
  all = sqrt(all);
  *worst_name = "-";
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    const float *g = r->grad + s->offset, *gr = ref->grad + s->offset;
    double n = 0;
    for (int64_t j = 0; j < s->numel; j++) n += (double)gr[j] * gr[j];
    if (sqrt(n) <= 1e-6 * all) continue; /* zero in exact arithmetic (a frozen or unreached spec) */
    double e = db_rel(g, gr, (size_t)s->numel);
    if (e > worst) worst = e, *worst_name = s->name;
  }
  return worst;
}

/* The decoder's last-position logits on be against the reference's (a causal case). */
static double db_decode_rel(const db_case *k, const ordo_backend *be) {
  db_run a, b;
  db_build(&a, k, NULL);
  db_build(&b, k, be);
  int32_t ids[DB_T];
  for (int t = 0; t < DB_T; t++) ids[t] = 1 + (t * 7) % 52;
  int V = a.m.cfg.vocab_size;
  float *la = malloc((size_t)V * sizeof(float));
  double worst = 0;
  for (int T = 3; T <= DB_T; T++) { /* the cached path: one new token per call */
    memcpy(la, enc_decode(&a.m, ids, T, T == 3 ? 0 : T - 1), (size_t)V * sizeof(float));
    double e = db_rel(enc_decode(&b.m, ids, T, T == 3 ? 0 : T - 1), la, (size_t)V);
    if (e > worst) worst = e;
  }
  free(la);
  enc_free(&a.m), enc_free(&b.m);
  return worst;
}

/* Saved from be after the in-memory change, loaded on the host: the working weights. */
static int db_save_roundtrip(const db_case *k, const ordo_backend *be) {
  db_run a, h;
  db_build(&a, k, be);
  char dir[] = "/tmp/ordo-test-driver-XXXXXX";
  ORDO_CHECK(mkdtemp(dir));
  ordo_err e = {{0}};
  int ok = enc_save(&a.m, dir, &e) == 0;
  EXPECT(ok, "%s: save: %s", k->name, e.msg);
  enc_config c = db_config(k);
  ordo_backend host = backend_cpu_ref();
  ORDO_CHECK(enc_init(&h.m, &c, k->heads, &host, &e) == 0);
  ok = ok && enc_load(&h.m, dir, NULL, &e) == 0;
  EXPECT(ok, "%s: load: %s", k->name, e.msg);
  float *w = malloc(a.m.params.total * sizeof(float));
  enc_read(&a.m, w, a.m.params.wd, a.m.params.total * sizeof(float));
  int same = 1;
  for (int i = 0; ok && i < h.m.params.n; i++) {
    const ordo_param_spec *s = &h.m.params.specs[i];
    size_t at = a.m.params.specs[params_find(&a.m.params, s->name)].offset;
    same &= memcmp(params_data(&h.m.params, i), w + at, (size_t)s->numel * sizeof(float)) == 0;
  }
  free(w);
  char path[600];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/config.json", dir);
  unlink(path);
  rmdir(dir);
  enc_free(&a.m), enc_free(&h.m);
  return ok && same;
}

/* 16-bit storage against the emulated one (float32 arrays rounded in place at the same points)
 * on the same backend: every case in bf16 and fp16, one step each; the same kernels on the same
 * values, so the loss, hidden state, head output, d_add_emb and every gradient must agree bit
 * for bit. Returns the number of cases that differ. */
static int db_check_storage(const ordo_backend *be) {
  int n = (int)(sizeof k_db_cases / sizeof *k_db_cases), bad = 0;
  const ordo_dtype dts[2] = {ORDO_DT_BF16, ORDO_DT_F16};
  for (int i = 0; i < n; i++)
    for (int d = 0; d < 2; d++) {
      db_case k = k_db_cases[i];
      k.precision = dts[d];
      db_run t, em;
      db_build(&t, &k, be);
      db_step(&t, &k);
      k.emulated = 1;
      db_build(&em, &k, be);
      db_step(&em, &k);
      size_t nh = (size_t)DB_B * DB_T * t.m.cfg.hidden_size;
      int same = t.loss == em.loss && !memcmp(t.hidden, em.hidden, nh * sizeof(float)) &&
                 t.n_head == em.n_head && !memcmp(t.head, em.head, t.n_head * sizeof(float)) &&
                 !memcmp(t.grad, em.grad, t.m.params.total * sizeof(float)) &&
                 (!k.add_emb || !memcmp(t.d_add, em.d_add, sizeof t.d_add));
      printf("%s | %s, %s: 16-bit storage against emulated: %s\n", be->ops->name, k.name,
             dtype_name(k.precision), same ? "the same bits" : "DIFFERENT bits");
      EXPECT(same, "%s | %s %s: 16-bit storage differs from the emulated", be->ops->name, k.name,
             dtype_name(k.precision));
      bad += !same;
      db_free(&t), db_free(&em);
    }
  return bad;
}

/* One case on be against the reference (EXPECT): loss, hidden state, head output, every
 * gradient, d_add_emb within bound; a causal fp32 case's cached decoding within tol. */
static void db_compare_case(const ordo_backend *be, const db_case *k, double bound, double tol) {
  db_run ref, r;
  db_build(&ref, k, NULL);
  db_step(&ref, k);
  db_build(&r, k, be);
  db_step(&r, k);
  size_t nh = (size_t)DB_B * DB_T * ref.m.cfg.hidden_size;
  double el = fabs((double)r.loss - ref.loss) / fabs((double)ref.loss);
  double eh = db_rel(r.hidden, ref.hidden, nh), eo = db_rel(r.head, ref.head, ref.n_head);
  const char *gname;
  double eg = db_grad_rel(&r, &ref, &gname);
  double ea = k->add_emb ? db_rel(r.d_add, ref.d_add, (size_t)DB_B * DB_T * 24) : 0;
  const char *prec = k->precision ? dtype_name(k->precision) : "F32";
  printf("%s | %s, %s: loss %.2e, hidden %.2e, head %.2e, grads %.2e (worst %s), d_add_emb %.2e "
         "(bound %g)\n", be->ops->name, k->name, prec, el, eh, eo, eg, gname, ea, bound);
  EXPECT(el <= bound && eh <= bound && eo <= bound && eg <= bound && ea <= bound,
         "%s | %s %s beyond %g", be->ops->name, k->name, prec, bound);
  if (k->arch == ORDO_ARCH_GPT2 && !k->precision) {
    double ed = db_decode_rel(k, be);
    printf("%s | %s: cached decoding logits %.2e (bound %g)\n", be->ops->name, k->name, ed, tol);
    EXPECT(ed <= tol, "%s | %s: decoding beyond %g", be->ops->name, k->name, tol);
  }
  db_free(&ref), db_free(&r);
}

/* Every case with 16-bit storage in dt (bf16 or fp16) on be against the reference in the same
 * storage, within tol_lp: on a backend whose 16-bit products are not the emulation's fp32
 * products on rounded values (CUDA's tensor cores), the comparison that stands for the bit
 * for bit one of db_check_storage. */
static void db_check_precision(const ordo_backend *be, ordo_dtype dt, double tol_lp) {
  int n = (int)(sizeof k_db_cases / sizeof *k_db_cases);
  for (int i = 0; i < n; i++) {
    db_case k = k_db_cases[i];
    k.precision = dt;
    db_compare_case(be, &k, tol_lp, tol_lp);
  }
}

/* Runs every case on be against the reference (EXPECT on each). tol: the relative bound on
 * outputs and gradients in fp32; tol_lp the same under bf16/fp16 storage. */
static void db_check_backend(const ordo_backend *be, double tol, double tol_lp) {
  int n = (int)(sizeof k_db_cases / sizeof *k_db_cases);
  for (int i = 0; i < n; i++)
    db_compare_case(be, &k_db_cases[i], k_db_cases[i].precision ? tol_lp : tol, tol);
  int saved = db_save_roundtrip(&k_db_cases[1], be);
  printf("%s | save from the working copy, load on the host: %s\n", be->ops->name,
         saved ? "the same weights" : "DIFFERENT weights");
  EXPECT(saved, "%s: the saved model is not the working copy", be->ops->name);
}

#endif
