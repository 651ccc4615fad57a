/* The encoder's parameter table under HF names, weight init, and HF checkpoint load/save. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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

int enc_init(enc_model *m, const enc_config *cfg, int heads, const ordo_backend *be, ordo_err *e) {
  return enc_init_lora(m, cfg, heads, NULL, be, e);
}

/* HF's names for one family: the base model's prefix, the layer's sub-modules and the MLM head
 * (whose decoder weight is the tied word embedding, saved under decoder_w). */
typedef struct family_names {
  const char *base;
  const char *q, *k, *v, *ao, *ln1, *fc, *proj, *ln2;
  const char *proj_emb; /* embedding -> hidden projection, under base */
  const char *mlm_dense, *mlm_ln, *mlm_bias, *mlm_decoder_w, *mlm_decoder_b; /* decoder_b may be NULL */
} family_names;

static const family_names k_bert_like = {
    .q = "attention.self.query", .k = "attention.self.key", .v = "attention.self.value",
    .ao = "attention.output.dense", .ln1 = "attention.output.LayerNorm",
    .fc = "intermediate.dense", .proj = "output.dense", .ln2 = "output.LayerNorm",
    .proj_emb = "embeddings_project",
    .mlm_dense = "cls.predictions.transform.dense", .mlm_ln = "cls.predictions.transform.LayerNorm",
    .mlm_bias = "cls.predictions.bias", .mlm_decoder_w = "cls.predictions.decoder.weight",
    .mlm_decoder_b = "cls.predictions.decoder.bias"};

static family_names names_of(ordo_arch a) {
  family_names n = k_bert_like;
  switch (a) {
    case ORDO_ARCH_BERT: n.base = "bert."; break;
    case ORDO_ARCH_ROFORMER: n.base = "roformer."; break;
    case ORDO_ARCH_ROBERTA:
      n.base = "roberta.";
      n.mlm_dense = "lm_head.dense", n.mlm_ln = "lm_head.layer_norm", n.mlm_bias = "lm_head.bias";
      n.mlm_decoder_w = "lm_head.decoder.weight", n.mlm_decoder_b = "lm_head.decoder.bias";
      break;
    case ORDO_ARCH_ELECTRA: /* ElectraForMaskedLM: the generator's head */
      n.base = "electra.";
      n.mlm_dense = "generator_predictions.dense", n.mlm_ln = "generator_predictions.LayerNorm";
      n.mlm_bias = "generator_lm_head.bias", n.mlm_decoder_w = "generator_lm_head.weight";
      n.mlm_decoder_b = NULL;
      break;
    case ORDO_ARCH_ALBERT:
      n.base = "albert.";
      n.q = "attention.query", n.k = "attention.key", n.v = "attention.value";
      n.ao = "attention.dense", n.ln1 = "attention.LayerNorm";
      n.fc = "ffn", n.proj = "ffn_output", n.ln2 = "full_layer_layer_norm";
      n.proj_emb = "encoder.embedding_hidden_mapping_in";
      n.mlm_dense = "predictions.dense", n.mlm_ln = "predictions.LayerNorm";
      n.mlm_bias = "predictions.bias", n.mlm_decoder_w = "predictions.decoder.weight";
      n.mlm_decoder_b = "predictions.decoder.bias";
      break;
    case ORDO_ARCH_GPT2: /* only q names the fused c_attn */
      n.base = "transformer.";
      n.q = "attn.c_attn", n.k = n.v = NULL;
      n.ao = "attn.c_proj", n.ln1 = "ln_1", n.fc = "mlp.c_fc", n.proj = "mlp.c_proj";
      n.ln2 = "ln_2", n.proj_emb = NULL;
      n.mlm_dense = n.mlm_ln = n.mlm_bias = n.mlm_decoder_b = NULL;
      n.mlm_decoder_w = "lm_head.weight";
      break;
    default: ORDO_CHECK(0);
  }
  return n;
}

