/* The encoder: BERT-family models driven through one backend (op table and memory).
 *
 * Parameters live in one ordo_params table under their HF names, their working copy (wd, gd)
 * in the backend's memory; activations in an arena of backend memory sized by enc_plan for the
 * largest batch. A step is:
 *   enc_forward(m, batch, train)          -> hidden states and head outputs
 *   enc_loss_*(m, batch, ...)             -> loss, and seeds the output gradients
 *   enc_backward(m, batch)                -> accumulates (+=) into the working gradients
 * Batches are host arrays: each forward uploads them into small buffers of the arena. Every
 * activation pointer of enc_model (enc_hidden, cls_logits, pooled ...) is backend memory: read
 * it on the host with enc_read, seed a gradient from the host with enc_write.
 * Heads and the loss are separate so the same driver serves parity checks, pretraining
 * and the rankers. */
#ifndef ORDO_MODEL_H
#define ORDO_MODEL_H

#include <stdint.h>

#include "ordo/arena.h"
#include "ordo/config.h"
#include "ordo/ops.h"
#include "ordo/params.h"

enum {
  ENC_HEAD_POOLER = 1 << 0, /* BERT pooler: tanh(dense(h[:, 0])) */
  ENC_HEAD_MLM = 1 << 1,    /* transform (dense, gelu, LayerNorm) + decoder tied to embeddings;
                               GPT-2: the bare tied decoder (its LM head), on every row */
  ENC_HEAD_NSP = 1 << 2,    /* next-sentence head: kept only to load/save pretraining checkpoints */
  ENC_HEAD_CLS = 1 << 3,    /* RobertaClassificationHead layout: dense, tanh, out_proj on h[:, 0] */
  ENC_HEAD_RTD = 1 << 4,    /* ELECTRA discriminator: dense, activation, dense_prediction -> one
                               replaced-token logit per position */
  ENC_HEAD_SOP = 1 << 5,    /* ALBERT's sentence-order head (AlbertForPreTraining): the
                               classification head under its names, sop_classifier.classifier */
};

/* LoRA (Hu et al. 2021): y = x W^T + b + (alpha / r) * B A dropout(x), with W frozen and only
 * A (r, IN) and B (OUT, r) trained. Sites are the encoder's linear layers: */
enum {
  ENC_LORA_Q = 0,    /* attention.self.query */
  ENC_LORA_K,        /* attention.self.key */
  ENC_LORA_V,        /* attention.self.value */
  ENC_LORA_ATTN_OUT, /* attention.output.dense */
  ENC_LORA_FC,       /* intermediate.dense */
  ENC_LORA_PROJ,     /* output.dense */
  ENC_LORA_QKV,      /* GPT-2's attn.c_attn: q, k and v in one (3C, C) projection */
  ENC_LORA_NSITES
};

typedef struct enc_lora_config {
  int r;          /* rank; 0 = no LoRA */
  float alpha;    /* scaling = alpha / r */
  float dropout;  /* on the adapter's input */
  int targets;    /* bit ENC_LORA_* set for each adapted site */
  int train_heads; /* heads stay trainable (peft's modules_to_save); base encoder frozen */
} enc_lora_config;

/* Parses peft-style target module names of the family: "query", "key", "value", "dense" (every
 * encoder dense layer), "attention.output.dense", "intermediate.dense", "output.dense"; GPT-2:
 * "c_attn", "c_proj" (attn.c_proj and mlp.c_proj), "c_fc", "attn.c_proj", "mlp.c_proj". */
int enc_lora_parse_targets(ordo_arch arch, const char *const *names, int n, int *targets,
                           ordo_err *e);

typedef struct enc_layer_idx {
  int qkv_w, qkv_b; /* query/key/value weights stored back to back: one (3C, C) matrix */
  int lora_a[ENC_LORA_NSITES], lora_b[ENC_LORA_NSITES]; /* -1 when the site has no adapter */
  int ao_w, ao_b, ln1_w, ln1_b;
  int fc_w, fc_b, proj_w, proj_b, ln2_w, ln2_b;
  int spec_end; /* the layer's specs are [qkv_w, spec_end) (its adapters included) */
} enc_layer_idx;

