/* libFuzzer target: HF config.json from arbitrary bytes. A config that loads must hold sizes
 * within the bounds hfconfig_load documents, and must save and load back to the same values;
 * one that does not load must say why. */
#include <stdint.h>

#include "../fuzz_file.h"
#include "ordo/config.h"

static char g_in[256], g_out[256];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  char dir[200];
  fuzz_scratch_dir(dir, sizeof dir);
  snprintf(g_in, sizeof g_in, "%s/config.json", dir);
  snprintf(g_out, sizeof g_out, "%s/saved.json", dir);
  return 0;
}

static int in(int v, int lo, int hi) { return v >= lo && v <= hi; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_put_file(g_in, data, size);
  enc_config c, d;
  ordo_err e;
  e.msg[0] = 0;
  if (hfconfig_load(&c, g_in, &e) != 0) {
    if (!e.msg[0]) abort();
    return 0;
  }
  if (!in(c.vocab_size, 1, ENC_MAX_VOCAB) || !in(c.hidden_size, 1, ENC_MAX_HIDDEN) ||
      !in(c.embedding_size, 1, ENC_MAX_HIDDEN) || !in(c.num_hidden_layers, 1, ENC_MAX_LAYERS) ||
      !in(c.num_attention_heads, 1, ENC_MAX_HEADS) ||
      !in(c.intermediate_size, 1, ENC_MAX_INTERMEDIATE) ||
      !in(c.max_position_embeddings, 1, ENC_MAX_POSITIONS) ||
      !in(c.type_vocab_size, 1, ENC_MAX_TYPE_VOCAB) || !in(c.num_labels, 1, ENC_MAX_LABELS) ||
      !in(c.head_features, 0, ENC_MAX_HIDDEN) || !in(c.pad_token_id, 0, c.vocab_size - 1) ||
      c.hidden_size % c.num_attention_heads != 0)
    abort();
  if (hfconfig_save(&c, g_out, &e) != 0) abort();
  if (hfconfig_load(&d, g_out, &e) != 0) abort();
  if (c.arch != d.arch || c.vocab_size != d.vocab_size || c.hidden_size != d.hidden_size ||
      c.embedding_size != d.embedding_size || c.num_hidden_layers != d.num_hidden_layers ||
      c.num_attention_heads != d.num_attention_heads || c.intermediate_size != d.intermediate_size ||
      c.max_position_embeddings != d.max_position_embeddings ||
      c.type_vocab_size != d.type_vocab_size || c.pad_token_id != d.pad_token_id ||
      c.num_labels != d.num_labels || c.head_features != d.head_features ||
      c.tie_word_embeddings != d.tie_word_embeddings || strcmp(c.hidden_act, d.hidden_act) != 0 ||
      c.layer_norm_eps != d.layer_norm_eps || c.hidden_dropout_prob != d.hidden_dropout_prob ||
      c.attention_probs_dropout_prob != d.attention_probs_dropout_prob)
    abort();
  return 0;
}
