/* The encoder's parameter table under HF names, weight init, and HF checkpoint load/save. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model_internal.h"
#include "ordo/files.h"
#include "ordo/rng.h"
#include "ordo/safetensors.h"

static int add(enc_model *m, int contiguous, int flags, int ndim, int64_t d0, int64_t d1,
               const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int add(enc_model *m, int contiguous, int flags, int ndim, int64_t d0, int64_t d1,
               const char *fmt, ...) {
  char name[ORDO_NAME_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  int64_t shape[2] = {d0, d1};
  return contiguous ? params_add_contiguous(&m->params, name, ndim, shape, flags)
                    : params_add(&m->params, name, ndim, shape, flags);
}

#define ND ORDO_PF_NO_DECAY

int enc_init(enc_model *m, const enc_config *cfg, int heads, const ordo_ops *ops, ordo_err *e) {
  return enc_init_lora(m, cfg, heads, NULL, ops, e);
}

int enc_init_lora(enc_model *m, const enc_config *cfg, int heads, const enc_lora_config *lora,
                  const ordo_ops *ops, ordo_err *e) {
  memset(m, 0, sizeof *m);
  if (lora && lora->r > 0) {
    if (lora->r > 4096 || !(lora->alpha > 0) || lora->dropout < 0 || lora->dropout >= 1 || !lora->targets)
      return ordo_fail(e, "LoRA: r %d, alpha %g, dropout %g, targets %#x: need 0 < r <= 4096, "
                          "alpha > 0, 0 <= dropout < 1 and a target", lora->r, lora->alpha,
                       lora->dropout, lora->targets);
    m->lora = *lora;
  }
  if (cfg->arch != ORDO_ARCH_BERT && cfg->arch != ORDO_ARCH_ROBERTA)
    return ordo_fail(e, "model_type '%s' is not supported by the encoder yet (supported: bert, roberta)",
                     cfg->model_type);
  if (cfg->hidden_size <= 0 || cfg->num_attention_heads <= 0 ||
      cfg->hidden_size % cfg->num_attention_heads != 0)
    return ordo_fail(e, "hidden_size %d is not a multiple of num_attention_heads %d",
                     cfg->hidden_size, cfg->num_attention_heads);
  if (strcmp(cfg->hidden_act, "gelu") != 0)
    return ordo_fail(e, "hidden_act '%s' is not supported (supported: gelu)", cfg->hidden_act);
  if (cfg->embedding_size != cfg->hidden_size)
    return ordo_fail(e, "embedding_size %d != hidden_size %d needs a projection (ALBERT/ELECTRA), not supported yet",
                     cfg->embedding_size, cfg->hidden_size);
  if (cfg->vocab_size <= 0 || cfg->num_hidden_layers <= 0 || cfg->intermediate_size <= 0 ||
      cfg->max_position_embeddings <= 0 || cfg->type_vocab_size <= 0)
    return ordo_fail(e, "config has a non-positive size");
  if ((heads & ENC_HEAD_CLS) && cfg->num_labels <= 0)
    return ordo_fail(e, "classification head needs num_labels >= 1");
  m->cfg = *cfg;
  m->heads = heads;
  m->ops = ops;
  params_init(&m->params);
  const char *pre = cfg->arch == ORDO_ARCH_ROBERTA ? "roberta." : "bert.";
  snprintf(m->base_prefix, sizeof m->base_prefix, "%s", pre);
  int C = cfg->hidden_size, I = cfg->intermediate_size, V = cfg->vocab_size;

  m->emb.wte = add(m, 0, 0, 2, V, C, "%sembeddings.word_embeddings.weight", pre);
  m->emb.wpe = add(m, 0, 0, 2, cfg->max_position_embeddings, C,
                   "%sembeddings.position_embeddings.weight", pre);
  m->emb.wtt = add(m, 0, 0, 2, cfg->type_vocab_size, C, "%sembeddings.token_type_embeddings.weight", pre);
  m->emb.ln_w = add(m, 0, ND, 1, C, 0, "%sembeddings.LayerNorm.weight", pre);
  m->emb.ln_b = add(m, 0, ND, 1, C, 0, "%sembeddings.LayerNorm.bias", pre);
  m->layer = ordo_calloc(cfg->num_hidden_layers, sizeof *m->layer);
  for (int l = 0; l < cfg->num_hidden_layers; l++) {
    enc_layer_idx *L = &m->layer[l];
    const char *lp = "encoder.layer";
    /* q, k, v back to back so the three projections run as one (3C, C) product */
    L->qkv_w = add(m, 0, 0, 2, C, C, "%s%s.%d.attention.self.query.weight", pre, lp, l);
    add(m, 1, 0, 2, C, C, "%s%s.%d.attention.self.key.weight", pre, lp, l);
    add(m, 1, 0, 2, C, C, "%s%s.%d.attention.self.value.weight", pre, lp, l);
    L->qkv_b = add(m, 0, ND, 1, C, 0, "%s%s.%d.attention.self.query.bias", pre, lp, l);
    add(m, 1, ND, 1, C, 0, "%s%s.%d.attention.self.key.bias", pre, lp, l);
    add(m, 1, ND, 1, C, 0, "%s%s.%d.attention.self.value.bias", pre, lp, l);
    L->ao_w = add(m, 0, 0, 2, C, C, "%s%s.%d.attention.output.dense.weight", pre, lp, l);
    L->ao_b = add(m, 0, ND, 1, C, 0, "%s%s.%d.attention.output.dense.bias", pre, lp, l);
    L->ln1_w = add(m, 0, ND, 1, C, 0, "%s%s.%d.attention.output.LayerNorm.weight", pre, lp, l);
    L->ln1_b = add(m, 0, ND, 1, C, 0, "%s%s.%d.attention.output.LayerNorm.bias", pre, lp, l);
    L->fc_w = add(m, 0, 0, 2, I, C, "%s%s.%d.intermediate.dense.weight", pre, lp, l);
    L->fc_b = add(m, 0, ND, 1, I, 0, "%s%s.%d.intermediate.dense.bias", pre, lp, l);
    L->proj_w = add(m, 0, 0, 2, C, I, "%s%s.%d.output.dense.weight", pre, lp, l);
    L->proj_b = add(m, 0, ND, 1, C, 0, "%s%s.%d.output.dense.bias", pre, lp, l);
    L->ln2_w = add(m, 0, ND, 1, C, 0, "%s%s.%d.output.LayerNorm.weight", pre, lp, l);
    L->ln2_b = add(m, 0, ND, 1, C, 0, "%s%s.%d.output.LayerNorm.bias", pre, lp, l);
    lora_add_params(m, l, L);
  }
  m->pool_w = m->pool_b = -1;
  m->mlm_dense_w = m->mlm_dense_b = m->mlm_ln_w = m->mlm_ln_b = m->mlm_bias = -1;
  m->nsp_w = m->nsp_b = -1;
  m->cls_dense_w = m->cls_dense_b = m->cls_out_w = m->cls_out_b = m->cls_feat_w = -1;
  if (heads & ENC_HEAD_POOLER) {
    m->pool_w = add(m, 0, 0, 2, C, C, "%spooler.dense.weight", pre);
    m->pool_b = add(m, 0, ND, 1, C, 0, "%spooler.dense.bias", pre);
  }
  if (heads & ENC_HEAD_MLM) {
    int rob = cfg->arch == ORDO_ARCH_ROBERTA;
    m->mlm_dense_w = add(m, 0, 0, 2, C, C, rob ? "lm_head.dense.weight" : "cls.predictions.transform.dense.weight");
    m->mlm_dense_b = add(m, 0, ND, 1, C, 0, rob ? "lm_head.dense.bias" : "cls.predictions.transform.dense.bias");
    m->mlm_ln_w = add(m, 0, ND, 1, C, 0, rob ? "lm_head.layer_norm.weight" : "cls.predictions.transform.LayerNorm.weight");
    m->mlm_ln_b = add(m, 0, ND, 1, C, 0, rob ? "lm_head.layer_norm.bias" : "cls.predictions.transform.LayerNorm.bias");
    m->mlm_bias = add(m, 0, ND, 1, V, 0, rob ? "lm_head.bias" : "cls.predictions.bias");
  }
  if (heads & ENC_HEAD_NSP) {
    /* never reached by a loss here: frozen, so the optimizer leaves it as loaded */
    m->nsp_w = add(m, 0, ORDO_PF_FROZEN, 2, 2, C, "cls.seq_relationship.weight");
    m->nsp_b = add(m, 0, ORDO_PF_FROZEN | ND, 1, 2, 0, "cls.seq_relationship.bias");
  }
  if (heads & ENC_HEAD_CLS) {
    m->cls_dense_w = add(m, 0, 0, 2, C, C, "classifier.dense.weight");
    m->cls_dense_b = add(m, 0, ND, 1, C, 0, "classifier.dense.bias");
    m->cls_out_w = add(m, 0, 0, 2, cfg->num_labels, C, "classifier.out_proj.weight");
    m->cls_out_b = add(m, 0, ND, 1, cfg->num_labels, 0, "classifier.out_proj.bias");
    if (cfg->head_features > 0)
      m->cls_feat_w = add(m, 0, 0, 2, cfg->num_labels, cfg->head_features,
                          "classifier.out_proj.feature_weight");
  }
  if (m->lora.r > 0) {
    /* LoRA trains the adapters (and the heads when asked); the base encoder is frozen */
    size_t plen = strlen(pre);
    for (int i = 0; i < m->params.n; i++) {
      ordo_param_spec *s = &m->params.specs[i];
      int is_head = strncmp(s->name, pre, plen) != 0;
      if (!(s->flags & ORDO_PF_LORA) && !(is_head && m->lora.train_heads)) s->flags |= ORDO_PF_FROZEN;
    }
  }
  int64_t count = params_count(&m->params, 0);
  if (count > ENC_MAX_PARAMS) {
    params_free(&m->params);
    return ordo_fail(e, "the configuration (vocab %d, hidden %d, %d layers, intermediate %d, %d "
                     "positions) has %.2fG parameters, more than the %.2fG supported",
                     cfg->vocab_size, C, cfg->num_hidden_layers, I, cfg->max_position_embeddings,
                     count / 1e9, ENC_MAX_PARAMS / 1e9);
  }
  params_alloc(&m->params);
  return 0;
}

