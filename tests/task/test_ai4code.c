/* Order decoding, the tokenizer and TF-IDF/BM25 features, the baselines and rank ensembles (and
 * their weights fitted against true orders). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/ai4code.h"

/* A notebook in Kaggle layout from code and markdown sources, true order given as indices. */
static void make_nb(nb_notebook *nb, const char *id, const char *const *code, int nc,
                    const char *const *md, int nm, const int32_t *order) {
  memset(nb, 0, sizeof *nb);
  snprintf(nb->id, sizeof nb->id, "%s", id);
  nb->n_cells = nc + nm, nb->n_code = nc, nb->n_md = nm;
  nb->cells = calloc((size_t)(nc + nm), sizeof *nb->cells);
  for (int i = 0; i < nc + nm; i++) {
    nb_cell *c = &nb->cells[i];
    c->type = i < nc ? NB_CELL_CODE : NB_CELL_MARKDOWN;
    c->source = ordo_strdup(i < nc ? code[i] : md[i - nc]);
    c->len = (int32_t)strlen(c->source);
    snprintf(c->id, sizeof c->id, "%c%d", i < nc ? 'c' : 'm', i < nc ? i : i - nc);
  }
  if (order) {
    nb->order = malloc(sizeof(int32_t) * (size_t)(nc + nm));
    memcpy(nb->order, order, sizeof(int32_t) * (size_t)(nc + nm));
  }
}

static void test_decoding(void) {
  const char *code[] = {"a", "b", "c"}, *md[] = {"x", "y", "z"};
  nb_notebook nb;
  make_nb(&nb, "n", code, 3, md, 3, NULL);
  int32_t slot[] = {3, 0, 0}, out[6];
  float key[] = {0, 2, 1};
  ai4_order_from_slots(&nb, slot, NULL, out);
  int32_t want1[] = {4, 5, 0, 1, 2, 3}; /* y z a b c x */
  EXPECT(memcmp(out, want1, sizeof want1) == 0, "slots");
  ai4_order_from_slots(&nb, slot, key, out);
  int32_t want2[] = {5, 4, 0, 1, 2, 3}; /* key orders z before y */
  EXPECT(memcmp(out, want2, sizeof want2) == 0, "slots with keys");
  /* positions: code positions are put back in code order when keep_code */
  float pos[] = {0.9f, 0.1f, 0.5f, 0.2f, 0.6f, 0.0f};
  ai4_order_from_positions(&nb, pos, 1, out);
  int32_t want3[] = {5, 0, 3, 1, 4, 2};
  EXPECT(memcmp(out, want3, sizeof want3) == 0, "positions keep_code: %d %d %d %d %d %d", out[0], out[1], out[2], out[3], out[4], out[5]);
  ai4_order_from_positions(&nb, pos, 0, out);
  int32_t want4[] = {5, 1, 3, 2, 4, 0};
  EXPECT(memcmp(out, want4, sizeof want4) == 0, "positions free");
  /* weighted median of a slot distribution */
  float p1[] = {0.4f, 0.0f, 0.0f, 0.0f, 0.6f}, p2[] = {0.6f, 0.1f, 0.1f, 0.2f}, p3[] = {0, 0, 0};
  EXPECT(ai4_slot_median(p1, 5) == 4, "median p1");
  EXPECT(ai4_slot_median(p2, 4) == 0, "median p2");
  EXPECT(ai4_slot_median(p3, 3) == 0, "median of nothing");
  nb_notebook_free(&nb);
}

static int has_term(const ai4_terms *t, const char *word) {
  ai4_terms w = {0};
  ai4_tokenize(word, (int32_t)strlen(word), 1, &w);
  int found = 0;
  for (int i = 0; i < t->n && w.n == 1; i++) found |= t->h[i] == w.h[0];
  ai4_terms_free(&w);
  return found;
}

