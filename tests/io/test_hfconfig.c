/* HF config.json: the shared fixtures' configs, transformers' defaults for absent keys,
 * save -> load round trips for every architecture, and the error cases (each message names
 * the file and the key). */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ordo/config.h"

static char g_dir[256];

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  ORDO_CHECK(f);
  fputs(text, f);
  fclose(f);
}

/* The five required keys, then `extra` (a JSON fragment starting with ',' or empty). */
static void write_cfg(const char *path, const char *model_type, const char *extra) {
  char buf[4096];
  snprintf(buf, sizeof buf,
           "{\n  \"model_type\": \"%s\",\n  \"vocab_size\": 503,\n  \"hidden_size\": 64,\n"
           "  \"num_hidden_layers\": 2,\n  \"num_attention_heads\": 4,\n"
           "  \"intermediate_size\": 256%s\n}\n",
           model_type, extra);
  write_text(path, buf);
}

static int load_text(enc_config *c, const char *label, const char *text, ordo_err *e) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.json", g_dir, label);
  write_text(path, text);
  return hfconfig_load(c, path, e);
}

static int load_cfg(enc_config *c, const char *label, const char *model_type, const char *extra,
                    ordo_err *e) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.json", g_dir, label);
  write_cfg(path, model_type, extra);
  return hfconfig_load(c, path, e);
}

static void expect_bad_cfg(const char *label, const char *model_type, const char *extra,
                           const char *what) {
  enc_config c;
  ordo_err e = {{0}};
  int rc = load_cfg(&c, label, model_type, extra, &e);
  EXPECT(rc == -1, "%s: accepted", label);
  EXPECT(strstr(e.msg, label) != NULL, "%s: message does not name the file: %s", label, e.msg);
  EXPECT(strstr(e.msg, what) != NULL, "%s: message '%s' lacks '%s'", label, e.msg, what);
}