void enc_free(enc_model *m) {
  params_free(&m->params);
  ordo_free_aligned(m->w_lp);
  arena_free(&m->arena);
  free(m->layer);
  free(m->acts);
  memset(m, 0, sizeof *m);
}

void enc_init_weights(enc_model *m, uint64_t seed) {
  ordo_rng r;
  rng_init(&r, seed);
  const float std = 0.02f;
  for (int i = 0; i < m->params.n; i++) {
    ordo_param_spec *s = &m->params.specs[i];
    float *w = params_data(&m->params, i);
    int is_ln = strstr(s->name, "LayerNorm.weight") || strstr(s->name, "layer_norm.weight");
    if (s->ndim == 1)
      for (int64_t j = 0; j < s->numel; j++) w[j] = is_ln ? 1.0f : 0.0f;
    else
      for (int64_t j = 0; j < s->numel; j++) w[j] = std * rng_normal(&r);
  }
  /* the padding token's embedding starts at zero, as nn.Embedding(padding_idx=...) */
  int pad = m->cfg.pad_token_id, C = m->cfg.hidden_size;
  if (pad >= 0 && pad < m->cfg.vocab_size)
    memset(params_data(&m->params, m->emb.wte) + (size_t)pad * C, 0, C * sizeof(float));
  lora_init_weights(m, seed);
}