static void test_tokenize(void) {
  ai4_terms t = {0};
  const char *s = "df = pd.read_csv('Train.CSV'); model.fitTransform(x) # HTTPServer 42";
  ai4_tokenize(s, (int32_t)strlen(s), 1, &t);
  const char *want[] = {"df", "pd", "read", "csv", "train", "model", "fit", "transform", "http", "server", "42"};
  for (size_t k = 0; k < sizeof want / sizeof *want; k++) EXPECT(has_term(&t, want[k]), "term %s", want[k]);
  EXPECT(!has_term(&t, "x"), "one-letter parts are dropped");
  /* the whole split identifier is a term of its own, distinct from its parts */
  ai4_terms a = {0}, b = {0};
  ai4_tokenize("read_csv", 8, 1, &a);
  ai4_tokenize("read csv", 8, 1, &b);
  EXPECT(a.n == 3 && b.n == 2, "read_csv -> read, csv, read_csv: %d; read csv -> %d", a.n, b.n);
  ai4_terms_free(&a), ai4_terms_free(&b);
  ai4_terms_free(&t);
  /* stemming: prose and code meet; short words and -ss, -us, -is endings stay whole */
  const char *same[][2] = {{"Training", "train"}, {"models", "model"}, {"libraries", "library"},
                           {"plotting", "plot"}, {"created", "create"}, {"creating", "creates"},
                           {"normalization", "normalize"}, {"fitted", "fit"}, {"classes", "class"}};
  for (size_t k = 0; k < sizeof same / sizeof *same; k++) {
    ai4_terms x = {0}, y = {0}, u = {0}, w = {0};
    ai4_tokenize(same[k][0], (int32_t)strlen(same[k][0]), 1, &x);
    ai4_tokenize(same[k][1], (int32_t)strlen(same[k][1]), 1, &y);
    ai4_tokenize(same[k][0], (int32_t)strlen(same[k][0]), 0, &u);
    ai4_tokenize(same[k][1], (int32_t)strlen(same[k][1]), 0, &w);
    EXPECT(x.n == 1 && y.n == 1 && x.h[0] == y.h[0], "stemmed: %s = %s", same[k][0], same[k][1]);
    EXPECT(u.n == 1 && w.n == 1 && u.h[0] != w.h[0], "unstemmed: %s != %s", same[k][0], same[k][1]);
    ai4_terms_free(&x), ai4_terms_free(&y), ai4_terms_free(&u), ai4_terms_free(&w);
  }
  const char *whole[] = {"class", "this", "status", "was", "using", "bed", "data", "numpy"};
  for (size_t k = 0; k < sizeof whole / sizeof *whole; k++) {
    ai4_terms x = {0}, y = {0};
    ai4_tokenize(whole[k], (int32_t)strlen(whole[k]), 1, &x);
    ai4_tokenize(whole[k], (int32_t)strlen(whole[k]), 0, &y);
    EXPECT(x.n == 1 && y.n == 1 && x.h[0] == y.h[0], "kept whole: %s", whole[k]);
    ai4_terms_free(&x), ai4_terms_free(&y);
  }
}

static nb_dataset tiny_dataset(void) {
  nb_dataset ds = {0};
  ds.n = 2;
  ds.nbs = calloc(2, sizeof *ds.nbs);
  const char *code0[] = {"import pandas as pd\ndf = pd.read_csv('train.csv')", "df.plot(kind='hist')",
                         "model = LinearRegression()\nmodel.fit(X, y)"};
  const char *md0[] = {"## Fit a linear regression model", "Load the training csv with pandas",
                       "A histogram plot of the data"};
  /* true order: md1 c0 md2 c1 md0 c2 */
  int32_t order0[] = {4, 0, 5, 1, 3, 2};
  make_nb(&ds.nbs[0], "nb0", code0, 3, md0, 3, order0);
  const char *code1[] = {"x = 1", "y = 2"}, *md1[] = {"unrelated words only"};
  int32_t order1[] = {0, 2, 1};
  make_nb(&ds.nbs[1], "nb1", code1, 2, md1, 1, order1);
  ds.has_orders = 1;
  return ds;
}

static double tau_of(const nb_dataset *ds, const nb_orders *sub) {
  ai4_tau t = {0, 0};
  for (int i = 0; i < ds->n; i++) {
    const nb_notebook *nb = &ds->nbs[i];
    int32_t pred[16];
    for (int j = 0; j < nb->n_cells; j++)
      for (int k = 0; k < nb->n_cells; k++)
        if (strcmp(nb->cells[k].id, sub->cells[i][j]) == 0) pred[j] = k;
    ai4_tau_add(&t, pred, nb->order, nb->n_cells);
  }
  return ai4_tau_value(&t);
}

