/* Encoder forward and backward through the backend op table: post-LN layers (BERT family) and
 * pre-LN causal layers with a final LayerNorm (GPT-2). */
#include <limits.h>
#include <string.h>

#include "model_internal.h"

#define F(n) ((size_t)(n) * sizeof(float))

static float *take(ordo_arena *a, size_t nfloats) { return arena_alloc_f32(a, nfloats); }
/* n values of the storage dtype (the layers' typed activations) */
static void *take_typed(const enc_model *m, ordo_arena *a, size_t n) {
  return arena_alloc(a, n * dtype_size(m->storage));
}

/* The dtype of layer l's output: the storage dtype, float32 for the hidden state (the last
 * layer's output without a final LayerNorm), which enc_hidden's readers take as it is. */
static ordo_dtype enc_out_dtype(const enc_model *m, int l) {
  return l == m->cfg.num_hidden_layers - 1 && m->lnf_w < 0 ? ORDO_DT_F32 : m->storage;
}
static void *take_out(const enc_model *m, ordo_arena *a, int l, size_t n) {
  return arena_alloc(a, n * dtype_size(enc_out_dtype(m, l)));
}
/* The residual sums r1, r2: in the storage dtype in pre-LN layers, whose readers take them
 * rounded; float32 in post-LN layers, whose LayerNorms read them unrounded (after the residual
 * add, the emulation rounds only the branch). */
static ordo_dtype res_dtype(const enc_model *m) {
  return enc_is_causal(&m->cfg) ? m->storage : ORDO_DT_F32;
}
static void *take_res(const enc_model *m, ordo_arena *a, size_t n) {
  return arena_alloc(a, n * dtype_size(res_dtype(m)));
}
/* Layer l's input and its dtype: the embeddings' output x0 or the previous layer's output. */
static void *layer_in(const enc_model *m, int l, ordo_dtype *dt) {
  *dt = l == 0 ? m->storage : enc_out_dtype(m, l - 1);
  return l == 0 ? m->x0 : m->acts[l - 1].out;
}

/* Carves every activation buffer out of the arena (measure pass, then the real one). */
static void carve(enc_model *m, ordo_arena *a) {
  const enc_config *c = &m->cfg;
  size_t B = m->maxB, T = m->maxT, BT = B * T, C = c->hidden_size, I = c->intermediate_size;
  size_t NH = c->num_attention_heads, V = c->vocab_size, R = m->maxMLM, L = c->num_labels;
  size_t E = c->embedding_size, CE = C > E ? C : E;
  size_t HR = R > B ? R : B; /* head rows */
  size_t NF = c->head_features > 0 ? (size_t)c->head_features : 0;
  m->pos = arena_alloc(a, BT * sizeof(int32_t));
  m->tt0 = arena_alloc(a, BT * sizeof(int32_t));
  m->in_ids = arena_alloc(a, BT * sizeof(int32_t));
  m->in_mask = arena_alloc(a, BT * sizeof(int32_t));
  m->in_tt = arena_alloc(a, BT * sizeof(int32_t));
  m->in_rows = arena_alloc(a, R * sizeof(int32_t));
  m->in_first = arena_alloc(a, B * sizeof(int32_t));
  m->in_head_rows = arena_alloc(a, HR * sizeof(int32_t));
  m->in_labels = arena_alloc(a, HR * sizeof(int32_t));
  m->in_f = take(a, BT > B * L ? BT : B * L);
  m->in_emb = take(a, BT * E);
  m->in_feats = NF ? take(a, B * NF) : NULL;
  m->loss = take(a, 1);
  m->emb_sum = take(a, BT * E);
  m->emb_mean = take(a, BT);
  m->emb_rstd = take(a, BT);
  m->emb_ln = m->emb.proj_w >= 0 ? take_typed(m, a, BT * E) : NULL;
  m->x0 = take_typed(m, a, BT * C);
  /* (a measuring arena returns NULL pointers: decide by the mode, not by the pointer) */
  int share_att = m->recompute != ENC_RECOMPUTE_NONE;
  void *shared_att = share_att ? take_typed(m, a, B * NH * T * T) : NULL;
  for (int l = 0; l < c->num_hidden_layers; l++) {
    enc_layer_acts *A = &m->acts[l];
    if (m->recompute == ENC_RECOMPUTE_LAYER && l > 0) {
      /* one working set serves every layer; only the layer outputs are kept */
      *A = m->acts[0]; /* LoRA buffers too: every layer has the same adapted sites */
      A->out = take_out(m, a, l, BT * C);
      continue;
    }
    A->qkv = take_typed(m, a, BT * 3 * C);
    A->att = share_att ? shared_att : take_typed(m, a, B * NH * T * T);
    A->attn_out = take_typed(m, a, BT * C);
    A->r1 = take_res(m, a, BT * C);
    A->ln1_mean = take(a, BT);
    A->ln1_rstd = take(a, BT);
    A->h1 = take_typed(m, a, BT * C);
    A->fc = take_typed(m, a, BT * I);
    A->gelu = take_typed(m, a, BT * I);
    A->r2 = take_res(m, a, BT * C);
    A->ln2_mean = take(a, BT);
    A->ln2_rstd = take(a, BT);
    A->out = take_out(m, a, l, BT * C);
    for (int st = 0; st < ENC_LORA_NSITES; st++) {
      A->lora_xa[st] = A->lora_xd[st] = NULL;
      if (m->layer[l].lora_a[st] < 0) continue;
      int in, out;
      lora_site_dims(m, st, &in, &out);
      A->lora_xa[st] = take(a, BT * m->lora.r);
      if (m->lora.dropout > 0) A->lora_xd[st] = take(a, BT * in);
    }
  }
  if (m->lnf_w >= 0) {
    m->lnf_out = take(a, BT * C);
    m->lnf_mean = take(a, BT);
    m->lnf_rstd = take(a, BT);
  }
  if (m->lora.r > 0) {
    size_t wide = I > 3 * C ? I : 3 * C; /* the widest adapted output (c_attn: 3C) */
    m->lora_tmp = take(a, BT * wide);
    m->lora_dxa = take(a, BT * m->lora.r);
    m->lora_dxd = take(a, BT * wide);
  }
  if (m->heads & ENC_HEAD_MLM) {
    m->mlm_in = take(a, R * C);
    m->mlm_fc = take_typed(m, a, R * E);
    m->mlm_gelu = take_typed(m, a, R * E);
    m->mlm_ln = take_typed(m, a, R * E);
    m->mlm_mean = take(a, R);
    m->mlm_rstd = take(a, R);
    m->mlm_logits = take(a, R * V);
    m->mlm_probs = take(a, R * V);
    m->d_mlm_logits = take(a, R * V);
  }
  if (m->heads & ENC_HEAD_CLS) {
    m->cls_in = take(a, B * C);
    m->cls_fc = take_typed(m, a, B * C);
    m->cls_tanh = take_typed(m, a, B * C);
    m->cls_drop = take(a, B * C);
    m->cls_logits = take(a, B * L);
    m->d_cls_logits = take(a, B * L);
  }
  if (m->heads & ENC_HEAD_RTD) {
    m->rtd_fc = take_typed(m, a, BT * C);
    m->rtd_act = take_typed(m, a, BT * C);
    m->rtd_logits = take(a, BT);
    m->rtd_w = take(a, BT);
    m->d_rtd_logits = take(a, BT);
  }
  if (m->heads & ENC_HEAD_POOLER) {
    m->pool_in = take(a, B * C);
    m->pooled = take(a, B * C);
    m->d_pooled = take(a, B * C);
  }
  m->d_hidden = take(a, BT * C);
  m->g_a = take(a, BT * CE); /* (BT, E) in the embeddings' backward */
  m->g_b = take(a, BT * CE);
  m->g_emb = m->emb.proj_w >= 0 ? take_typed(m, a, BT * E) : NULL;
  int biased = c->position == ENC_POS_ALIBI || c->position == ENC_POS_RELATIVE;
  m->att_bias = biased ? take(a, NH * T * T) : NULL;
  m->g_att_bias = biased ? take(a, NH * T * T) : NULL;
  m->g_c = take(a, 2 * BT * C); /* two (BT, C) halves: the running d hidden and its successor */
  m->g_qkv = take_typed(m, a, BT * 3 * C);
  m->g_big = take_typed(m, a, 2 * BT * (I > C ? I : C)); /* (attn_out_backward: 2 BT C) */
  m->g_att = take(a, B * NH * T * T);
  m->g_head_a = take(a, HR * CE);
  m->g_head_b = take(a, HR * CE);
  m->g_head_c = take(a, HR * CE);
}

int enc_max_seq(const enc_config *c) {
  /* rotary and bias schemes have no table to run out of */
  if (c->position != ENC_POS_LEARNED && c->position != ENC_POS_SINUSOIDAL) return INT_MAX;
  return c->max_position_embeddings - (c->arch == ORDO_ARCH_ROBERTA ? c->pad_token_id + 1 : 0);
}

int enc_check_seq(const enc_config *c, int T, ordo_err *e) {
  int max = enc_max_seq(c);
  if (T <= max) return 0;
  return ordo_fail(e, "sequences of %d tokens do not fit the model's position table (%d positions: "
                   "max_position_embeddings %d%s)", T, max > 0 ? max : 0,
                   c->max_position_embeddings,
                   c->arch == ORDO_ARCH_ROBERTA ? ", after RoBERTa's pad offset" : "");
}

void enc_plan(enc_model *m, int maxB, int maxT, int maxMLM) {
  ORDO_CHECK(maxB > 0 && maxT > 0);
  ORDO_CHECKF(maxT <= enc_max_seq(&m->cfg), "sequence length %d exceeds the position table", maxT);
  enc_unplan(m);
  free(m->acts);
  m->acts = ordo_calloc(m->cfg.num_hidden_layers, sizeof *m->acts);
  m->maxB = maxB;
  m->maxT = maxT;
  m->maxMLM = maxMLM > 0 ? maxMLM : maxB * maxT;
  ordo_arena meas;
  arena_init_measure(&meas);
  carve(m, &meas);
  arena_init_at(&m->arena, m->be.ops->alloc(m->be.ctx, meas.peak), meas.peak);
  carve(m, &m->arena);
  m->tv_cap = tv_plan(m);
  m->tv_base = m->tv_cap ? m->be.ops->alloc(m->be.ctx, F(m->tv_cap)) : NULL;
  m->tv_used = m->tv_peak = 0;
  m->tv_nout = 0;
  const enc_config *c = &m->cfg;
  size_t BT = (size_t)maxB * maxT, att = (size_t)c->num_attention_heads * maxT * maxT;
  size_t nf = BT > att ? BT : att;
  if ((size_t)c->vocab_size > nf) nf = c->vocab_size;
  m->host_i = ordo_malloc(BT * sizeof(int32_t));
  m->host_f = ordo_malloc(nf * sizeof(float));
  m->host_first = ordo_malloc((size_t)maxB * sizeof(int32_t));
}