int enc_find_param(const enc_model *m, const char *name) {
  int i = params_find(&m->params, name);
  if (i >= 0) return i;
  /* normalise peft and bare-model spellings to ours */
  char buf[ORDO_NAME_MAX * 2], out[ORDO_NAME_MAX * 3];
  const char *p = name;
  if (strncmp(p, "base_model.model.", 17) == 0) p += 17;
  snprintf(buf, sizeof buf, "%s", p);
  const char *drop[] = {".base_layer", ".default"};
  for (int k = 0; k < 2; k++) {
    char *hit;
    while ((hit = strstr(buf, drop[k]))) memmove(hit, hit + strlen(drop[k]), strlen(hit + strlen(drop[k])) + 1);
  }
  i = params_find(&m->params, buf);
  if (i >= 0) return i;
  snprintf(out, sizeof out, "%s%s", m->base_prefix, buf);
  if (strlen(out) < ORDO_NAME_MAX) i = params_find(&m->params, out);
  return i;
}

static int is_head_param(const enc_model *m, int i) {
  return strncmp(m->params.specs[i].name, m->base_prefix, strlen(m->base_prefix)) != 0;
}

int enc_load(enc_model *m, const char *path, int *n_missing_heads, ordo_err *e) {
  char file[4096];
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
    snprintf(file, sizeof file, "%s/model.safetensors", path);
  else
    snprintf(file, sizeof file, "%s", path);
  st_file f;
  if (st_open(&f, file, e) != 0) return -1;
  char *seen = ordo_calloc((size_t)m->params.n, 1);
  int rc = 0, unknown = 0;
  for (int t = 0; t < f.n && rc == 0; t++) {
    int i = enc_find_param(m, f.tensors[t].name);
    if (i < 0) {
      unknown++;
      log_debug("%s: %s is not a parameter of this model (ignored)", file, f.tensors[t].name);
      continue;
    }
    if (seen[i]) continue; /* tied weights appear under two names */
    ordo_param_spec *s = &m->params.specs[i];
    rc = st_read_f32(&f, f.tensors[t].name, params_data(&m->params, i), s->ndim, s->shape, e);
    seen[i] = 1;
  }
  int missing_heads = 0;
  for (int i = 0; i < m->params.n && rc == 0; i++) {
    if (seen[i]) continue;
    ordo_param_spec *s = &m->params.specs[i];
    if (is_head_param(m, i) || (s->flags & ORDO_PF_LORA)) {
      log_info("%s: %s not in the checkpoint: newly initialized", file, s->name);
      missing_heads++;
    } else {
      rc = ordo_fail(e, "%s: missing tensor '%s'", file, s->name);
    }
  }
  if (unknown) log_info("%s: %d tensors not used by this model", file, unknown);
  free(seen);
  st_close(&f);
  if (rc == 0 && n_missing_heads) *n_missing_heads = missing_heads;
  return rc;
}

