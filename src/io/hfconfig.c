/* HF config.json <-> enc_config, with the defaults transformers uses for absent keys. */
#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_kind.h"
#include "ordo/config.h"

static const char *const k_arch_names[ORDO_ARCH_COUNT] = {
    [ORDO_ARCH_BERT] = "bert",         [ORDO_ARCH_ROBERTA] = "roberta",
    [ORDO_ARCH_ELECTRA] = "electra",   [ORDO_ARCH_ALBERT] = "albert",
    [ORDO_ARCH_ROFORMER] = "roformer", [ORDO_ARCH_GPT2] = "gpt2",
};

static const char *const k_position_names[ENC_POS_COUNT] = {
    [ENC_POS_LEARNED] = "absolute", [ENC_POS_SINUSOIDAL] = "sinusoidal", [ENC_POS_ROPE] = "rope",
    [ENC_POS_ALIBI] = "alibi",      [ENC_POS_RELATIVE] = "relative",
};

const char *enc_position_name(enc_position p) {
  ORDO_CHECK(p >= 0 && p < ENC_POS_COUNT);
  return k_position_names[p];
}

int enc_position_parse(const char *name, enc_position *out) {
  for (int p = 0; p < ENC_POS_COUNT; p++)
    if (strcmp(name, k_position_names[p]) == 0) {
      *out = (enc_position)p;
      return 0;
    }
  return -1;
}

/* The scheme a family uses when config.json does not name one. */
static enc_position family_position(ordo_arch a) {
  return a == ORDO_ARCH_ROFORMER ? ENC_POS_ROPE : ENC_POS_LEARNED;
}

const char *arch_name(ordo_arch a) {
  ORDO_CHECK(a >= 0 && a < ORDO_ARCH_COUNT);
  return k_arch_names[a];
}

/* Architectures whose config has its own embedding_size (factorised embeddings); BERT and
 * RoBERTa have none, so a stray key there is ignored as transformers ignores it. */
static int has_embedding_size(ordo_arch a) {
  return a == ORDO_ARCH_ELECTRA || a == ORDO_ARCH_ALBERT || a == ORDO_ARCH_ROFORMER;
}

/* The values transformers' <Arch>Config uses when a key is absent (transformers 5.x). Sizes are
 * BERT-base for every architecture so that callers start from one familiar shape. */
void hfconfig_defaults(enc_config *c, ordo_arch arch) {
  ORDO_CHECK(arch >= 0 && arch < ORDO_ARCH_COUNT);
  memset(c, 0, sizeof *c);
  snprintf(c->model_type, sizeof c->model_type, "%s", k_arch_names[arch]);
  c->arch = arch;
  c->vocab_size = 30522;
  c->hidden_size = 768;
  c->num_hidden_layers = 12;
  c->num_attention_heads = 12;
  c->intermediate_size = 3072;
  c->max_position_embeddings = 512;
  c->type_vocab_size = 2;
  c->pad_token_id = 0;
  c->embedding_size = c->hidden_size;
  c->layer_norm_eps = 1e-12f;
  c->hidden_dropout_prob = 0.1f;
  c->attention_probs_dropout_prob = 0.1f;
  c->classifier_dropout = -1.0f;
  snprintf(c->hidden_act, sizeof c->hidden_act, "gelu");
  c->num_labels = 2;
  c->tie_word_embeddings = 1;
  c->position = family_position(arch);
  c->rope_theta = 10000.0f;
  c->rope_scale = 1.0f;
  c->relative_buckets = 32;
  c->relative_max_distance = 128;
  c->num_hidden_groups = 1;
  c->inner_group_num = 1;
  c->bos_token_id = c->eos_token_id = -1;
  switch (arch) {
    case ORDO_ARCH_ROBERTA:
      c->vocab_size = 50265;
      c->pad_token_id = 1;
      break;
    case ORDO_ARCH_ELECTRA: c->embedding_size = 128; break;
    case ORDO_ARCH_ALBERT:
      c->vocab_size = 30000;
      c->embedding_size = 128;
      snprintf(c->hidden_act, sizeof c->hidden_act, "gelu_new");
      c->hidden_dropout_prob = 0.0f;
      c->attention_probs_dropout_prob = 0.0f;
      c->classifier_dropout = 0.1f; /* ALBERT's classifier_dropout_prob */
      break;
    case ORDO_ARCH_ROFORMER:
      c->vocab_size = 50000;
      c->max_position_embeddings = 1536;
      break;
    case ORDO_ARCH_GPT2: /* GPT2Config's defaults: the 124M model */
      c->vocab_size = 50257;
      c->max_position_embeddings = 1024;
      c->type_vocab_size = 1;
      c->pad_token_id = -1; /* GPT-2 has no padding token */
      c->layer_norm_eps = 1e-5f;
      snprintf(c->hidden_act, sizeof c->hidden_act, "gelu_new");
      c->bos_token_id = c->eos_token_id = 50256;
      break;
    default: break;
  }
}