/* Frees the arena and the host staging (enc_plan again, enc_free). */
void enc_unplan(enc_model *m) {
  m->be.ops->free(m->be.ctx, m->arena.base);
  arena_free(&m->arena);
  m->be.ops->free(m->be.ctx, m->tv_base);
  m->tv_base = NULL, m->tv_cap = 0;
  free(m->host_i);
  free(m->host_f);
  free(m->host_first);
  m->host_i = NULL, m->host_f = NULL, m->host_first = NULL;
}

void enc_read(const enc_model *m, void *host_dst, const void *src, size_t bytes) {
  m->be.ops->download(m->be.ctx, host_dst, src, bytes);
}

void enc_write(const enc_model *m, void *dst, const void *host_src, size_t bytes) {
  m->be.ops->upload(m->be.ctx, dst, host_src, bytes);
}

const float *enc_hidden(const enc_model *m) {
  if (m->lnf_out) return m->lnf_out;
  int L = m->cfg.num_hidden_layers;
  return m->acts[L - 1].out; /* float32 (enc_out_dtype) */
}

/* Dropout streams: one key per step, one disjoint counter range per site. */
static uint64_t drop_key(const enc_model *m) { return m->seed ^ (m->step * 0x9E3779B97F4A7C15ull); }
static uint64_t site(int s) { return (uint64_t)s << 40; }
enum { SITE_EMB = 0, SITE_CLS_IN = 1, SITE_CLS_MID = 2, SITE_LAYER0 = 8 };
/* LoRA dropout sites come after every layer's: 1024 + 8 l + site */
static uint64_t lora_site(int l, int st) { return site(1024 + 8 * l + st); }

static float pdrop(const enc_model *m, float p) { return m->training ? p : 0.0f; }

const void *enc_w_st(const enc_model *m, int idx) {
  if (idx < 0) return NULL;
  if (!m->w_lp) return params_wd(&m->params, idx);
  return dtype_at(m->w_lp, m->storage, (int64_t)m->params.specs[idx].offset);
}
const float *enc_w(enc_model *m, int idx) {
  if (idx < 0) return NULL;
  return tv_in(m, enc_w_st(m, idx), m->storage, (size_t)m->params.specs[idx].numel);
}
float *enc_g(const enc_model *m, int idx) {
  if (idx < 0 || (m->params.specs[idx].flags & ORDO_PF_FROZEN)) return NULL;
  return params_gd(&m->params, idx);
}
#define P enc_w
#define G enc_g
#define W(idx) enc_w_st(m, (idx))
/* fp32 views of the storage-dtype buffers for the op being called (typed_ops.c): an input, an
 * output the op overwrites, and the end of the call (outputs stored: the rounding point). */
#define TI(p, n) tv_in(m, (p), m->storage, (n))
#define TO(p, n) tv_out(m, (p), (n), 0)
#define END() tv_end(m)

static void upload_i32(const enc_model *m, int32_t *dst, const int32_t *src, size_t n) {
  m->be.ops->upload(m->be.ctx, dst, src, n * sizeof(int32_t));
}
static void upload_f32(const enc_model *m, float *dst, const float *src, size_t n) {
  m->be.ops->upload(m->be.ctx, dst, src, F(n));
}

/* Position ids of the batch, built on the host and uploaded into m->pos. */
static void positions(enc_model *m, const enc_batch *b) {
  int B = b->B, T = b->T;
  int32_t *pos = m->host_i;
  if (b->pos_ids) {
    for (int i = 0; i < B * T; i++) {
      ORDO_CHECKF(b->pos_ids[i] >= 0 && b->pos_ids[i] < m->cfg.max_position_embeddings,
                  "position id %d out of range", b->pos_ids[i]);
      pos[i] = b->pos_ids[i];
    }
  } else if (m->cfg.arch == ORDO_ARCH_ROBERTA) {
    /* RoBERTa: positions count non-pad tokens from pad_token_id + 1; pads keep pad_token_id */
    int pad = m->cfg.pad_token_id;
    for (int i = 0; i < B; i++) {
      int run = 0;
      for (int t = 0; t < T; t++) {
        int is_tok = b->ids[i * T + t] != pad;
        run += is_tok;
        pos[i * T + t] = is_tok ? pad + run : pad;
      }
    }
  } else {
    for (int i = 0; i < B; i++)
      for (int t = 0; t < T; t++) pos[i * T + t] = t;
  }
  upload_i32(m, m->pos, pos, (size_t)B * T);
}

/* The first row of each sequence (b * T; b when the hidden state holds first rows only) into
 * m->in_first: the rows the pooler and the classification head read. */
static void first_rows(enc_model *m, int B, int T) {
  for (int i = 0; i < B; i++) m->host_i[i] = i * T;
  upload_i32(m, m->in_first, m->host_i, (size_t)B);
}

/* The layers' activation: GELU exact or its tanh form (gelu_new). */
static void act_forward(const enc_model *m, float *out, const float *in, int64_t n) {
  if (m->cfg.hidden_act[4] == '_') m->be.ops->gelu_tanh_forward(m->be.ctx, out, in, n);
  else m->be.ops->gelu_forward(m->be.ctx, out, in, n);
}
static void act_backward(const enc_model *m, float *din, int acc, const float *in,
                         const float *dout, int64_t n) {
  if (m->cfg.hidden_act[4] == '_') m->be.ops->gelu_tanh_backward(m->be.ctx, din, acc, in, dout, n);
  else m->be.ops->gelu_backward(m->be.ctx, din, acc, in, dout, n);
}

/* din = dropout's backward of dout, overwriting din (no zero-fill first): the mask is the one
 * dropout_forward draws with the same key and counters, so it is that op applied to dout (the
 * same values as dropout_backward onto zeros; a zero may come out as -0 instead of +0). */
static void dropout_backward_over(const enc_model *m, float *din, const float *dout, float p,
                                  uint64_t key, uint64_t offset, int64_t n) {
  m->be.ops->dropout_forward(m->be.ctx, din, dout, p, key, offset, n);
}

/* out (n, C) = dropout(in) with the counters of rows rows[j] of a (BT, C) activation (host
 * indices; NULL: rows 0 .. n-1, one call): a layer run at some rows only draws the full layer's
 * masks for them. out may be in. */
static void dropout_rows(const enc_model *m, float *out, const float *in, float p, uint64_t key,
                         uint64_t offset, int n, int C, const int32_t *rows) {
  if (!rows || p == 0.0f) {
    m->be.ops->dropout_forward(m->be.ctx, out, in, p, key, offset, (int64_t)n * C);
    return;
  }
  for (int j = 0; j < n; j++)
    m->be.ops->dropout_forward(m->be.ctx, out + (size_t)j * C, in + (size_t)j * C, p, key,
                               offset + (uint64_t)rows[j] * (uint64_t)C, C);
}

/* Rounds a float32 buffer to the mixed-precision type in place, where its value must stay
 * float32 around the rounding: post-LN r1 and r2 (the branch, before the residual add), the
 * hidden state and the heads' outputs (fp32 readers), the output gradients the losses seed, the
 * running d hidden (rounded once accumulated), g_a and g_b (also read unrounded elsewhere). */
static void R(const enc_model *m, float *x, size_t n) {
  if (m->precision != ORDO_DT_F32) m->be.ops->round_dtype(m->be.ctx, x, (int64_t)n, m->precision);
}

/* Whether layer l's q, k, v projection has an adapter (on q, k or v, or GPT-2's c_attn). */
static int qkv_adapted(const enc_model *m, int l) {
  int adapted = lora_at(m, l, ENC_LORA_QKV);
  for (int st = ENC_LORA_Q; st <= ENC_LORA_V; st++) adapted |= lora_at(m, l, st);
  return adapted;
}

/* q, k, v adapters of layer l on input x (BT, C) into qkv (BT, 3C). */
static void qkv_lora_forward(enc_model *m, int l, const float *x, int BT, float *qkv, uint64_t key) {
  int C = m->cfg.hidden_size;
  for (int st = ENC_LORA_Q; st <= ENC_LORA_V; st++)
    lora_forward(m, l, st, x, BT, qkv + (size_t)st * C, 3 * C, key, lora_site(l, st));
  lora_forward(m, l, ENC_LORA_QKV, x, BT, qkv, 3 * C, key, lora_site(l, ENC_LORA_QKV));
}
static void qkv_lora_backward(enc_model *m, int l, const float *x, int BT, const float *dqkv,
                              float *dx, uint64_t key) {
  int C = m->cfg.hidden_size;
  for (int st = ENC_LORA_Q; st <= ENC_LORA_V; st++)
    lora_backward(m, l, st, x, BT, dqkv + (size_t)st * C, 3 * C, dx, key, lora_site(l, st));
  lora_backward(m, l, ENC_LORA_QKV, x, BT, dqkv, 3 * C, dx, key, lora_site(l, ENC_LORA_QKV));
}

/* The attention core of layer l from A->qkv (rotary applied first): A->att, A->attn_out. */
static void attention_core(enc_model *m, const enc_batch *b, int l, uint64_t key) {
  const enc_config *c = &m->cfg;
  int B = b->B, T = b->T, C = c->hidden_size, NH = c->num_attention_heads;
  enc_layer_acts *A = &m->acts[l];
  size_t BT = (size_t)B * T;
  m->be.ops->attention_forward(m->be.ctx, TO(A->attn_out, BT * C), TO(A->att, BT * NH * T),
                               m->g_att, TI(A->qkv, BT * 3 * C), m->in_mask, enc_is_causal(c),
                               m->att_bias, pdrop(m, c->attention_probs_dropout_prob), key,
                               site(SITE_LAYER0 + 2 * c->num_hidden_layers + l), B, T, C, NH);
  END();
}

/* Layer l's linear layer at adapter site st: out (N, OUT) = in (N, IN) W^T + b (tmm_forward:
 * out_st, in_dt), plus the site's adapter (LoRA) when it has one. */
static void site_forward(enc_model *m, int l, int st, void *out, int out_st, const void *in,
                         ordo_dtype in_dt, int w, int bias, int N, int IN, int OUT, uint64_t key) {
  tmm_views v;
  int adapted = lora_at(m, l, st);
  tmm_forward(m, out, out_st, in, in_dt, W(w), W(bias), N, IN, OUT, adapted ? &v : NULL);
  if (adapted) lora_forward(m, l, st, v.in, N, v.out, OUT, key, lora_site(l, st));
  END();
}

/* q, k, v of rows [r0, r0 + n) of layer l from their input x_in (n, C) of dtype x_dt:
 * product, adapters, rotary. */
