/* The AI4Code rankers on synthetic notebooks written by the test: true slots, order decoding,
 * slot features, the slot MLP's loss falling, a tiny pointwise encoder's loss falling, a whole
 * `rk_train` run (twice: same seed, same model), reloading it and predicting a valid submission,
 * the dual encoder's inference pass against its training forward. */
#include <dirent.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "ordo/files.h"
#include "ordo/ranker.h"
#include "ordo/rng.h"

static const char *k_words[] = {"apple", "river", "motor", "piano", "cloud", "tiger", "lemon",
                                "rocket", "garden", "silver", "planet", "forest", "castle",
                                "bridge", "candle", "mirror", "orange", "window", "pencil",
                                "shadow", "marble", "violet", "harbor", "meadow"};
enum { NWORDS = sizeof k_words / sizeof *k_words };

/* Writes DIR/g<group>/nb<j>.ipynb: a heading, then code cells each using one topic word, most
 * of them preceded by a markdown cell that names the same word. */
static void write_nb(const char *dir, int group, int j, ordo_rng *r) {
  char path[700];
  snprintf(path, sizeof path, "%s/g%d", dir, group);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/g%d/nb%d.ipynb", dir, group, j);
  FILE *f = fopen(path, "w");
  ORDO_CHECK(f);
  fprintf(f, "{\"nbformat\": 4, \"nbformat_minor\": 4, \"metadata\": {}, \"cells\": [\n");
  fprintf(f, "{\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"# Notebook %d of group %d\"}", j, group);
  int nc = 4 + (int)rng_below(r, 5);
  for (int c = 0; c < nc; c++) {
    const char *w = k_words[rng_below(r, NWORDS)];
    if (rng_uniform(r) < 0.7f)
      fprintf(f, ",\n{\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"Now the %s step: we compute the %s table\"}", w, w);
    fprintf(f, ",\n{\"cell_type\": \"code\", \"metadata\": {}, \"outputs\": [], \"source\": \"%s_df = make_%s(%d)\\nprint(%s_df)\"}",
            w, w, c, w);
  }
  fprintf(f, "\n]}\n");
  fclose(f);
}

static void make_tree(const char *dir, int groups, int per_group, uint64_t seed) {
  ordo_rng r;
  rng_init(&r, seed);
  mkdir(dir, 0755);
  for (int g = 0; g < groups; g++)
    for (int j = 0; j < per_group; j++) write_nb(dir, g, j, &r);
}

static void rm_tree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void test_true_slots_and_orders(void) {
  /* 3 code cells, 2 markdown; true order: md1 c0 c1 md0 c2 */
  nb_cell cells[5] = {0};
  for (int i = 0; i < 5; i++) cells[i].type = i < 3 ? NB_CELL_CODE : NB_CELL_MARKDOWN;
  int32_t order[5] = {4, 0, 1, 3, 2};
  nb_notebook nb = {.n_cells = 5, .n_code = 3, .n_md = 2, .cells = cells, .order = order};
  int32_t slot[2];
  rk_true_slots(&nb, slot);
  EXPECT(slot[0] == 2 && slot[1] == 0, "slots %d %d, want 2 0", slot[0], slot[1]);
  float pos[2] = {1.5f, -0.5f};
  int32_t out[5];
  rk_order_from_md_pos(&nb, pos, out);
  int same = 1;
  for (int i = 0; i < 5; i++) same &= out[i] == order[i];
  EXPECT(same, "positions decode back to the true order");
  /* weighted-median decoding: a bimodal distribution with more mass near slot 3 */
  float prob[4] = {0.35f, 0.0f, 0.0f, 0.65f};
  float mp[2];
  nb_notebook one = {.n_cells = 4, .n_code = 3, .n_md = 1, .cells = cells};
  rk_slot_decode(&one, prob, mp);
  EXPECT(mp[0] > 2.0f && mp[0] < 3.0f, "median slot 3 -> position in (2, 3): %g", mp[0]);
}

static void test_features(const nb_dataset *ds) {
  ai4_tfidf tf;
  ai4_tfidf_fit(&tf, ds, NULL, 1, 1);
  const nb_notebook *nb = &ds->nbs[0];
  rk_lex lex;
  rk_lex_compute(&lex, &tf, NULL, nb);
  int32_t ns = nb->n_code + 1;
  float *f = malloc((size_t)nb->n_md * ns * RK_NFEAT * sizeof *f);
  rk_slot_features(nb, &lex, NULL, f);
  int32_t *truth = malloc((size_t)nb->n_md * sizeof *truth);
  rk_true_slots(nb, truth);
  int finite = 1, match = 0, checked = 0;
  for (size_t i = 0; i < (size_t)nb->n_md * ns * RK_NFEAT; i++) finite &= isfinite(f[i]) != 0;
  EXPECT(finite, "all features finite");
  for (int32_t m = 0; m < nb->n_md; m++) {
    if (truth[m] >= nb->n_code) continue;
    const float *row = f + ((size_t)m * ns + truth[m]) * RK_NFEAT;
    checked++;
    /* the markdown names the next code cell's word: its cosine to it is positive */
    match += row[1] > 0;
    EXPECT_NEAR(row[9], (double)truth[m] / nb->n_code, 1e-6);
  }
  EXPECT(checked > 0 && match >= checked - 1, "next-code cosine > 0 at the true slot: %d of %d", match, checked);
  free(f), free(truth);
  rk_lex_free(&lex);
  ai4_tfidf_free(&tf);
}

/* The pretrained encoder's similarities: rk_lex_dense's cosines against a float64 reference
 * (1e-5: float32 dot products of 12 terms), and the dense features read them (zero without). */
static void test_dense_features(const nb_dataset *ds) {
  ai4_tfidf tf;
  ai4_tfidf_fit(&tf, ds, NULL, 1, 1);
  const nb_notebook *nb = &ds->nbs[1];
  const int in = 12, nc = nb->n_code, ns = nc + 1;
  ordo_rng r;
  rng_init(&r, 9);
  float *x = malloc((size_t)nb->n_cells * in * sizeof *x);
  for (int k = 0; k < nb->n_cells * in; k++) x[k] = rng_normal(&r);
  rk_lex lex;
  rk_lex_compute(&lex, &tf, NULL, nb);
  float *f = malloc((size_t)nb->n_md * ns * RK_NFEAT * sizeof *f);
  rk_slot_features(nb, &lex, NULL, f);
  int zero = 1;
  for (int32_t k = 0; k < nb->n_md * ns; k++)
    for (int j = RK_NFEAT_LEX; j < RK_NFEAT_LEX + RK_NFEAT_DENSE; j++)
      zero &= f[(size_t)k * RK_NFEAT + j] == 0.0f;
  EXPECT(zero, "dense features without dense similarities are zero");
  rk_lex_dense(&lex, nb, x, in);
  double worst = 0;
  for (int32_t a = 0; a < nb->n_cells; a++)
    for (int32_t b = 0; b < nc; b++) {
      int md = a >= nc;
      if (!md && a != b - 1) continue; /* markdown-code pairs, and code b-1 with code b */
      double d = 0, na = 0, nb2 = 0;
      for (int k = 0; k < in; k++) {
        double u = x[(size_t)a * in + k], v = x[(size_t)b * in + k];
        d += u * v, na += u * u, nb2 += v * v;
      }
      float got = md ? lex.dcos[(size_t)(a - nc) * nc + b] : lex.dadj[b];
      double err = fabs(got - d / sqrt(na * nb2));
      worst = err > worst ? err : worst;
    }
  for (int32_t a = 0; a < nb->n_md; a++) /* markdown to markdown */
    for (int32_t b = 0; b < nb->n_md; b++) {
      double d = 0, na = 0, nb2 = 0;
      for (int k = 0; k < in; k++) {
        double u = x[(size_t)(nc + a) * in + k], v = x[(size_t)(nc + b) * in + k];
        d += u * v, na += u * u, nb2 += v * v;
      }
      double err = fabs(lex.dmcos[(size_t)a * nb->n_md + b] - (a == b ? 0.0 : d / sqrt(na * nb2)));
      worst = err > worst ? err : worst;
    }
  EXPECT(worst < 1e-5, "dense cosines vs float64: worst %.3g", worst);
  EXPECT(lex.dadj[0] == 1.0f && lex.dadj[nc] == 1.0f, "no topic change at the ends");
  rk_slot_features(nb, &lex, NULL, f);
  int read = 1;
  for (int32_t m = 0; m < nb->n_md; m++)
    for (int32_t s = 0; s < ns; s++) {
      const float *row = f + ((size_t)m * ns + s) * RK_NFEAT + RK_NFEAT_LEX;
      read &= row[0] == (s < nc ? lex.dcos[(size_t)m * nc + s] : 0.0f);
      read &= row[1] == (s > 0 ? lex.dcos[(size_t)m * nc + s - 1] : 0.0f);
      read &= row[8] == 1.0f - lex.dadj[s];
    }
  EXPECT(read, "the dense features are the similarities of the code around the slot");
  free(f), free(x);
  rk_lex_free(&lex);
  ai4_tfidf_free(&tf);
}

/* The code traits the flow features read: a cell ending by showing a result (an expression, a
 * print or a plot's show; not an assignment, a statement or an indented line) and a definition. */
static void test_code_traits(void) {
  const char *code[] = {"df = load()\ndf.head()\n# a comment\n",
                        "x = 1\ny = x == 2",
                        "for i in range(3):\n    print(i)",
                        "plt.plot(x)\nplt.show()",
                        "def f(a):\n    return a",
                        "model.fit(X, y=y)",
                        "total >= 3"};
  const float shows[] = {1, 0, 1, 1, 0, 1, 1}, defines[] = {0, 0, 0, 0, 1, 0, 0};
  enum { NC = 7 };
  nb_cell cells[NC + 1];
  memset(cells, 0, sizeof cells);
  for (int i = 0; i <= NC; i++) {
    cells[i].type = i < NC ? NB_CELL_CODE : NB_CELL_MARKDOWN;
    cells[i].source = (char *)(i < NC ? code[i] : "Some words");
    cells[i].len = (int32_t)strlen(cells[i].source);
  }
  nb_notebook nb = {.n_cells = NC + 1, .n_code = NC, .n_md = 1, .cells = cells};
  nb_dataset one = {.n = 1, .nbs = &nb};
  ai4_tfidf tf;
  ai4_tfidf_fit(&tf, &one, NULL, 1, 1);
  rk_lex lex;
  rk_lex_compute(&lex, &tf, NULL, &nb);
  for (int c = 0; c < NC; c++)
    EXPECT(lex.ctrait[c * RK_CTRAITS + 2] == shows[c] && lex.ctrait[c * RK_CTRAITS + 3] == defines[c],
           "code %d: shows a result %g (want %g), defines %g (want %g)", c,
           lex.ctrait[c * RK_CTRAITS + 2], shows[c], lex.ctrait[c * RK_CTRAITS + 3], defines[c]);
  float *f = malloc((size_t)(NC + 1) * RK_NFEAT * sizeof *f);
  rk_slot_features(&nb, &lex, NULL, f);
  const int fl = RK_NFEAT_LEX + RK_NFEAT_DENSE;
  int read = 1;
  for (int s = 0; s <= NC; s++) {
    const float *row = f + (size_t)s * RK_NFEAT + fl;
    read &= row[8] == (s > 0 ? shows[s - 1] : 0.0f) && row[9] == (s < NC ? shows[s] : 0.0f);
    read &= row[10] == (s < NC ? defines[s] : 0.0f);
  }
  EXPECT(read, "the slot features read the traits of the code before and after the slot");
  free(f);
  rk_lex_free(&lex);
  ai4_tfidf_free(&tf);
}

/* The rivals features: the other markdown cells that match the code after (before) the slot best,
 * and the markdown's margin over the best of them; the kin features: where the markdown cells
 * that share its words match code best. */
static void test_rivals(void) {
  const char *src[] = {"alpha_x = beta_y", "gamma_z = delta_w", "alpha", "alpha beta", "gamma"};
  nb_cell cells[5];
  memset(cells, 0, sizeof cells);
  for (int i = 0; i < 5; i++) {
    cells[i].type = i < 2 ? NB_CELL_CODE : NB_CELL_MARKDOWN;
    cells[i].source = (char *)src[i];
    cells[i].len = (int32_t)strlen(src[i]);
  }
  nb_notebook nb = {.n_cells = 5, .n_code = 2, .n_md = 3, .cells = cells};
  nb_dataset one = {.n = 1, .nbs = &nb};
  ai4_tfidf tf;
  ai4_tfidf_fit(&tf, &one, NULL, 1, 1);
  rk_lex lex;
  rk_lex_compute(&lex, &tf, NULL, &nb);
  const float *cs = lex.sim.cos;
  EXPECT(cs[0] > cs[1] && cs[2] > cs[3] && cs[5] > cs[4] && cs[2] > cs[0], "cosines as written");
  float *f = malloc((size_t)3 * 3 * RK_NFEAT * sizeof *f);
  rk_slot_features(&nb, &lex, NULL, f);
  const int r0 = RK_NFEAT_LEX + RK_NFEAT_DENSE + 11;
  const float *a = f + (size_t)(0 * 3 + 0) * RK_NFEAT + r0; /* markdown 0 before code 0 */
  EXPECT_NEAR(a[0], 0.5, 1e-6); /* markdown 1 of the other two matches code 0 best */
  EXPECT_NEAR(a[1], cs[0] - cs[2], 1e-6);
  EXPECT(a[2] == 0.0f && a[3] == 0.0f, "no code before slot 0");
  const float *b = f + (size_t)(1 * 3 + 0) * RK_NFEAT + r0; /* markdown 1 before code 0 */
  EXPECT_NEAR(b[1], cs[2] - cs[0], 1e-6);
  const float *c = f + (size_t)(2 * 3 + 2) * RK_NFEAT + r0; /* markdown 2 after code 1 */
  EXPECT(c[0] == 0.0f && c[1] == 0.0f, "no code after the last slot");
  EXPECT_NEAR(c[2], 0.0, 1e-9);
  EXPECT_NEAR(c[3], cs[5] - (cs[1] > cs[3] ? cs[1] : cs[3]), 1e-6);
  int zero = 1;
  for (int k = 0; k < 9; k++)
    for (int j = 0; j < 4; j++) zero &= f[(size_t)k * RK_NFEAT + r0 + 4 + j] == 0.0f;
  EXPECT(zero, "the encoder's rivals are zero without its vectors");
  /* kin: markdown 1 shares "alpha" with markdown 0 and matches code 0 best; markdown 2 has none */
  const float *mc = lex.sim.mcos;
  EXPECT(mc[1] > 0 && mc[1] == mc[3] && mc[0] == 0.0f && mc[2] == 0.0f && mc[5] == 0.0f,
         "markdown cosines: %g %g %g", mc[1], mc[2], mc[5]);
  const int k0 = r0 + 8;
  const float *k00 = f + (size_t)(0 * 3 + 0) * RK_NFEAT + k0, *k02 = f + (size_t)(0 * 3 + 2) * RK_NFEAT + k0;
  EXPECT_NEAR(k00[0], mc[1], 1e-6);
  EXPECT(k00[1] == 0.0f, "at the kin's slot: distance 0");
  EXPECT_NEAR(k00[2], mc[1], 1e-6);
  EXPECT_NEAR(k02[0], mc[1] / 3.0, 1e-6);
  EXPECT_NEAR(k02[1], 2.0 / 3.0, 1e-6);
  EXPECT(k02[2] == 0.0f, "no kin matches past the last code cell");
  int none = 1;
  for (int sl = 0; sl < 3; sl++)
    for (int j = 0; j < 6; j++) none &= f[(size_t)(2 * 3 + sl) * RK_NFEAT + k0 + j] == 0.0f;
  for (int k = 0; k < 9; k++)
    for (int j = 3; j < 6; j++) none &= f[(size_t)k * RK_NFEAT + k0 + j] == 0.0f;
  EXPECT(none, "no kin, or no encoder vectors: zero");
  free(f);
  rk_lex_free(&lex);
  ai4_tfidf_free(&tf);
}

static void test_slot_loss_falls(const nb_dataset *ds) {
  ai4_tfidf tf;
  ai4_tfidf_fit(&tf, ds, NULL, 1, 1);
  rk_lex *lex = calloc((size_t)ds->n, sizeof *lex);
  for (int32_t i = 0; i < ds->n; i++) rk_lex_compute(&lex[i], &tf, NULL, &ds->nbs[i]);
  rk_slot_model sm;
  rk_slot_init(&sm, 16, ops_cpu_ref());
  rk_slot_init_weights(&sm, 7);
  adamw_config ac = adamw_defaults();
  ac.lr = 1e-2f;
  opt_adamw opt;
  opt_adamw_init(&opt, &sm.params, &ac);
  rk_slot_work w = {0};
  double first = 0, last = 0;
  for (int ep = 0; ep < 30; ep++) {
    double sum = 0;
    params_zero_grad(&sm.params);
    for (int32_t i = 0; i < ds->n; i++)
      sum += rk_slot_loss_nb(&sm, &ds->nbs[i], &lex[i], NULL, &w, 1.0f / ds->n);
    opt_adamw_step(&opt, &sm.params, ac.lr);
    if (ep == 0) first = sum / ds->n;
    last = sum / ds->n;
  }
  EXPECT(last < 0.6 * first, "slot loss falls: %.4f -> %.4f", first, last);
  /* and the trained slot model orders the notebooks well */
  ai4_tau t = {0, 0};
  for (int32_t i = 0; i < ds->n; i++) {
    const nb_notebook *nb = &ds->nbs[i];
    float *prob = malloc(((size_t)nb->n_md * (nb->n_code + 1) + 1) * sizeof *prob);
    float *pos = malloc(((size_t)nb->n_md + 1) * sizeof *pos);
    int32_t *ord = malloc((size_t)nb->n_cells * sizeof *ord);
    rk_slot_predict_nb(&sm, nb, &lex[i], NULL, &w, prob);
    rk_slot_decode(nb, prob, pos);
    rk_order_from_md_pos(nb, pos, ord);
    ai4_tau_add(&t, ord, nb->order, nb->n_cells);
    free(prob), free(pos), free(ord);
  }
  EXPECT(ai4_tau_value(&t) > 0.8, "tau of the trained slot model on its notebooks: %.4f",
         ai4_tau_value(&t));
  rk_slot_work_free(&w);
  opt_adamw_free(&opt);
  rk_slot_free(&sm);
  for (int32_t i = 0; i < ds->n; i++) rk_lex_free(&lex[i]);
  free(lex);
  ai4_tfidf_free(&tf);
}

/* The notebook-level model from random cell vectors: it starts at the base distribution (the dual
 * encoder's, within a small margin), and its loss on the notebooks falls under training (it learns
 * from the cells' types and the code cells' positions where the markdown cells sit). */
static void test_nbm_loss_falls(const nb_dataset *ds) {
  enum { D = 4 };
  rk_nbm_config c = {.layers = 1, .hidden = 16, .heads = 2, .intermediate = 32};
  enc_model m;
  ordo_err e = {{0}};
  EXPECT(rk_nbm_init(&m, &c, 2 * D, NULL, &e) == 0, "%s", e.msg);
  rk_nbm_init_weights(&m, 3);
  m.cfg.hidden_dropout_prob = 0;
  ordo_rng r;
  rng_init(&r, 4);
  float **z = calloc((size_t)ds->n, sizeof *z), **base = calloc((size_t)ds->n, sizeof *base);
  int32_t **truth = calloc((size_t)ds->n, sizeof *truth);
  double gap = 0;
  for (int32_t i = 0; i < ds->n; i++) {
    const nb_notebook *nb = &ds->nbs[i];
    size_t R = (size_t)nb->n_md * (nb->n_code + 1) + 1;
    z[i] = malloc((size_t)nb->n_cells * 2 * D * sizeof **z);
    for (int32_t k = 0; k < nb->n_cells * 2 * D; k++) z[i][k] = 0.3f * rng_normal(&r);
    base[i] = malloc(R * sizeof **base);
    rk_dual_logprobs(nb, z[i], D, base[i]);
    truth[i] = malloc(((size_t)nb->n_md + 1) * sizeof **truth);
    rk_true_slots(nb, truth[i]);
    float *lp = malloc(R * sizeof *lp);
    rk_nbm_logprobs(&m, nb, z[i], D, base[i], lp);
    for (size_t k = 0; k + 1 < R; k++) gap = fmax(gap, fabs(lp[k] - base[i][k]));
    free(lp);
  }
  EXPECT(gap < 0.5, "the untrained model stays near its base: largest change %.3f", gap);
  adamw_config ac = adamw_defaults();
  ac.lr = 2e-2f;
  opt_adamw opt;
  opt_adamw_init(&opt, &m.params, &ac);
  double first = 0, last = 0;
  for (int ep = 0; ep < 60; ep++) {
    double sum = 0;
    params_zero_grad(&m.params);
    for (int32_t i = 0; i < ds->n; i++)
      sum += rk_nbm_loss_nb(&m, &ds->nbs[i], z[i], D, base[i], truth[i], 1.0f / ds->n);
    opt_adamw_step(&opt, &m.params, ac.lr);
    if (ep == 0) first = sum / ds->n;
    last = sum / ds->n;
  }
  EXPECT(last < 0.8 * first, "notebook model loss falls: %.4f -> %.4f", first, last);
  opt_adamw_free(&opt);
  for (int32_t i = 0; i < ds->n; i++) free(z[i]), free(base[i]), free(truth[i]);
  free(z), free(base), free(truth);
  enc_free(&m);
}

/* A tiny encoder on one fixed batch: the loss must fall. */
static void test_point_loss_falls(const nb_dataset *ds, const char *tokdir) {
  tok *tk;
  ordo_err e = {{0}};
  EXPECT(tok_load(&tk, tokdir, &e) == 0, "%s", e.msg);
  if (!tk) return;
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_ROBERTA);
  cfg.num_hidden_layers = 1, cfg.hidden_size = cfg.embedding_size = 32;
  cfg.num_attention_heads = 2, cfg.intermediate_size = 64, cfg.num_labels = 1;
  cfg.vocab_size = tok_vocab_size(tk), cfg.pad_token_id = tok_special_id(tk, TOK_SP_PAD);
  cfg.type_vocab_size = 1, cfg.max_position_embeddings = 64 + cfg.pad_token_id + 2;
  cfg.head_features = RK_POINT_NFEAT;
  cfg.hidden_dropout_prob = 0, cfg.attention_probs_dropout_prob = 0;
  enc_model m;
  EXPECT(enc_init(&m, &cfg, ENC_HEAD_CLS, NULL, &e) == 0, "%s", e.msg);
  enc_init_weights(&m, 3);
  enum { B = 8, T = 64 };
  enc_plan(&m, B, T, 0);
  rk_point_config pc = {.md_tokens = 16, .n_code = 4, .code_tokens = 8, .seq = T};
  int32_t ids[B * T], mask[B * T];
  float tgt[B], feats[B * RK_POINT_NFEAT];
  for (int b = 0; b < B; b++) {
    const nb_notebook *nb = &ds->nbs[b % ds->n];
    int32_t md = (b / ds->n) % (nb->n_md ? nb->n_md : 1), slots[64];
    int n = rk_point_encode(&pc, tk, nb, md, ids + b * T, mask + b * T);
    EXPECT(n > 3 && n <= T && ids[b * T] == tok_special_id(tk, TOK_SP_CLS), "row %d: %d tokens", b, n);
    rk_true_slots(nb, slots);
    tgt[b] = (float)slots[md] / nb->n_code;
    rk_point_head_features(nb, feats + b * RK_POINT_NFEAT);
  }
  trainer_config tc = trainer_defaults();
  tc.steps = 40;
  tc.sched = (sched_config){.kind = SCHED_CONSTANT, .lr = 3e-3f};
  trainer tr;
  ORDO_CHECK(trainer_init(&tr, &m, &tc, &e) == 0);
  enc_batch bt = {.B = B, .T = T, .ids = ids, .mask = mask, .head_feats = feats};
  float first = 0, last = 0;
  for (int s = 0; s < 40; s++) {
    float l = rk_point_train_step(&tr, &bt, tgt);
    if (s == 0) first = l;
    last = l;
  }
  EXPECT(last < 0.5f * first, "pointwise loss falls on a fixed batch: %.5f -> %.5f", first, last);
  trainer_free(&tr);
  enc_free(&m);
  tok_free(tk);
}