/* One layer's saved activations (rows BT = B*T). Post-LN (BERT family) as named; pre-LN
 * (GPT-2): h1 = LN1(x) (ln1 stats of x), r1 = x + dropout(attention projection), r2 = LN2(r1)
 * (ln2 stats of r1), out = r1 + dropout(MLP(r2)). */
typedef struct enc_layer_acts {
  /* void *: in the storage dtype m->storage (F32, BF16 or F16; dtype_at for offsets) */
  void *qkv;       /* (BT, 3C) */
  void *att;       /* (B, NH, T, T) softmax probabilities */
  void *attn_out;  /* (BT, C) heads concatenated */
  /* r1, r2: in the storage dtype in pre-LN layers, float32 in post-LN ones (read unrounded) */
  void *r1;        /* (BT, C) x + dropout(attn proj): LayerNorm 1 input */
  float *ln1_mean, *ln1_rstd; /* (BT) */
  void *h1;        /* (BT, C) */
  void *fc;        /* (BT, I) pre-GELU */
  void *gelu;      /* (BT, I) */
  void *r2;        /* (BT, C) h1 + dropout(proj): LayerNorm 2 input */
  float *ln2_mean, *ln2_rstd;
  /* (BT, C) layer output: in the storage dtype, except the hidden state (the last layer's
   * output without a final LayerNorm), float32 for enc_hidden's readers (enc_out_dtype) */
  void *out;
  float *lora_xa[ENC_LORA_NSITES]; /* (BT, r) x A^T per adapted site */
  float *lora_xd[ENC_LORA_NSITES]; /* (BT, IN) dropped-out adapter input (LoRA dropout > 0) */
} enc_layer_acts;

/* Activation recompute: keep less in forward, recompute it in backward (bit-identical). */
typedef enum {
  ENC_RECOMPUTE_NONE = 0,
  ENC_RECOMPUTE_ATTENTION, /* attention probabilities (B, NH, T, T) are recomputed per layer */
  ENC_RECOMPUTE_LAYER,     /* only each layer's output is kept; the layer reruns in backward */
} enc_recompute;
int enc_recompute_parse(const char *name, enc_recompute *out); /* none | attention | layer */

typedef struct enc_batch {
  int B, T;
  const int32_t *ids;  /* (B, T) */
  const int32_t *mask; /* (B, T) 1 = real token */
  const int32_t *tt;   /* (B, T) token types, or NULL for all zeros */
  /* MLM: rows (indices into B*T) on which the MLM head runs and their labels; NULL rows =
   * every row (labels then (B*T) with -100 = ignore). */
  const int32_t *mlm_rows;
  int n_mlm_rows;
  const int32_t *mlm_labels;
  /* (B, cfg.head_features) extra inputs of the classification head; required when the config
   * has head_features, ignored otherwise */
  const float *head_feats;
  /* (B, T, E) vectors added to each row's embedding sum before its LayerNorm (rows that are
   * not tokens: a cell's vector from another model), or NULL; with d_add_emb set, enc_backward
   * writes (=) the loss's gradient with respect to them there */
  const float *add_emb;
  float *d_add_emb;
  /* (B, T) explicit position ids (each < max_position_embeddings), or NULL: the architecture's */
  const int32_t *pos_ids;
  /* Inference for heads that read the first position only (ENC_HEAD_CLS, ENC_HEAD_POOLER; post-LN
   * encoders without MLM or RTD heads, right-padded rows): the last layer runs for each
   * sequence's first position alone (its attention over every real key, its feed-forward on B
   * rows), so enc_hidden() then holds (B, C), one row per sequence. The heads' outputs equal a
   * full forward's within float32 rounding. */
  int first_only;
  /* Training or inference whose only readers are the heads at the rows they read (the MLM
   * head at mlm_rows; the classification head and the pooler at each sequence's first row): the
   * last layer runs at those rows alone (its keys and values at every position, its queries,
   * attention and feed-forward at those rows), its dropout masks the full layer's for them, so
   * the heads' outputs and the loss are a full forward's and the gradients equal within float32
   * rounding. Taken where the model allows it (enc_model.head_rows says whether the last
   * forward did): a post-LN encoder whose heads are the MLM head alone or the classification
   * head and/or the pooler, float32, no position bias, a last layer without rotary positions or
   * adapters, strictly increasing MLM rows, a backend with the rows attention ops.
   * enc_hidden() then holds those rows alone (n_head_rows, C); read no more of it. */
  int head_rows_only;
} enc_batch;