/* What the driver runs of a configuration; -1 with a message for the rest. */
int enc_check_config(const enc_config *cfg, int heads, const enc_lora_config *lora, ordo_err *e) {
  if (cfg->arch < 0 || cfg->arch >= ORDO_ARCH_COUNT)
    return ordo_fail(e, "model_type '%s' is not supported by the encoder", cfg->model_type);
  if (cfg->hidden_size <= 0 || cfg->num_attention_heads <= 0 ||
      cfg->hidden_size % cfg->num_attention_heads != 0)
    return ordo_fail(e, "hidden_size %d is not a multiple of num_attention_heads %d",
                     cfg->hidden_size, cfg->num_attention_heads);
  if (strcmp(cfg->hidden_act, "gelu") != 0 && strcmp(cfg->hidden_act, "gelu_new") != 0)
    return ordo_fail(e, "hidden_act '%s' is not supported (supported: gelu, gelu_new)",
                     cfg->hidden_act);
  if (cfg->arch == ORDO_ARCH_GPT2) {
    if (heads & ~ENC_HEAD_MLM)
      return ordo_fail(e, "gpt2 has only its LM head (no pooler, classification or RTD head)");
    if (cfg->position != ENC_POS_LEARNED && cfg->position != ENC_POS_ROPE &&
        cfg->position != ENC_POS_ALIBI)
      return ordo_fail(e, "gpt2 runs absolute, rope or alibi positions (ordo_position '%s')",
                       enc_position_name(cfg->position));
  }
  if (cfg->vocab_size <= 0 || cfg->num_hidden_layers <= 0 || cfg->intermediate_size <= 0 ||
      cfg->max_position_embeddings <= 0 || cfg->type_vocab_size <= 0 || cfg->embedding_size <= 0)
    return ordo_fail(e, "config has a non-positive size");
  if (cfg->embedding_size != cfg->hidden_size &&
      (cfg->arch == ORDO_ARCH_BERT || cfg->arch == ORDO_ARCH_ROBERTA))
    return ordo_fail(e, "%s has no embedding projection: embedding_size %d must equal hidden_size %d",
                     cfg->model_type, cfg->embedding_size, cfg->hidden_size);
  if (cfg->position < 0 || cfg->position >= ENC_POS_COUNT)
    return ordo_fail(e, "unknown position scheme %d", (int)cfg->position);
  if (cfg->position == ENC_POS_ROPE && (cfg->hidden_size / cfg->num_attention_heads) % 2 != 0)
    return ordo_fail(e, "rope needs an even head size, got %d",
                     cfg->hidden_size / cfg->num_attention_heads);
  if (cfg->position == ENC_POS_SINUSOIDAL && cfg->embedding_size % 2 != 0)
    return ordo_fail(e, "sinusoidal positions need an even embedding_size, got %d", cfg->embedding_size);
  if (cfg->rotary_value && cfg->position != ENC_POS_ROPE)
    return ordo_fail(e, "rotary_value needs rope positions");
  if (cfg->arch == ORDO_ARCH_ROFORMER && cfg->position != ENC_POS_ROPE)
    return ordo_fail(e, "roformer runs rope positions only (ordo_position '%s')",
                     enc_position_name(cfg->position));
  if (cfg->arch == ORDO_ARCH_ALBERT) {
    if (cfg->inner_group_num != 1)
      return ordo_fail(e, "ALBERT inner_group_num %d is not supported (1)", cfg->inner_group_num);
    if (cfg->num_hidden_groups < 1 || cfg->num_hidden_layers % cfg->num_hidden_groups != 0)
      return ordo_fail(e, "ALBERT num_hidden_groups %d does not divide num_hidden_layers %d",
                       cfg->num_hidden_groups, cfg->num_hidden_layers);
    if (lora && lora->r > 0) return ordo_fail(e, "LoRA on ALBERT's shared layers is not supported");
    if (heads & ENC_HEAD_NSP) return ordo_fail(e, "ALBERT has no next-sentence head (SOP instead)");
    if ((heads & ENC_HEAD_POOLER) && (heads & (ENC_HEAD_CLS | ENC_HEAD_SOP)))
      return ordo_fail(e, "ALBERT: the classification and sentence-order heads hold the pooler");
    if ((heads & ENC_HEAD_CLS) && (heads & ENC_HEAD_SOP))
      return ordo_fail(e, "ALBERT: one classifier on the pooler, classification or sentence order");
  } else if (heads & ENC_HEAD_SOP) {
    return ordo_fail(e, "the sentence-order head is ALBERT's (model_type albert)");
  }
  if ((heads & ENC_HEAD_RTD) && cfg->arch != ORDO_ARCH_ELECTRA)
    return ordo_fail(e, "the replaced-token-detection head is ELECTRA's (model_type electra)");
  if ((heads & (ENC_HEAD_POOLER | ENC_HEAD_NSP)) &&
      (cfg->arch == ORDO_ARCH_ELECTRA || cfg->arch == ORDO_ARCH_ROFORMER))
    return ordo_fail(e, "%s has no pooler", cfg->model_type);

  if ((heads & (ENC_HEAD_CLS | ENC_HEAD_SOP)) && cfg->num_labels <= 0)
    return ordo_fail(e, "classification head needs num_labels >= 1");
  return 0;
}