/* The dual encoder's slot scores: the backward against central differences in the cell vectors,
 * and the log-probabilities are a distribution over each markdown's slots. */
static void test_dual_scores(const nb_dataset *ds) {
  const nb_notebook *nb = &ds->nbs[0];
  enum { D = 3 };
  int32_t nc = nb->n_code, ns = nc + 1, nm = nb->n_md;
  size_t nz = (size_t)nb->n_cells * 2 * D, R = (size_t)nm * ns;
  double *zd = malloc(nz * sizeof *zd);
  float *z = malloc(nz * sizeof *z), *dz = calloc(nz, sizeof *dz), *score = malloc(R * sizeof *score);
  float *w = malloc(R * sizeof *w), *lp = malloc(R * sizeof *lp);
  ordo_rng r;
  rng_init(&r, 5);
  for (size_t k = 0; k < nz; k++) z[k] = rng_normal(&r), zd[k] = z[k];
  for (size_t k = 0; k < R; k++) w[k] = rng_normal(&r);
  rk_dual_scores_backward(nb, z, D, w, dz);
  /* the scores are bilinear in z: central differences are exact up to rounding */
  double worst = 0;
  for (size_t k = 0; k < nz; k++) {
    const float h = 0.25f;
    double f[2];
    for (int sgn = 0; sgn < 2; sgn++) {
      z[k] = (float)(zd[k] + (sgn ? -h : h));
      rk_dual_scores(nb, z, D, score);
      f[sgn] = 0;
      for (size_t j = 0; j < R; j++) f[sgn] += (double)w[j] * score[j];
    }
    z[k] = (float)zd[k];
    double fd = (f[0] - f[1]) / (2 * h), err = fabs(fd - dz[k]) / (1 + fabs(fd));
    worst = err > worst ? err : worst;
  }
  EXPECT(worst < 1e-4, "dual score backward against differences: worst %.3g", worst);
  /* a markdown's score at slot s is a . n_s + b . p_(s-1) */
  rk_dual_scores(nb, z, D, score);
  const float *zm = z + (size_t)nc * 2 * D;
  double want = 0;
  for (int k = 0; k < D; k++) want += zm[k] * z[k]; /* slot 0: no code before it */
  EXPECT_NEAR(score[0], want, 1e-5);
  want = 0;
  for (int k = 0; k < D; k++) want += zm[D + k] * z[(size_t)(nc - 1) * 2 * D + D + k];
  EXPECT_NEAR(score[nc], want, 1e-5);
  rk_dual_logprobs(nb, z, D, lp);
  for (int32_t m = 0; m < nm; m++) {
    double sum = 0;
    for (int32_t s = 0; s < ns; s++) sum += exp(lp[(size_t)m * ns + s]);
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  free(zd), free(z), free(dz), free(score), free(w), free(lp);
}

/* Decoding over all cells: a single markdown cell takes its weighted median; markdown cells that
 * share a slot are ordered by the within-slot evidence (a heading before the text), which
 * rk_md_order_fit learns from notebooks that open with a heading; positions stay inside the
 * slot. */
static void test_decode_joint(const nb_dataset *ds) {
  rk_md_order o;
  uint8_t *all = malloc((size_t)ds->n);
  memset(all, 1, (size_t)ds->n);
  rk_md_order_fit(&o, ds, all);
  free(all);
  EXPECT(o.first[1][0] > 0.8, "headings precede the text of their slot: %.3f", o.first[1][0]);
  EXPECT_NEAR(o.first[1][0] + o.first[0][1], 1.0, 1e-9);
  const nb_notebook *nb = NULL;
  int32_t head = -1, text = -1;
  for (int32_t i = 0; i < ds->n && head < 0; i++) {
    nb = &ds->nbs[i];
    head = text = -1;
    for (int32_t m = 0; m < nb->n_md; m++) {
      if (rk_md_heading_level(&nb->cells[nb->n_code + m]) > 0) head = head < 0 ? m : head;
      else text = text < 0 ? m : text;
    }
    if (text < 0) head = -1;
  }
  ORDO_CHECK(head >= 0 && text >= 0);
  int32_t ns = nb->n_code + 1, nm = nb->n_md;
  float *prob = calloc((size_t)nm * ns, sizeof *prob), *pos = malloc((size_t)nm * sizeof *pos);
  float *med = malloc((size_t)nm * sizeof *med);
  /* every markdown almost surely in slot 1 */
  for (int32_t m = 0; m < nm; m++) {
    for (int32_t k = 0; k < ns; k++) prob[(size_t)m * ns + k] = 0.01f / (float)(ns - 1);
    prob[(size_t)m * ns + 1] = 0.99f;
  }
  rk_decode_joint(nb, prob, &o, pos);
  EXPECT(pos[head] < pos[text], "heading %.3f before text %.3f in the shared slot", pos[head], pos[text]);
  for (int32_t m = 0; m < nm; m++) EXPECT(pos[m] > 0.0f && pos[m] < 1.0f, "inside slot 1: %.3f", pos[m]);
  /* a lone markdown: its weighted median slot, as rk_slot_decode */
  nb_notebook one = *nb;
  one.n_md = 1;
  for (int32_t k = 0; k < ns; k++) prob[k] = k == ns - 1 ? 0.4f : 0.6f / (float)(ns - 1);
  rk_decode_joint(&one, prob, &o, pos);
  rk_slot_decode(&one, prob, med);
  EXPECT((int)floorf(pos[0] + 1.0f) == (int)floorf(med[0] + 1.0f), "lone markdown: %.3f vs median %.3f",
         pos[0], med[0]);
  free(prob), free(pos), free(med);
}

static char *read_all(const char *path) {
  size_t n;
  return ordo_read_file(path, &n, NULL);
}

static void test_train_predict(const nb_dataset *ds, const char *tmp) {
  rk_train_opts o = rk_train_defaults();
  o.val_frac = 0.25, o.seed = 5, o.init_seed = 5, o.threads = 1;
  o.layers = 1, o.hidden = 32, o.heads = 2, o.intermediate = 64, o.vocab_size = 400;
  o.pc = (rk_point_config){.md_tokens = 16, .n_code = 4, .code_tokens = 8, .seq = 64};
  o.batch = 8, o.max_steps = 6, o.slot_epochs = 40, o.slot_hidden = 8, o.slot_lr = 1e-2;
  o.point = 1; /* both encoders */
  o.dc = (rk_dual_config){.md_tokens = 12, .code_tokens = 12, .dim = 8};
  o.dual_cells = 40, o.dual_epochs = 3;
  /* one dual encoder on the notebooks the slot model does not see, and no similarities of its
   * vectors (the older model below has none): the cross-fitted defaults in test_cross_fit */
  o.dual_folds = 0, o.dense_feats = 0;
  char d1[512], d2[512];
  snprintf(d1, sizeof d1, "%s/m1", tmp);
  snprintf(d2, sizeof d2, "%s/m2", tmp);
  rk_train_result r1, r2;
  ordo_err e = {{0}};
  EXPECT(rk_train(ds, &o, d1, &r1, &e) == 0, "%s", e.msg);
  EXPECT(rk_train(ds, &o, d2, &r2, &e) == 0, "%s", e.msg);
  EXPECT(r1.point_steps == 6, "pointwise steps %lld", (long long)r1.point_steps);
  EXPECT(r1.dual_steps > 0 && r1.dual_loss_last < r1.dual_loss_first && r1.tau_dual > -1,
         "dual: %lld steps, loss %.4f -> %.4f, tau %.4f", (long long)r1.dual_steps,
         r1.dual_loss_first, r1.dual_loss_last, r1.tau_dual);
  EXPECT(r1.dual_loss_last == r2.dual_loss_last && r1.tau_dual == r2.tau_dual,
         "same seed, same dual run: %.9g vs %.9g", r1.dual_loss_last, r2.dual_loss_last);
  EXPECT(r1.tau_slot > 0.5, "validation tau of the slot ranker %.4f", r1.tau_slot);
  /* determinism: the same seed gives the same losses and the same files */
  EXPECT(r1.point_loss_last == r2.point_loss_last && r1.tau_slot == r2.tau_slot,
         "same seed, same run: %.9g vs %.9g", r1.point_loss_last, r2.point_loss_last);
  char p1[600], p2[600];
  snprintf(p1, sizeof p1, "%s/model.safetensors", d1);
  snprintf(p2, sizeof p2, "%s/model.safetensors", d2);
  size_t n1 = 0, n2 = 0;
  char *a = ordo_read_file(p1, &n1, NULL), *b = ordo_read_file(p2, &n2, NULL);
  EXPECT(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "model.safetensors bit-identical");
  free(a), free(b);
  snprintf(p1, sizeof p1, "%s/dual/model.safetensors", d1);
  snprintf(p2, sizeof p2, "%s/dual/model.safetensors", d2);
  a = ordo_read_file(p1, &n1, NULL), b = ordo_read_file(p2, &n2, NULL);
  EXPECT(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "dual/model.safetensors bit-identical");
  free(a), free(b);
  snprintf(p1, sizeof p1, "%s/ranker.json", d1);
  snprintf(p2, sizeof p2, "%s/ranker.json", d2);
  a = read_all(p1), b = read_all(p2);
  EXPECT(a && b && strcmp(a, b) == 0, "ranker.json identical");
  free(a), free(b);

  /* reload and predict: every notebook gets a valid order that the scorer accepts */
  rk_model m;
  EXPECT(rk_model_load(&m, d1, NULL, &e) == 0, "%s", e.msg);
  EXPECT(m.has_point && m.has_dual, "pointwise and dual parts loaded");
  float **pos = calloc((size_t)ds->n, sizeof *pos);
  rk_predict_positions(&m, ds, NULL, 1, pos);
  nb_orders sub = {0}, truth = {0};
  for (int32_t i = 0; i < ds->n; i++) {
    const nb_notebook *nb = &ds->nbs[i];
    int32_t *ord = malloc((size_t)nb->n_cells * sizeof *ord);
    rk_order_from_md_pos(nb, pos[i], ord);
    nb_orders_add_nb(&sub, nb, ord);
    nb_orders_add_nb(&truth, nb, nb->order);
    free(ord), free(pos[i]);
  }
  free(pos);
  double tau = -2;
  ai4_tau acc;
  EXPECT(ai4_score_orders(&truth, &sub, &tau, &acc, &e) == 0, "%s", e.msg);
  EXPECT(tau > 0.5, "predicted tau %.4f", tau);
  nb_orders_free(&sub), nb_orders_free(&truth);
  rk_model_free(&m);

  /* a model saved before the dense or (some of) the flow features (RK_NFEAT_LEX, RK_NFEAT_LEX +
   * RK_NFEAT_DENSE or more columns of w1) loads with zero weights for the others, and predicts as
   * the whole model does with those columns zero */
  snprintf(p1, sizeof p1, "%s/ranker.json", d1);
  a = read_all(p1);
  cJSON *root = a ? cJSON_Parse(a) : NULL, *slot = cJSON_GetObjectItem(root, "slot");
  const cJSON *w1a = cJSON_GetObjectItem(slot, "w1");
  int hid = (int)cJSON_GetObjectItem(slot, "hidden")->valuedouble;
  const int widths[3] = {RK_NFEAT_LEX, RK_NFEAT_LEX + RK_NFEAT_DENSE,
                         RK_NFEAT_LEX + RK_NFEAT_DENSE + 11};
  for (int k = 0; k < 3; k++) {
    float **want = calloc((size_t)ds->n, sizeof *want), **got = calloc((size_t)ds->n, sizeof *got);
    for (int narrow = 0; narrow < 2; narrow++) {
      int cols = narrow ? widths[k] : RK_NFEAT;
      cJSON *w = cJSON_CreateArray();
      for (int o = 0; o < hid; o++)
        for (int j = 0; j < cols; j++)
          cJSON_AddItemToArray(w, cJSON_CreateNumber(
              j < widths[k] ? cJSON_GetArrayItem(w1a, o * RK_NFEAT + j)->valuedouble : 0.0));
      cJSON *r2 = cJSON_Duplicate(root, 1), *s2 = cJSON_GetObjectItem(r2, "slot");
      cJSON_ReplaceItemInObject(s2, "w1", w);
      cJSON_ReplaceItemInObject(s2, "features", cJSON_CreateNumber(cols));
      char *txt = cJSON_Print(r2);
      ORDO_CHECK(ordo_write_file_atomic(p1, txt, strlen(txt), NULL) == 0);
      free(txt);
      cJSON_Delete(r2);
      EXPECT(rk_model_load(&m, d1, NULL, &e) == 0, "a model of %d features: %s", cols, e.msg);
      if (narrow) {
        int zero = 1;
        for (int o = 0; o < hid; o++)
          for (int j = widths[k]; j < RK_NFEAT; j++)
            zero &= params_data(&m.slot.params, m.slot.w1)[o * RK_NFEAT + j] == 0.0f;
        EXPECT(zero, "the columns a model of %d features lacks are zero", cols);
      }
      rk_predict_positions(&m, ds, NULL, 1, narrow ? got : want);
      rk_model_free(&m);
    }
    int same_pos = 1;
    for (int32_t i = 0; i < ds->n; i++) {
      same_pos &= memcmp(got[i], want[i], (size_t)ds->nbs[i].n_md * sizeof **got) == 0;
      free(got[i]), free(want[i]);
    }
    EXPECT(same_pos, "a model of %d features predicts as the whole one without the others",
           widths[k]);
    free(got), free(want);
  }
  /* a ranker.json that disagrees with term_prior.json on stemming is refused, naming the file */
  {
    cJSON *r2 = cJSON_Duplicate(root, 1);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r2, "slot"), "stem", cJSON_CreateFalse());
    char *txt = cJSON_Print(r2);
    ORDO_CHECK(ordo_write_file_atomic(p1, txt, strlen(txt), NULL) == 0);
    free(txt);
    cJSON_Delete(r2);
    EXPECT(rk_model_load(&m, d1, NULL, &e) != 0 && strstr(e.msg, "term_prior.json") &&
               strstr(e.msg, "stem"),
           "stemming mismatch: %s", e.msg);
    /* a model made before stemming: no "stem" in either file, whole words */
    cJSON *r3 = cJSON_Duplicate(root, 1);
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(r3, "slot"), "stem");
    txt = cJSON_Print(r3);
    ORDO_CHECK(ordo_write_file_atomic(p1, txt, strlen(txt), NULL) == 0);
    free(txt);
    cJSON_Delete(r3);
    char pp[640];
    snprintf(pp, sizeof pp, "%s/term_prior.json", d1);
    char *prior_txt = read_all(pp);
    uint8_t *all = malloc((size_t)ds->n);
    memset(all, 1, (size_t)ds->n);
    rk_term_prior whole;
    rk_term_prior_fit(&whole, ds, all, 0);
    ORDO_CHECK(rk_term_prior_save(&whole, pp, NULL) == 0);
    rk_term_prior_free(&whole);
    char *saved = read_all(pp);
    EXPECT(saved && !strstr(saved, "stem"), "an unstemmed prior's file says nothing of stemming");
    EXPECT(rk_model_load(&m, d1, NULL, &e) == 0 && m.stem == 0 && m.prior.stem == 0,
           "a model made before stemming loads with whole words: %s", e.msg);
    float **pos3 = calloc((size_t)ds->n, sizeof *pos3);
    rk_predict_positions(&m, ds, NULL, 1, pos3);
    int finite = 1;
    for (int32_t i = 0; i < ds->n; i++) {
      for (int32_t k = 0; k < ds->nbs[i].n_md; k++) finite &= isfinite(pos3[i][k]) != 0;
      free(pos3[i]);
    }
    EXPECT(finite, "and predicts");
    free(pos3), free(saved), free(all);
    rk_model_free(&m);
    ORDO_CHECK(ordo_write_file_atomic(pp, prior_txt, strlen(prior_txt), NULL) == 0);
    free(prior_txt);
  }
  ORDO_CHECK(ordo_write_file_atomic(p1, a, strlen(a), NULL) == 0);
  free(a);
  cJSON_Delete(root);

  /* a damaged ranker.json is an error naming the file and the key */
  snprintf(p1, sizeof p1, "%s/ranker.json", d2);
  a = read_all(p1);
  char *w1 = a ? strstr(a, "\"hidden\"") : NULL;
  if (w1) {
    memcpy(w1, "\"hiddex\"", 8);
    ORDO_CHECK(ordo_write_file_atomic(p1, a, strlen(a), NULL) == 0);
    EXPECT(rk_model_load(&m, d2, NULL, &e) != 0 && strstr(e.msg, "ranker.json") && strstr(e.msg, "hidden"),
           "damaged ranker.json: %s", e.msg);
  }
  free(a);
}