static void qkv_forward(enc_model *m, int l, const void *x_in, ordo_dtype x_dt, int r0, int n,
                        uint64_t key) {
  const enc_config *c = &m->cfg;
  int C = c->hidden_size;
  size_t nq = (size_t)3 * n * C;
  const enc_layer_idx *L = &m->layer[l];
  void *qkv_st = act_at(m, m->acts[l].qkv, (size_t)r0 * 3 * C);
  int adapted = qkv_adapted(m, l);
  tmm_views v; /* BERT's q, k and v: three specs back to back, one (3C, C) product */
  tmm_forward(m, qkv_st, 1, x_in, x_dt, W(L->qkv_w), W(L->qkv_b), n, C, 3 * C,
              adapted ? &v : NULL);
  if (adapted) qkv_lora_forward(m, l, v.in, n, v.out, key);
  END();
  if (c->position == ENC_POS_ROPE) {
    m->be.ops->rope_forward(m->be.ctx, tv_out(m, qkv_st, nq, 1), m->pos + r0, c->rope_scale,
                            c->rope_theta, c->rotary_value ? 3 : 2, n, C, c->num_attention_heads);
    END();
  }
}

/* One pre-LN layer (GPT-2): out = r1 + dropout(MLP(LN2(r1))), r1 = x + dropout(Attn(LN1(x))),
 * on rows [r0, BT) of the batch. r0 == 0 and !cached: the whole batch (training, parity).
 * cached (one sequence, inference): rows r0.. are new positions whose queries attend over the
 * keys and values of every earlier position, kept in the layer's qkv activations from earlier
 * calls: the key/value cache of decoding. */
static void layer_forward_preln(enc_model *m, const enc_batch *b, int l, const void *x,
                                ordo_dtype x_dt, uint64_t key, int r0, int cached) {
  const enc_config *c = &m->cfg;
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  int BT = b->B * b->T, C = c->hidden_size, I = c->intermediate_size, n = BT - r0;
  float eps = c->layer_norm_eps, ph = pdrop(m, c->hidden_dropout_prob);
  size_t nBC = (size_t)n * C, nBI = (size_t)n * I, oc = (size_t)r0 * C;
  const enc_layer_idx *L = &m->layer[l];
  enc_layer_acts *A = &m->acts[l];
  ordo_dtype out_dt = enc_out_dtype(m, l);
  void *r1 = act_at(m, A->r1, oc), *r2 = act_at(m, A->r2, oc); /* (res_dtype) */
  void *out = dtype_at(A->out, out_dt, (int64_t)oc);
  void *h1 = act_at(m, A->h1, oc), *attn_out = act_at(m, A->attn_out, oc);
  void *fc = act_at(m, A->fc, (size_t)r0 * I), *gelu = act_at(m, A->gelu, (size_t)r0 * I);
  const void *xr = dtype_at_c(x, x_dt, (int64_t)oc);
  op->layernorm_forward(cx, TO(h1, nBC), A->ln1_mean + r0, A->ln1_rstd + r0,
                        tv_in(m, xr, x_dt, nBC), P(m, L->ln1_w), P(m, L->ln1_b), eps, n, C);
  END();
  qkv_forward(m, l, h1, m->storage, r0, n, key);
  if (cached) {
    ORDO_CHECK(b->B == 1 && !m->training);
    const float *qkv = TI(A->qkv, (size_t)BT * 3 * C); /* the cache: every position's k, v */
    op->attention_cached_forward(cx, TO(attn_out, nBC),
                                 TO(A->att, (size_t)c->num_attention_heads * n * BT),
                                 qkv + (size_t)r0 * 3 * C, qkv + C, qkv + 2 * C, 3 * C, 3 * C, n,
                                 BT, C, c->num_attention_heads);
    END();
  } else {
    ORDO_CHECK(r0 == 0);
    attention_core(m, b, l, key);
  }
  site_forward(m, l, ENC_LORA_ATTN_OUT, r1, 1, attn_out, m->storage, L->ao_w, L->ao_b, n, C, C,
               key);
  float *r1v = tv_out(m, r1, nBC, 1); /* the rounded branch */
  op->dropout_forward(cx, r1v, r1v, ph, key, site(SITE_LAYER0 + 2 * l), (int64_t)nBC);
  op->residual_forward(cx, r1v, r1v, tv_in(m, xr, x_dt, nBC), (int64_t)nBC);
  END();
  op->layernorm_forward(cx, TO(r2, nBC), A->ln2_mean + r0, A->ln2_rstd + r0, TI(r1, nBC),
                        P(m, L->ln2_w), P(m, L->ln2_b), eps, n, C);
  END();
  site_forward(m, l, ENC_LORA_FC, fc, 1, r2, m->storage, L->fc_w, L->fc_b, n, C, I, key);
  act_forward(m, TO(gelu, nBI), TI(fc, nBI), (int64_t)nBI);
  END();
  ORDO_CHECK(out_dt == m->storage); /* pre-LN layers end in a final LayerNorm */
  site_forward(m, l, ENC_LORA_PROJ, out, 1, gelu, m->storage, L->proj_w, L->proj_b, n, I, C, key);
  float *o = tv_out_dt(m, out, out_dt, nBC, 1); /* the rounded branch */
  op->dropout_forward(cx, o, o, ph, key, site(SITE_LAYER0 + 2 * l + 1), (int64_t)nBC);
  op->residual_forward(cx, o, o, TI(r1, nBC), (int64_t)nBC);
  END();
}

/* A post-LN layer after its attention core, on n rows: r1 = x + dropout(attn_out Wo^T + bo),
 * h1 = LN1(r1), out = LN2(h1 + dropout(MLP(h1))); x (n, C) and the first n rows of
 * A->attn_out are its inputs, the first n rows of A's buffers its outputs. rows: the batch rows
 * they are, whose dropout counters they take (dropout_rows; NULL: rows 0 .. n-1). */
static void layer_post_attention(enc_model *m, int l, const void *x, ordo_dtype x_dt, int n,
                                 const int32_t *rows, uint64_t key) {
  const enc_config *c = &m->cfg;
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  int C = c->hidden_size, I = c->intermediate_size;
  float eps = c->layer_norm_eps, ph = pdrop(m, c->hidden_dropout_prob);
  size_t nBC = (size_t)n * C, nBI = (size_t)n * I;
  const enc_layer_idx *L = &m->layer[l];
  enc_layer_acts *A = &m->acts[l];
  site_forward(m, l, ENC_LORA_ATTN_OUT, A->r1, 0, A->attn_out, m->storage, L->ao_w, L->ao_b, n, C,
               C, key);
  R(m, A->r1, nBC);
  dropout_rows(m, A->r1, A->r1, ph, key, site(SITE_LAYER0 + 2 * l), n, C, rows);
  op->residual_forward(cx, A->r1, A->r1, tv_in(m, x, x_dt, nBC), (int64_t)nBC);
  op->layernorm_forward(cx, TO(A->h1, nBC), A->ln1_mean, A->ln1_rstd, A->r1, P(m, L->ln1_w),
                        P(m, L->ln1_b), eps, n, C);
  END();
  site_forward(m, l, ENC_LORA_FC, A->fc, 1, A->h1, m->storage, L->fc_w, L->fc_b, n, C, I, key);
  act_forward(m, TO(A->gelu, nBI), TI(A->fc, nBI), (int64_t)nBI);
  END();
  site_forward(m, l, ENC_LORA_PROJ, A->r2, 0, A->gelu, m->storage, L->proj_w, L->proj_b, n, I, C,
               key);
  R(m, A->r2, nBC);
  dropout_rows(m, A->r2, A->r2, ph, key, site(SITE_LAYER0 + 2 * l + 1), n, C, rows);
  op->residual_forward(cx, A->r2, A->r2, TI(A->h1, nBC), (int64_t)nBC);
  END();
  op->layernorm_forward(cx, tv_out_dt(m, A->out, enc_out_dtype(m, l), nBC, 0), A->ln2_mean,
                        A->ln2_rstd, A->r2, P(m, L->ln2_w), P(m, L->ln2_b), eps, n, C);
  END();
}

/* One layer: its input (layer_in, (BT, C)) -> acts[l].out. Reruns in backward under
 * recompute. */
static void layer_forward(enc_model *m, const enc_batch *b, int l, uint64_t key) {
  ordo_dtype x_dt;
  const void *x = layer_in(m, l, &x_dt);
  if (enc_is_causal(&m->cfg)) {
    layer_forward_preln(m, b, l, x, x_dt, key, 0, 0);
    return;
  }
  qkv_forward(m, l, x, x_dt, 0, b->B * b->T, key);
  attention_core(m, b, l, key);
  layer_post_attention(m, l, x, x_dt, b->B * b->T, NULL, key);
}

/* Where first_qkv_forward left sequence i's query (element q + i * q_step of the layer's qkv
 * storage) and keys (k + i * k_step, row stride ldkv, values C further). */
typedef struct first_qkv {
  size_t q, k, q_step, k_step, n; /* n: the values written */
  int ldkv;
} first_qkv;

/* The last layer's projections under first_only or head_rows into A->qkv: keys and values of
 * every row (BT, 2C), then the queries of the nf rows xf (nf, C) alone, from the row blocks of the
 * (3C, C) weight; with adapters on q, k or v or with rotary positions (first_only only: xf are
 * the B first rows), the full (BT, 3C) product. */
static first_qkv first_qkv_forward(enc_model *m, int l, const void *x_in, ordo_dtype x_dt,
                                   const float *xf, int nf, int B, int T, uint64_t key) {
  const enc_config *c = &m->cfg;
  const enc_layer_idx *L = &m->layer[l];
  size_t C = (size_t)c->hidden_size, BT = (size_t)B * T;
  void *qkv = m->acts[l].qkv;
  if (c->position == ENC_POS_ROPE || qkv_adapted(m, l)) {
    qkv_forward(m, l, x_in, x_dt, 0, (int)BT, key);
    return (first_qkv){0, C, T * 3 * C, T * 3 * C, BT * 3 * C, (int)(3 * C)};
  }
  /* BERT's q, k and v may be three specs read as one (3C, C) matrix; xf holds rows of x (values
   * of the storage dtype) */
  const void *w = W(L->qkv_w), *bias = W(L->qkv_b);
  ordo_dtype st = m->storage;
  tmm_forward(m, qkv, 1, x_in, x_dt, dtype_at_c(w, st, (int64_t)(C * C)),
              bias ? dtype_at_c(bias, st, (int64_t)C) : NULL, (int)BT, (int)C, (int)(2 * C), NULL);
  tmm_forward(m, act_at(m, qkv, BT * 2 * C), 1, tv_st(m, xf, (size_t)nf * C), st, w, bias, nf,
              (int)C, (int)C, NULL);
  END();
  return (first_qkv){BT * 2 * C, 0, C, T * 2 * C, BT * 2 * C + (size_t)nf * C, (int)(2 * C)};
}