/* The layer sub-module names of layer l: "bert.encoder.layer.3." or, ALBERT, the group's
 * "albert.encoder.albert_layer_groups.1.albert_layers.0." */
static void layer_prefix(const enc_config *cfg, const family_names *n, int l, char *out, size_t cap) {
  if (cfg->arch == ORDO_ARCH_GPT2)
    snprintf(out, cap, "%sh.%d.", n->base, l);
  else if (cfg->arch == ORDO_ARCH_ALBERT)
    snprintf(out, cap, "%sencoder.albert_layer_groups.%d.albert_layers.0.", n->base, l);
  else
    snprintf(out, cap, "%sencoder.layer.%d.", n->base, l);
}

void enc_layer_prefix(const enc_model *m, int l, char *out, size_t cap) {
  family_names nm = names_of(m->cfg.arch);
  layer_prefix(&m->cfg, &nm, l, out, cap);
}

int enc_init_lora(enc_model *m, const enc_config *cfg, int heads, const enc_lora_config *lora,
                  const ordo_backend *be, ordo_err *e) {
  memset(m, 0, sizeof *m);
  if (lora && lora->r > 0) {
    if (lora->r > 4096 || !(lora->alpha > 0) || lora->dropout < 0 || lora->dropout >= 1 || !lora->targets)
      return ordo_fail(e, "LoRA: r %d, alpha %g, dropout %g, targets %#x: need 0 < r <= 4096, "
                          "alpha > 0, 0 <= dropout < 1 and a target", lora->r, lora->alpha,
                       lora->dropout, lora->targets);
    m->lora = *lora;
  }
  if (enc_check_config(cfg, heads, lora, e) != 0) return -1;
  m->cfg = *cfg;
  m->heads = heads & ENC_HEAD_SOP ? heads | ENC_HEAD_CLS : heads; /* SOP: the head's slots */
  m->be = be ? *be : backend_cpu();
  params_init(&m->params);
  family_names nm = names_of(cfg->arch);
  const char *pre = nm.base;
  snprintf(m->base_prefix, sizeof m->base_prefix, "%s", pre);
  int C = cfg->hidden_size, I = cfg->intermediate_size, V = cfg->vocab_size;
  int E = cfg->embedding_size, NH = cfg->num_attention_heads;

  /* GPT-2: wte/wpe, no token types and no embedding LayerNorm; its projections are Conv1D */
  int gpt2 = cfg->arch == ORDO_ARCH_GPT2, CV = gpt2 ? ORDO_PF_CONV1D : 0;
  m->emb.wte = add(m, 0, 0, 2, V, E, gpt2 ? "%swte.weight" : "%sembeddings.word_embeddings.weight", pre);
  m->emb.wpe = m->emb.rope_table = m->emb.rel_bias = m->emb.wtt = -1;
  m->emb.ln_w = m->emb.ln_b = m->lnf_w = m->lnf_b = -1;
  if (cfg->position == ENC_POS_LEARNED || cfg->position == ENC_POS_SINUSOIDAL)
    /* the sinusoidal table is frozen: a checkpoint holding it runs in transformers as a
     * learned table with those values */
    m->emb.wpe = add(m, 0, cfg->position == ENC_POS_SINUSOIDAL ? ORDO_PF_FROZEN : 0, 2,
                     cfg->max_position_embeddings, E,
                     gpt2 ? "%swpe.weight" : "%sembeddings.position_embeddings.weight", pre);
  if (!gpt2) {
    m->emb.wtt = add(m, 0, 0, 2, cfg->type_vocab_size, E, "%sembeddings.token_type_embeddings.weight", pre);
    m->emb.ln_w = add(m, 0, ND, 1, E, 0, "%sembeddings.LayerNorm.weight", pre);
    m->emb.ln_b = add(m, 0, ND, 1, E, 0, "%sembeddings.LayerNorm.bias", pre);
  }
  m->emb.proj_w = m->emb.proj_b = -1;
  if (cfg->arch == ORDO_ARCH_ALBERT || E != C) {
    m->emb.proj_w = add(m, 0, 0, 2, C, E, "%s%s.weight", pre, nm.proj_emb);
    m->emb.proj_b = add(m, 0, ND, 1, C, 0, "%s%s.bias", pre, nm.proj_emb);
  }
  if (cfg->position == ENC_POS_RELATIVE) /* one table for every layer, as T5 shares it */
    m->emb.rel_bias = add(m, 0, ND, 2, cfg->relative_buckets, NH,
                          "%sencoder.relative_attention_bias.weight", pre);
  if (cfg->arch == ORDO_ARCH_ROFORMER)
    m->emb.rope_table = add(m, 0, ORDO_PF_FROZEN | ND, 2, cfg->max_position_embeddings, C / NH,
                            "%sencoder.embed_positions.weight", pre);
  m->layer = ordo_calloc(cfg->num_hidden_layers, sizeof *m->layer);
  /* ALBERT: layer l runs group l / (layers / groups); the others own their layer */
  int n_own = cfg->arch == ORDO_ARCH_ALBERT ? cfg->num_hidden_groups : cfg->num_hidden_layers;
  int per_group = cfg->num_hidden_layers / n_own;
  for (int l = 0; l < n_own; l++) {
    enc_layer_idx *L = &m->layer[l * per_group];
    char lp[128];
    layer_prefix(cfg, &nm, l, lp, sizeof lp);
    /* q, k, v back to back so the three projections run as one (3C, C) product (GPT-2 stores
     * them so: c_attn) */
    if (gpt2) {
      L->qkv_w = add(m, 0, CV, 2, 3 * C, C, "%s%s.weight", lp, nm.q);
      L->qkv_b = add(m, 0, ND, 1, 3 * C, 0, "%s%s.bias", lp, nm.q);
    } else {
      L->qkv_w = add(m, 0, 0, 2, C, C, "%s%s.weight", lp, nm.q);
      add(m, 1, 0, 2, C, C, "%s%s.weight", lp, nm.k);
      add(m, 1, 0, 2, C, C, "%s%s.weight", lp, nm.v);
      L->qkv_b = add(m, 0, ND, 1, C, 0, "%s%s.bias", lp, nm.q);
      add(m, 1, ND, 1, C, 0, "%s%s.bias", lp, nm.k);
      add(m, 1, ND, 1, C, 0, "%s%s.bias", lp, nm.v);
    }
    L->ao_w = add(m, 0, CV, 2, C, C, "%s%s.weight", lp, nm.ao);
    L->ao_b = add(m, 0, ND, 1, C, 0, "%s%s.bias", lp, nm.ao);
    L->ln1_w = add(m, 0, ND, 1, C, 0, "%s%s.weight", lp, nm.ln1);
    L->ln1_b = add(m, 0, ND, 1, C, 0, "%s%s.bias", lp, nm.ln1);
    L->fc_w = add(m, 0, CV, 2, I, C, "%s%s.weight", lp, nm.fc);
    L->fc_b = add(m, 0, ND, 1, I, 0, "%s%s.bias", lp, nm.fc);
    L->proj_w = add(m, 0, CV, 2, C, I, "%s%s.weight", lp, nm.proj);
    L->proj_b = add(m, 0, ND, 1, C, 0, "%s%s.bias", lp, nm.proj);
    L->ln2_w = add(m, 0, ND, 1, C, 0, "%s%s.weight", lp, nm.ln2);
    L->ln2_b = add(m, 0, ND, 1, C, 0, "%s%s.bias", lp, nm.ln2);
    lora_add_params(m, l, L);
    L->spec_end = m->params.n;
    /* shared layers hold the same indices: their gradients accumulate into one tensor */
    for (int k = 1; k < per_group; k++) m->layer[l * per_group + k] = *L;
  }
  if (gpt2) {
    m->lnf_w = add(m, 0, ND, 1, C, 0, "%sln_f.weight", pre);
    m->lnf_b = add(m, 0, ND, 1, C, 0, "%sln_f.bias", pre);
  }
  m->pool_w = m->pool_b = -1;
  m->mlm_dense_w = m->mlm_dense_b = m->mlm_ln_w = m->mlm_ln_b = m->mlm_bias = -1;
  m->nsp_w = m->nsp_b = -1;
  m->cls_dense_w = m->cls_dense_b = m->cls_out_w = m->cls_out_b = m->cls_feat_w = -1;
  m->rtd_dense_w = m->rtd_dense_b = m->rtd_out_w = m->rtd_out_b = -1;
  if (heads & ENC_HEAD_POOLER) {
    /* ALBERT's pooler is a bare Linear */
    const char *pn = cfg->arch == ORDO_ARCH_ALBERT ? "pooler" : "pooler.dense";
    m->pool_w = add(m, 0, 0, 2, C, C, "%s%s.weight", pre, pn);
    m->pool_b = add(m, 0, ND, 1, C, 0, "%s%s.bias", pre, pn);
  }
  if ((heads & ENC_HEAD_MLM) && !gpt2) { /* GPT-2's LM head is wte alone */
    m->mlm_dense_w = add(m, 0, 0, 2, E, C, "%s.weight", nm.mlm_dense);
    m->mlm_dense_b = add(m, 0, ND, 1, E, 0, "%s.bias", nm.mlm_dense);
    m->mlm_ln_w = add(m, 0, ND, 1, E, 0, "%s.weight", nm.mlm_ln);
    m->mlm_ln_b = add(m, 0, ND, 1, E, 0, "%s.bias", nm.mlm_ln);
    m->mlm_bias = add(m, 0, ND, 1, V, 0, "%s", nm.mlm_bias);
  }
  if (heads & ENC_HEAD_NSP) {
    /* never reached by a loss here: frozen, so the optimizer leaves it as loaded */
    m->nsp_w = add(m, 0, ORDO_PF_FROZEN, 2, 2, C, "cls.seq_relationship.weight");
    m->nsp_b = add(m, 0, ORDO_PF_FROZEN | ND, 1, 2, 0, "cls.seq_relationship.bias");
  }
  if (m->heads & ENC_HEAD_CLS) {
    /* ELECTRA's and RoFormer's heads have the same layout with GELU where RoBERTa has tanh;
     * ALBERT's dense layer is its pooler, and the output layer is "classifier" (sequence
     * classification) or "sop_classifier.classifier" (sentence order) */
    m->cls_gelu = cfg->arch == ORDO_ARCH_ELECTRA || cfg->arch == ORDO_ARCH_ROFORMER;
    m->cls_pooled = cfg->arch == ORDO_ARCH_ALBERT;
    const char *out = m->cls_pooled ? (heads & ENC_HEAD_SOP ? "sop_classifier.classifier" : "classifier")
                                    : "classifier.out_proj";
    if (m->cls_pooled) {
      m->cls_dense_w = add(m, 0, 0, 2, C, C, "%spooler.weight", pre);
      m->cls_dense_b = add(m, 0, ND, 1, C, 0, "%spooler.bias", pre);
    } else {
      m->cls_dense_w = add(m, 0, 0, 2, C, C, "classifier.dense.weight");
      m->cls_dense_b = add(m, 0, ND, 1, C, 0, "classifier.dense.bias");
    }
    m->cls_out_w = add(m, 0, 0, 2, cfg->num_labels, C, "%s.weight", out);
    m->cls_out_b = add(m, 0, ND, 1, cfg->num_labels, 0, "%s.bias", out);
    if (cfg->head_features > 0)
      m->cls_feat_w = add(m, 0, 0, 2, cfg->num_labels, cfg->head_features, "%s.feature_weight", out);
  }
  if (heads & ENC_HEAD_RTD) {
    m->rtd_dense_w = add(m, 0, 0, 2, C, C, "discriminator_predictions.dense.weight");
    m->rtd_dense_b = add(m, 0, ND, 1, C, 0, "discriminator_predictions.dense.bias");
    m->rtd_out_w = add(m, 0, 0, 2, 1, C, "discriminator_predictions.dense_prediction.weight");
    m->rtd_out_b = add(m, 0, ND, 1, 1, 0, "discriminator_predictions.dense_prediction.bias");
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
  params_attach(&m->params, &m->be);
  return 0;
}

int enc_join_params(enc_model *a, enc_model *b, const char *prefix, const char *shared,
                    ordo_params *joint) {
  ORDO_CHECK(!a->w_lp && !b->w_lp && !a->params.borrowed && !b->params.borrowed);
  ORDO_CHECK(a->be.ops == b->be.ops && a->be.ctx == b->be.ctx);
  params_download(&a->params);
  params_download(&b->params);
  params_init(joint);
  for (int i = 0; i < a->params.n; i++) {
    const ordo_param_spec *s = &a->params.specs[i];
    int k = params_add(joint, s->name, s->ndim, s->shape, s->flags);
    /* the same additions in the same order: the same offsets, alignment included */
    ORDO_CHECK(joint->specs[k].offset == s->offset);
  }
  int *alias = ordo_malloc((size_t)b->params.n * sizeof(int)), n_shared = 0;
  for (int i = 0; i < b->params.n; i++) {
    const ordo_param_spec *s = &b->params.specs[i];
    int j = strstr(s->name, shared) ? params_find(&a->params, s->name) : -1;
    if (j >= 0 && a->params.specs[j].numel == s->numel && a->params.specs[j].ndim == s->ndim) {
      alias[i] = j;
      n_shared++;
      continue;
    }
    char name[ORDO_NAME_MAX];
    size_t lp = strlen(prefix), ln = strlen(s->name);
    ORDO_CHECKF(lp + ln < sizeof name, "name too long: %s%s", prefix, s->name);
    memcpy(name, prefix, lp);
    memcpy(name + lp, s->name, ln + 1);
    /* fused q/k/v stay back to back */
    int contiguous = i > 0 && alias[i - 1] < 0 &&
                     s->offset == b->params.specs[i - 1].offset + (size_t)b->params.specs[i - 1].numel;
    alias[i] = -1 - (contiguous ? params_add_contiguous(joint, name, s->ndim, s->shape, s->flags)
                                : params_add(joint, name, s->ndim, s->shape, s->flags));
  }
  params_alloc(joint);
  memcpy(joint->data, a->params.data, a->params.total * sizeof(float));
  for (int i = 0; i < b->params.n; i++) {
    ordo_param_spec *s = &b->params.specs[i];
    size_t off = alias[i] >= 0 ? a->params.specs[alias[i]].offset : joint->specs[-1 - alias[i]].offset;
    if (alias[i] < 0) memcpy(joint->data + off, params_data(&b->params, i), (size_t)s->numel * sizeof(float));
    s->offset = off;
  }
  free(alias);
  params_attach(joint, &a->be);
  /* both models now read and write joint's memory, its host image and its working copy */
  ordo_params *mp[2] = {&a->params, &b->params};
  for (int k = 0; k < 2; k++) {
    if (mp[k]->wd != mp[k]->data) mp[k]->be.ops->free(mp[k]->be.ctx, mp[k]->wd);
    if (mp[k]->gd != mp[k]->grad) mp[k]->be.ops->free(mp[k]->be.ctx, mp[k]->gd);
    ordo_free_aligned(mp[k]->data);
    if (mp[k]->grad) munmap(mp[k]->grad, mp[k]->total * sizeof(float));
    mp[k]->data = joint->data;
    mp[k]->grad = joint->grad;
    mp[k]->wd = joint->wd, mp[k]->gd = joint->gd;
    mp[k]->total = joint->total;
    mp[k]->borrowed = 1;
  }
  return n_shared;
}

void enc_free(enc_model *m) {
  if (m->be.ops) {
    m->be.ops->free(m->be.ctx, m->w_lp);
    enc_unplan(m);
  }
  params_free(&m->params);
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
    int is_ln = strstr(s->name, "LayerNorm.weight") || strstr(s->name, "layer_norm.weight") ||
                (m->cfg.arch == ORDO_ARCH_GPT2 && strstr(s->name, "ln_") && strstr(s->name, ".weight"));
    if (s->ndim == 1)
      for (int64_t j = 0; j < s->numel; j++) w[j] = is_ln ? 1.0f : 0.0f;
    else
      for (int64_t j = 0; j < s->numel; j++) w[j] = std * rng_normal(&r);
  }
  /* the padding token's embedding starts at zero, as nn.Embedding(padding_idx=...) */
  int pad = m->cfg.pad_token_id, E = m->cfg.embedding_size;
  if (pad >= 0 && pad < m->cfg.vocab_size)
    memset(params_data(&m->params, m->emb.wte) + (size_t)pad * E, 0, E * sizeof(float));
  if (m->cfg.position == ENC_POS_SINUSOIDAL)
    enc_sinusoidal_table(params_data(&m->params, m->emb.wpe), m->cfg.max_position_embeddings, E);
  if (m->emb.rope_table >= 0)
    enc_rope_table(params_data(&m->params, m->emb.rope_table), m->cfg.max_position_embeddings,
                   m->cfg.hidden_size / m->cfg.num_attention_heads);
  lora_init_weights(m, seed);
  params_upload(&m->params);
}

