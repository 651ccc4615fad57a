/* Parameter groups and layer-wise rate decay: names to depths, groups from a real encoder table,
 * and three AdamW steps against torch.optim.AdamW with the same param_groups
 * (fixture made by bench/optim/adamw_groups_ref.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/model.h"
#include "ordo/optim.h"
#include "ordo/safetensors.h"

static void test_layer_index(void) {
  EXPECT(param_layer_index("bert.encoder.layer.0.attention.self.query.weight") == 0, "layer 0");
  EXPECT(param_layer_index("roberta.encoder.layer.11.output.dense.bias") == 11, "layer 11");
  EXPECT(param_layer_index("encoder.layer.7.x") == 7, "bare model");
  EXPECT(param_layer_index("bert.embeddings.word_embeddings.weight") == -1, "embeddings: none");
  EXPECT(param_layer_index("bert.encoder.layer.x.weight") == -1, "no digits");
  EXPECT(param_layer_index("bert.encoder.layer.3") == -1, "no dot after the index");
  EXPECT(param_layer_index("classifier.out_proj.weight") == -1, "head: none");
}

/* Groups built from a real BERT table (3 layers, MLM + pooler heads). */
static void test_build_on_encoder(void) {
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_BERT);
  cfg.vocab_size = 50, cfg.hidden_size = 8, cfg.num_hidden_layers = 3, cfg.num_attention_heads = 2;
  cfg.intermediate_size = 16, cfg.max_position_embeddings = 16, cfg.embedding_size = 8;
  enc_model m;
  ordo_err e = {0};
  ordo_backend ref = backend_cpu_ref();
  EXPECT(enc_init(&m, &cfg, ENC_HEAD_MLM | ENC_HEAD_POOLER, &ref, &e) == 0, "%s", e.msg);
  opt_groups gs;
  opt_groups_init(&gs);
  param_groups_config c = param_groups_defaults();
  c.layer_decay = 0.5;
  c.head_lr_mul = 10.0;
  c.weight_decay = 0.02f;
  param_groups_build(&gs, &m.params, &c);
  int bad = 0;
  for (int i = 0; i < m.params.n; i++) {
    const ordo_param_spec *s = &m.params.specs[i];
    const opt_group *g = &gs.g[s->group];
    double want;
    int l = param_layer_index(s->name);
    if (l >= 0) want = pow(0.5, 3 - l);
    else if (strstr(s->name, "embeddings")) want = pow(0.5, 4);
    else want = 10.0; /* pooler and MLM head: depth 0, head multiplier */
    float wd = (s->flags & ORDO_PF_NO_DECAY) ? 0.0f : 0.02f;
    if (g->lr_mul != want || g->weight_decay != wd) {
      bad++;
      fprintf(stderr, "%s: group %s lr x %g (want %g) wd %g (want %g)\n", s->name, g->name,
              g->lr_mul, want, (double)g->weight_decay, (double)wd);
    }
  }
  EXPECT(bad == 0, "%d specs in the wrong group", bad);
  /* 3 layers + embeddings + head, each with and without decay */
  EXPECT(gs.n == 10, "groups: %d", gs.n);
  param_groups_log(&gs, &m.params);

  /* no layer decay: heads and body only */
  opt_groups g2;
  opt_groups_init(&g2);
  c = param_groups_defaults();
  param_groups_build(&g2, &m.params, &c);
  EXPECT(g2.n == 4, "without layer decay: body/head x decay/no_decay: %d", g2.n);
  /* an override by name pattern */
  int moved = param_groups_override(&g2, &m.params, "LayerNorm", 2.0, 0.5f);
  int ln = 0;
  for (int i = 0; i < m.params.n; i++) ln += strstr(m.params.specs[i].name, "LayerNorm") != NULL;
  EXPECT(moved == ln && moved > 0, "override moved %d of %d LayerNorm tensors", moved, ln);
  EXPECT(g2.g[m.params.specs[m.emb.ln_w].group].lr_mul == 2.0 &&
             g2.g[m.params.specs[m.emb.ln_w].group].weight_decay == 0.5f, "override values");
  opt_groups_free(&g2);
  opt_groups_free(&gs);
  enc_free(&m);
}