static void test_tfidf_and_baselines(void) {
  nb_dataset ds = tiny_dataset();
  ai4_tfidf tf;
  ai4_tfidf_fit(&tf, &ds, NULL, 1, 2);
  EXPECT(tf.n_docs == 9, "one document per cell: %lld", (long long)tf.n_docs);
  /* idf = ln((1 + N) / (1 + df)) + 1; "model" is in 2 of 9 cells */
  ai4_terms w = {0};
  ai4_tokenize("model", 5, 1, &w);
  EXPECT_NEAR(ai4_tfidf_idf(&tf, w.h[0]), log(10.0 / 3.0) + 1.0, 1e-6);
  ai4_terms_free(&w);
  /* cosine: a text with itself is 1, disjoint texts 0 */
  ai4_terms a = {0}, b = {0};
  ai4_tokenize("pandas read csv pandas", 22, 1, &a);
  ai4_tokenize("histogram plot", 14, 1, &b);
  ai4_svec va, vb;
  ai4_tfidf_vector(&tf, &a, &va);
  ai4_tfidf_vector(&tf, &b, &vb);
  EXPECT_NEAR(ai4_svec_dot(&va, &va), 1.0, 1e-5);
  EXPECT_NEAR(ai4_svec_dot(&va, &vb), 0.0, 1e-9);
  EXPECT(va.n == 3, "unique terms: %d", va.n);
  ai4_svec_free(&va), ai4_svec_free(&vb);
  ai4_terms_free(&a), ai4_terms_free(&b);

  ai4_nb_sim s;
  ai4_nb_sim_compute(&s, &tf, &ds.nbs[0]);
  /* each markdown's best code cell by cosine and by BM25 is its true next cell */
  int want[] = {2, 0, 1};
  for (int m = 0; m < 3; m++) {
    int bc = 0, bb = 0;
    for (int c = 1; c < 3; c++) {
      if (s.cos[m * 3 + c] > s.cos[m * 3 + bc]) bc = c;
      if (s.bm25[m * 3 + c] > s.bm25[m * 3 + bb]) bb = c;
    }
    EXPECT(bc == want[m] && bb == want[m], "markdown %d: cos -> %d, bm25 -> %d, want %d", m, bc, bb, want[m]);
  }
  /* slot features: markdown 1 ("Load the training csv with pandas") belongs before code 0 */
  float f[AI4_SLOT_NFEAT], g[AI4_SLOT_NFEAT];
  ai4_slot_features(&s, &ds.nbs[0], 1, 0, f);
  ai4_slot_features(&s, &ds.nbs[0], 1, 3, g);
  EXPECT(f[AI4_SF_COS_NEXT] > 0 && f[AI4_SF_COS_NEXT_GAP] == 0 && f[AI4_SF_COS_NEXT_RANK] == 0, "best slot");
  EXPECT(f[AI4_SF_IS_FIRST] == 1 && f[AI4_SF_COS_PREV] == 0 && f[AI4_SF_BEST_DIST] == 0, "first slot");
  EXPECT(g[AI4_SF_IS_LAST] == 1 && g[AI4_SF_COS_NEXT] == 0 && g[AI4_SF_COS_NEXT_RANK] == 1, "end slot");
  EXPECT_NEAR(g[AI4_SF_BEST_DIST], 3.0 / 4.0, 1e-6);
  ai4_slot_features(&s, &ds.nbs[0], 0, 2, f);
  EXPECT(f[AI4_SF_MD_HEADING] == 1 && f[AI4_SF_SLOT_REL] > 0.66f && f[AI4_SF_SLOT_REL] < 0.67f, "heading, position");
  EXPECT(strcmp(ai4_slot_feature_name(AI4_SF_MD_LOG_LEN), "md_log_len") == 0, "names");
  ai4_nb_sim_free(&s);

  nb_orders sub = {0};
  ai4_baseline_predict(AI4_BASE_TFIDF, &ds, NULL, &tf, 2, &sub);
  EXPECT(sub.n == 2 && strcmp(sub.ids[1], "nb1") == 0, "rows");
  /* notebook 0 perfect; notebook 1's markdown shares no term: put first (1 inversion of 3 pairs) */
  EXPECT_NEAR(tau_of(&ds, &sub), 1.0 - 4.0 * 1 / (30 + 6), 1e-12);
  nb_orders_free(&sub);
  ai4_baseline_predict(AI4_BASE_FIRST, &ds, NULL, NULL, 1, &sub);
  EXPECT(strcmp(sub.cells[0][0], "m0") == 0 && strcmp(sub.cells[0][3], "c0") == 0, "first: markdown first");
  nb_orders_free(&sub);
  ai4_baseline_predict(AI4_BASE_EVEN, &ds, NULL, NULL, 1, &sub);
  /* 3 markdown among 3 code: slots round(3*(m+1)/4) = 1, 2, 2 */
  const char *even0[] = {"c0", "m0", "c1", "m1", "m2", "c2"};
  for (int j = 0; j < 6; j++) EXPECT(strcmp(sub.cells[0][j], even0[j]) == 0, "even %d: %s", j, sub.cells[0][j]);
  nb_orders_free(&sub);
  uint8_t mask[] = {0, 1};
  ai4_baseline_predict(AI4_BASE_FIRST, &ds, mask, NULL, 1, &sub);
  EXPECT(sub.n == 1 && strcmp(sub.ids[0], "nb1") == 0, "mask");
  nb_orders_free(&sub);
  EXPECT(ai4_baseline_parse("tfidf") == AI4_BASE_TFIDF && ai4_baseline_parse("bm") == -1, "parse");
  ai4_tfidf_free(&tf);
  nb_dataset_free(&ds);
}