void enc_param_to_hf(const enc_model *m, int i, const float *src, float *dst, int64_t *shape) {
  const ordo_param_spec *s = &m->params.specs[i];
  memcpy(shape, s->shape, (size_t)s->ndim * sizeof *shape);
  if (!(s->flags & ORDO_PF_CONV1D)) {
    memcpy(dst, src, (size_t)s->numel * sizeof(float));
    return;
  }
  int64_t out = s->shape[0], in = s->shape[1];
  for (int64_t o = 0; o < out; o++)
    for (int64_t k = 0; k < in; k++) dst[k * out + o] = src[o * in + k];
  shape[0] = in, shape[1] = out;
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

/* Heads may be missing from a checkpoint (newly initialized, as transformers does): every
 * parameter outside the base model, and the pooler, which masked-LM checkpoints lack. */
static int is_head_param(const enc_model *m, int i) {
  const char *name = m->params.specs[i].name;
  size_t n = strlen(m->base_prefix);
  return strncmp(name, m->base_prefix, n) != 0 || strncmp(name + n, "pooler", 6) == 0;
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
    if (s->flags & ORDO_PF_CONV1D) {
      /* the checkpoint holds (IN, OUT) */
      int64_t hf[2] = {s->shape[1], s->shape[0]};
      float *tmp = ordo_malloc((size_t)s->numel * sizeof(float)), *w = params_data(&m->params, i);
      rc = st_read_f32(&f, f.tensors[t].name, tmp, 2, hf, e);
      for (int64_t r = 0; r < hf[0] && rc == 0; r++)
        for (int64_t c = 0; c < hf[1]; c++) w[c * hf[0] + r] = tmp[r * hf[1] + c];
      free(tmp);
    } else {
      rc = st_read_f32(&f, f.tensors[t].name, params_data(&m->params, i), s->ndim, s->shape, e);
    }
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
  params_upload(&m->params);
  if (rc == 0 && n_missing_heads) *n_missing_heads = missing_heads;
  return rc;
}

int enc_save(const enc_model *m, const char *dir, ordo_err *e) {
  params_download((ordo_params *)&m->params); /* the host image is a cache of the working copy */
  return enc_save_host(m, dir, e);
}

int enc_save_host(const enc_model *m, const char *dir, ordo_err *e) {
  if (ordo_dir_ensure(dir, e) != 0) return -1;
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (hfconfig_save(&m->cfg, path, e) != 0) return -1;
  st_writer w;
  st_writer_init(&w);
  st_writer_meta(&w, "format", "pt");
  float **held = ordo_calloc((size_t)m->params.n, sizeof *held); /* transposed copies */
  for (int i = 0; i < m->params.n; i++) {
    const ordo_param_spec *s = &m->params.specs[i];
    if (s->flags & ORDO_PF_LORA) continue; /* adapters: enc_lora_merge or enc_lora_save_adapters */
    const float *src = params_data(&m->params, i);
    int64_t shape[ORDO_MAX_DIMS];
    memcpy(shape, s->shape, sizeof shape);
    if (s->flags & ORDO_PF_CONV1D) {
      held[i] = ordo_malloc((size_t)s->numel * sizeof(float));
      enc_param_to_hf(m, i, src, held[i], shape);
      src = held[i];
    }
    st_writer_add_f32_as(&w, s->name, s->dtype, s->ndim, shape, src);
  }
  family_names nm = names_of(m->cfg.arch);
  /* tied weights under both names, as transformers writes and expects them (GPT-2's lm_head
   * is wte alone, no bias) */
  if (m->heads & ENC_HEAD_MLM) {
    const ordo_param_spec *wte = &m->params.specs[m->emb.wte];
    st_writer_add_f32_as(&w, nm.mlm_decoder_w, wte->dtype, wte->ndim, wte->shape,
                         params_data(&m->params, m->emb.wte));
    if (nm.mlm_decoder_b && m->mlm_bias >= 0) {
      const ordo_param_spec *bias = &m->params.specs[m->mlm_bias];
      st_writer_add_f32_as(&w, nm.mlm_decoder_b, bias->dtype, bias->ndim, bias->shape,
                           params_data(&m->params, m->mlm_bias));
    }
  }
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  int rc = st_writer_save(&w, path, e);
  st_writer_free(&w);
  for (int i = 0; i < m->params.n; i++) free(held[i]);
  free(held);
  return rc;
}