static void test_defaults_on_load(void) {
  enc_config c;
  ordo_err e = {{0}};
  /* BERT with only the required keys: transformers' BertConfig defaults for the rest. */
  EXPECT(load_cfg(&c, "bert_min", "bert", "", &e) == 0, "%s", e.msg);
  EXPECT(c.arch == ORDO_ARCH_BERT && strcmp(c.model_type, "bert") == 0, "arch");
  EXPECT(c.vocab_size == 503 && c.hidden_size == 64 && c.num_hidden_layers == 2 &&
             c.num_attention_heads == 4 && c.intermediate_size == 256,
         "sizes");
  EXPECT(c.max_position_embeddings == 512 && c.type_vocab_size == 2 && c.pad_token_id == 0,
         "bert defaults");
  EXPECT(c.embedding_size == 64, "embedding_size = hidden_size, got %d", c.embedding_size);
  EXPECT(c.layer_norm_eps == 1e-12f && c.hidden_dropout_prob == 0.1f &&
             c.attention_probs_dropout_prob == 0.1f && c.classifier_dropout < 0,
         "float defaults");
  EXPECT(strcmp(c.hidden_act, "gelu") == 0 && c.num_labels == 2 && c.tie_word_embeddings == 1,
         "act/labels/tie");

  EXPECT(load_cfg(&c, "roberta_min", "roberta", "", &e) == 0 && c.pad_token_id == 1 &&
             c.arch == ORDO_ARCH_ROBERTA && c.embedding_size == 64,
         "roberta pad default: %s", e.msg);
  /* BERT/RoBERTa have no embedding_size: a stray key is ignored as transformers ignores it. */
  EXPECT(load_cfg(&c, "bert_emb", "bert", ", \"embedding_size\": 16", &e) == 0 &&
             c.embedding_size == 64,
         "bert ignores embedding_size");
  EXPECT(load_cfg(&c, "albert_min", "albert", "", &e) == 0 && c.embedding_size == 128 &&
             strcmp(c.hidden_act, "gelu_new") == 0 && c.hidden_dropout_prob == 0.0f &&
             c.classifier_dropout == 0.1f,
         "albert defaults");
  EXPECT(load_cfg(&c, "electra_min", "electra", "", &e) == 0 && c.embedding_size == 128,
         "electra embedding default");
  EXPECT(load_cfg(&c, "roformer_min", "roformer", "", &e) == 0 && c.embedding_size == 64 &&
             c.max_position_embeddings == 1536,
         "roformer defaults");

  /* num_labels from id2label, from num_labels, and null classifier_dropout / pad_token_id. */
  EXPECT(load_cfg(&c, "labels_map", "roberta",
                  ", \"id2label\": {\"0\": \"a\", \"1\": \"b\", \"2\": \"c\"}, "
                  "\"label2id\": {\"a\": 0, \"b\": 1, \"c\": 2}",
                  &e) == 0 &&
             c.num_labels == 3,
         "id2label size: %s", e.msg);
  EXPECT(load_cfg(&c, "labels_num", "bert", ", \"num_labels\": 1", &e) == 0 && c.num_labels == 1,
         "num_labels: %s", e.msg);
  EXPECT(load_cfg(&c, "nulls", "bert",
                  ", \"classifier_dropout\": null, \"pad_token_id\": null, \"bos_token_id\": null",
                  &e) == 0 &&
             c.classifier_dropout < 0 && c.pad_token_id == 0,
         "nulls: %s", e.msg);
  EXPECT(load_cfg(&c, "given", "electra",
                  ", \"classifier_dropout\": 0.25, \"embedding_size\": 32, \"layer_norm_eps\": "
                  "1e-5, \"hidden_act\": \"gelu\", \"tie_word_embeddings\": false, "
                  "\"max_position_embeddings\": 128, \"type_vocab_size\": 1, \"pad_token_id\": 3",
                  &e) == 0,
         "%s", e.msg);
  EXPECT(c.classifier_dropout == 0.25f && c.embedding_size == 32 && c.layer_norm_eps == 1e-5f &&
             c.tie_word_embeddings == 0 && c.max_position_embeddings == 128 &&
             c.type_vocab_size == 1 && c.pad_token_id == 3,
         "given values");
}

