/* LoRA adapters on the encoder's linear layers: parameters, forward/backward, merge, export. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model_internal.h"
#include "ordo/files.h"
#include "ordo/rng.h"
#include "ordo/safetensors.h"

/* The module each site adapts, by family; NULL where the family has no such module. */
static const char *k_site_module[ENC_LORA_NSITES] = {
    "attention.self.query", "attention.self.key",  "attention.self.value",
    "attention.output.dense", "intermediate.dense", "output.dense", NULL,
};
static const char *k_site_module_gpt2[ENC_LORA_NSITES] = {
    NULL, NULL, NULL, "attn.c_proj", "mlp.c_fc", "mlp.c_proj", "attn.c_attn",
};

static const char *site_module(ordo_arch arch, int s) {
  return arch == ORDO_ARCH_GPT2 ? k_site_module_gpt2[s] : k_site_module[s];
}

int enc_lora_parse_targets(ordo_arch arch, const char *const *names, int n, int *targets,
                           ordo_err *e) {
  *targets = 0;
  for (int i = 0; i < n; i++) {
    const char *t = names[i];
    int hit = 0;
    for (int s = 0; s < ENC_LORA_NSITES; s++) {
      /* peft matches a target against the end of the module name */
      const char *mod = site_module(arch, s);
      if (!mod) continue;
      size_t lt = strlen(t), lm = strlen(mod);
      if (lt <= lm && strcmp(mod + lm - lt, t) == 0 && (lt == lm || mod[lm - lt - 1] == '.')) {
        *targets |= 1 << s;
        hit = 1;
      }
    }
    if (!hit)
      return ordo_fail(e, "LoRA target '%s' matches no layer of %s (%s)", t, arch_name(arch),
                       arch == ORDO_ARCH_GPT2 ? "c_attn, c_proj, c_fc, attn.c_proj, mlp.c_proj"
                                              : "query, key, value, dense, attention.output.dense, "
                                                "intermediate.dense, output.dense");
  }
  if (!*targets) return ordo_fail(e, "LoRA needs at least one target module");
  return 0;
}

void lora_site_dims(const enc_model *m, int site, int *in, int *out) {
  int C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
  *in = site == ENC_LORA_PROJ ? I : C;
  *out = site == ENC_LORA_FC ? I : site == ENC_LORA_QKV ? 3 * C : C;
}

void lora_add_params(enc_model *m, int l, enc_layer_idx *L) {
  for (int s = 0; s < ENC_LORA_NSITES; s++) {
    L->lora_a[s] = L->lora_b[s] = -1;
    if (!(m->lora.r > 0 && (m->lora.targets & (1 << s)))) continue;
    int in, out;
    lora_site_dims(m, s, &in, &out);
    char name[ORDO_NAME_MAX], lp[128];
    int64_t sa[2] = {m->lora.r, in}, sb[2] = {out, m->lora.r};
    enc_layer_prefix(m, l, lp, sizeof lp);
    const char *mod = site_module(m->cfg.arch, s);
    snprintf(name, sizeof name, "%s%s.lora_A.weight", lp, mod);
    L->lora_a[s] = params_add(&m->params, name, 2, sa, ORDO_PF_LORA);
    snprintf(name, sizeof name, "%s%s.lora_B.weight", lp, mod);
    L->lora_b[s] = params_add(&m->params, name, 2, sb, ORDO_PF_LORA);
  }
}

void lora_init_weights(enc_model *m, uint64_t seed) {
  ordo_rng r;
  rng_init(&r, seed ^ 0x4C6F5241ull);
  for (int l = 0; l < m->cfg.num_hidden_layers; l++)
    for (int s = 0; s < ENC_LORA_NSITES; s++) {
      int ia = m->layer[l].lora_a[s];
      if (ia < 0) continue;
      /* peft: kaiming_uniform_(A, a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)); B = 0 */
      const ordo_param_spec *sa = &m->params.specs[ia];
      float bound = 1.0f / sqrtf((float)sa->shape[1]);
      float *a = params_data(&m->params, ia);
      for (int64_t j = 0; j < sa->numel; j++) a[j] = bound * (2.0f * rng_uniform(&r) - 1.0f);
      memset(params_data(&m->params, m->layer[l].lora_b[s]), 0,
             (size_t)m->params.specs[m->layer[l].lora_b[s]].numel * sizeof(float));
    }
}

static float lora_scale(const enc_model *m) { return m->lora.alpha / (float)m->lora.r; }