/* ---- reading --------------------------------------------------------------------------- */

typedef struct cfg_ctx {
  const char *path;
  const cJSON *root;
  ordo_err *e;
} cfg_ctx;


/* An integer key in [min, max]. Absent (or null, when !required): *out keeps its default. */
static int get_int(cfg_ctx *x, const char *key, int required, int min, int max, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->root, key);
  if (!v || (!required && cJSON_IsNull(v))) {
    if (required) return ordo_fail(x->e, "%s: missing required key \"%s\"", x->path, key);
    return 0;
  }
  if (!cJSON_IsNumber(v))
    return ordo_fail(x->e, "%s: \"%s\" is %s, expected an integer", x->path, key, io_json_kind(v));
  double d = v->valuedouble;
  if (d != floor(d) || d < INT_MIN || d > INT_MAX)
    return ordo_fail(x->e, "%s: \"%s\" is %g, expected an integer", x->path, key, d);
  if (d < min || d > max)
    return ordo_fail(x->e, "%s: \"%s\" is %g, expected an integer in [%d, %d]", x->path, key, d,
                     min, max);
  *out = (int)d;
  return 0;
}

/* A number in [lo, hi]. Absent: default kept; null: *out = null_value when null_ok. */
static int get_float(cfg_ctx *x, const char *key, double lo, double hi, int null_ok,
                     float null_value, float *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->root, key);
  if (!v) return 0;
  if (cJSON_IsNull(v)) {
    if (null_ok) *out = null_value;
    return 0;
  }
  if (!cJSON_IsNumber(v))
    return ordo_fail(x->e, "%s: \"%s\" is %s, expected a number", x->path, key, io_json_kind(v));
  double d = v->valuedouble;
  if (!(d >= lo && d <= hi))
    return ordo_fail(x->e, "%s: \"%s\" is %g, expected a number in [%g, %g]", x->path, key, d,
                     lo, hi);
  *out = (float)d;
  return 0;
}

static int get_string(cfg_ctx *x, const char *key, char *out, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->root, key);
  if (!v) return 0;
  if (!cJSON_IsString(v))
    return ordo_fail(x->e, "%s: \"%s\" is %s, expected a string", x->path, key, io_json_kind(v));
  if (strlen(v->valuestring) >= cap)
    return ordo_fail(x->e, "%s: \"%s\" value '%s' is too long (at most %zu characters)", x->path,
                     key, v->valuestring, cap - 1);
  memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
  return 0;
}

static int get_bool(cfg_ctx *x, const char *key, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->root, key);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsBool(v))
    return ordo_fail(x->e, "%s: \"%s\" is %s, expected true or false", x->path, key,
                     io_json_kind(v));
  *out = cJSON_IsTrue(v) ? 1 : 0;
  return 0;
}

