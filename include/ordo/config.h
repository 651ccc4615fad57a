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
  ORDO_ARCH_COUNT
} ordo_arch;

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
} enc_config;

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

/* Reads config.json. Unknown model_type, missing/invalid required keys or sizes past the
 * bounds above: -1 with a message naming the file and the key. */
int hfconfig_load(enc_config *c, const char *path, ordo_err *e);
/* Writes a config.json that transformers' AutoConfig reads back (atomic write). */
int hfconfig_save(const enc_config *c, const char *path, ordo_err *e);
/* Fills BERT-base-like defaults for the given architecture (callers then override sizes). */
void hfconfig_defaults(enc_config *c, ordo_arch arch);
const char *arch_name(ordo_arch a);

#endif