/* The term prior read back from its file gives the features the fitted one gave, bit for bit:
 * training measures the held-out side with the prior that prediction loads. */
static void test_prior_round_trip(const nb_dataset *ds, const char *tmp) {
  uint8_t *all = malloc((size_t)ds->n);
  memset(all, 1, (size_t)ds->n);
  for (int stem = 0; stem < 2; stem++) {
  rk_term_prior fit, back;
  rk_term_prior_fit(&fit, ds, all, stem);
  char path[600];
  snprintf(path, sizeof path, "%s/term_prior.json", tmp);
  ordo_err e = {{0}};
  EXPECT(rk_term_prior_save(&fit, path, &e) == 0 && rk_term_prior_load(&back, path, &e) == 0, "%s", e.msg);
  EXPECT(back.stem == stem, "the prior's stemming read back: %d, want %d", back.stem, stem);
  int same = 1, known = 0;
  for (int32_t i = 0; i < ds->n; i++) {
    const nb_notebook *nb = &ds->nbs[i];
    float a[64], b[64];
    if (nb->n_md > 64) continue;
    rk_term_prior_md(&fit, nb, a);
    rk_term_prior_md(&back, nb, b);
    for (int32_t m = 0; m < nb->n_md; m++) same &= a[m] == b[m], known += a[m] >= 0;
  }
  EXPECT(known > 0 && same, "prior positions after save and load: same %d (%d known)", same, known);
  rk_term_prior_free(&fit), rk_term_prior_free(&back);
  }
  free(all);
}