/* num_labels: the "num_labels" key, else the size of id2label, else transformers' default 2. */
static int get_num_labels(cfg_ctx *x, int *out) {
  const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(x->root, "id2label");
  int from_map = -1;
  if (id2label && !cJSON_IsNull(id2label)) {
    if (!cJSON_IsObject(id2label))
      return ordo_fail(x->e, "%s: \"id2label\" is %s, expected an object", x->path,
                       io_json_kind(id2label));
    from_map = cJSON_GetArraySize(id2label);
    if (from_map < 1) return ordo_fail(x->e, "%s: \"id2label\" is empty", x->path);
    if (from_map > ENC_MAX_LABELS)
      return ordo_fail(x->e, "%s: \"id2label\" has %d entries, at most %d are supported", x->path,
                       from_map, ENC_MAX_LABELS);
  }
  int n = -1;
  if (get_int(x, "num_labels", 0, 1, ENC_MAX_LABELS, &n) != 0) return -1;
  if (n > 0 && from_map > 0 && n != from_map)
    return ordo_fail(x->e, "%s: \"num_labels\" is %d but \"id2label\" has %d entries", x->path,
                     n, from_map);
  *out = n > 0 ? n : from_map > 0 ? from_map : 2;
  return 0;
}

/* ALBERT's groups, RoFormer's rotary_value, and the position scheme. */
static int parse_positions(enc_config *c, cfg_ctx *x) {
  const char *path = x->path;
  if (c->arch == ORDO_ARCH_ALBERT) {
    if (get_int(x, "num_hidden_groups", 0, 1, ENC_MAX_LAYERS, &c->num_hidden_groups) ||
        get_int(x, "inner_group_num", 0, 1, ENC_MAX_LAYERS, &c->inner_group_num))
      return -1;
    if (c->num_hidden_layers % c->num_hidden_groups != 0)
      return ordo_fail(x->e, "%s: \"num_hidden_layers\" %d is not a multiple of \"num_hidden_groups\" %d",
                       path, c->num_hidden_layers, c->num_hidden_groups);
  }
  if (c->arch == ORDO_ARCH_ROFORMER && get_bool(x, "rotary_value", &c->rotary_value)) return -1;
  /* transformers' BERT-family relative_key schemes are not what ordo computes: refuse them
   * rather than run a different model */
  char pet[32] = "absolute";
  if (get_string(x, "position_embedding_type", pet, sizeof pet)) return -1;
  if (strcmp(pet, "absolute") != 0)
    return ordo_fail(x->e, "%s: \"position_embedding_type\" '%s' is not supported (absolute; "
                           "ordo's own schemes go in \"ordo_position\")", path, pet);
  char pos[32] = "";
  if (get_string(x, "ordo_position", pos, sizeof pos)) return -1;
  if (pos[0] && enc_position_parse(pos, &c->position) != 0)
    return ordo_fail(x->e, "%s: \"ordo_position\" is '%s', expected absolute, sinusoidal, rope, "
                           "alibi or relative", path, pos);
  if (get_float(x, "ordo_rope_theta", 1.0, 1e9, 0, 0, &c->rope_theta) ||
      get_float(x, "ordo_rope_scale", 1e-6, 1e6, 0, 0, &c->rope_scale) ||
      get_int(x, "ordo_relative_buckets", 0, 2, ENC_MAX_POSITIONS, &c->relative_buckets) ||
      get_int(x, "ordo_relative_max_distance", 0, 1, ENC_MAX_POSITIONS, &c->relative_max_distance))
    return -1;
  return 0;
}

/* A token id key that may be null or absent (-1 then) and must lie in the vocabulary. */
static int get_token_id(cfg_ctx *x, const char *key, const enc_config *c, int *out) {
  if (get_int(x, key, 0, 0, INT_MAX, out)) return -1;
  if (*out >= c->vocab_size)
    return ordo_fail(x->e, "%s: \"%s\" %d is not below \"vocab_size\" %d", x->path, key, *out,
                     c->vocab_size);
  return 0;
}