static void test_errors(void) {
  expect_bad_cfg("unknown_type", "t5", "",
                 "unsupported model_type 't5' (supported: bert, roberta, electra, albert, "
                 "roformer, gpt2)");
  enc_config c;
  ordo_err e = {{0}};
  /* Required keys: missing, wrong type, negative, non-integer (whole objects written here, since
   * write_cfg already holds valid values for them). */
  EXPECT(load_text(&c, "no_vocab",
                   "{\"model_type\": \"bert\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
                   "\"num_attention_heads\": 4, \"intermediate_size\": 256}",
                   &e) == -1 &&
             strstr(e.msg, "missing required key \"vocab_size\"") && strstr(e.msg, "no_vocab"),
         "%s", e.msg);
  EXPECT(load_text(&c, "hidden_string",
                   "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": \"64\", "
                   "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                   "\"intermediate_size\": 256}",
                   &e) == -1 &&
             strstr(e.msg, "\"hidden_size\" is a string, expected an integer"),
         "%s", e.msg);
  EXPECT(load_text(&c, "layers_neg",
                   "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 64, "
                   "\"num_hidden_layers\": -2, \"num_attention_heads\": 4, "
                   "\"intermediate_size\": 256}",
                   &e) == -1 &&
             strstr(e.msg, "\"num_hidden_layers\" is -2, expected an integer in [1, 128]"),
         "%s", e.msg);
  EXPECT(load_text(&c, "inter_frac",
                   "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 64, "
                   "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                   "\"intermediate_size\": 256.5}",
                   &e) == -1 &&
             strstr(e.msg, "\"intermediate_size\" is 256.5, expected an integer"),
         "%s", e.msg);
  EXPECT(load_text(&c, "heads_div",
                   "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 64, "
                   "\"num_hidden_layers\": 2, \"num_attention_heads\": 5, "
                   "\"intermediate_size\": 256}",
                   &e) == -1 &&
             strstr(e.msg, "\"hidden_size\" 64 is not divisible by \"num_attention_heads\" 5"),
         "%s", e.msg);
  EXPECT(load_text(&c, "no_type", "{\"vocab_size\": 10}", &e) == -1 &&
             strstr(e.msg, "missing required key \"model_type\""),
         "%s", e.msg);
  EXPECT(load_text(&c, "type_num", "{\"model_type\": 5}", &e) == -1 &&
             strstr(e.msg, "\"model_type\" is a number, expected a string"),
         "%s", e.msg);
  EXPECT(load_text(&c, "badjson", "{\n  \"model_type\": \"bert\",\n  \"vocab_size\": }\n", &e) ==
                 -1 &&
             strstr(e.msg, "not valid JSON (error at line 3"),
         "%s", e.msg);
  EXPECT(load_text(&c, "array", "[1, 2]", &e) == -1 && strstr(e.msg, "expected a JSON object"),
         "%s", e.msg);
  char path[512];
  snprintf(path, sizeof path, "%s/does_not_exist.json", g_dir);
  EXPECT(hfconfig_load(&c, path, &e) == -1 && strstr(e.msg, "cannot open") &&
             strstr(e.msg, "does_not_exist.json"),
         "%s", e.msg);

  /* Optional keys with wrong types or out-of-range values. */
  expect_bad_cfg("eps_str", "bert", ", \"layer_norm_eps\": \"1e-12\"",
                 "\"layer_norm_eps\" is a string, expected a number");
  expect_bad_cfg("eps_zero", "bert", ", \"layer_norm_eps\": 0", "\"layer_norm_eps\" is 0");
  /* a double that rounds to float 0 would be saved as 0 and then refused (a fuzz finding) */
  expect_bad_cfg("eps_underflow", "bert", ", \"layer_norm_eps\": 1e-79", "\"layer_norm_eps\" is 1e-79");
  /* sizes past their bounds are refused before anything is sized from them */
  expect_bad_cfg("maxpos_big", "bert", ", \"max_position_embeddings\": 65537",
                 "\"max_position_embeddings\" is 65537, expected an integer in [1, 65536]");
  expect_bad_cfg("labels_big", "bert", ", \"num_labels\": 70000",
                 "\"num_labels\" is 70000, expected an integer in [1, 65536]");
  expect_bad_cfg("dropout_range", "bert", ", \"hidden_dropout_prob\": 1.5",
                 "\"hidden_dropout_prob\" is 1.5, expected a number in [0, 1]");
  expect_bad_cfg("maxpos_neg", "bert", ", \"max_position_embeddings\": -1",
                 "\"max_position_embeddings\" is -1");
  expect_bad_cfg("typevocab_str", "bert", ", \"type_vocab_size\": \"2\"",
                 "\"type_vocab_size\" is a string");
  expect_bad_cfg("pad_big", "bert", ", \"pad_token_id\": 503",
                 "\"pad_token_id\" 503 is not below \"vocab_size\" 503");
  expect_bad_cfg("pad_neg", "roberta", ", \"pad_token_id\": -1", "\"pad_token_id\" is -1");
  expect_bad_cfg("emb_zero", "albert", ", \"embedding_size\": 0", "\"embedding_size\" is 0");
  expect_bad_cfg("act_num", "bert", ", \"hidden_act\": 1", "\"hidden_act\" is a number");
  expect_bad_cfg("act_long", "bert", ", \"hidden_act\": \"gelu_pytorch_tanh_extra_long\"",
                 "too long");
  expect_bad_cfg("tie_num", "bert", ", \"tie_word_embeddings\": 1",
                 "\"tie_word_embeddings\" is a number, expected true or false");
  expect_bad_cfg("labels_mismatch", "bert",
                 ", \"num_labels\": 3, \"id2label\": {\"0\": \"a\", \"1\": \"b\"}",
                 "\"num_labels\" is 3 but \"id2label\" has 2 entries");
  expect_bad_cfg("labels_zero", "bert", ", \"num_labels\": 0", "\"num_labels\" is 0");
  expect_bad_cfg("id2label_arr", "bert", ", \"id2label\": [\"a\"]", "\"id2label\" is an array");
  expect_bad_cfg("cdrop_str", "roberta", ", \"classifier_dropout\": \"0.1\"",
                 "\"classifier_dropout\" is a string");
  expect_bad_cfg("pos_name", "bert", ", \"ordo_position\": \"xpos\"",
                 "\"ordo_position\" is 'xpos', expected absolute");
  expect_bad_cfg("pos_hf_relative", "bert", ", \"position_embedding_type\": \"relative_key\"",
                 "\"position_embedding_type\" 'relative_key' is not supported");
  expect_bad_cfg("albert_groups", "albert", ", \"num_hidden_groups\": 5",
                 "\"num_hidden_layers\" 2 is not a multiple of \"num_hidden_groups\" 5");
  expect_bad_cfg("rope_scale", "roformer", ", \"ordo_rope_scale\": 0", "\"ordo_rope_scale\" is 0");
  expect_bad_cfg("albert_cdrop", "albert", ", \"classifier_dropout_prob\": -0.5",
                 "\"classifier_dropout_prob\" is -0.5");
}