/* The last post-LN layer at each sequence's first position only (enc_batch.first_only): keys and
 * values of every position, the first positions' queries, then per sequence that query's
 * attention over its real keys (the rows are right-padded, checked by enc_forward) through the
 * cached-attention op, and the rest of the layer on those B rows: acts[l].out (B, C). x's first
 * rows are gathered into g_b, backward scratch that an inference pass leaves free. */
static void layer_forward_first(enc_model *m, const enc_batch *b, int l, uint64_t key) {
  const enc_config *c = &m->cfg;
  int B = b->B, T = b->T, C = c->hidden_size;
  enc_layer_acts *A = &m->acts[l];
  ordo_dtype x_dt;
  const void *x = layer_in(m, l, &x_dt);
  first_rows(m, B, T);
  m->be.ops->gather_rows(m->be.ctx, m->g_b, tv_in(m, x, x_dt, (size_t)B * T * C), m->in_first,
                         B, C);
  END(); /* (the view of x) */
  first_qkv f = first_qkv_forward(m, l, x, x_dt, m->g_b, B, B, T, key);
  const float *qkv = TI(A->qkv, f.n);
  float *ao = TO(A->attn_out, (size_t)B * C);
  float *att = TO(A->att, (size_t)c->num_attention_heads * T); /* each call's probabilities */
  for (int i = 0; i < B; i++) {
    int len = 0;
    while (len < T && b->mask[(size_t)i * T + len]) len++;
    float *o = ao + (size_t)i * C;
    const float *q = qkv + f.q + i * f.q_step, *k = qkv + f.k + i * f.k_step;
    if (len == 0) zero_buf(m, o, F(C)); /* no real key: zeros, as attention_forward gives */
    else
      m->be.ops->attention_cached_forward(m->be.ctx, o, att, q, k, k + C, C, f.ldkv, 1, len, C,
                                          c->num_attention_heads);
  }
  END();
  layer_post_attention(m, l, m->g_b, ORDO_DT_F32, B, NULL, key);
}

/* The number of rows the heads read where enc_batch.head_rows_only can be taken for this batch
 * (see model.h), *rows those rows on the host; 0 where it cannot. */
static int head_rows_allowed(enc_model *m, const enc_batch *b, const int32_t **rows) {
  const enc_config *c = &m->cfg;
  int last = c->num_hidden_layers - 1, n = 0, adapted = 0;
  /* an adapter anywhere in the last layer: its LoRA dropout counts rows its own way */
  for (int st = 0; st < ENC_LORA_NSITES; st++) adapted |= lora_at(m, last, st);
  if (!b->head_rows_only || b->first_only || enc_is_causal(c) || m->att_bias ||
      m->precision != ORDO_DT_F32 || m->storage != ORDO_DT_F32 || c->position == ENC_POS_ROPE ||
      adapted || !m->be.ops->attention_rows_forward || !m->be.ops->attention_rows_backward)
    return 0;
  if (m->heads == ENC_HEAD_MLM && b->mlm_rows) {
    /* more rows than planned: the full path, whose head check names them */
    if (b->n_mlm_rows > m->maxMLM) return 0;
    *rows = b->mlm_rows, n = b->n_mlm_rows;
  } else if (m->heads && !(m->heads & ~(ENC_HEAD_CLS | ENC_HEAD_POOLER))) {
    for (int i = 0; i < b->B; i++) m->host_first[i] = i * b->T;
    *rows = m->host_first, n = b->B;
  }
  for (int j = 0; j < n; j++) /* rows out of range: the full path, whose head check names them */
    if ((*rows)[j] < 0 || (*rows)[j] >= b->B * b->T || (j > 0 && (*rows)[j] <= (*rows)[j - 1]))
      return 0;
  return n;
}

/* The last layer's attention at its heads' rows (m->head_rows) from A->qkv as
 * first_qkv_forward laid it out: keys and values (BT, 2C), then the rows' queries (n, C). */
static void attention_rows(enc_model *m, const enc_batch *b, int l, uint64_t key) {
  const enc_config *c = &m->cfg;
  int n = m->n_head_rows, C = c->hidden_size, BT = b->B * b->T;
  enc_layer_acts *A = &m->acts[l];
  const float *qkv = A->qkv; /* float32: head_rows_allowed */
  m->be.ops->attention_rows_forward(m->be.ctx, A->attn_out, A->att, m->g_att,
                                    qkv + (size_t)BT * 2 * C, C, qkv, qkv + C, 2 * C, m->in_head_rows, n,
                                    m->in_mask, pdrop(m, c->attention_probs_dropout_prob), key,
                                    site(SITE_LAYER0 + 2 * c->num_hidden_layers + l), b->B, b->T,
                                    C, c->num_attention_heads);
}

/* The last post-LN layer at its heads' rows only (m->head_rows): keys and values of every
 * position, the rows' queries, their attention, and the rest of the layer on those n rows:
 * acts[l].out (n, C), row j the full layer's row head_row_ids[j]. x's head rows are gathered into
 * g_b (backward scratch, free until the backward reaches this layer, which gathers them again). */
static void layer_forward_rows(enc_model *m, const enc_batch *b, int l, uint64_t key) {
  int n = m->n_head_rows, C = m->cfg.hidden_size;
  ordo_dtype x_dt;
  const float *x = layer_in(m, l, &x_dt); /* float32: head_rows_allowed */
  upload_i32(m, m->in_head_rows, m->head_row_ids, (size_t)n);
  m->be.ops->gather_rows(m->be.ctx, m->g_b, x, m->in_head_rows, n, C);
  first_qkv_forward(m, l, x, x_dt, m->g_b, n, b->B, b->T, key);
  attention_rows(m, b, l, key);
  layer_post_attention(m, l, m->g_b, ORDO_DT_F32, n, m->head_row_ids, key);
}

static int is_last(const enc_model *m, int l) { return l == m->cfg.num_hidden_layers - 1; }

/* Layer l of this batch's forward: the last one at the first positions (first_only) or at the
 * MLM head's rows (head_rows) where the forward takes them, else the whole layer. */
static void layer_forward_at(enc_model *m, const enc_batch *b, int l, uint64_t key) {
  if (is_last(m, l) && b->first_only) layer_forward_first(m, b, l, key);
  else if (is_last(m, l) && m->head_rows) layer_forward_rows(m, b, l, key);
  else layer_forward(m, b, l, key);
}

/* enc_batch.first_only: an inference forward of a post-LN encoder whose heads read the first
 * position only, without position biases (the cached-attention op has none), on right-padded
 * rows. */
static void first_only_check(const enc_model *m, const enc_batch *b, int train) {
  ORDO_CHECKF(!train && !enc_is_causal(&m->cfg) && !m->att_bias &&
              !(m->heads & (ENC_HEAD_MLM | ENC_HEAD_RTD)),
              "first_only: an inference forward of a post-LN encoder with first-position heads");
  for (int i = 0; i < b->B; i++)
    for (int t = 1; t < b->T; t++)
      ORDO_CHECKF(!b->mask[(size_t)i * b->T + t] || b->mask[(size_t)i * b->T + t - 1],
                  "first_only: row %d is not right-padded", i);
}

static void sync_low_precision_weights(enc_model *m) {
  if (!m->w_lp) return;
  m->be.ops->convert(m->be.ctx, m->w_lp, m->storage, m->params.wd, ORDO_DT_F32,
                     (int64_t)m->params.total);
  if (m->storage == ORDO_DT_F32) R(m, m->w_lp, m->params.total); /* emulated storage */
}

/* The backend's fp32 products on TF32 for the passes of a bf16/fp16 model (set_products_tf32:
 * its product operands hold 16-bit values), full fp32 otherwise and after every pass. */
static void products_tf32(const enc_model *m, int on) {
  if (m->be.ops->set_products_tf32)
    m->be.ops->set_products_tf32(m->be.ctx, on && m->precision != ORDO_DT_F32);
}