static void row(nb_orders *o, const char *id, const char *cells) {
  char buf[128], *p[16];
  snprintf(buf, sizeof buf, "%s", cells);
  int n = 0;
  for (char *s = strtok(buf, " "); s; s = strtok(NULL, " ")) p[n++] = s;
  nb_orders_add(o, id, p, n);
}

static void test_ensemble(void) {
  nb_orders s[2] = {{0}, {0}}, out;
  row(&s[0], "n1", "a b c d");
  row(&s[0], "n2", "x y");
  row(&s[1], "n2", "y x");
  row(&s[1], "n1", "d c b a");
  ordo_err e = {{0}};
  double w10[] = {1, 0}, w13[] = {1, 3};
  EXPECT(ai4_ensemble_ranks(s, w10, 2, &out, &e) == 0, "%s", e.msg);
  EXPECT(out.n == 2 && strcmp(out.cells[0][0], "a") == 0 && strcmp(out.cells[0][3], "d") == 0, "weight 1,0 gives A");
  nb_orders_free(&out);
  /* equal weights: every rank averages to 1.5 -> ties keep submission 1's order */
  EXPECT(ai4_ensemble_ranks(s, NULL, 2, &out, &e) == 0, "%s", e.msg);
  EXPECT(strcmp(out.cells[0][0], "a") == 0 && strcmp(out.cells[1][0], "x") == 0, "ties");
  nb_orders_free(&out);
  EXPECT(ai4_ensemble_ranks(s, w13, 2, &out, &e) == 0, "%s", e.msg);
  EXPECT(strcmp(out.cells[0][0], "d") == 0 && strcmp(out.cells[0][3], "a") == 0, "weight 1,3 follows B");
  nb_orders_free(&out);
  nb_orders bad[2] = {{0}, {0}};
  row(&bad[0], "n1", "a b c");
  row(&bad[1], "n1", "a b e");
  EXPECT(ai4_ensemble_ranks(bad, NULL, 2, &out, &e) == -1 && strstr(e.msg, "cell e"), "cell mismatch: '%s'", e.msg);
  nb_orders_free(&bad[1]);
  row(&bad[1], "n2", "a b c");
  EXPECT(ai4_ensemble_ranks(bad, NULL, 2, &out, &e) == -1 && strstr(e.msg, "notebook n1"), "notebook mismatch: '%s'", e.msg);
  double wneg[] = {1, -1};
  EXPECT(ai4_ensemble_ranks(s, wneg, 2, &out, &e) == -1 && strstr(e.msg, "weight 2"), "negative weight");
  nb_orders_free(&bad[0]), nb_orders_free(&bad[1]);
  /* weights fitted against true orders (with a row the submissions lack): submission 2 is right
   * on n1 (4 cells) and wrong on n2, submission 1 the other way round: 2 wins */
  nb_orders truth = {0};
  row(&truth, "n0", "q r");
  row(&truth, "n2", "x y");
  row(&truth, "n1", "d c b a");
  double w[2], tau = -2;
  EXPECT(ai4_ensemble_fit(s, 2, &truth, 4, w, &tau, &e) == 0, "%s", e.msg);
  /* 0.25/0.75 already orders both notebooks as submission 2 does: of equal taus, the larger
   * share of submission 1 is kept */
  EXPECT(w[0] == 0.25 && w[1] == 0.75, "fitted weights %.2f %.2f", w[0], w[1]);
  /* pooled pairs: n1 6 concordant, n2 1 discordant -> (6 - 1) / 7 */
  EXPECT_NEAR(tau, 5.0 / 7.0, 1e-9);
  nb_orders_free(&truth);
  row(&truth, "n2", "x y");
  EXPECT(ai4_ensemble_fit(s, 2, &truth, 4, w, &tau, &e) == -1 && strstr(e.msg, "n1"), "missing truth: '%s'", e.msg);
  nb_orders_free(&truth);
  nb_orders_free(&s[0]), nb_orders_free(&s[1]);
}