typedef struct enc_model {
  enc_config cfg;
  int heads; /* ENC_HEAD_* */
  ordo_backend be; /* where the working weights, gradients and activations live */
  ordo_params params;
  char base_prefix[16]; /* "bert." / "roberta.": HF names of the base model carry it */
  enc_lora_config lora;

  /* Embeddings are embedding_size E wide; proj_w/proj_b (H, E) map them to the hidden size
   * (ALBERT always, ELECTRA and RoFormer when E != H), -1 otherwise. wpe is -1 when positions
   * do not come from a table (rope, alibi, relative); rope_table is RoFormer's frozen
   * embed_positions buffer, kept to load and save checkpoints (the rotation computes its
   * angles itself). rel_bias: the (buckets, NH) table of the relative scheme. */
  struct { int wte, wpe, wtt, ln_w, ln_b, proj_w, proj_b, rope_table, rel_bias; } emb;
  /* GPT-2: wtt and the embedding LayerNorm are -1; ln_f after the last layer (-1 otherwise) */
  int lnf_w, lnf_b;
  float *lnf_out, *lnf_mean, *lnf_rstd; /* (BT, C), (BT), (BT): the last hidden state */
  enc_layer_idx *layer;
  /* Called by enc_backward when the gradients of specs [first, end) are final for this pass: a
   * layer's own specs once its backward is done (not ALBERT's shared ones, final only after the
   * last layer that runs them), the MLM head's once it is done. The trainer starts reducing them
   * across ranks while the backward goes on. NULL: not called. Set only when each micro-batch
   * runs enc_backward once on this model. */
  void (*grads_final)(void *ctx, int first, int end);
  void *grads_final_ctx;
  int pool_w, pool_b;
  int mlm_dense_w, mlm_dense_b, mlm_ln_w, mlm_ln_b, mlm_bias;
  int nsp_w, nsp_b;
  int cls_dense_w, cls_dense_b, cls_out_w, cls_out_b;
  int cls_feat_w; /* (num_labels, head_features) or -1: logits += W f for the batch's head_feats */
  int cls_gelu;   /* the classification head's activation is GELU (ELECTRA's and RoFormer's
                     ClassificationHead), not tanh; cls_tanh then holds its output */
  int cls_pooled; /* ALBERT: the head's dense layer is the base model's pooler, with no dropout
                     before it (AlbertForSequenceClassification, AlbertSOPHead) */
  int rtd_dense_w, rtd_dense_b, rtd_out_w, rtd_out_b;

  /* capacity planned by enc_plan */
  int maxB, maxT, maxMLM;
  ordo_arena arena;
  /* inputs as the kernels want them, in backend memory (uploaded from the batch each forward) */
  int32_t *pos, *tt0; /* (BT) */
  int32_t *in_ids, *in_mask, *in_tt; /* (BT) */
  int32_t *in_rows;   /* (R) the MLM head's rows */
  int32_t *in_first;  /* (B) the first row b*T of each sequence: the pooler's and CLS head's */
  int32_t *in_labels; /* (max(R, B)) MLM labels / classification targets */
  float *in_f;        /* (max(BT, B*L)) float targets: RTD replaced flags, regression targets */
  float *in_emb;      /* (BT, E) the batch's add_emb */
  float *in_feats;    /* (B, head_features) or NULL */
  float *loss;        /* one float: the last loss op's value */
  /* host staging: positions, the RTD mask weights, position biases, decoded logits */
  int32_t *host_i;    /* (BT) */
  float *host_f;      /* (max(BT, NH*T*T, V)) */
  float *emb_sum;     /* (BT, E) embeddings before LayerNorm */
  float *emb_mean, *emb_rstd;
  void *emb_ln;       /* (BT, E) dropout(LayerNorm) before the projection; NULL without one */
  void *x0;           /* (BT, C) embedding output; both in the storage dtype */
  enc_layer_acts *acts;
  /* heads' activations */
  float *mlm_in, *mlm_mean, *mlm_rstd;  /* (R, C) / (R) */
  void *mlm_fc, *mlm_gelu, *mlm_ln;     /* (R, E) in the storage dtype */
  float *mlm_logits;  /* (R, V) */
  float *mlm_probs;   /* (R, V) */
  float *cls_in, *cls_drop, *cls_logits; /* (B, C): input, the activation dropped out; (B, L) */
  void *cls_fc, *cls_tanh;               /* (B, C) x2 in the storage dtype */
  float *pool_in, *pooled;                        /* (B, C) */
  void *rtd_fc, *rtd_act;                         /* (BT, C) x2 in the storage dtype */
  float *rtd_logits, *rtd_w;                      /* (BT), (BT) mask weights */
  float *d_rtd_logits;                            /* (BT) */
  /* output gradients (seeded by a loss, read by enc_backward) and scratch */
  float *d_hidden;    /* (BT, C) d loss / d last hidden state */
  float *d_mlm_logits;/* (R, V) */
  float *d_cls_logits;/* (B, L) */
  float *d_pooled;    /* (B, C) */
  float *g_a, *g_b, *g_c, *g_att; /* backward scratch */
  /* d qkv (BT, 3C); d gelu and d fc (2 BT I), or d proj and d attn_out in the attention
   * block's backward: in the storage dtype */
  void *g_qkv, *g_big;
  float *g_head_a, *g_head_b, *g_head_c;          /* (max(R, B), max(C, E)) */
  void *g_emb; /* (BT, E) in the storage dtype with a projection, else NULL */
  float *att_bias, *g_att_bias; /* (NH, T, T) position bias (alibi, relative) and its gradient */
  float *lora_tmp, *lora_dxa, *lora_dxd;          /* (BT, max(C, I)), (BT, r), (BT, max(C, I)) */
  int has_d_hidden, has_d_mlm, has_d_cls, has_d_pooled, has_d_rtd;
  int n_mlm_rows; /* rows the MLM head ran on in the last forward */
  /* the last forward ran the last layer at its heads' rows only (enc_batch.head_rows_only):
   * head_row_ids (host: the batch's mlm_rows or host_first), n_head_rows of them */
  int head_rows, n_head_rows;
  const int32_t *head_row_ids;
  int32_t *host_first;   /* (maxB) host: b * T, each sequence's first row */
  int32_t *in_head_rows; /* (max(R, B)) those rows in backend memory */

  /* dropout */
  uint64_t seed, step;
  int training;

  enc_recompute recompute;
  /* Mixed precision: ORDO_DT_BF16 / ORDO_DT_F16 keep a low-precision copy of the weights
   * (refreshed from the float32 masters at each forward) and store the activations the layers
   * keep for backward (enc_layer_acts' void * buffers) in that type, 2 bytes an element (RNE;
   * fp16 overflows to inf). The other activations and activation gradients are float32 arrays
   * rounded to that type where a GPU storing them in it would round. Parameter gradients and
   * optimizer state stay float32. */
  ordo_dtype precision;
  ordo_dtype storage; /* the typed buffers' dtype: precision (F32 only for the test-only
                         emulation, enc_set_precision_emulated) */
  void *w_lp; /* params.total values of type storage in backend memory, NULL in float32 */
  /* The typed-call layer (typed_ops.c): fp32 views of typed buffers for the op running now,
   * carved from one scratch sized at enc_plan for the largest single op (backend memory). */
  float *tv_base;
  size_t tv_cap, tv_used, tv_peak; /* floats */
  int tv_nout;
  struct { void *dst; const float *f; size_t n; ordo_dtype dt; } tv_out[4]; /* views to store back */
} enc_model;