/* y[n * ldy + o] += scaling * (dropout(x) A^T B^T)[n, o] for one site. */
void lora_forward(enc_model *m, int l, int site, const float *x, int N, float *y, int ldy,
                  uint64_t key, uint64_t drop_site) {
  const enc_layer_idx *L = &m->layer[l];
  if (L->lora_a[site] < 0) return;
  enc_layer_acts *A = &m->acts[l];
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  int in, out, r = m->lora.r;
  lora_site_dims(m, site, &in, &out);
  const float *xin = x;
  float p = m->training ? m->lora.dropout : 0.0f;
  if (p > 0) {
    op->dropout_forward(cx, A->lora_xd[site], x, p, key, drop_site, (int64_t)N * in);
    xin = A->lora_xd[site];
  }
  op->matmul_forward(cx, A->lora_xa[site], xin, params_wd(&m->params, L->lora_a[site]), NULL, N, in,
                     r);
  op->matmul_forward(cx, m->lora_tmp, A->lora_xa[site], params_wd(&m->params, L->lora_b[site]),
                     NULL, N, r, out);
  float s = lora_scale(m);
  /* y's rows are ldy apart (q, k, v: columns of the (N, 3C) qkv): one axpy per row then */
  if (ldy == out) op->axpy(cx, y, s, m->lora_tmp, (int64_t)N * out);
  else
    for (int n = 0; n < N; n++)
      op->axpy(cx, y + (size_t)n * ldy, s, m->lora_tmp + (size_t)n * out, out);
}

/* Working gradient of spec i, NULL when frozen. */
static float *grad_or_null(const enc_model *m, int i) {
  return (m->params.specs[i].flags & ORDO_PF_FROZEN) ? NULL : params_gd(&m->params, i);
}

/* Backward of one site from dy (row stride ldy): dA, dB and dx += ... */
void lora_backward(enc_model *m, int l, int site, const float *x, int N, const float *dy, int ldy,
                   float *dx, uint64_t key, uint64_t drop_site) {
  const enc_layer_idx *L = &m->layer[l];
  if (L->lora_a[site] < 0) return;
  enc_layer_acts *A = &m->acts[l];
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  int in, out, r = m->lora.r;
  lora_site_dims(m, site, &in, &out);
  float s = lora_scale(m), p = m->training ? m->lora.dropout : 0.0f;
  size_t row = (size_t)out * sizeof(float);
  if (ldy == out) copy_buf(m, m->lora_tmp, dy, (size_t)N * row);
  else
    for (int n = 0; n < N; n++)
      copy_buf(m, m->lora_tmp + (size_t)n * out, dy + (size_t)n * ldy, row);
  op->scale(cx, m->lora_tmp, s, (int64_t)N * out); /* (N, out) = s dy */
  zero_buf(m, m->lora_dxa, (size_t)N * r * sizeof(float));
  int ia = L->lora_a[site], ib = L->lora_b[site];
  float *dA = grad_or_null(m, ia), *dB = grad_or_null(m, ib);
  op->matmul_backward(cx, m->lora_dxa, dB, NULL, m->lora_tmp, A->lora_xa[site],
                      params_wd(&m->params, ib), N, r, out);
  const float *xin = p > 0 ? A->lora_xd[site] : x;
  if (p > 0) {
    zero_buf(m, m->lora_dxd, (size_t)N * in * sizeof(float));
    op->matmul_backward(cx, m->lora_dxd, dA, NULL, m->lora_dxa, xin, params_wd(&m->params, ia), N,
                        in, r);
    op->dropout_backward(cx, dx, m->lora_dxd, p, key, drop_site, (int64_t)N * in);
  } else {
    op->matmul_backward(cx, dx, dA, NULL, m->lora_dxa, xin, params_wd(&m->params, ia), N, in, r);
  }
}

/* The base weight block a site adapts: (OUT, IN) with row stride IN. */
static float *site_weight(enc_model *m, int l, int site) {
  const enc_layer_idx *L = &m->layer[l];
  int C = m->cfg.hidden_size;
  switch (site) {
    case ENC_LORA_Q:
    case ENC_LORA_QKV: return params_data(&m->params, L->qkv_w);
    case ENC_LORA_K: return params_data(&m->params, L->qkv_w) + (size_t)C * C;
    case ENC_LORA_V: return params_data(&m->params, L->qkv_w) + (size_t)2 * C * C;
    case ENC_LORA_ATTN_OUT: return params_data(&m->params, L->ao_w);
    case ENC_LORA_FC: return params_data(&m->params, L->fc_w);
    default: return params_data(&m->params, L->proj_w);
  }
}