/* GPT2Config: its own key names (n_embd, n_layer, ...); n_inner null = 4 n_embd; embd_pdrop
 * and resid_pdrop are one dropout here (refused when they differ). */
static int parse_gpt2(enc_config *c, cfg_ctx *x) {
  const char *path = x->path;
  int inner = -1;
  if (get_int(x, "vocab_size", 1, 1, ENC_MAX_VOCAB, &c->vocab_size) ||
      get_int(x, "n_embd", 1, 1, ENC_MAX_HIDDEN, &c->hidden_size) ||
      get_int(x, "n_layer", 1, 1, ENC_MAX_LAYERS, &c->num_hidden_layers) ||
      get_int(x, "n_head", 1, 1, ENC_MAX_HEADS, &c->num_attention_heads) ||
      get_int(x, "n_inner", 0, 1, ENC_MAX_INTERMEDIATE, &inner) ||
      get_int(x, "n_positions", 0, 1, ENC_MAX_POSITIONS, &c->max_position_embeddings))
    return -1;
  if (c->hidden_size % c->num_attention_heads != 0)
    return ordo_fail(x->e, "%s: \"n_embd\" %d is not divisible by \"n_head\" %d", path,
                     c->hidden_size, c->num_attention_heads);
  c->embedding_size = c->hidden_size;
  c->intermediate_size = inner > 0 ? inner : 4 * c->hidden_size;
  if (c->intermediate_size > ENC_MAX_INTERMEDIATE)
    return ordo_fail(x->e, "%s: 4 * \"n_embd\" is %d, more than %d", path, c->intermediate_size,
                     ENC_MAX_INTERMEDIATE);
  float embd = c->hidden_dropout_prob;
  /* GPT2Config's default markers (50256) do not exist in a smaller vocabulary: none then */
  if (c->bos_token_id >= c->vocab_size) c->bos_token_id = c->eos_token_id = -1;
  if (get_float(x, "layer_norm_epsilon", FLT_MIN, 1.0, 0, 0, &c->layer_norm_eps) ||
      get_float(x, "resid_pdrop", 0, 1, 0, 0, &c->hidden_dropout_prob) ||
      get_float(x, "embd_pdrop", 0, 1, 0, 0, &embd) ||
      get_float(x, "attn_pdrop", 0, 1, 0, 0, &c->attention_probs_dropout_prob) ||
      get_string(x, "activation_function", c->hidden_act, sizeof c->hidden_act) ||
      get_token_id(x, "bos_token_id", c, &c->bos_token_id) ||
      get_token_id(x, "eos_token_id", c, &c->eos_token_id) ||
      get_token_id(x, "pad_token_id", c, &c->pad_token_id) ||
      get_bool(x, "tie_word_embeddings", &c->tie_word_embeddings))
    return -1;
  if (embd != c->hidden_dropout_prob)
    return ordo_fail(x->e, "%s: \"embd_pdrop\" %g differs from \"resid_pdrop\" %g (ordo runs one "
                           "dropout rate for both)", path, embd, c->hidden_dropout_prob);
  if (!c->tie_word_embeddings)
    return ordo_fail(x->e, "%s: \"tie_word_embeddings\" false is not supported (GPT-2's LM head "
                           "is the token embedding)", path);
  char pos[32] = "";
  if (get_string(x, "ordo_position", pos, sizeof pos)) return -1;
  if (pos[0] && (enc_position_parse(pos, &c->position) != 0 ||
                 (c->position != ENC_POS_LEARNED && c->position != ENC_POS_ROPE &&
                  c->position != ENC_POS_ALIBI)))
    return ordo_fail(x->e, "%s: \"ordo_position\" is '%s', expected absolute, rope or alibi for "
                           "gpt2", path, pos);
  return get_float(x, "ordo_rope_theta", 1.0, 1e9, 0, 0, &c->rope_theta);
}