static int same_config(const enc_config *a, const enc_config *b) {
  return strcmp(a->model_type, b->model_type) == 0 && a->arch == b->arch &&
         a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
         a->num_hidden_layers == b->num_hidden_layers &&
         a->num_attention_heads == b->num_attention_heads &&
         a->intermediate_size == b->intermediate_size &&
         a->max_position_embeddings == b->max_position_embeddings &&
         a->type_vocab_size == b->type_vocab_size && a->pad_token_id == b->pad_token_id &&
         a->embedding_size == b->embedding_size && a->layer_norm_eps == b->layer_norm_eps &&
         a->hidden_dropout_prob == b->hidden_dropout_prob &&
         a->attention_probs_dropout_prob == b->attention_probs_dropout_prob &&
         a->classifier_dropout == b->classifier_dropout &&
         strcmp(a->hidden_act, b->hidden_act) == 0 && a->num_labels == b->num_labels &&
         a->tie_word_embeddings == b->tie_word_embeddings && a->position == b->position &&
         a->rope_theta == b->rope_theta && a->rope_scale == b->rope_scale &&
         a->rotary_value == b->rotary_value && a->relative_buckets == b->relative_buckets &&
         a->relative_max_distance == b->relative_max_distance &&
         a->num_hidden_groups == b->num_hidden_groups && a->inner_group_num == b->inner_group_num &&
         a->bos_token_id == b->bos_token_id && a->eos_token_id == b->eos_token_id;
}

/* GPT2Config's own keys: the shared fixture reads with its sizes, and ordo's file (n_embd,
 * n_layer, ...) reads back the same; mismatched dropouts and an untied head are refused. */