void enc_forward(enc_model *m, const enc_batch *b, int train) {
  const enc_config *c = &m->cfg;
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  products_tf32(m, 1);
  ORDO_CHECKF(b->B <= m->maxB && b->T <= m->maxT, "batch %dx%d exceeds the plan %dx%d", b->B,
              b->T, m->maxB, m->maxT);
  m->training = train;
  int B = b->B, T = b->T, BT = B * T, C = c->hidden_size;
  float eps = c->layer_norm_eps, ph = pdrop(m, c->hidden_dropout_prob);
  uint64_t key = drop_key(m);
  sync_low_precision_weights(m);
  for (int i = 0; i < BT; i++) {
    ORDO_CHECKF(b->ids[i] >= 0 && b->ids[i] < c->vocab_size, "token id %d out of range", b->ids[i]);
    if (b->tt) ORDO_CHECKF(b->tt[i] >= 0 && b->tt[i] < c->type_vocab_size, "token type %d out of range", b->tt[i]);
  }
  if (b->first_only) first_only_check(m, b, train);
  m->n_head_rows = head_rows_allowed(m, b, &m->head_row_ids);
  m->head_rows = m->n_head_rows > 0;
  positions(m, b);
  upload_i32(m, m->in_ids, b->ids, (size_t)BT);
  upload_i32(m, m->in_mask, b->mask, (size_t)BT);
  if (m->att_bias) {
    size_t nb = (size_t)c->num_attention_heads * T * T;
    enc_position_bias(m, T, m->host_f);
    upload_f32(m, m->att_bias, m->host_f, nb);
    R(m, m->att_bias, nb);
  }
  const int32_t *tt = b->tt ? m->in_tt : m->tt0;
  if (b->tt) upload_i32(m, m->in_tt, b->tt, (size_t)BT);
  else zero_buf(m, m->tt0, (size_t)BT * sizeof(int32_t));
  /* embeddings E wide; with a projection, x0 = dropout(LN(emb)) W^T + b */
  int E = c->embedding_size;
  op->embed_forward_ex(cx, m->emb_sum, m->in_ids, m->pos, tt, W(m->emb.wte), W(m->emb.wpe),
                       W(m->emb.wtt), m->storage, BT, E); /* the stored tables themselves */
  if (b->add_emb) {
    upload_f32(m, m->in_emb, b->add_emb, (size_t)BT * E);
    op->axpy(cx, m->emb_sum, 1.0f, m->in_emb, (int64_t)BT * E);
  }
  float *xe = TO(m->emb_ln ? m->emb_ln : m->x0, (size_t)BT * E); /* stored after the dropout */
  if (m->emb.ln_w >= 0)
    op->layernorm_forward(cx, xe, m->emb_mean, m->emb_rstd, m->emb_sum, P(m, m->emb.ln_w),
                          P(m, m->emb.ln_b), eps, BT, E);
  else /* GPT-2: no embedding LayerNorm */
    copy_buf(m, xe, m->emb_sum, F((size_t)BT * E));
  op->dropout_forward(cx, xe, xe, ph, key, site(SITE_EMB), (int64_t)BT * E);
  END();
  if (m->emb_ln) {
    tmm_forward(m, m->x0, 1, m->emb_ln, m->storage, W(m->emb.proj_w), W(m->emb.proj_b), BT, E, C,
                NULL);
    END();
  }
  for (int l = 0; l < c->num_hidden_layers; l++) layer_forward_at(m, b, l, key);
  if (m->lnf_out) { /* the last layer's output in the storage dtype (enc_out_dtype) */
    op->layernorm_forward(cx, m->lnf_out, m->lnf_mean, m->lnf_rstd,
                          TI(m->acts[c->num_hidden_layers - 1].out, (size_t)BT * C),
                          P(m, m->lnf_w), P(m, m->lnf_b), eps, BT, C);
    END();
    R(m, m->lnf_out, (size_t)BT * C);
  }
  const float *h = enc_hidden(m);

  if (m->heads & ENC_HEAD_MLM) {
    int NR = b->mlm_rows ? b->n_mlm_rows : BT;
    ORDO_CHECKF(NR <= m->maxMLM, "%d MLM rows exceed the plan's %d", NR, m->maxMLM);
    m->n_mlm_rows = NR;
    if (b->mlm_rows && m->head_rows) { /* h: those rows, checked by head_rows_allowed */
      copy_buf(m, m->mlm_in, h, F((size_t)NR * C));
    } else if (b->mlm_rows) {
      for (int r = 0; r < NR; r++) ORDO_CHECK(b->mlm_rows[r] >= 0 && b->mlm_rows[r] < BT);
      upload_i32(m, m->in_rows, b->mlm_rows, (size_t)NR);
      op->gather_rows(cx, m->mlm_in, h, m->in_rows, NR, C);
    } else {
      copy_buf(m, m->mlm_in, h, F((size_t)BT * C));
    }
    size_t nRE = (size_t)NR * E;
    /* mlm_in: rows of the hidden state, whose values the storage dtype holds (rounded in place);
     * GPT-2's decoder reads them itself */
    const void *dec_in = NULL;
    if (m->mlm_dense_w >= 0) {
      tmm_forward(m, m->mlm_fc, 1, tv_st(m, m->mlm_in, (size_t)NR * C), m->storage,
                  W(m->mlm_dense_w), W(m->mlm_dense_b), NR, C, E, NULL);
      END();
      op->gelu_forward(cx, TO(m->mlm_gelu, nRE), TI(m->mlm_fc, nRE), (int64_t)nRE);
      END();
      op->layernorm_forward(cx, TO(m->mlm_ln, nRE), m->mlm_mean, m->mlm_rstd,
                            TI(m->mlm_gelu, nRE), P(m, m->mlm_ln_w), P(m, m->mlm_ln_b), eps, NR,
                            E);
      END();
      dec_in = m->mlm_ln;
    } else {
      dec_in = tv_st(m, m->mlm_in, nRE);
    }
    tmm_forward(m, m->mlm_logits, 0, dec_in, m->storage, W(m->emb.wte), W(m->mlm_bias), NR, E,
                c->vocab_size, NULL);
    END();
    R(m, m->mlm_logits, (size_t)NR * c->vocab_size);
  }
  if (m->heads & ENC_HEAD_RTD) {
    /* ElectraDiscriminatorPredictions: dense, activation, dense_prediction (H -> 1) per token */
    size_t nBC = (size_t)BT * C;
    tmm_forward(m, m->rtd_fc, 1, tv_st(m, h, nBC), m->storage, W(m->rtd_dense_w),
                W(m->rtd_dense_b), BT, C, C, NULL); /* h: values of the storage dtype */
    END();
    op->gelu_forward(cx, TO(m->rtd_act, nBC), TI(m->rtd_fc, nBC), (int64_t)nBC);
    END();
    tmm_forward(m, m->rtd_logits, 0, m->rtd_act, m->storage, W(m->rtd_out_w), W(m->rtd_out_b), BT,
                C, 1, NULL);
    END();
    R(m, m->rtd_logits, (size_t)BT);
  }
  /* the first rows of h: b * T, or b where h holds one row per sequence */
  if (m->heads & (ENC_HEAD_POOLER | ENC_HEAD_CLS))
    first_rows(m, B, b->first_only || m->head_rows ? 1 : T);
  if (m->heads & ENC_HEAD_POOLER) {
    op->gather_rows(cx, m->pool_in, h, m->in_first, B, C);
    tmm_forward(m, m->pooled, 0, tv_st(m, m->pool_in, (size_t)B * C), m->storage, W(m->pool_w),
                W(m->pool_b), B, C, C, NULL); /* rows of h: values of the storage dtype */
    END();
    op->tanh_forward(cx, m->pooled, m->pooled, (int64_t)B * C);
    R(m, m->pooled, (size_t)B * C);
  }
  if (m->heads & ENC_HEAD_CLS) {
    float pc = pdrop(m, c->classifier_dropout >= 0 ? c->classifier_dropout : c->hidden_dropout_prob);
    op->gather_rows(cx, m->cls_in, h, m->in_first, B, C);
    if (!m->cls_pooled)
      op->dropout_forward(cx, m->cls_in, m->cls_in, pc, key, site(SITE_CLS_IN), (int64_t)B * C);
    size_t nB = (size_t)B * C;
    /* cls_in and cls_drop went through dropout (scaled: not values of the storage dtype) */
    tmm_forward(m, m->cls_fc, 1, m->cls_in, ORDO_DT_F32, W(m->cls_dense_w), W(m->cls_dense_b), B,
                C, C, NULL);
    END();
    float *act = TO(m->cls_tanh, nB);
    if (m->cls_gelu) op->gelu_forward(cx, act, TI(m->cls_fc, nB), (int64_t)nB);
    else op->tanh_forward(cx, act, TI(m->cls_fc, nB), (int64_t)nB);
    END();
    op->dropout_forward(cx, m->cls_drop, TI(m->cls_tanh, nB), pc, key, site(SITE_CLS_MID),
                        (int64_t)nB);
    END();
    tmm_forward(m, m->cls_logits, 0, m->cls_drop, ORDO_DT_F32, W(m->cls_out_w), W(m->cls_out_b), B,
                C, c->num_labels, NULL);
    END();
    if (m->cls_feat_w >= 0) {
      /* the output layer reads [pooled text; features]: logits (B, L) += feats (B, NF) W^T */
      ORDO_CHECKF(b->head_feats, "the classification head needs %d features per row",
                  c->head_features);
      int L = c->num_labels, NF = c->head_features;
      upload_f32(m, m->in_feats, b->head_feats, (size_t)B * NF);
      op->gemm(cx, 0, 1, B, L, NF, 1.0f, m->in_feats, NF, P(m, m->cls_feat_w), NF, 1.0f,
               m->cls_logits, L);
      END();
    }
    R(m, m->cls_logits, (size_t)B * c->num_labels);
  }
  products_tf32(m, 0);
}

const float *enc_decode(enc_model *m, const int32_t *ids, int T, int r0) {
  const enc_config *c = &m->cfg;
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  products_tf32(m, 1);
  ORDO_CHECKF(enc_is_causal(c) && (m->heads & ENC_HEAD_MLM), "enc_decode needs a causal LM");
  ORDO_CHECKF(c->position == ENC_POS_LEARNED || c->position == ENC_POS_ROPE,
              "enc_decode: %s positions have no cached path", enc_position_name(c->position));
  ORDO_CHECKF(m->recompute == ENC_RECOMPUTE_NONE, "enc_decode keeps every layer's activations");
  ORDO_CHECKF(T <= m->maxT && r0 >= 0 && r0 < T, "enc_decode: rows %d..%d of a plan of %d", r0,
              T, m->maxT);
  m->training = 0;
  int C = c->hidden_size, n = T - r0, last = c->num_hidden_layers - 1;
  for (int i = r0; i < T; i++)
    ORDO_CHECKF(ids[i] >= 0 && ids[i] < c->vocab_size, "token id %d out of range", ids[i]);
  sync_low_precision_weights(m);
  for (int t = 0; t < T; t++) m->host_i[t] = t;
  upload_i32(m, m->pos, m->host_i, (size_t)T);
  zero_buf(m, m->tt0, (size_t)T * sizeof(int32_t));
  upload_i32(m, m->in_ids, ids, (size_t)T);
  size_t oc = (size_t)r0 * C;
  op->embed_forward_ex(cx, TO(act_at(m, m->x0, oc), (size_t)n * C), m->in_ids + r0, m->pos + r0,
                       m->tt0 + r0, W(m->emb.wte), W(m->emb.wpe), W(m->emb.wtt), m->storage, n, C);
  END();
  enc_batch b = {.B = 1, .T = T, .ids = ids};
  for (int l = 0; l <= last; l++) {
    ordo_dtype x_dt;
    const void *x = layer_in(m, l, &x_dt);
    layer_forward_preln(m, &b, l, x, x_dt, 0, r0, 1);
  }
  size_t lc = (size_t)(T - 1) * C; /* only the last position's logits are wanted */
  op->layernorm_forward(cx, m->lnf_out + lc, m->lnf_mean + T - 1, m->lnf_rstd + T - 1,
                        TI(act_at(m, m->acts[last].out, lc), (size_t)C), P(m, m->lnf_w),
                        P(m, m->lnf_b), c->layer_norm_eps, 1, C);
  END();
  /* the final LayerNorm's row, unrounded here (a float32 product) */
  tmm_forward(m, m->mlm_logits, 0, m->lnf_out + lc, ORDO_DT_F32, W(m->emb.wte), NULL, 1, C,
              c->vocab_size, NULL);
  END();
  enc_read(m, m->host_f, m->mlm_logits, F(c->vocab_size));
  products_tf32(m, 0);
  return m->host_f;
}

void enc_zero_output_grads(enc_model *m, const enc_batch *b) {
  int BT = b->B * b->T, C = m->cfg.hidden_size;
  m->has_d_hidden = m->has_d_mlm = m->has_d_cls = m->has_d_pooled = m->has_d_rtd = 0;
  if (m->d_rtd_logits) zero_buf(m, m->d_rtd_logits, F(BT));
  zero_buf(m, m->d_hidden, F((size_t)BT * C));
  /* d_mlm_logits: the first MLM loss overwrites it (has_d_mlm), tens of MB not zeroed first */
  if (m->d_cls_logits) zero_buf(m, m->d_cls_logits, F((size_t)b->B * m->cfg.num_labels));
  if (m->d_pooled) zero_buf(m, m->d_pooled, F((size_t)b->B * C));
}