/* The defaults with a trained dual encoder: cross-fitted over RK_DUAL_FOLDS_TRAINED folds of the
 * training groups (their encoders in DIR/dual_fold<k>, every training notebook's evidence out of
 * fold), the slot model reading the dual vectors' similarities; the model loads and predicts the
 * held-out figure training measured, by the way of using the folds training chose and by the
 * other one. */
static void test_cross_fit(const nb_dataset *ds, const char *tmp) {
  rk_train_opts o = rk_train_defaults();
  o.val_frac = 0.25, o.seed = 5, o.init_seed = 5, o.threads = 1;
  o.layers = 1, o.hidden = 32, o.heads = 2, o.intermediate = 64, o.vocab_size = 400;
  o.slot_epochs = 20, o.nbm_epochs = 2;
  o.dc = (rk_dual_config){.md_tokens = 12, .code_tokens = 12, .dim = 8};
  o.dual_cells = 40, o.dual_epochs = 2;
  char d[512], p[600];
  snprintf(d, sizeof d, "%s/mx", tmp);
  rk_train_result r;
  ordo_err e = {{0}};
  EXPECT(rk_train(ds, &o, d, &r, &e) == 0, "%s", e.msg);
  EXPECT(r.tau_fold_all > -1 && r.tau_fold_mean > -1, "both ways measured: %.6f %.6f",
         r.tau_fold_all, r.tau_fold_mean);
  for (int k = 1; k <= RK_DUAL_FOLDS_TRAINED + 1; k++) {
    snprintf(p, sizeof p, "%s/dual_fold%d/model.safetensors", d, k);
    EXPECT(ordo_is_file(p) == (k <= RK_DUAL_FOLDS_TRAINED), "%s", p);
  }
  rk_model m;
  EXPECT(rk_model_load(&m, d, NULL, &e) == 0, "%s", e.msg);
  EXPECT(m.dual_folds == RK_DUAL_FOLDS_TRAINED && rk_model_fold_heads(&m) == RK_DUAL_FOLDS_TRAINED,
         "%d folds loaded", m.dual_folds);
  EXPECT(!m.slot.use_dual || m.slot.use_dense, "the slot model with evidence reads the similarities");
  uint8_t *val = calloc((size_t)ds->n, 1);
  nb_split(ds, o.split_by, o.val_frac, o.seed, val);
  for (int way = 0; way < 2; way++) {
    if (way) m.fold_mean = !m.fold_mean;
    float **pos = calloc((size_t)ds->n, sizeof *pos);
    rk_predict_positions(&m, ds, val, 1, pos);
    double tau = rk_tau_of_positions(ds, val, pos);
    double want = m.fold_mean ? r.tau_fold_mean : r.tau_fold_all;
    EXPECT(fabs(tau - want) < 1e-12, "fold_mean %d: predicted tau %.6f, training measured %.6f",
           m.fold_mean, tau, want);
    if (!way) EXPECT(tau == r.tau_slot, "the kept way's tau %.6f is the run's %.6f", tau, r.tau_slot);
    for (int32_t i = 0; i < ds->n; i++) free(pos[i]);
    free(pos);
  }
  /* the dual encoders alone: the folds' mean places the markdown cells otherwise than the
   * encoder trained on all (the slot model kept here may not read them) */
  m.dual_only = 1;
  float **pw[2];
  for (int way = 0; way < 2; way++) {
    m.fold_mean = way;
    pw[way] = calloc((size_t)ds->n, sizeof **pw);
    rk_predict_positions(&m, ds, val, 1, pw[way]);
  }
  int differ = 0;
  for (int32_t i = 0; i < ds->n; i++) {
    if (pw[0][i]) differ |= memcmp(pw[0][i], pw[1][i], (size_t)ds->nbs[i].n_md * sizeof **pw[0]) != 0;
    free(pw[0][i]), free(pw[1][i]);
  }
  free(pw[0]), free(pw[1]);
  EXPECT(differ, "the folds' mean and the encoder trained on all give the same positions");
  free(val);
  rk_model_free(&m);
}