static void test_gpt2(void) {
  enc_config c, d;
  ordo_err e = {{0}};
  char path[512];
  snprintf(path, sizeof path, "%s/hf/gpt2_lm/config.json", ORDO_SHARED_FIXTURES);
  if (access(path, R_OK) == 0) {
    EXPECT(hfconfig_load(&c, path, &e) == 0, "%s", e.msg);
    EXPECT(c.arch == ORDO_ARCH_GPT2 && c.vocab_size == 509 && c.hidden_size == 64 &&
               c.num_hidden_layers == 2 && c.num_attention_heads == 4 &&
               c.intermediate_size == 256 && c.max_position_embeddings == 64 &&
               c.layer_norm_eps == 1e-5f && strcmp(c.hidden_act, "gelu_new") == 0 &&
               c.bos_token_id == 1 && c.eos_token_id == 2 && c.pad_token_id == 0,
           "gpt2_lm config");
  }
  hfconfig_defaults(&c, ORDO_ARCH_GPT2);
  c.vocab_size = 1000, c.hidden_size = 48, c.num_hidden_layers = 3, c.num_attention_heads = 6;
  c.intermediate_size = 100, c.max_position_embeddings = 70, c.eos_token_id = 7;
  c.embedding_size = 48;
  c.bos_token_id = 3, c.pad_token_id = -1, c.hidden_dropout_prob = 0.05f;
  c.position = ENC_POS_ALIBI;
  snprintf(path, sizeof path, "%s/rt_gpt2.json", g_dir);
  EXPECT(hfconfig_save(&c, path, &e) == 0 && hfconfig_load(&d, path, &e) == 0 &&
             same_config(&c, &d),
         "gpt2 round trip: %s", e.msg);
  const char *g = "\"n_embd\": 8, \"n_layer\": 1, \"n_head\": 2"; /* vocab 503 */
  char extra[256];
  snprintf(extra, sizeof extra, ", %s, \"embd_pdrop\": 0.2, \"resid_pdrop\": 0.1", g);
  expect_bad_cfg("gpt2_drop", "gpt2", extra, "\"embd_pdrop\" 0.2 differs");
  snprintf(extra, sizeof extra, ", %s, \"tie_word_embeddings\": false", g);
  expect_bad_cfg("gpt2_untied", "gpt2", extra, "\"tie_word_embeddings\" false");
  snprintf(extra, sizeof extra, ", %s, \"eos_token_id\": 503", g);
  expect_bad_cfg("gpt2_eos", "gpt2", extra, "\"eos_token_id\" 503 is not below");
  expect_bad_cfg("gpt2_no_embd", "gpt2", "", "missing required key \"n_embd\"");
}

static void test_roundtrip(void) {
  for (int a = 0; a < ORDO_ARCH_COUNT; a++) {
    if (a == ORDO_ARCH_GPT2) continue; /* its own keys: test_gpt2 */
    enc_config c, d;
    hfconfig_defaults(&c, (ordo_arch)a);
    EXPECT((int)c.arch == a && strcmp(c.model_type, arch_name((ordo_arch)a)) == 0, "defaults arch");
    EXPECT(c.hidden_size == 768 && c.num_attention_heads == 12 && c.num_hidden_layers == 12 &&
               c.intermediate_size == 3072,
           "BERT-base sizes");
    /* Change everything away from the defaults so the file, not the defaults, carries it. */
    c.vocab_size = 1000 + a;
    c.hidden_size = 96;
    c.num_hidden_layers = 3;
    c.num_attention_heads = 6;
    c.intermediate_size = 200;
    c.max_position_embeddings = 300;
    c.type_vocab_size = 1;
    c.pad_token_id = 5;
    c.embedding_size = (a == ORDO_ARCH_ALBERT || a == ORDO_ARCH_ELECTRA) ? 24 : 96;
    c.layer_norm_eps = 1e-7f;
    c.hidden_dropout_prob = 0.05f;
    c.attention_probs_dropout_prob = 0.2f;
    c.classifier_dropout = a == ORDO_ARCH_ROFORMER ? -1.0f : 0.3f;
    snprintf(c.hidden_act, sizeof c.hidden_act, "gelu");
    c.num_labels = 1 + a;
    c.tie_word_embeddings = a % 2;
    if (a == ORDO_ARCH_ALBERT) c.num_hidden_groups = 3, c.inner_group_num = 2;
    if (a == ORDO_ARCH_ROFORMER) c.rotary_value = 1;
    /* every family carries a non-default position scheme and its parameters */
    if (a == ORDO_ARCH_ROFORMER || a == ORDO_ARCH_BERT) c.rope_theta = 500.0f, c.rope_scale = 0.25f;
    if (a == ORDO_ARCH_BERT) c.position = ENC_POS_ROPE;
    if (a == ORDO_ARCH_ROBERTA) c.position = ENC_POS_ALIBI;
    if (a == ORDO_ARCH_ELECTRA) c.position = ENC_POS_RELATIVE, c.relative_buckets = 16, c.relative_max_distance = 64;
    if (a == ORDO_ARCH_ALBERT) c.position = ENC_POS_SINUSOIDAL;
    char path[512];
    snprintf(path, sizeof path, "%s/rt_%s.json", g_dir, arch_name((ordo_arch)a));
    ordo_err e = {{0}};
    EXPECT(hfconfig_save(&c, path, &e) == 0, "save: %s", e.msg);
    EXPECT(hfconfig_load(&d, path, &e) == 0, "load: %s", e.msg);
    EXPECT(same_config(&c, &d), "%s: round trip differs", arch_name((ordo_arch)a));
    /* The file carries the label map as transformers writes it and a readable epsilon. */
    char *text = ordo_read_file(path, NULL, &e);
    EXPECT(text && strstr(text, "\"id2label\"") && strstr(text, "\"LABEL_0\"") &&
               strstr(text, "1e-07"),
           "%s", text ? text : e.msg);
    free(text);
  }
  /* A null classifier_dropout survives (as -1) for BERT. */
  enc_config c, d;
  hfconfig_defaults(&c, ORDO_ARCH_BERT);
  char path[512];
  snprintf(path, sizeof path, "%s/rt_null.json", g_dir);
  ordo_err e = {{0}};
  EXPECT(hfconfig_save(&c, path, &e) == 0 && hfconfig_load(&d, path, &e) == 0 &&
             same_config(&c, &d) && d.classifier_dropout < 0,
         "defaults round trip: %s", e.msg);
  snprintf(path, sizeof path, "%s/no_such_dir/config.json", g_dir);
  EXPECT(hfconfig_save(&c, path, &e) == -1 && strstr(e.msg, "cannot create"), "%s", e.msg);
}