/* Backward of layer l's attention core from d attn_out (dattn, in the storage dtype):
 * m->g_qkv = d qkv (before rotary). */
static void attention_backward_core(enc_model *m, const enc_batch *b, int l, const void *dattn,
                                    uint64_t key) {
  const enc_config *c = &m->cfg;
  int B = b->B, T = b->T, BT = B * T, C = c->hidden_size, NH = c->num_attention_heads;
  size_t nBC = (size_t)BT * C;
  enc_layer_acts *A = &m->acts[l];
  m->be.ops->attention_backward(m->be.ctx, TO(m->g_qkv, 3 * nBC), ORDO_OVERWRITE, m->g_att_bias,
                                m->g_att, TI(dattn, nBC), TI(A->qkv, nBC * 3),
                                TI(A->att, (size_t)BT * NH * T), m->in_mask,
                                pdrop(m, c->attention_probs_dropout_prob), key,
                                site(SITE_LAYER0 + 2 * c->num_hidden_layers + l), B, T, C, NH);
  END();
  if (c->position == ENC_POS_ROPE) {
    m->be.ops->rope_backward(m->be.ctx, tv_out(m, m->g_qkv, 3 * nBC, 1), m->pos, c->rope_scale,
                             c->rope_theta, c->rotary_value ? 3 : 2, BT, C, NH);
    END();
  }
}

/* dx += d(q, k, v projection of x_in, dtype x_dt) from m->g_qkv, adapters included. */
static void qkv_backward(enc_model *m, const enc_batch *b, int l, const void *x_in,
                         ordo_dtype x_dt, float *dx, uint64_t key) {
  int BT = b->B * b->T, C = m->cfg.hidden_size;
  const enc_layer_idx *L = &m->layer[l];
  int adapted = qkv_adapted(m, l);
  tmm_views v;
  tmm_backward(m, dx, 0, ORDO_ACCUMULATE, G(m, L->qkv_w), G(m, L->qkv_b), m->g_qkv, m->storage,
               x_in, x_dt, W(L->qkv_w), BT, C, 3 * C, adapted ? &v : NULL);
  if (adapted) qkv_lora_backward(m, l, v.in, BT, v.dout, dx, key);
  END();
}

/* The backward of site_forward: dinp (+)= d in (tmm_backward: dinp_st, acc), the weight and bias
 * gradients, the site's adapter's. */
static void site_backward(enc_model *m, int l, int st, void *dinp, int dinp_st, int acc,
                          const void *dout, ordo_dtype dout_dt, const void *in, ordo_dtype in_dt,
                          int w, int bias, int N, int IN, int OUT, uint64_t key) {
  tmm_views v;
  int adapted = lora_at(m, l, st);
  tmm_backward(m, dinp, dinp_st, acc, G(m, w), G(m, bias), dout, dout_dt, in, in_dt, W(w), N, IN,
               OUT, adapted ? &v : NULL);
  if (adapted) lora_backward(m, l, st, v.in, N, v.dout, OUT, v.out, key, lora_site(l, st));
  END();
}

/* The feed-forward block's backward: dx += d(proj(act(fc(x_in)))) from dy = d of the block's
 * output (proj's), x_in of dtype x_dt. With overwrite, dx is cleared once dy has been read (it
 * may be dy's buffer). */
static void mlp_backward(enc_model *m, int l, int BT, const float *dy, const void *x_in,
                         ordo_dtype x_dt, float *dx, int overwrite, uint64_t key) {
  int C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
  size_t nBI = (size_t)BT * I;
  const enc_layer_idx *L = &m->layer[l];
  enc_layer_acts *A = &m->acts[l];
  void *dbig_st = m->g_big, *dbig2_st = act_at(m, m->g_big, nBI); /* d gelu, d fc */
  /* dy: rounded to the storage dtype in place by the caller */
  site_backward(m, l, ENC_LORA_PROJ, dbig_st, 1, ORDO_OVERWRITE, tv_st(m, dy, (size_t)BT * C),
                m->storage, A->gelu, m->storage, L->proj_w, L->proj_b, BT, I, C, key);
  act_backward(m, TO(dbig2_st, nBI), ORDO_OVERWRITE, TI(A->fc, nBI), TI(dbig_st, nBI),
               (int64_t)nBI);
  END();
  site_backward(m, l, ENC_LORA_FC, dx, 0, overwrite ? ORDO_OVERWRITE : ORDO_ACCUMULATE, dbig2_st,
                m->storage, x_in, x_dt, L->fc_w, L->fc_b, BT, C, I, key);
}

/* attention_rows' backward from d attn_out (n, C): m->g_qkv = d keys and values (BT, 2C), then
 * d queries (n, C), first_qkv_forward's layout. */
static void attention_rows_backward(enc_model *m, const enc_batch *b, int l, const float *dattn,
                                    uint64_t key) {
  const enc_config *c = &m->cfg;
  int n = m->n_head_rows, C = c->hidden_size, BT = b->B * b->T;
  const float *qkv = m->acts[l].qkv;
  float *g = m->g_qkv; /* float32: head_rows_allowed */
  size_t qo = (size_t)BT * 2 * C;
  m->be.ops->attention_rows_backward(m->be.ctx, g + qo, g, g + C, m->g_att, dattn, qkv + qo, C,
                                     qkv, qkv + C, 2 * C, m->acts[l].att, m->in_head_rows, n,
                                     pdrop(m, c->attention_probs_dropout_prob), key,
                                     site(SITE_LAYER0 + 2 * c->num_hidden_layers + l), b->B, b->T,
                                     C, c->num_attention_heads);
}

/* The attention block's backward from d = d of its output branch (before the residual add; d
 * is left as it is): through the dropout, the output projection and the attention core
 * (m->g_qkv). The two (BT, C) steps between them go through g_big, free outside the
 * feed-forward's backward and planned for them. rows (host, NULL: all): the layer ran at its
 * heads' rows, d has n_head_rows rows. */
static void attn_out_backward(enc_model *m, const enc_batch *b, int l, const float *d,
                              const int32_t *rows, uint64_t key) {
  int n = rows ? m->n_head_rows : b->B * b->T, C = m->cfg.hidden_size;
  size_t nBC = (size_t)n * C;
  const enc_layer_idx *L = &m->layer[l];
  enc_layer_acts *A = &m->acts[l];
  void *dproj = m->g_big, *dao = act_at(m, m->g_big, nBC); /* d proj output, d attn_out */
  float p = pdrop(m, m->cfg.hidden_dropout_prob);
  if (rows) /* the forward's dropout applied to d (dropout_backward_over) */
    dropout_rows(m, dproj, d, p, key, site(SITE_LAYER0 + 2 * l), n, C, rows);
  else
    dropout_backward_over(m, TO(dproj, nBC), d, p, key, site(SITE_LAYER0 + 2 * l), (int64_t)nBC);
  END();
  site_backward(m, l, ENC_LORA_ATTN_OUT, dao, 1, ORDO_OVERWRITE, dproj, m->storage, A->attn_out,
                m->storage, L->ao_w, L->ao_b, n, C, C, key);
  if (rows) attention_rows_backward(m, b, l, dao, key);
  else attention_backward_core(m, b, l, dao, key);
}

/* qkv_backward of the last layer run at its heads' rows: dx (BT, C) = d of the keys' and
 * values' product over every row (overwritten), + dres (n, C) at the rows (the residual's
 * share), + d of the rows' queries' product; the (3C, C) weight's row blocks get their
 * gradients likewise. x's rows are gathered into g_b again; dres is overwritten. */
static void qkv_backward_rows(enc_model *m, const enc_batch *b, int l, const float *x, float *dx,
                              float *dres) {
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  size_t C = (size_t)m->cfg.hidden_size, BT = (size_t)b->B * b->T;
  int n = m->n_head_rows;
  const enc_layer_idx *L = &m->layer[l];
  const float *w = W(L->qkv_w), *g = m->g_qkv; /* float32: head_rows_allowed */
  float *dw = G(m, L->qkv_w), *db = G(m, L->qkv_b);
  tmm_backward(m, dx, 0, ORDO_OVERWRITE, dw ? dw + C * C : NULL, db ? db + C : NULL, g,
               ORDO_DT_F32, x, ORDO_DT_F32, w + C * C, (int)BT, (int)C, (int)(2 * C), NULL);
  op->scatter_add_rows(cx, dx, dres, m->in_head_rows, n, (int)C);
  op->gather_rows(cx, m->g_b, x, m->in_head_rows, n, (int)C);
  tmm_backward(m, dres, 0, ORDO_OVERWRITE, dw, db, g + BT * 2 * C, ORDO_DT_F32, m->g_b,
               ORDO_DT_F32, w, n, (int)C, (int)C, NULL);
  op->scatter_add_rows(cx, dx, dres, m->in_head_rows, n, (int)C);
  END();
}

/* Backward of one post-LN layer: dh = d out (rounded in place), dnext = d x (overwritten).
 * rows (host, NULL: all): the layer ran at its heads' rows (layer_forward_rows), dh has
 * n_head_rows rows, dnext every row. */
static void layer_backward_postln(enc_model *m, const enc_batch *b, int l, const void *x,
                                  ordo_dtype x_dt, float *dh, float *dnext, const int32_t *rows,
                                  uint64_t key) {
  const enc_config *c = &m->cfg;
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  int BT = rows ? m->n_head_rows : b->B * b->T, C = c->hidden_size; /* the rows it ran at */
  float ph = pdrop(m, c->hidden_dropout_prob);
  size_t nBC = (size_t)BT * C;
  const enc_layer_idx *L = &m->layer[l];
  enc_layer_acts *A = &m->acts[l];
  R(m, dh, nBC);
  /* out = LN2(r2) */
  op->layernorm_backward(cx, m->g_a, ORDO_OVERWRITE, G(m, L->ln2_w), G(m, L->ln2_b), dh, A->r2, P(m, L->ln2_w),
                         A->ln2_mean, A->ln2_rstd, BT, C);
  END();
  /* r2 = dropout(gelu @ Wp^T + bp) + h1 */
  copy_buf(m, m->g_b, m->g_a, F(nBC)); /* d h1 from the residual */
  if (rows) /* the forward's dropout applied to d (dropout_backward_over) */
    dropout_rows(m, dnext, m->g_a, ph, key, site(SITE_LAYER0 + 2 * l + 1), BT, C, rows);
  else
    dropout_backward_over(m, dnext, m->g_a, ph, key, site(SITE_LAYER0 + 2 * l + 1), (int64_t)nBC);
  R(m, dnext, nBC);
  mlp_backward(m, l, BT, dnext, A->h1, m->storage, m->g_b, 0, key);
  R(m, m->g_b, nBC);
  /* h1 = LN1(r1) */
  op->layernorm_backward(cx, m->g_a, ORDO_OVERWRITE, G(m, L->ln1_w), G(m, L->ln1_b), m->g_b, A->r1, P(m, L->ln1_w),
                         A->ln1_mean, A->ln1_rstd, BT, C);
  END();
  /* r1 = dropout(attn_out @ Wo^T + bo) + x */
  if (rows) {
    attn_out_backward(m, b, l, m->g_a, rows, key);
    qkv_backward_rows(m, b, l, x, dnext, m->g_a); /* d x from the residual: g_a at the rows */
    return;
  }
  copy_buf(m, dnext, m->g_a, F(nBC)); /* d x from the residual */
  attn_out_backward(m, b, l, m->g_a, NULL, key);
  qkv_backward(m, b, l, x, x_dt, dnext, key);
}