/* The dual encoder's inference pass (rk_dual_embed: cells longest first across notebooks, the
 * last layer at <s> only) against the training path's forward (dual_micro: each notebook's cells
 * in order, one batch padded to its longest, the full last layer): the same cell vectors within
 * float32 reassociation (1e-5 norm-wise relative: other batch shapes and the (1, len) score
 * product sum the same terms in another order, about 1e-7 here), and the same dual-only tau. */
static void test_dual_fast_pass(const nb_dataset *ds, const char *dir) {
  rk_model m;
  ordo_err e = {{0}};
  EXPECT(rk_model_load(&m, dir, NULL, &e) == 0, "%s", e.msg);
  if (!m.has_dual) return;
  const rk_dual_config *dc = &m.dc;
  int per = dc->md_tokens > dc->code_tokens ? dc->md_tokens : dc->code_tokens, T = per + 2;
  int L = 2 * dc->dim;
  float **z = calloc((size_t)ds->n, sizeof *z);
  rk_dual_embed(&m.dual, m.tk, dc, ds, NULL, 1, z);
  rk_cell_tokens ct;
  rk_cell_tokens_build(&ct, m.tk, ds, NULL, per, 1);
  double worst = 0;
  ai4_tau fast = {0, 0}, ref = {0, 0};
  for (int32_t i = 0; i < ds->n; i++) {
    const nb_notebook *nb = &ds->nbs[i];
    int n = nb->n_cells, longest = 0;
    ORDO_CHECK(n <= m.dual.maxB);
    int32_t *ids = malloc((size_t)n * T * sizeof *ids), *msk = malloc((size_t)n * T * sizeof *msk);
    int32_t *tt = malloc((size_t)n * T * sizeof *tt);
    for (int32_t c = 0; c < n; c++) {
      int len = rk_dual_encode_cell(dc, m.tk, &ct, i, nb, c, T, ids + (size_t)c * T,
                                    msk + (size_t)c * T, tt + (size_t)c * T);
      longest = len > longest ? len : longest;
    }
    enc_batch b = rk_pack_rows(ids, msk, tt, n, T, longest);
    enc_forward(&m.dual, &b, 0);
    float *zr = malloc((size_t)n * L * sizeof *zr);
    enc_read(&m.dual, zr, m.dual.cls_logits, (size_t)n * L * sizeof *zr);
    double err = rel_err_f32(z[i], zr, (int64_t)n * L);
    worst = err > worst ? err : worst;
    float *pf = malloc(((size_t)nb->n_md + 1) * sizeof *pf), *pr = malloc(((size_t)nb->n_md + 1) * sizeof *pr);
    int32_t *of = malloc((size_t)n * sizeof *of), *orr = malloc((size_t)n * sizeof *orr);
    rk_dual_positions(nb, z[i], dc->dim, pf);
    rk_dual_positions(nb, zr, dc->dim, pr);
    rk_order_from_md_pos(nb, pf, of);
    rk_order_from_md_pos(nb, pr, orr);
    ai4_tau_add(&fast, of, nb->order, n);
    ai4_tau_add(&ref, orr, nb->order, n);
    free(ids), free(msk), free(tt), free(zr), free(pf), free(pr), free(of), free(orr), free(z[i]);
  }
  EXPECT(worst < 1e-5, "dual inference pass vs the training forward: worst rel %.3g", worst);
  EXPECT(ai4_tau_value(&fast) == ai4_tau_value(&ref), "dual-only tau %.6f vs %.6f",
         ai4_tau_value(&fast), ai4_tau_value(&ref));
  free(z);
  rk_cell_tokens_free(&ct);
  rk_model_free(&m);
}