static int parse_config(enc_config *c, cfg_ctx *x) {
  const char *path = x->path;
  if (!cJSON_IsObject(x->root))
    return ordo_fail(x->e, "%s: top level is %s, expected a JSON object", path,
                     io_json_kind(x->root));
  const cJSON *mt = cJSON_GetObjectItemCaseSensitive(x->root, "model_type");
  if (!mt) return ordo_fail(x->e, "%s: missing required key \"model_type\"", path);
  if (!cJSON_IsString(mt))
    return ordo_fail(x->e, "%s: \"model_type\" is %s, expected a string", path, io_json_kind(mt));
  int arch = -1;
  for (int a = 0; a < ORDO_ARCH_COUNT; a++)
    if (strcmp(mt->valuestring, k_arch_names[a]) == 0) arch = a;
  if (arch < 0)
    return ordo_fail(x->e,
                     "%s: unsupported model_type '%s' (supported: bert, roberta, electra, "
                     "albert, roformer, gpt2)",
                     path, mt->valuestring);
  hfconfig_defaults(c, (ordo_arch)arch);
  if (arch == ORDO_ARCH_GPT2) return parse_gpt2(c, x);

  if (get_int(x, "vocab_size", 1, 1, ENC_MAX_VOCAB, &c->vocab_size) ||
      get_int(x, "hidden_size", 1, 1, ENC_MAX_HIDDEN, &c->hidden_size) ||
      get_int(x, "num_hidden_layers", 1, 1, ENC_MAX_LAYERS, &c->num_hidden_layers) ||
      get_int(x, "num_attention_heads", 1, 1, ENC_MAX_HEADS, &c->num_attention_heads) ||
      get_int(x, "intermediate_size", 1, 1, ENC_MAX_INTERMEDIATE, &c->intermediate_size))
    return -1;
  if (c->hidden_size % c->num_attention_heads != 0)
    return ordo_fail(x->e, "%s: \"hidden_size\" %d is not divisible by \"num_attention_heads\" %d",
                     path, c->hidden_size, c->num_attention_heads);
  /* RoFormer's embedding_size defaults to hidden_size; ELECTRA's and ALBERT's to 128. */
  if (c->arch != ORDO_ARCH_ELECTRA && c->arch != ORDO_ARCH_ALBERT)
    c->embedding_size = c->hidden_size;
  if (has_embedding_size(c->arch) && get_int(x, "embedding_size", 0, 1, ENC_MAX_HIDDEN, &c->embedding_size))
    return -1;
  if (get_int(x, "max_position_embeddings", 0, 1, ENC_MAX_POSITIONS, &c->max_position_embeddings) ||
      get_int(x, "type_vocab_size", 0, 1, ENC_MAX_TYPE_VOCAB, &c->type_vocab_size) ||
      get_int(x, "pad_token_id", 0, 0, INT_MAX, &c->pad_token_id))
    return -1;
  if (c->pad_token_id >= c->vocab_size)
    return ordo_fail(x->e, "%s: \"pad_token_id\" %d is not below \"vocab_size\" %d", path,
                     c->pad_token_id, c->vocab_size);
  if (get_float(x, "layer_norm_eps", FLT_MIN, 1.0, 0, 0, &c->layer_norm_eps) ||
      get_float(x, "hidden_dropout_prob", 0, 1, 0, 0, &c->hidden_dropout_prob) ||
      get_float(x, "attention_probs_dropout_prob", 0, 1, 0, 0, &c->attention_probs_dropout_prob))
    return -1;
  /* ALBERT names it classifier_dropout_prob (a number); the others classifier_dropout (null =
   * fall back to hidden_dropout_prob, kept here as -1). */
  if (c->arch == ORDO_ARCH_ALBERT) {
    if (get_float(x, "classifier_dropout_prob", 0, 1, 0, 0, &c->classifier_dropout)) return -1;
  } else if (get_float(x, "classifier_dropout", 0, 1, 1, -1.0f, &c->classifier_dropout)) {
    return -1;
  }
  if (get_string(x, "hidden_act", c->hidden_act, sizeof c->hidden_act) ||
      get_num_labels(x, &c->num_labels) ||
      get_int(x, "ordo_head_features", 0, 0, ENC_MAX_HIDDEN, &c->head_features) ||
      get_bool(x, "tie_word_embeddings", &c->tie_word_embeddings))
    return -1;
  return parse_positions(c, x);
}