/* Backward of one pre-LN layer (layer_forward_preln): dh = d out, dnext = d x (overwritten). */
static void layer_backward_preln(enc_model *m, const enc_batch *b, int l, const void *x,
                                 ordo_dtype x_dt, float *dh, float *dnext, uint64_t key) {
  const enc_config *c = &m->cfg;
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  int BT = b->B * b->T, C = c->hidden_size;
  float ph = pdrop(m, c->hidden_dropout_prob);
  size_t nBC = (size_t)BT * C;
  const enc_layer_idx *L = &m->layer[l];
  enc_layer_acts *A = &m->acts[l];
  R(m, dh, nBC);
  /* out = r1 + dropout(gelu @ Wp^T + bp) */
  dropout_backward_over(m, m->g_a, dh, ph, key, site(SITE_LAYER0 + 2 * l + 1), (int64_t)nBC);
  R(m, m->g_a, nBC);
  /* fc = LN2(r1) @ Wfc^T + bfc */
  mlp_backward(m, l, BT, m->g_a, A->r2, res_dtype(m), m->g_a, 1, key);
  R(m, m->g_a, nBC);
  copy_buf(m, m->g_b, dh, F(nBC)); /* d r1 from the residual, plus LN2's */
  op->layernorm_backward(cx, m->g_b, ORDO_ACCUMULATE, G(m, L->ln2_w), G(m, L->ln2_b), m->g_a,
                         tv_in(m, A->r1, res_dtype(m), nBC), P(m, L->ln2_w), A->ln2_mean,
                         A->ln2_rstd, BT, C);
  END();
  R(m, m->g_b, nBC);
  /* r1 = x + dropout(attn_out @ Wo^T + bo) */
  copy_buf(m, dnext, m->g_b, F(nBC)); /* d x from the residual */
  attn_out_backward(m, b, l, m->g_b, NULL, key);
  /* qkv = LN1(x) @ Wqkv^T + bqkv */
  zero_buf(m, m->g_a, F(nBC));
  qkv_backward(m, b, l, A->h1, m->storage, m->g_a, key);
  R(m, m->g_a, nBC);
  op->layernorm_backward(cx, dnext, ORDO_ACCUMULATE, G(m, L->ln1_w), G(m, L->ln1_b), m->g_a,
                         tv_in(m, x, x_dt, nBC), P(m, L->ln1_w), A->ln1_mean, A->ln1_rstd, BT, C);
  END();
}

/* Layer l's specs are its own (no other layer runs them: not ALBERT's shared groups). */
static int layer_owned(const enc_model *m, int l) {
  int n = m->cfg.num_hidden_layers, w = m->layer[l].qkv_w;
  return (l == 0 || m->layer[l - 1].qkv_w != w) && (l == n - 1 || m->layer[l + 1].qkv_w != w);
}

void enc_backward(enc_model *m, const enc_batch *b) {
  const enc_config *c = &m->cfg;
  const ordo_ops *op = m->be.ops;
  ordo_ctx *cx = m->be.ctx;
  products_tf32(m, 1);
  int B = b->B, T = b->T, BT = B * T, C = c->hidden_size;
  int NH = c->num_attention_heads;
  float ph = pdrop(m, c->hidden_dropout_prob);
  uint64_t key = drop_key(m);
  size_t nBC = (size_t)BT * C;
  float *dh = m->g_c, *dnext = m->g_c + nBC; /* d loss / d (current layer output) */
  if (m->g_att_bias) zero_buf(m, m->g_att_bias, F((size_t)NH * T * T));
  /* under head_rows the last layer's d out has its rows alone */
  copy_buf(m, dh, m->d_hidden, F(m->head_rows ? (size_t)m->n_head_rows * C : nBC));

  if ((m->heads & ENC_HEAD_MLM) && m->has_d_mlm) {
    int R = m->n_mlm_rows, E = c->embedding_size;
    if (m->precision != ORDO_DT_F32) /* (R names the rows here) */
      op->round_dtype(cx, m->d_mlm_logits, (int64_t)R * c->vocab_size, m->precision);
    int transform = m->mlm_dense_w >= 0; /* GPT-2: none, the decoder reads the hidden state */
    size_t nRE = (size_t)R * E;
    /* the logits' gradient just rounded, mlm_in rows of the hidden state: values of the storage
     * dtype, so their 16-bit copies are exact */
    tmm_backward(m, m->g_head_a, 0, ORDO_OVERWRITE, G(m, m->emb.wte), G(m, m->mlm_bias),
                 tv_st(m, m->d_mlm_logits, (size_t)R * c->vocab_size), m->storage,
                 transform ? m->mlm_ln : tv_st(m, m->mlm_in, nRE), m->storage, W(m->emb.wte), R, E,
                 c->vocab_size, NULL);
    END();
    if (transform) {
      op->layernorm_backward(cx, m->g_head_b, ORDO_OVERWRITE, G(m, m->mlm_ln_w), G(m, m->mlm_ln_b),
                             m->g_head_a, TI(m->mlm_gelu, nRE), P(m, m->mlm_ln_w), m->mlm_mean,
                             m->mlm_rstd, R, E);
      END();
      op->gelu_backward(cx, m->g_head_c, ORDO_OVERWRITE, TI(m->mlm_fc, nRE), m->g_head_b,
                        (int64_t)nRE);
      END();
      /* g_head_c: gelu_backward's unrounded output, a float32 product */
      tmm_backward(m, m->g_head_a, 0, ORDO_OVERWRITE, G(m, m->mlm_dense_w), G(m, m->mlm_dense_b),
                   m->g_head_c, ORDO_DT_F32, m->mlm_in, ORDO_DT_F32, W(m->mlm_dense_w), R, C, E,
                   NULL);
      END();
    }
    /* under head_rows, dh's rows are the head's rows themselves */
    if (b->mlm_rows && !m->head_rows) op->scatter_add_rows(cx, dh, m->g_head_a, m->in_rows, R, C);
    else op->axpy(cx, dh, 1.0f, m->g_head_a, (int64_t)R * C);
    /* the head's own specs, laid out back to back (the decoder weight is the tied wte) */
    if (m->grads_final && transform) m->grads_final(m->grads_final_ctx, m->mlm_dense_w, m->mlm_bias + 1);
  }
  if ((m->heads & ENC_HEAD_RTD) && m->has_d_rtd) {
    R(m, m->d_rtd_logits, (size_t)BT);
    tmm_backward(m, m->g_a, 0, ORDO_OVERWRITE, G(m, m->rtd_out_w), G(m, m->rtd_out_b),
                 tv_st(m, m->d_rtd_logits, (size_t)BT), m->storage, m->rtd_act, m->storage,
                 W(m->rtd_out_w), BT, C, 1, NULL);
    END();
    R(m, m->g_a, nBC);
    op->gelu_backward(cx, m->g_b, ORDO_OVERWRITE, TI(m->rtd_fc, nBC), m->g_a, (int64_t)nBC);
    END();
    R(m, m->g_b, nBC);
    tmm_backward(m, dh, 0, ORDO_ACCUMULATE, G(m, m->rtd_dense_w), G(m, m->rtd_dense_b),
                 tv_st(m, m->g_b, nBC), m->storage, tv_st(m, enc_hidden(m), nBC), m->storage,
                 W(m->rtd_dense_w), BT, C, C, NULL);
    END();
  }
  if ((m->heads & ENC_HEAD_POOLER) && m->has_d_pooled) {
    R(m, m->d_pooled, (size_t)B * C);
    op->tanh_backward(cx, m->g_head_a, ORDO_OVERWRITE, m->pooled, m->d_pooled, (int64_t)B * C);
    tmm_backward(m, m->g_head_b, 0, ORDO_OVERWRITE, G(m, m->pool_w), G(m, m->pool_b), m->g_head_a,
                 ORDO_DT_F32, m->pool_in, ORDO_DT_F32, W(m->pool_w), B, C, C, NULL);
    END();
    op->scatter_add_rows(cx, dh, m->g_head_b, m->in_first, B, C);
  }
  if ((m->heads & ENC_HEAD_CLS) && m->has_d_cls) {
    R(m, m->d_cls_logits, (size_t)B * c->num_labels);
    float pc = pdrop(m, c->classifier_dropout >= 0 ? c->classifier_dropout : c->hidden_dropout_prob);
    tmm_backward(m, m->g_head_a, 0, ORDO_OVERWRITE, G(m, m->cls_out_w), G(m, m->cls_out_b),
                 m->d_cls_logits, ORDO_DT_F32, m->cls_drop, ORDO_DT_F32, W(m->cls_out_w), B, C,
                 c->num_labels, NULL);
    END();
    /* dW (L, NF) += dlogits^T (L, B) feats (B, NF) */
    if (m->cls_feat_w >= 0 && G(m, m->cls_feat_w))
      op->gemm(cx, 1, 0, c->num_labels, c->head_features, B, 1.0f, m->d_cls_logits, c->num_labels,
               m->in_feats, c->head_features, 1.0f, G(m, m->cls_feat_w), c->head_features);
    dropout_backward_over(m, m->g_head_b, m->g_head_a, pc, key, site(SITE_CLS_MID), (int64_t)B * C);
    size_t nB = (size_t)B * C;
    if (m->cls_gelu)
      op->gelu_backward(cx, m->g_head_c, ORDO_OVERWRITE, TI(m->cls_fc, nB), m->g_head_b,
                        (int64_t)nB);
    else
      op->tanh_backward(cx, m->g_head_c, ORDO_OVERWRITE, TI(m->cls_tanh, nB), m->g_head_b,
                        (int64_t)nB);
    END();
    tmm_backward(m, m->g_head_a, 0, ORDO_OVERWRITE, G(m, m->cls_dense_w), G(m, m->cls_dense_b),
                 m->g_head_c, ORDO_DT_F32, m->cls_in, ORDO_DT_F32, W(m->cls_dense_w), B, C, C, NULL);
    END();
    if (m->cls_pooled) copy_buf(m, m->g_head_b, m->g_head_a, F((size_t)B * C));
    else
      dropout_backward_over(m, m->g_head_b, m->g_head_a, pc, key, site(SITE_CLS_IN),
                            (int64_t)B * C);
    op->scatter_add_rows(cx, dh, m->g_head_b, m->in_first, B, C);
  }

  if (m->lnf_out) { /* GPT-2: hidden = ln_f(last layer output) */
    int last = c->num_hidden_layers - 1;
    R(m, dh, nBC);
    op->layernorm_backward(cx, dnext, ORDO_OVERWRITE, G(m, m->lnf_w), G(m, m->lnf_b), dh,
                           TI(m->acts[last].out, nBC), P(m, m->lnf_w), m->lnf_mean, m->lnf_rstd,
                           BT, C);
    END();
    float *t = dh;
    dh = dnext;
    dnext = t;
  }
  for (int l = c->num_hidden_layers - 1; l >= 0; l--) {
    ordo_dtype x_dt;
    const void *x = layer_in(m, l, &x_dt);
    int at_rows = m->head_rows && is_last(m, l);
    if (m->recompute == ENC_RECOMPUTE_LAYER)
      layer_forward_at(m, b, l, key); /* same inputs, same dropout keys: the same bits */
    else if (m->recompute == ENC_RECOMPUTE_ATTENTION && at_rows)
      attention_rows(m, b, l, key);
    else if (m->recompute == ENC_RECOMPUTE_ATTENTION)
      attention_core(m, b, l, key);
    if (enc_is_causal(c)) layer_backward_preln(m, b, l, x, x_dt, dh, dnext, key);
    else layer_backward_postln(m, b, l, x, x_dt, dh, dnext, at_rows ? m->head_row_ids : NULL, key);
    float *t = dh;
    dh = dnext;
    dnext = t;
    if (m->grads_final && layer_owned(m, l))
      m->grads_final(m->grads_final_ctx, m->layer[l].qkv_w, m->layer[l].spec_end);
  }
  if (m->g_att_bias) {
    enc_read(m, m->host_f, m->g_att_bias, F((size_t)NH * T * T));
    enc_position_bias_backward(m, T, m->host_f);
  }
  /* x0 = dropout(LN(embeddings)), through the projection when there is one */
  R(m, dh, nBC);
  int E = c->embedding_size;
  size_t nBE = (size_t)BT * E;
  const float *dxe = dh;
  if (m->emb_ln) { /* dh: rounded just above */
    tmm_backward(m, m->g_emb, 1, ORDO_OVERWRITE, G(m, m->emb.proj_w), G(m, m->emb.proj_b),
                 tv_st(m, dh, nBC), m->storage, m->emb_ln, m->storage, W(m->emb.proj_w), BT, E, C,
                 NULL);
    END();
    dxe = TI(m->g_emb, nBE);
  }
  dropout_backward_over(m, m->g_a, dxe, ph, key, site(SITE_EMB), (int64_t)nBE);
  END(); /* (the view of d x0) */
  const float *demb = m->g_a; /* GPT-2: no embedding LayerNorm */
  if (m->emb.ln_w >= 0) {
    op->layernorm_backward(cx, m->g_b, ORDO_OVERWRITE, G(m, m->emb.ln_w), G(m, m->emb.ln_b), m->g_a, m->emb_sum,
                           P(m, m->emb.ln_w), m->emb_mean, m->emb_rstd, BT, E);
    END();
    demb = m->g_b;
  }
  if (b->d_add_emb) enc_read(m, b->d_add_emb, demb, F(nBE));
  const int32_t *tt = b->tt ? m->in_tt : m->tt0;
  op->embed_backward(cx, G(m, m->emb.wte), G(m, m->emb.wpe), G(m, m->emb.wtt), demb, m->in_ids,
                     m->pos, tt, BT, E);
  products_tf32(m, 0);
}

