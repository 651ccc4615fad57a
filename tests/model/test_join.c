/* enc_join_params: two encoders in one parameter table (ELECTRA's generator and
 * discriminator): shared tensors are one tensor whose gradient is the sum of both models',
 * the others keep their own gradient, and both models still compute what they did alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/model.h"
#include "ordo/rng.h"

enum { B = 2, T = 9 };

static void build(enc_model *d, enc_model *g) {
  enc_config c;
  hfconfig_defaults(&c, ORDO_ARCH_ELECTRA);
  c.vocab_size = 41, c.embedding_size = 8, c.hidden_size = 16, c.num_attention_heads = 4;
  c.num_hidden_layers = 2, c.intermediate_size = 24, c.max_position_embeddings = 16;
  c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0.0f;
  ordo_err e = {{0}};
  EXPECT(enc_init(d, &c, ENC_HEAD_RTD, NULL, &e) == 0, "%s", e.msg);
  c.hidden_size = 12, c.num_attention_heads = 3, c.intermediate_size = 12;
  EXPECT(enc_init(g, &c, ENC_HEAD_MLM, NULL, &e) == 0, "%s", e.msg);
  enc_init_weights(d, 1);
  enc_init_weights(g, 2);
  /* the generator starts from the discriminator's embeddings, as the joined table has them */
  for (int i = 0; i < g->params.n; i++) {
    int j = params_find(&d->params, g->params.specs[i].name);
    if (j >= 0 && strstr(g->params.specs[i].name, "embeddings."))
      memcpy(params_data(&g->params, i), params_data(&d->params, j),
             (size_t)g->params.specs[i].numel * sizeof(float));
  }
  enc_plan(d, B, T, 0);
  enc_plan(g, B, T, 0);
}

static void run(enc_model *d, enc_model *g) {
  int32_t ids[B * T], mask[B * T], labels[B * T];
  float replaced[B * T];
  for (int i = 0; i < B * T; i++) {
    ids[i] = 1 + (i * 7) % 40, mask[i] = i % T < T - 2 * (i / T);
    labels[i] = i % 3 == 0 ? (i * 5) % 41 : -100, replaced[i] = (float)(i % 4 == 1);
  }
  enc_batch b = {.B = B, .T = T, .ids = ids, .mask = mask, .mlm_labels = labels};
  enc_forward(g, &b, 0);
  enc_zero_output_grads(g, &b);
  enc_loss_mlm(g, &b, 1.0f, NULL);
  enc_backward(g, &b);
  enc_forward(d, &b, 0);
  enc_zero_output_grads(d, &b);
  enc_loss_rtd(d, &b, replaced, 1.0f);
  enc_backward(d, &b);
}

int main(void) {
  enc_model d0, g0, d1, g1;
  build(&d0, &g0);
  params_zero_grad(&d0.params), params_zero_grad(&g0.params);
  run(&d0, &g0);
  build(&d1, &g1);
  ordo_params joint;
  int shared = enc_join_params(&d1, &g1, "generator.", "embeddings.", &joint);
  EXPECT(shared == 5, "word, position, type embeddings and LayerNorm shared: %d", shared);
  EXPECT(params_find(&joint, "generator.electra.embeddings.word_embeddings.weight") < 0 &&
             params_find(&joint, "generator.electra.encoder.layer.1.output.dense.weight") >= 0 &&
             params_find(&joint, "generator.generator_lm_head.bias") >= 0 &&
             params_find(&joint, "generator.electra.embeddings_project.weight") >= 0,
         "joint names");
  params_zero_grad(&joint);
  run(&d1, &g1);
  double worst_own = 0, worst_sum = 0;
  for (int i = 0; i < joint.n; i++) {
    const ordo_param_spec *s = &joint.specs[i];
    const float *gj = joint.grad + s->offset;
    int is_gen = strncmp(s->name, "generator.", 10) == 0;
    const char *base = is_gen ? s->name + 10 : s->name;
    const ordo_params *own = is_gen ? &g0.params : &d0.params;
    int k = params_find(own, base);
    EXPECT(k >= 0, "%s in its model", base);
    if (k < 0) continue;
    const float *go = params_grad(own, k);
    int sh = !is_gen && strstr(s->name, "embeddings.") != NULL;
    int kg = sh ? params_find(&g0.params, s->name) : -1;
    double num = 0, den = 0;
    for (int64_t j = 0; j < s->numel; j++) {
      double want = go[j] + (kg >= 0 ? params_grad(&g0.params, kg)[j] : 0.0f);
      num += (gj[j] - want) * (gj[j] - want);
      den += want * want;
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    if (sh) worst_sum = fmax(worst_sum, rel);
    else worst_own = fmax(worst_own, rel);
    /* values: shared tensors are one memory */
    if (sh) EXPECT(params_data(&g1.params, params_find(&g1.params, s->name)) == joint.data + s->offset,
                   "%s: the generator reads the discriminator's tensor", s->name);
  }
  /* the unshared gradients are computed as alone, the same bits; the shared ones are the sum
   * of two accumulations, rounded in another order: float32 rounding, 1e-6 */
  EXPECT(worst_own == 0, "own gradients differ from the models alone by %g", worst_own);
  EXPECT(worst_sum < 1e-6, "shared gradients differ from the sum of both by %g", worst_sum);
  enc_free(&g1);
  enc_free(&d1);
  params_free(&joint);
  enc_free(&g0);
  enc_free(&d0);
  return test_summary();
}