/* Reads and parses path; NULL with e naming the file (and where the JSON breaks). */
static cJSON *json_read(const char *path, ordo_err *e) {
  size_t len = 0;
  char *text = ordo_read_file(path, &len, e);
  if (!text) return NULL;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!root) {
    size_t off = end && end >= text ? (size_t)(end - text) : 0, line = 1;
    for (size_t i = 0; i < off && i < len; i++) line += text[i] == '\n';
    ordo_fail(e, "%s: not valid JSON (error at line %zu, byte offset %zu)", path, line, off);
  }
  free(text);
  return root;
}

int hfconfig_load(enc_config *c, const char *path, ordo_err *e) {
  cJSON *root = json_read(path, e);
  if (!root) return -1;
  cfg_ctx x = {path, root, e};
  enc_config tmp;
  int rc = parse_config(&tmp, &x);
  if (rc == 0) *c = tmp;
  cJSON_Delete(root);
  return rc;
}

/* ---- writing --------------------------------------------------------------------------- */

static int json_write(const char *path, const cJSON *root, ordo_err *e);

/* A float field as the shortest decimal that reads back to the same float (1e-12, not
 * 9.9999999600419720e-13), so the file looks like the ones transformers writes. */
static double float_for_json(float f) {
  char buf[32];
  for (int prec = 6; prec <= 9; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
    if ((float)strtod(buf, NULL) == f) break;
  }
  return strtod(buf, NULL);
}

static int write_config(cJSON *r, const char *path, ordo_err *e);

/* GPT2Config's keys. */
static void save_gpt2(const enc_config *c, cJSON *r) {
  cJSON_AddStringToObject(r, "model_type", "gpt2");
  cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
  cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
  cJSON_AddNumberToObject(r, "vocab_size", c->vocab_size);
  cJSON_AddNumberToObject(r, "n_embd", c->hidden_size);
  cJSON_AddNumberToObject(r, "n_layer", c->num_hidden_layers);
  cJSON_AddNumberToObject(r, "n_head", c->num_attention_heads);
  cJSON_AddNumberToObject(r, "n_inner", c->intermediate_size);
  cJSON_AddNumberToObject(r, "n_positions", c->max_position_embeddings);
  cJSON_AddNumberToObject(r, "layer_norm_epsilon", float_for_json(c->layer_norm_eps));
  cJSON_AddStringToObject(r, "activation_function", c->hidden_act);
  cJSON_AddNumberToObject(r, "resid_pdrop", float_for_json(c->hidden_dropout_prob));
  cJSON_AddNumberToObject(r, "embd_pdrop", float_for_json(c->hidden_dropout_prob));
  cJSON_AddNumberToObject(r, "attn_pdrop", float_for_json(c->attention_probs_dropout_prob));
  const char *ids[3] = {"bos_token_id", "eos_token_id", "pad_token_id"};
  const int vals[3] = {c->bos_token_id, c->eos_token_id, c->pad_token_id};
  for (int k = 0; k < 3; k++)
    if (vals[k] >= 0) cJSON_AddNumberToObject(r, ids[k], vals[k]);
    else cJSON_AddNullToObject(r, ids[k]);
  cJSON_AddBoolToObject(r, "tie_word_embeddings", 1);
  if (c->position != ENC_POS_LEARNED)
    cJSON_AddStringToObject(r, "ordo_position", k_position_names[c->position]);
  if (c->position == ENC_POS_ROPE && c->rope_theta != 10000.0f)
    cJSON_AddNumberToObject(r, "ordo_rope_theta", float_for_json(c->rope_theta));
}