static void test_shared_fixtures(void) {
  static const struct {
    const char *dir;
    ordo_arch arch;
    int pad, emb, labels, type_vocab;
  } k[] = {
      {"bert", ORDO_ARCH_BERT, 0, 64, 2, 2},
      {"roberta_regression", ORDO_ARCH_ROBERTA, 1, 64, 1, 1},
      {"electra_rtd", ORDO_ARCH_ELECTRA, 0, 64, 2, 2},
      {"albert_mlm", ORDO_ARCH_ALBERT, 0, 16, 2, 2},
      {"roformer_mlm", ORDO_ARCH_ROFORMER, 0, 64, 2, 2},
      {"bert_lora", ORDO_ARCH_BERT, 0, 64, 2, 2},
  };
  char path[512];
  snprintf(path, sizeof path, "%s/hf/bert/config.json", ORDO_SHARED_FIXTURES);
  if (access(path, R_OK) != 0) {
    printf("skipped: shared fixtures (%s absent)\n", path);
    return;
  }
  for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
    snprintf(path, sizeof path, "%s/hf/%s/config.json", ORDO_SHARED_FIXTURES, k[i].dir);
    enc_config c;
    ordo_err e = {{0}};
    if (hfconfig_load(&c, path, &e) != 0) {
      EXPECT(0, "%s", e.msg);
      continue;
    }
    EXPECT(c.arch == k[i].arch && c.vocab_size == 503 && c.hidden_size == 64 &&
               c.num_hidden_layers == 2 && c.num_attention_heads == 4 &&
               c.intermediate_size == 256 && c.max_position_embeddings == 128,
           "%s sizes", k[i].dir);
    EXPECT(c.pad_token_id == k[i].pad && c.embedding_size == k[i].emb &&
               c.num_labels == k[i].labels && c.type_vocab_size == k[i].type_vocab,
           "%s: pad %d emb %d labels %d type_vocab %d", k[i].dir, c.pad_token_id,
           c.embedding_size, c.num_labels, c.type_vocab_size);
    EXPECT(c.hidden_dropout_prob == 0 && c.attention_probs_dropout_prob == 0 &&
               c.layer_norm_eps == 1e-12f && strcmp(c.hidden_act, "gelu") == 0 &&
               c.tie_word_embeddings == 1,
           "%s floats", k[i].dir);
    /* And what ordo writes for it reads back the same. */
    enc_config d;
    snprintf(path, sizeof path, "%s/fx_%s.json", g_dir, k[i].dir);
    EXPECT(hfconfig_save(&c, path, &e) == 0 && hfconfig_load(&d, path, &e) == 0 &&
               same_config(&c, &d),
           "%s resave: %s", k[i].dir, e.msg);
  }
}