/* Against torch: weights after three steps of AdamW with per-group rates and decay. */
static void test_torch_groups(void) {
  char path[1024];
  snprintf(path, sizeof path, "%s/../train/fixtures/adamw_groups.safetensors", ORDO_TEST_FIXTURES);
  st_file f;
  ordo_err e = {0};
  if (st_open(&f, path, &e) != 0) {
    EXPECT(0, "%s", e.msg);
    return;
  }
  /* the fixture's specs, in its order, with no-decay flags as the script sets them */
  const char *names[] = {"bert.embeddings.word_embeddings.weight", "bert.embeddings.LayerNorm.bias",
                         "bert.encoder.layer.0.attention.self.query.weight",
                         "bert.encoder.layer.0.attention.self.query.bias",
                         "bert.encoder.layer.1.output.dense.weight",
                         "bert.encoder.layer.1.output.LayerNorm.weight", "classifier.out_proj.weight",
                         "classifier.out_proj.bias"};
  const int n = 8;
  ordo_params p;
  params_init(&p);
  char key[256];
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "init.%s", names[i]);
    const st_tensor *t = st_find(&f, key);
    ORDO_CHECK(t);
    params_add(&p, names[i], t->ndim, t->shape, t->ndim == 1 ? ORDO_PF_NO_DECAY : 0);
  }
  params_alloc(&p);
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "init.%s", names[i]);
    EXPECT(st_read_f32(&f, key, params_data(&p, i), p.specs[i].ndim, p.specs[i].shape, &e) == 0, "%s", e.msg);
  }
  opt_groups gs;
  opt_groups_init(&gs);
  param_groups_config c = param_groups_defaults();
  c.layer_decay = atof(st_metadata(&f, "layer_decay"));
  c.head_lr_mul = atof(st_metadata(&f, "head_lr_mul"));
  c.weight_decay = (float)atof(st_metadata(&f, "weight_decay"));
  param_groups_build(&gs, &p, &c);
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "mul.%s", names[i]);
    double mul[1];
    const st_tensor *t = st_find(&f, key);
    memcpy(mul, t->data, sizeof mul);
    EXPECT(gs.g[p.specs[i].group].lr_mul == mul[0], "%s: multiplier %.17g vs torch's %.17g",
           names[i], gs.g[p.specs[i].group].lr_mul, mul[0]);
  }
  adamw_config ac = adamw_defaults();
  adamw8_config qc = adamw8_defaults();
  qc.bits = 32;
  opt_adamw8 o;
  EXPECT(opt_adamw8_init(&o, &p, &ac, &qc, &gs, &e) == 0, "%s", e.msg);
  float lrs[3];
  EXPECT(st_read_f32(&f, "lr", lrs, 1, (int64_t[]){3}, &e) == 0, "%s", e.msg);
  for (int step = 0; step < 3; step++) {
    for (int i = 0; i < n; i++) {
      snprintf(key, sizeof key, "grad%d.%s", step, names[i]);
      EXPECT(st_read_f32(&f, key, params_grad(&p, i), p.specs[i].ndim, p.specs[i].shape, &e) == 0, "%s", e.msg);
    }
    opt_adamw8_step(&o, &p, lrs[step]);
  }
  double worst = 0;
  for (int i = 0; i < n; i++) {
    float *want = malloc((size_t)p.specs[i].numel * sizeof(float));
    snprintf(key, sizeof key, "final.%s", names[i]);
    EXPECT(st_read_f32(&f, key, want, p.specs[i].ndim, p.specs[i].shape, &e) == 0, "%s", e.msg);
    const float *got = params_data(&p, i);
    for (int64_t j = 0; j < p.specs[i].numel; j++) {
      double d = fabs((double)got[j] - want[j]) / (fabs(want[j]) + 1e-3);
      if (d > worst) worst = d;
    }
    free(want);
  }
  printf("param groups vs torch.optim.AdamW after 3 steps: worst relative difference %.3g\n", worst);
  /* float32 arithmetic in the same order as torch: differences are a few ulps at most */
  EXPECT(worst < 1e-6, "grouped AdamW matches torch: %g", worst);
  opt_adamw8_free(&o);
  opt_groups_free(&gs);
  params_free(&p);
  st_close(&f);
}

int main(void) {
  test_layer_index();
  test_build_on_encoder();
  test_torch_groups();
  return test_summary();
}