int hfconfig_save(const enc_config *c, const char *path, ordo_err *e) {
  ORDO_CHECK(c->arch >= 0 && c->arch < ORDO_ARCH_COUNT);
  cJSON *r = cJSON_CreateObject();
  if (c->arch == ORDO_ARCH_GPT2) {
    save_gpt2(c, r);
    return write_config(r, path, e);
  }
  cJSON_AddStringToObject(r, "model_type", k_arch_names[c->arch]);
  cJSON_AddNumberToObject(r, "vocab_size", c->vocab_size);
  cJSON_AddNumberToObject(r, "hidden_size", c->hidden_size);
  cJSON_AddNumberToObject(r, "num_hidden_layers", c->num_hidden_layers);
  cJSON_AddNumberToObject(r, "num_attention_heads", c->num_attention_heads);
  cJSON_AddNumberToObject(r, "intermediate_size", c->intermediate_size);
  if (has_embedding_size(c->arch)) cJSON_AddNumberToObject(r, "embedding_size", c->embedding_size);
  cJSON_AddNumberToObject(r, "max_position_embeddings", c->max_position_embeddings);
  cJSON_AddNumberToObject(r, "type_vocab_size", c->type_vocab_size);
  cJSON_AddNumberToObject(r, "pad_token_id", c->pad_token_id);
  cJSON_AddNumberToObject(r, "layer_norm_eps", float_for_json(c->layer_norm_eps));
  cJSON_AddNumberToObject(r, "hidden_dropout_prob", float_for_json(c->hidden_dropout_prob));
  cJSON_AddNumberToObject(r, "attention_probs_dropout_prob",
                          float_for_json(c->attention_probs_dropout_prob));
  if (c->arch == ORDO_ARCH_ALBERT) {
    /* ALBERT has no null form: "use hidden_dropout_prob" is written as that value. */
    float cd = c->classifier_dropout < 0 ? c->hidden_dropout_prob : c->classifier_dropout;
    cJSON_AddNumberToObject(r, "classifier_dropout_prob", float_for_json(cd));
  } else if (c->classifier_dropout < 0) {
    cJSON_AddNullToObject(r, "classifier_dropout");
  } else {
    cJSON_AddNumberToObject(r, "classifier_dropout", float_for_json(c->classifier_dropout));
  }
  cJSON_AddStringToObject(r, "hidden_act", c->hidden_act);
  /* num_labels travels as id2label/label2id, as transformers writes it. */
  cJSON *id2label = cJSON_AddObjectToObject(r, "id2label");
  cJSON *label2id = cJSON_AddObjectToObject(r, "label2id");
  for (int i = 0; i < c->num_labels; i++) {
    char key[32], lab[48];
    snprintf(key, sizeof key, "%d", i);
    snprintf(lab, sizeof lab, "LABEL_%d", i);
    cJSON_AddStringToObject(id2label, key, lab);
    cJSON_AddNumberToObject(label2id, lab, i);
  }
  cJSON_AddBoolToObject(r, "tie_word_embeddings", c->tie_word_embeddings != 0);
  if (c->head_features > 0) cJSON_AddNumberToObject(r, "ordo_head_features", c->head_features);
  if (c->arch == ORDO_ARCH_ALBERT) {
    cJSON_AddNumberToObject(r, "num_hidden_groups", c->num_hidden_groups);
    cJSON_AddNumberToObject(r, "inner_group_num", c->inner_group_num);
  }
  if (c->arch == ORDO_ARCH_ROFORMER) cJSON_AddBoolToObject(r, "rotary_value", c->rotary_value != 0);
  if (c->position != family_position(c->arch))
    cJSON_AddStringToObject(r, "ordo_position", k_position_names[c->position]);
  if (c->position == ENC_POS_ROPE) {
    if (c->rope_theta != 10000.0f) cJSON_AddNumberToObject(r, "ordo_rope_theta", float_for_json(c->rope_theta));
    if (c->rope_scale != 1.0f) cJSON_AddNumberToObject(r, "ordo_rope_scale", float_for_json(c->rope_scale));
  }
  if (c->position == ENC_POS_RELATIVE) {
    cJSON_AddNumberToObject(r, "ordo_relative_buckets", c->relative_buckets);
    cJSON_AddNumberToObject(r, "ordo_relative_max_distance", c->relative_max_distance);
  }
  return write_config(r, path, e);
}