/* The first and last uses of the markdown's terms: ncos (lcos) keeps the part of the cosine from
 * terms the code cell is the first (last) to use, unmet the share of the markdown's shared weight
 * not used before the slot, spent the share not used from the slot on. */
static void test_first_uses(void) {
  nb_dataset ds = {0};
  ds.n = 1;
  ds.nbs = calloc(1, sizeof *ds.nbs);
  const char *code[] = {"df = load(path)", "df.plot()\nmodel = Ridge()", "model.fit(X)"};
  const char *md[] = {"Fit the model on df", "unrelated words only"};
  make_nb(&ds.nbs[0], "nb", code, 3, md, 2, NULL);
  ai4_tfidf tf;
  ai4_tfidf_fit(&tf, &ds, NULL, 1, 1);
  ai4_nb_sim s;
  ai4_nb_sim_compute(&s, &tf, &ds.nbs[0]);
  /* df is first used by code 0, model by code 1, fit by code 2; df last by code 1, the others by
   * code 2 */
  EXPECT(s.ncos[0] == s.cos[0] && s.ncos[0] > 0, "code 0 uses df first: %g of %g", s.ncos[0], s.cos[0]);
  for (int c = 1; c < 3; c++)
    EXPECT(s.ncos[c] > 0 && s.ncos[c] < s.cos[c] - 1e-6f, "code %d: a part of the cosine, %g of %g",
           c, s.ncos[c], s.cos[c]);
  ai4_terms q = {0};
  ai4_tokenize(md[0], (int32_t)strlen(md[0]), 1, &q);
  ai4_svec v;
  ai4_tfidf_vector(&tf, &q, &v);
  double w[3] = {0, 0, 0}; /* the markdown's weights of df, model, fit */
  const char *names[3] = {"df", "model", "fit"};
  for (int k = 0; k < 3; k++) {
    ai4_terms t = {0};
    ai4_tokenize(names[k], (int32_t)strlen(names[k]), 1, &t);
    for (int32_t i = 0; i < v.n; i++)
      if (v.h[i] == t.h[0]) w[k] = v.w[i];
    ai4_terms_free(&t);
    EXPECT(w[k] > 0, "the markdown's weight of %s", names[k]);
  }
  double all = w[0] + w[1] + w[2];
  EXPECT_NEAR(s.unmet[0], 1.0, 1e-6);
  EXPECT_NEAR(s.unmet[1], (w[1] + w[2]) / all, 1e-6);
  EXPECT_NEAR(s.unmet[2], w[2] / all, 1e-6);
  EXPECT_NEAR(s.unmet[3], 0.0, 1e-9);
  EXPECT(s.lcos[0] == 0.0f && s.lcos[2] == s.cos[2], "last uses: %g, %g of %g", s.lcos[0], s.lcos[2],
         s.cos[2]);
  EXPECT(s.lcos[1] > 0 && s.lcos[1] < s.cos[1] - 1e-6f, "code 1 uses df last: %g of %g", s.lcos[1],
         s.cos[1]);
  EXPECT(s.spent[0] == 0.0f && s.spent[1] == 0.0f, "nothing spent before code 1: %g", s.spent[1]);
  EXPECT_NEAR(s.spent[2], w[0] / all, 1e-6);
  EXPECT_NEAR(s.spent[3], 1.0, 1e-6);
  for (int c = 0; c < 4; c++)
    EXPECT(s.unmet[4 + c] == 0.0f && s.spent[4 + c] == 0.0f, "no shared terms: 0 at %d", c);
  for (int c = 0; c < 3; c++)
    EXPECT(s.ncos[3 + c] == 0.0f && s.lcos[3 + c] == 0.0f, "no shared terms: 0 at %d", c);
  ai4_svec_free(&v);
  ai4_terms_free(&q);
  ai4_nb_sim_free(&s);
  ai4_tfidf_free(&tf);
  nb_dataset_free(&ds);
}

int main(void) {
  test_decoding();
  test_tokenize();
  test_tfidf_and_baselines();
  test_first_uses();
  test_ensemble();
  return test_summary();
}