/* Builds the parameter table for cfg with the given heads (weights zero; see enc_init_weights /
 * enc_load), its working copy on be (NULL: the fast CPU backend, backend_cpu()). Returns -1
 * with a message for configurations the driver does not support. */
int enc_init(enc_model *m, const enc_config *cfg, int heads, const ordo_backend *be, ordo_err *e);
/* Same with LoRA adapters (lora NULL or lora->r == 0: none): the base encoder is frozen,
 * adapters are initialised as peft does (A ~ kaiming-uniform, B = 0) by enc_init_weights. */
int enc_init_lora(enc_model *m, const enc_config *cfg, int heads, const enc_lora_config *lora,
                  const ordo_backend *be, ordo_err *e);
/* Folds every adapter into its base weight (W += scaling * B A) and zeroes B, so the model
 * saved afterwards is a plain HF checkpoint with the adapted behaviour. */
void enc_lora_merge(enc_model *m);
/* enc_save of the model with its adapters folded in (enc_lora_merge on a copy of the weights:
 * the model is left as it was); a plain enc_save without adapters. */
int enc_save_merged(enc_model *m, const char *dir, ordo_err *e);
/* Writes only the adapters, peft's layout: DIR/adapter_model.safetensors (names
 * "base_model.model.<module>.lora_A.weight") and DIR/adapter_config.json. */