/* Writes r (json_write) and frees it. */
static int write_config(cJSON *r, const char *path, ordo_err *e) {
  int rc = json_write(path, r, e);
  cJSON_Delete(r);
  return rc;
}

/* Writes root to path, indented, with a final newline (atomic). */
static int json_write(const char *path, const cJSON *root, ordo_err *e) {
  char *text = cJSON_Print(root);
  ORDO_CHECK(text);
  size_t n = strlen(text);
  char *out = ordo_malloc(n + 2);
  memcpy(out, text, n);
  out[n] = '\n';
  cJSON_free(text);
  int rc = ordo_write_file_atomic(path, out, n + 1, e);
  free(out);
  return rc;
}

/* ---- a classifier's label names ----------------------------------------------------------- */

int hfconfig_labels_write(const char *path, char *const *names, int n, ordo_err *e) {
  cJSON *root = json_read(path, e);
  if (!root) return -1;
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return ordo_fail(e, "%s: expected a JSON object", path);
  }
  cJSON *id2label = cJSON_CreateObject(), *label2id = cJSON_CreateObject();
  for (int i = 0; i < n; i++) {
    char key[32];
    snprintf(key, sizeof key, "%d", i);
    cJSON_AddStringToObject(id2label, key, names[i]);
    cJSON_AddNumberToObject(label2id, names[i], i);
  }
  cJSON_DeleteItemFromObjectCaseSensitive(root, "num_labels");
  if (cJSON_GetObjectItemCaseSensitive(root, "id2label"))
    cJSON_ReplaceItemInObjectCaseSensitive(root, "id2label", id2label);
  else
    cJSON_AddItemToObject(root, "id2label", id2label);
  if (cJSON_GetObjectItemCaseSensitive(root, "label2id"))
    cJSON_ReplaceItemInObjectCaseSensitive(root, "label2id", label2id);
  else
    cJSON_AddItemToObject(root, "label2id", label2id);
  int rc = json_write(path, root, e);
  cJSON_Delete(root);
  return rc;
}

int hfconfig_labels_read(const char *path, char ***names, int *n, ordo_err *e) {
  enc_config c;
  if (hfconfig_load(&c, path, e) != 0) return -1;
  cJSON *root = json_read(path, e);
  if (!root) return -1;
  const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
  char **out = ordo_calloc((size_t)c.num_labels, sizeof(char *));
  int rc = 0;
  for (int i = 0; i < c.num_labels && rc == 0; i++) {
    char key[32];
    snprintf(key, sizeof key, "%d", i);
    const cJSON *v = cJSON_IsObject(id2label) ? cJSON_GetObjectItemCaseSensitive(id2label, key) : NULL;
    if (v && !cJSON_IsString(v)) {
      rc = ordo_fail(e, "%s: id2label[\"%s\"] is %s, expected a string", path, key, io_json_kind(v));
    } else if (v) {
      out[i] = ordo_strdup(v->valuestring);
    } else if (cJSON_IsObject(id2label)) {
      rc = ordo_fail(e, "%s: id2label has no entry \"%s\" (expected keys 0 to %d)", path, key,
                     c.num_labels - 1);
    } else {
      snprintf(key, sizeof key, "LABEL_%d", i);
      out[i] = ordo_strdup(key);
    }
  }
  cJSON_Delete(root);
  if (rc != 0) {
    for (int i = 0; i < c.num_labels; i++) free(out[i]);
    free(out);
    return -1;
  }
  *names = out;
  *n = c.num_labels;
  return 0;
}