/* The MLM head's labels uploaded; the counted rows (label != -100) counted on the host. */
static int mlm_labels(enc_model *m, const enc_batch *b) {
  ORDO_CHECK(m->heads & ENC_HEAD_MLM);
  int R = m->n_mlm_rows, n = 0;
  for (int r = 0; r < R; r++) n += b->mlm_labels[r] != -100;
  upload_i32(m, m->in_labels, b->mlm_labels, (size_t)R);
  return n;
}

float enc_loss_mlm_value(enc_model *m, const enc_batch *b, int *count) {
  int n = mlm_labels(m, b);
  m->be.ops->crossentropy_forward(m->be.ctx, m->loss, m->mlm_probs, m->mlm_logits, m->in_labels,
                                  -100, m->n_mlm_rows, m->cfg.vocab_size);
  if (count) *count = n;
  return be_read_f32(&m->be, m->loss);
}

float enc_loss_mlm(enc_model *m, const enc_batch *b, float dloss, int *count) {
  int n;
  float loss = enc_loss_mlm_value(m, b, &n);
  /* the head's rows written whole by the first loss since enc_zero_output_grads, then added to */
  m->be.ops->crossentropy_backward(m->be.ctx, m->d_mlm_logits,
                                   m->has_d_mlm ? ORDO_ACCUMULATE : ORDO_OVERWRITE, m->mlm_probs,
                                   m->in_labels, -100, n > 0 ? dloss / n : 0.0f, m->n_mlm_rows,
                                   m->cfg.vocab_size);
  m->has_d_mlm = 1;
  if (count) *count = n;
  return loss;
}

float enc_loss_rtd(enc_model *m, const enc_batch *b, const float *replaced, float dloss) {
  ORDO_CHECK(m->heads & ENC_HEAD_RTD);
  int BT = b->B * b->T;
  for (int i = 0; i < BT; i++) m->host_f[i] = b->mask[i] ? 1.0f : 0.0f;
  upload_f32(m, m->rtd_w, m->host_f, (size_t)BT);
  upload_f32(m, m->in_f, replaced, (size_t)BT);
  m->be.ops->bce_logits_forward(m->be.ctx, m->loss, m->rtd_logits, m->in_f, m->rtd_w, BT);
  m->be.ops->bce_logits_backward(m->be.ctx, m->d_rtd_logits, m->rtd_logits, m->in_f, m->rtd_w,
                                 dloss, BT);
  m->has_d_rtd = 1;
  return be_read_f32(&m->be, m->loss);
}

float enc_loss_cls_mse(enc_model *m, const enc_batch *b, const float *targets, float dloss) {
  ORDO_CHECK(m->heads & ENC_HEAD_CLS);
  int64_t n = (int64_t)b->B * m->cfg.num_labels;
  upload_f32(m, m->in_f, targets, (size_t)n);
  m->be.ops->mse_forward(m->be.ctx, m->loss, m->cls_logits, m->in_f, n);
  m->be.ops->mse_backward(m->be.ctx, m->d_cls_logits, m->cls_logits, m->in_f, dloss, n);
  m->has_d_cls = 1;
  return be_read_f32(&m->be, m->loss);
}

float enc_loss_cls_ce(enc_model *m, const enc_batch *b, const int32_t *targets, float dloss) {
  ORDO_CHECK(m->heads & ENC_HEAD_CLS);
  int n = 0, L = m->cfg.num_labels;
  float *probs = m->g_head_c; /* (B, L) fits: L <= C is checked by the caller's config */
  ORDO_CHECK(L <= m->cfg.hidden_size);
  for (int i = 0; i < b->B; i++) n += targets[i] != -100;
  upload_i32(m, m->in_labels, targets, (size_t)b->B);
  m->be.ops->crossentropy_forward(m->be.ctx, m->loss, probs, m->cls_logits, m->in_labels, -100,
                                  b->B, L);
  if (n > 0)
    m->be.ops->crossentropy_backward(m->be.ctx, m->d_cls_logits, ORDO_ACCUMULATE, probs,
                                     m->in_labels, -100, dloss / n, b->B, L);
  m->has_d_cls = 1;
  return be_read_f32(&m->be, m->loss);
}

/* A host loop over the downloaded hidden state (a distillation loss, off the training hot
 * path): the sum runs in double, in row order, as it always has. */
float enc_loss_hidden_mse(enc_model *m, const enc_batch *b, const float *target, float dloss) {
  int B = b->B, T = b->T, C = m->cfg.hidden_size;
  size_t nBC = (size_t)B * T * C;
  double sum = 0;
  int64_t n_real = 0;
  for (int i = 0; i < B * T; i++) n_real += b->mask[i] != 0;
  if (n_real == 0) return 0.0f;
  float *h = ordo_malloc(F(nBC)), *dh = ordo_malloc(F(nBC));
  enc_read(m, h, enc_hidden(m), F(nBC));
  enc_read(m, dh, m->d_hidden, F(nBC));
  float g = 2.0f * dloss / (float)n_real;
  for (int i = 0; i < B * T; i++) {
    if (!b->mask[i]) continue;
    const float *hr = h + (size_t)i * C, *tr = target + (size_t)i * C;
    float *dr = dh + (size_t)i * C;
    for (int k = 0; k < C; k++) {
      float d = hr[k] - tr[k];
      sum += (double)d * d;
      dr[k] += g * d;
    }
  }
  enc_write(m, m->d_hidden, dh, F(nBC));
  free(h);
  free(dh);
  m->has_d_hidden = 1;
  return (float)(sum / (double)n_real);
}

int enc_recompute_parse(const char *name, enc_recompute *out) {
  if (strcmp(name, "none") == 0) *out = ENC_RECOMPUTE_NONE;
  else if (strcmp(name, "attention") == 0) *out = ENC_RECOMPUTE_ATTENTION;
  else if (strcmp(name, "layer") == 0) *out = ENC_RECOMPUTE_LAYER;
  else return -1;
  return 0;
}

void enc_set_recompute(enc_model *m, enc_recompute mode) {
  ORDO_CHECKF(!m->arena.base, "enc_set_recompute after enc_plan");
  m->recompute = mode;
}

static void set_storage(enc_model *m, ordo_dtype precision, ordo_dtype storage) {
  ORDO_CHECK(dtype_is_storage(precision) && dtype_is_storage(storage));
  ORDO_CHECKF(!m->arena.base, "enc_set_precision after enc_plan"); /* the arena's dtypes */
  m->precision = precision;
  m->storage = storage;
  m->be.ops->free(m->be.ctx, m->w_lp);
  m->w_lp = precision == ORDO_DT_F32
                ? NULL
                : m->be.ops->alloc(m->be.ctx, m->params.total * dtype_size(storage));
}

void enc_set_precision(enc_model *m, ordo_dtype dt) { set_storage(m, dt, dt); }

void enc_set_precision_emulated(enc_model *m, ordo_dtype dt) { set_storage(m, dt, ORDO_DT_F32); }