int enc_save(const enc_model *m, const char *dir, ordo_err *e) {
  if (ordo_dir_ensure(dir, e) != 0) return -1;
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (hfconfig_save(&m->cfg, path, e) != 0) return -1;
  st_writer w;
  st_writer_init(&w);
  st_writer_meta(&w, "format", "pt");
  for (int i = 0; i < m->params.n; i++) {
    const ordo_param_spec *s = &m->params.specs[i];
    if (s->flags & ORDO_PF_LORA) continue; /* adapters: enc_lora_merge or enc_lora_save_adapters */
    st_writer_add_f32_as(&w, s->name, s->dtype, s->ndim, s->shape, params_data(&m->params, i));
  }
  /* tied weights under both names, as transformers writes and expects them */
  if (m->heads & ENC_HEAD_MLM) {
    int rob = m->cfg.arch == ORDO_ARCH_ROBERTA;
    const ordo_param_spec *wte = &m->params.specs[m->emb.wte], *bias = &m->params.specs[m->mlm_bias];
    st_writer_add_f32_as(&w, rob ? "lm_head.decoder.weight" : "cls.predictions.decoder.weight",
                         wte->dtype, wte->ndim, wte->shape, params_data(&m->params, m->emb.wte));
    st_writer_add_f32_as(&w, rob ? "lm_head.decoder.bias" : "cls.predictions.decoder.bias",
                         bias->dtype, bias->ndim, bias->shape, params_data(&m->params, m->mlm_bias));
  }
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  int rc = st_writer_save(&w, path, e);
  st_writer_free(&w);
  return rc;
}