int enc_lora_save_adapters(const enc_model *m, const char *dir, ordo_err *e);
/* Copies parameter i from src (ordo's layout) to dst in the checkpoint's layout: transposed for
 * ORDO_PF_CONV1D weights; shape (ndim 2) receives the checkpoint's shape. */
void enc_param_to_hf(const enc_model *m, int i, const float *src, float *dst, int64_t *shape);
/* Index of the spec a checkpoint name refers to, accepting HF, bare-model and peft spellings
 * ("base_model.model.", ".base_layer", ".default"); -1 when none. */
int enc_find_param(const enc_model *m, const char *name);
void enc_free(enc_model *m);
/* HF-style random init: N(0, 0.02) for matrices and embeddings, zero biases, LayerNorm 1/0,
 * zero padding-index embedding row. */
void enc_init_weights(enc_model *m, uint64_t seed);
/* Set before enc_plan. */
void enc_set_recompute(enc_model *m, enc_recompute mode);
void enc_set_precision(enc_model *m, ordo_dtype dt); /* F32, BF16 or F16 */
/* Tests only: precision dt with its values kept in float32 arrays rounded in place at the same
 * points (the emulation the 16-bit storage replaced): the reference that 16-bit storage must
 * match bit for bit in any build. */
void enc_set_precision_emulated(enc_model *m, ordo_dtype dt);
/* The longest sequence the position table holds (RoBERTa's positions start after the pad id). */
int enc_max_seq(const enc_config *c);
/* 0 when sequences of T tokens fit the position table, else -1 with e saying both numbers
 * (callers add the flag or file that asked for T). Check before enc_plan, which aborts. */
int enc_check_seq(const enc_config *c, int T, ordo_err *e);
/* 0 when a model of this config with these heads (ENC_HEAD_*) and adapters (lora may be NULL)
 * can be built, else -1 with e saying what does not fit; enc_init checks the same, so a
 * command can check before it writes anything. */
