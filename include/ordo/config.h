/* Encoder configuration, read from and written to HF config.json. */
#ifndef ORDO_CONFIG_H
#define ORDO_CONFIG_H

#include "ordo/core.h"

typedef enum ordo_arch {
  ORDO_ARCH_BERT = 0,
  ORDO_ARCH_ROBERTA, /* positions start at pad_token_id + 1; pads keep pad_token_id */
  ORDO_ARCH_ELECTRA,
  ORDO_ARCH_ALBERT,
  ORDO_ARCH_ROFORMER,
  ORDO_ARCH_GPT2,    /* decoder: pre-LayerNorm blocks, causal attention, final ln_f, LM head tied
                        to wte, Conv1D projections stored (IN, OUT) in checkpoints */
  ORDO_ARCH_COUNT
} ordo_arch;

/* How token positions reach the attention: one switch for every family. */
typedef enum enc_position {
  ENC_POS_LEARNED = 0, /* learned absolute table added to the embeddings (BERT; RoBERTa's offset) */
  ENC_POS_SINUSOIDAL,  /* fixed sin/cos table added to the embeddings (Vaswani et al.), frozen */
  ENC_POS_ROPE,        /* rotary: q and k rotated pairwise by position (RoFormer) */
  ENC_POS_ALIBI,       /* attention bias -m_h |i - j|, slopes m_h = 2^(-8 (h+1) / NH) */
  ENC_POS_RELATIVE,    /* learned per-head bias on log-bucketed offsets (T5, bidirectional) */
  ENC_POS_COUNT
} enc_position;

typedef struct enc_config {
  char model_type[32]; /* as in config.json: "bert", "roberta", ... */
  ordo_arch arch;
  int vocab_size;
  int hidden_size;
  int num_hidden_layers;
  int num_attention_heads;
  int intermediate_size;
  int max_position_embeddings;
  int type_vocab_size;
  int pad_token_id;
  int embedding_size;     /* ALBERT/ELECTRA factorised embeddings; = hidden_size otherwise */
  float layer_norm_eps;
  float hidden_dropout_prob;
  float attention_probs_dropout_prob;
  float classifier_dropout; /* < 0: null in config.json, use hidden_dropout_prob */
  char hidden_act[16];      /* "gelu" (exact erf) is what the CPU backend implements */
  int num_labels;           /* sequence-classification/regression head outputs */
  int head_features;        /* extra inputs of the classification head's output layer, next to
                               the pooled text (e.g. a notebook's cell counts); ordo's own key
                               "ordo_head_features" in config.json, 0 = none */
  int tie_word_embeddings;  /* MLM decoder shares the word embeddings */
  /* positions: ordo's key "ordo_position" (absent: the family's own scheme, learned
   * absolute, or rope for RoFormer) */
  enc_position position;
  float rope_theta;         /* "ordo_rope_theta", base of the rotary frequencies (10000) */
  float rope_scale;         /* "ordo_rope_scale": rotary positions are multiplied by it;
                               L_train / L_target < 1 interpolates to a longer context */
  int rotary_value;         /* RoFormer's rotary_value: v is rotated as well */
  int relative_buckets;     /* "ordo_relative_buckets" (32) and */
  int relative_max_distance;/* "ordo_relative_max_distance" (128) of the T5-style bias */
  int num_hidden_groups;    /* ALBERT: layers share the parameters of these many groups */
  int inner_group_num;      /* ALBERT: layers per group (1 is what the driver runs) */
  int bos_token_id, eos_token_id; /* GPT-2's document markers (-1: none): packing separates
                                     documents with eos, generation stops at it */
} enc_config;

/* Decoder families: causal attention, pre-LayerNorm blocks and a final LayerNorm. */
static inline int enc_is_causal(const enc_config *c) { return c->arch == ORDO_ARCH_GPT2; }

/* Upper bounds on the sizes a config.json may give (the CLI flags share them): a size past
 * its bound is refused with the file and the key named, before anything is allocated. */
#define ENC_MAX_VOCAB (1 << 20)
#define ENC_MAX_HIDDEN 16384
#define ENC_MAX_LAYERS 128
#define ENC_MAX_HEADS 256
#define ENC_MAX_INTERMEDIATE 65536
#define ENC_MAX_POSITIONS 65536
#define ENC_MAX_TYPE_VOCAB 1024
#define ENC_MAX_LABELS 65536
/* ... and on the parameter count they add up to (16 GB of float32 weights). */
#define ENC_MAX_PARAMS ((int64_t)1 << 32)

const char *enc_position_name(enc_position p);
/* absolute | sinusoidal | rope | alibi | relative; -1 for anything else */
int enc_position_parse(const char *name, enc_position *out);

/* Reads config.json. Unknown model_type, missing/invalid required keys or sizes past the
 * bounds above: -1 with a message naming the file and the key. */
int hfconfig_load(enc_config *c, const char *path, ordo_err *e);
/* Writes a config.json that transformers' AutoConfig reads back (atomic write). */
int hfconfig_save(const enc_config *c, const char *path, ordo_err *e);
/* The names of a classifier's labels, config.json's id2label (label2id written to match):
 * write replaces them in an existing config.json (atomically); read gives n = num_labels
 * malloc'd names, "LABEL_<i>" where id2label is absent. */
int hfconfig_labels_write(const char *path, char *const *names, int n, ordo_err *e);
int hfconfig_labels_read(const char *path, char ***names, int *n, ordo_err *e);
/* Fills BERT-base-like defaults for the given architecture (callers then override sizes). */
void hfconfig_defaults(enc_config *c, ordo_arch arch);
const char *arch_name(ordo_arch a);

#endif