int main(void) {
  omp_set_num_threads(1); /* small work: one thread is faster and the same bits on any machine */
  char tmp[] = "/tmp/ordo-test-ranker-XXXXXX";
  ORDO_CHECK(mkdtemp(tmp));
  char src[600];
  snprintf(src, sizeof src, "%s/src", tmp);
  make_tree(src, 4, 6, 11);
  nb_dataset ds;
  ordo_err e = {{0}};
  int rc = nb_dataset_load(&ds, src, 1, 3, &e);
  EXPECT(rc == 0 && ds.n == 24 && ds.has_orders, "load: %s (%d notebooks)", e.msg, ds.n);
  if (rc != 0) return test_summary();

  test_true_slots_and_orders();
  test_features(&ds);
  test_dense_features(&ds);
  test_code_traits();
  test_rivals();
  test_slot_loss_falls(&ds);
  test_dual_scores(&ds);
  test_decode_joint(&ds);
  test_nbm_loss_falls(&ds);
  test_train_predict(&ds, tmp);
  test_cross_fit(&ds, tmp);
  test_prior_round_trip(&ds, tmp);
  char tokdir[600];
  snprintf(tokdir, sizeof tokdir, "%s/m1", tmp);
  test_dual_fast_pass(&ds, tokdir);
  test_point_loss_falls(&ds, tokdir);

  nb_dataset_free(&ds);
  rm_tree(tmp);
  return test_summary();
}