/* enc_lora_merge on the host image only. */
static void merge_host(enc_model *m) {
  float s = lora_scale(m);
  int r = m->lora.r;
  for (int l = 0; l < m->cfg.num_hidden_layers; l++)
    for (int site = 0; site < ENC_LORA_NSITES; site++) {
      int ia = m->layer[l].lora_a[site], ib = m->layer[l].lora_b[site];
      if (ia < 0) continue;
      int in, out;
      lora_site_dims(m, site, &in, &out);
      float *W = site_weight(m, l, site);
      const float *A = params_data(&m->params, ia), *B = params_data(&m->params, ib);
      for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) {
          double acc = 0;
          for (int k = 0; k < r; k++) acc += (double)B[(size_t)o * r + k] * A[(size_t)k * in + i];
          W[(size_t)o * in + i] += s * (float)acc;
        }
      memset(params_data(&m->params, ib), 0, (size_t)out * r * sizeof(float));
    }
}

void enc_lora_merge(enc_model *m) {
  if (m->lora.r <= 0) return;
  params_download(&m->params);
  merge_host(m);
  params_upload(&m->params);
}

int enc_save_merged(enc_model *m, const char *dir, ordo_err *e) {
  if (m->lora.r <= 0) return enc_save(m, dir, e);
  params_download(&m->params);
  float *keep = ordo_malloc(m->params.total * sizeof(float));
  memcpy(keep, m->params.data, m->params.total * sizeof(float));
  merge_host(m); /* the working copy keeps the adapters */
  int rc = enc_save_host(m, dir, e);
  memcpy(m->params.data, keep, m->params.total * sizeof(float));
  free(keep);
  return rc;
}

int enc_lora_save_adapters(const enc_model *m, const char *dir, ordo_err *e) {
  if (m->lora.r <= 0) return ordo_fail(e, "the model has no LoRA adapters to save");
  if (ordo_dir_ensure(dir, e) != 0) return -1;
  params_download((ordo_params *)&m->params); /* the host image is a cache of the working copy */
  st_writer w;
  st_writer_init(&w);
  st_writer_meta(&w, "format", "pt");
  /* peft wraps the bare encoder (names without the base prefix) or GPT-2's LM model (with it) */
  int gpt2 = m->cfg.arch == ORDO_ARCH_GPT2;
  size_t plen = gpt2 ? 0 : strlen(m->base_prefix);
  char name[ORDO_NAME_MAX + 32];
  for (int i = 0; i < m->params.n; i++) {
    const ordo_param_spec *s = &m->params.specs[i];
    if (!(s->flags & ORDO_PF_LORA)) continue;
    /* peft adapter files name modules from the bare model: base_model.model.<module> */
    snprintf(name, sizeof name, "base_model.model.%s", s->name + plen);
    st_writer_add_f32_as(&w, name, ORDO_DT_F32, s->ndim, s->shape, params_data(&m->params, i));
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
  int rc = st_writer_save(&w, path, e);
  st_writer_free(&w);
  if (rc != 0) return -1;
  char json[1024], mods[256] = "";
  for (int s = 0; s < ENC_LORA_NSITES; s++)
    if (m->lora.targets & (1 << s)) {
      const char *mod = site_module(m->cfg.arch, s);
      const char *leaf = strrchr(mod, '.') + 1;
      /* full dotted names keep "output.dense" apart from "attention.output.dense" */
      char item[64];
      snprintf(item, sizeof item, "%s\"%s\"", mods[0] ? ", " : "",
               s <= ENC_LORA_V || s == ENC_LORA_QKV ? leaf : mod);
      strncat(mods, item, sizeof mods - strlen(mods) - 1);
    }
  snprintf(json, sizeof json,
           "{\n  \"peft_type\": \"LORA\",\n  \"r\": %d,\n  \"lora_alpha\": %g,\n"
           "  \"lora_dropout\": %g,\n  \"target_modules\": [%s],\n  \"bias\": \"none\",\n"
           "  \"fan_in_fan_out\": %s,\n  \"inference_mode\": true\n}\n",
           m->lora.r, m->lora.alpha, m->lora.dropout, mods, gpt2 ? "true" : "false");
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  return ordo_write_file_atomic(path, json, strlen(json), e);
}