/* A classifier's label names: written into a saved config, read back in order, the config still
 * loading the same; a config without id2label reads LABEL_<i>; a damaged map is an error. */
static void test_labels(void) {
  enc_config c, d;
  hfconfig_defaults(&c, ORDO_ARCH_BERT);
  c.num_labels = 3;
  char path[512];
  snprintf(path, sizeof path, "%s/labels.json", g_dir);
  ordo_err e = {{0}};
  char *const names[] = {"doc", "libs", "l\"quoted\" \xc3\xa9"};
  EXPECT(hfconfig_save(&c, path, &e) == 0 && hfconfig_labels_write(path, names, 3, &e) == 0, "%s", e.msg);
  char **got = NULL;
  int n = 0;
  EXPECT(hfconfig_labels_read(path, &got, &n, &e) == 0 && n == 3, "%s", e.msg);
  for (int i = 0; i < n && got; i++) EXPECT(strcmp(got[i], names[i]) == 0, "label %d: %s", i, got[i]);
  for (int i = 0; i < n && got; i++) free(got[i]);
  free(got);
  EXPECT(hfconfig_load(&d, path, &e) == 0 && same_config(&c, &d), "config after the labels: %s", e.msg);
  char *text = ordo_read_file(path, NULL, &e);
  EXPECT(text && strstr(text, "\"libs\":\t1") && !strstr(text, "LABEL_"), "%s", text ? text : e.msg);
  free(text);
  /* no id2label: transformers' default names */
  EXPECT(load_cfg(&d, "nolabels", "bert", ", \"num_labels\": 2", &e) == 0, "%s", e.msg);
  snprintf(path, sizeof path, "%s/nolabels.json", g_dir);
  EXPECT(hfconfig_labels_read(path, &got, &n, &e) == 0 && n == 2 && strcmp(got[1], "LABEL_1") == 0, "%s", e.msg);
  for (int i = 0; i < n; i++) free(got[i]);
  free(got);
  /* a map with a number for a name, or a gap in its keys */
  EXPECT(load_cfg(&d, "numlabel", "bert", ", \"id2label\": {\"0\": \"a\", \"1\": 7}", &e) == 0, "%s", e.msg);
  snprintf(path, sizeof path, "%s/numlabel.json", g_dir);
  EXPECT(hfconfig_labels_read(path, &got, &n, &e) == -1 && strstr(e.msg, "numlabel.json: id2label[\"1\"] is"),
         "%s", e.msg);
  EXPECT(load_cfg(&d, "gaplabel", "bert", ", \"id2label\": {\"0\": \"a\", \"2\": \"b\"}", &e) == 0, "%s", e.msg);
  snprintf(path, sizeof path, "%s/gaplabel.json", g_dir);
  EXPECT(hfconfig_labels_read(path, &got, &n, &e) == -1 && strstr(e.msg, "gaplabel.json: id2label has no entry \"1\""),
         "%s", e.msg);
}

static void rm_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  char p[1024];
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/ordo_io_cfg_XXXXXX");
  ORDO_CHECK(mkdtemp(g_dir));
  test_defaults_on_load();
  test_errors();
  test_roundtrip();
  test_gpt2();
  test_labels();
  test_shared_fixtures();
  rm_dir(g_dir);
  return test_summary();
}