int enc_check_config(const enc_config *cfg, int heads, const enc_lora_config *lora, ordo_err *e);
/* Sizes the activation arena for batches up to (maxB, maxT) and maxMLM head rows (<= 0: B*T). */
void enc_plan(enc_model *m, int maxB, int maxT, int maxMLM);

/* Puts the parameters of two encoders in one table for one optimizer: a's tensors keep their
 * names and offsets, b's are named prefix + name, except those whose name contains `shared`
 * and that a has with the same shape: b reads and writes a's tensor there, and both models'
 * gradients accumulate into it (ELECTRA's generator and discriminator share "embeddings.").
 * Values are copied in (shared ones from a). Afterwards both models borrow joint's memory:
 * free the models (enc_free) before params_free(joint). fp32 only (call before
 * enc_set_precision). Returns the number of shared tensors. */
int enc_join_params(enc_model *a, enc_model *b, const char *prefix, const char *shared,
                    ordo_params *joint);

/* Loads model.safetensors from a file or a directory holding one. The base encoder must be
 * complete; head weights that are missing keep their current values and are listed (as HF
 * reports "newly initialized" weights) in *n_missing_heads. */
int enc_load(enc_model *m, const char *path, int *n_missing_heads, ordo_err *e);
/* Writes DIR/config.json and DIR/model.safetensors (tied weights under both HF names). */
int enc_save(const enc_model *m, const char *dir, ordo_err *e);

/* Forward pass. train != 0 enables dropout (keyed by m->seed and m->step). */
void enc_forward(enc_model *m, const enc_batch *b, int train);
/* Decoder inference on one sequence (causal families, learned or rotary positions, no
 * recompute; the model planned for batch 1 and at least T tokens): runs positions r0 .. T-1 of
 * ids (T tokens) and returns the LM logits (vocab_size) of position T-1. The key/value cache is
 * the layers' activations: positions before r0 must have run in earlier calls with the same
 * ids (generation: r0 = the tokens already run); r0 = 0 runs the whole sequence (no cache).
 * The logits (host memory the model owns) stay valid until the next call. */
const float *enc_decode(enc_model *m, const int32_t *ids, int T, int r0);
/* Clears the output-gradient seeds, after enc_forward and before seeding them through a loss. */
void enc_zero_output_grads(enc_model *m, const enc_batch *b);
/* Backward from the seeded output gradients; accumulates into m->params.grad. */
void enc_backward(enc_model *m, const enc_batch *b);

/* Losses: each returns the loss and seeds the matching output gradient scaled by dloss. Each
 * reads one float from the backend. */
float enc_loss_mlm(enc_model *m, const enc_batch *b, float dloss, int *count);
/* The MLM loss of the last forward without seeding a gradient (evaluation); *count the
 * counted rows. */
float enc_loss_mlm_value(enc_model *m, const enc_batch *b, int *count);
float enc_loss_cls_mse(enc_model *m, const enc_batch *b, const float *targets, float dloss);
float enc_loss_cls_ce(enc_model *m, const enc_batch *b, const int32_t *targets, float dloss);
/* Sum over real tokens of |h - target|^2 divided by the number of real tokens; target (B, T, C). */
float enc_loss_hidden_mse(enc_model *m, const enc_batch *b, const float *target, float dloss);
/* Replaced-token detection: BCE-with-logits of the RTD head's (B, T) logits against replaced
 * (B, T) 0/1, averaged over the real tokens (mask 1), as ElectraForPreTraining. */
float enc_loss_rtd(enc_model *m, const enc_batch *b, const float *replaced, float dloss);

/* Last hidden state of the last forward: (B, T, C) with the batch's T, in backend memory. */
const float *enc_hidden(const enc_model *m);
/* Backend memory of the model (src: enc_hidden, cls_logits, pooled ...) to the host, and host
 * data into it (dst: an output gradient such as d_hidden or d_cls_logits). */
void enc_read(const enc_model *m, void *host_dst, const void *src, size_t bytes);
void enc_write(const enc_model *m, void *dst, const void *host_src, size_t bytes);

#endif
