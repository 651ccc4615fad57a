/* enc_backward's grads_final listener: when it names specs, their gradients are final (the
 * bits it sees then are the bits the backward pass ends with), every layer of its own is named
 * once, top layer first, then nothing for ALBERT's shared layers (final only at the end). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/model.h"
#include "ordo/rng.h"

enum { B = 2, T = 8, MAXCALLS = 16 };

typedef struct seen {
  const enc_model *m;
  int n, first[MAXCALLS], end[MAXCALLS];
  float *copy[MAXCALLS]; /* the specs' gradients when named */
} seen;

static void on_final(void *ctx, int first, int end) {
  seen *s = ctx;
  ORDO_CHECK(s->n < MAXCALLS);
  const ordo_params *p = &s->m->params;
  size_t a = p->specs[first].offset, b = p->specs[end - 1].offset + (size_t)p->specs[end - 1].numel;
  s->first[s->n] = first, s->end[s->n] = end;
  s->copy[s->n] = malloc((b - a) * sizeof(float));
  memcpy(s->copy[s->n++], p->grad + a, (b - a) * sizeof(float));
}

static void run(ordo_arch arch, int groups, int want_calls) {
  enc_config cfg;
  hfconfig_defaults(&cfg, arch);
  cfg.vocab_size = 50, cfg.hidden_size = 16, cfg.embedding_size = arch == ORDO_ARCH_ALBERT ? 8 : 16;
  cfg.num_attention_heads = 2, cfg.num_hidden_layers = 3, cfg.intermediate_size = 32;
  cfg.max_position_embeddings = 16, cfg.num_hidden_groups = groups;
  snprintf(cfg.hidden_act, sizeof cfg.hidden_act, "gelu"); /* ALBERT defaults to gelu_new */
  cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0;
  enc_model m;
  ordo_err e;
  if (enc_init(&m, &cfg, ENC_HEAD_MLM, NULL, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    abort();
  }
  enc_init_weights(&m, 3);
  enc_plan(&m, B, T, B * T);
  int32_t ids[B * T], mask[B * T], rows[B * T], labels[B * T];
  ordo_rng r;
  rng_init(&r, 2);
  for (int i = 0; i < B * T; i++)
    ids[i] = 1 + (int32_t)rng_below(&r, 49), mask[i] = 1, rows[i] = i, labels[i] = ids[i];
  enc_batch b = {.B = B, .T = T, .ids = ids, .mask = mask, .mlm_rows = rows, .n_mlm_rows = B * T,
                 .mlm_labels = labels};
  seen s = {.m = &m};
  m.grads_final = on_final;
  m.grads_final_ctx = &s;
  params_zero_grad(&m.params);
  enc_forward(&m, &b, 1);
  enc_zero_output_grads(&m, &b);
  enc_loss_mlm(&m, &b, 1.0f, NULL);
  enc_backward(&m, &b);
  EXPECT(s.n == want_calls, "arch %d groups %d: %d calls, want %d", (int)arch, groups, s.n,
         want_calls);
  const ordo_params *p = &m.params;
  for (int k = 0; k < s.n; k++) {
    size_t a = p->specs[s.first[k]].offset;
    size_t n = p->specs[s.end[k] - 1].offset + (size_t)p->specs[s.end[k] - 1].numel - a;
    EXPECT(memcmp(s.copy[k], p->grad + a, n * sizeof(float)) == 0,
           "specs [%d, %d) (%s ...) changed after they were named final", s.first[k], s.end[k],
           p->specs[s.first[k]].name);
    free(s.copy[k]);
  }
  /* the head, then each layer of its own from the top */
  if (s.n == 1 + cfg.num_hidden_layers) {
    EXPECT(s.first[0] == m.mlm_dense_w, "the MLM head first");
    for (int l = 0; l < cfg.num_hidden_layers; l++) {
      const enc_layer_idx *L = &m.layer[cfg.num_hidden_layers - 1 - l];
      EXPECT(s.first[1 + l] == L->qkv_w && s.end[1 + l] == L->spec_end, "layer %d's specs",
             cfg.num_hidden_layers - 1 - l);
    }
  }
  enc_free(&m);
}

int main(void) {
  run(ORDO_ARCH_BERT, 1, 4);   /* the head and 3 layers */
  run(ORDO_ARCH_ALBERT, 1, 1); /* one shared layer: the head only */
  run(ORDO_ARCH_ALBERT, 3, 4); /* 3 groups of one layer: each its own */
  return test_summary();
}
