/* The frozen route (rk_frozen) on a tiny BERT made here: the MLPs' gradient against central
 * differences, the pooled cell vectors of the batched inference pass against each cell's own full
 * forward, and the cache: reused where the texts are the same, written and read back bit for bit,
 * refused when it comes from other settings. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ordo/files.h"
#include "ordo/ranker.h"
#include "ordo/rng.h"

static const char *k_texts[] = {
    "import numpy as np", "# Load the data", "df = read_table('x.csv')", "Plot the totals by month",
    "df.plot()", "## Results", "print(df.describe())", "We keep the rows with values",
    "df = df[df.v > 0]", "import numpy as np", /* a text seen twice: one cache row */
};
enum { NTEXTS = sizeof k_texts / sizeof *k_texts };

/* Three notebooks from the texts, code cells first (the dataset's layout), in a known order. */
static void make_dataset(nb_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  ds->n = 3;
  ds->nbs = calloc(3, sizeof *ds->nbs);
  ds->has_orders = 1;
  int k = 0;
  for (int i = 0; i < 3; i++) {
    nb_notebook *nb = &ds->nbs[i];
    snprintf(nb->id, sizeof nb->id, "nb%d", i);
    nb->n_code = 2 + i % 2, nb->n_md = 1 + (i > 0);
    nb->n_cells = nb->n_code + nb->n_md;
    nb->cells = calloc((size_t)nb->n_cells, sizeof *nb->cells);
    nb->order = malloc((size_t)nb->n_cells * sizeof *nb->order);
    for (int c = 0; c < nb->n_cells; c++, k++) {
      const char *t = k_texts[k % NTEXTS];
      nb->cells[c].type = c < nb->n_code ? NB_CELL_CODE : NB_CELL_MARKDOWN;
      nb->cells[c].source = strdup(t);
      nb->cells[c].len = (int32_t)strlen(t);
    }
    /* markdown m just before code m (n_md <= n_code) */
    int o = 0;
    for (int c = 0; c < nb->n_code; c++) {
      if (c < nb->n_md) nb->order[o++] = nb->n_code + c;
      nb->order[o++] = c;
    }
  }
}

static void free_dataset(nb_dataset *ds) {
  for (int i = 0; i < ds->n; i++) {
    for (int c = 0; c < ds->nbs[i].n_cells; c++) free(ds->nbs[i].cells[c].source);
    free(ds->nbs[i].cells), free(ds->nbs[i].order);
  }
  free(ds->nbs);
}

/* d loss / d every MLP weight against central differences of the summed loss (float32 forward:
 * steps of 1e-3 leave about 1e-3 of relative error, so 2e-2 of the largest gradient is the
 * bound; a wrong term is off by its own size). */
static void test_head_gradient(const nb_dataset *ds) {
  rk_frozen f;
  memset(&f, 0, sizeof f);
  rk_frozen_head_alloc(&f, 6, 5, 3);
  rk_frozen_init_head(&f, 7);
  const nb_notebook *nb = &ds->nbs[2];
  ordo_rng r;
  rng_init(&r, 3);
  float *x = malloc((size_t)nb->n_cells * 6 * sizeof *x);
  for (int k = 0; k < nb->n_cells * 6; k++) x[k] = rng_normal(&r);
  int32_t truth[8];
  rk_true_slots(nb, truth);
  params_zero_grad(&f.params);
  rk_frozen_head_loss(&f, nb, x, truth, 1.0f);
  double worst = 0, gmax = 0;
  for (size_t k = 0; k < f.params.total; k++) {
    float keep = f.params.data[k];
    f.params.data[k] = keep + 1e-3f;
    double lp = rk_frozen_head_loss(&f, nb, x, truth, 0.0f);
    f.params.data[k] = keep - 1e-3f;
    double lm = rk_frozen_head_loss(&f, nb, x, truth, 0.0f);
    f.params.data[k] = keep;
    double fd = (lp - lm) / 2e-3, d = fabs(fd - f.params.grad[k]);
    worst = d > worst ? d : worst;
    gmax = fabs(fd) > gmax ? fabs(fd) : gmax;
  }
  EXPECT(gmax > 1e-3 && worst < 2e-2 * gmax, "MLP gradient vs differences: worst %.3g of %.3g",
         worst, gmax);
  params_free(&f.params);
  free(x);
}

/* A tiny BERT without heads and a WordPiece tokenizer of the texts, saved to dir as a checkpoint. */
static void make_checkpoint(const char *dir) {
  size_t lens[NTEXTS];
  for (int k = 0; k < NTEXTS; k++) lens[k] = strlen(k_texts[k]);
  tok_train_opts to = {.vocab_size = 200, .min_frequency = 1, .lowercase = 1};
  char *json = NULL;
  ordo_err e = {{0}};
  ORDO_CHECKF(tok_train_wordpiece_texts(k_texts, lens, NTEXTS, &to, &json, &e) == 0, "%s", e.msg);
  char path[700];
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  ORDO_CHECK(ordo_dir_ensure(dir, &e) == 0 && ordo_write_file_atomic(path, json, strlen(json), &e) == 0);
  tok *tk;
  ORDO_CHECK(tok_load_json(&tk, json, strlen(json), "test", &e) == 0);
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_BERT);
  cfg.num_hidden_layers = 2, cfg.hidden_size = cfg.embedding_size = 16;
  cfg.num_attention_heads = 2, cfg.intermediate_size = 32, cfg.vocab_size = tok_vocab_size(tk);
  cfg.max_position_embeddings = 40;
  enc_model m;
  ORDO_CHECKF(enc_init(&m, &cfg, 0, NULL, &e) == 0, "%s", e.msg);
  enc_init_weights(&m, 5);
  ORDO_CHECKF(enc_save(&m, dir, &e) == 0, "%s", e.msg);
  enc_free(&m);
  tok_free(tk);
  free(json);
}

/* Each cell alone through the full forward (no first-position shortcut): the mean of its states
 * over its tokens and its first state, against rk_frozen_vectors' batched pass (float32
 * reassociation: 1e-5 norm-wise). */
static void test_pooling(const nb_dataset *ds, const char *ckpt, rk_pool pool) {
  rk_dual_config dc = {.md_tokens = 8, .code_tokens = 8, .dim = 4};
  char tokp[700];
  snprintf(tokp, sizeof tokp, "%s/tokenizer.json", ckpt);
  rk_frozen f;
  ordo_err e = {{0}};
  ORDO_CHECKF(rk_frozen_open(&f, ckpt, tokp, pool, &dc, 8, NULL, &e) == 0, "%s", e.msg);
  tok *tk;
  ORDO_CHECK(tok_load(&tk, tokp, &e) == 0);
  float **x = calloc((size_t)ds->n, sizeof *x);
  rk_frozen_vectors(&f, tk, &dc, ds, NULL, 1, x);
  rk_cell_tokens ct;
  rk_cell_tokens_build(&ct, tk, ds, NULL, 8, 1);
  const int T = 10, C = f.in;
  int32_t ids[10], msk[10], tt[10];
  float *h = malloc((size_t)T * C * sizeof *h), *ref = malloc((size_t)C * sizeof *ref);
  double worst = 0;
  for (int32_t i = 0; i < ds->n; i++)
    for (int32_t c = 0; c < ds->nbs[i].n_cells; c++) {
      int n = rk_dual_encode_cell(&dc, tk, &ct, i, &ds->nbs[i], c, T, ids, msk, tt);
      enc_batch b = {.B = 1, .T = n, .ids = ids, .mask = msk};
      enc_forward(&f.enc, &b, 0);
      enc_read(&f.enc, h, enc_hidden(&f.enc), (size_t)n * C * sizeof *h);
      for (int j = 0; j < C; j++) {
        double s = 0;
        for (int t = 0; t < n; t++) s += h[(size_t)t * C + j];
        ref[j] = pool == RK_POOL_MEAN ? (float)(s / n) : h[j];
      }
      double err = rel_err_f32(x[i] + (size_t)c * C, ref, C);
      worst = err > worst ? err : worst;
    }
  EXPECT(worst < 1e-5, "%s pooling: batched pass vs each cell's forward, worst rel %.3g",
         rk_pool_name(pool), worst);
  for (int32_t i = 0; i < ds->n; i++) free(x[i]);
  free(x), free(h), free(ref);
  rk_cell_tokens_free(&ct);
  tok_free(tk);
  rk_frozen_free(&f);
}

/* The cache: a second pass computes nothing and gives the same bits; saved and loaded into a
 * fresh route of the same settings, the same; one of another pooling refuses the file. */
static void test_cache(const nb_dataset *ds, const char *ckpt, const char *dir) {
  rk_dual_config dc = {.md_tokens = 8, .code_tokens = 8, .dim = 4};
  char tokp[700], cache[700];
  snprintf(tokp, sizeof tokp, "%s/tokenizer.json", ckpt);
  snprintf(cache, sizeof cache, "%s/cell_vectors.safetensors", dir);
  rk_frozen f, g;
  ordo_err e = {{0}};
  tok *tk;
  ORDO_CHECK(tok_load(&tk, tokp, &e) == 0);
  ORDO_CHECKF(rk_frozen_open(&f, ckpt, tokp, RK_POOL_MEAN, &dc, 8, NULL, &e) == 0, "%s", e.msg);
  float **x = calloc((size_t)ds->n, sizeof *x), **y = calloc((size_t)ds->n, sizeof *y);
  /* without grow (prediction) nothing is kept; the same vectors */
  rk_frozen_vectors(&f, tk, &dc, ds, NULL, 1, y);
  EXPECT(f.cache.n == 0 && f.computed == NTEXTS - 1, "without grow: %lld rows kept, %lld computed",
         (long long)f.cache.n, (long long)f.computed);
  f.grow = 1;
  int64_t cells = 0;
  for (int32_t i = 0; i < ds->n; i++) cells += ds->nbs[i].n_cells;
  rk_frozen_vectors(&f, tk, &dc, ds, NULL, 1, x);
  EXPECT(f.computed == NTEXTS - 1 && f.reused == cells - f.computed,
         "first pass: %lld computed (one per distinct text: %d), %lld reused",
         (long long)f.computed, NTEXTS - 1, (long long)f.reused);
  int same = 1;
  for (int32_t i = 0; i < ds->n; i++) {
    same &= memcmp(x[i], y[i], (size_t)ds->nbs[i].n_cells * f.in * sizeof **x) == 0;
    free(y[i]);
  }
  EXPECT(same, "vectors without grow differ");
  rk_frozen_vectors(&f, tk, &dc, ds, NULL, 1, y);
  EXPECT(f.computed == 0, "second pass computed %lld", (long long)f.computed);
  same = 1;
  for (int32_t i = 0; i < ds->n; i++)
    same &= memcmp(x[i], y[i], (size_t)ds->nbs[i].n_cells * f.in * sizeof **x) == 0;
  EXPECT(same, "cached vectors differ from the computed ones");
  EXPECT(rk_frozen_cache_save(&f, cache, &e) == 0, "%s", e.msg);

  ORDO_CHECKF(rk_frozen_open(&g, ckpt, tokp, RK_POOL_MEAN, &dc, 8, NULL, &e) == 0, "%s", e.msg);
  EXPECT(rk_frozen_cache_load(&g, cache, &e) == 0 && g.cache.n == NTEXTS - 1, "load: %s (%lld rows)",
         e.msg, (long long)g.cache.n);
  for (int32_t i = 0; i < ds->n; i++) free(y[i]), y[i] = NULL;
  rk_frozen_vectors(&g, tk, &dc, ds, NULL, 1, y);
  same = g.computed == 0;
  for (int32_t i = 0; i < ds->n; i++)
    same &= memcmp(x[i], y[i], (size_t)ds->nbs[i].n_cells * f.in * sizeof **x) == 0;
  EXPECT(same, "vectors from the cache file: %lld computed, or other bits", (long long)g.computed);
  rk_frozen_free(&g);

  ORDO_CHECKF(rk_frozen_open(&g, ckpt, tokp, RK_POOL_FIRST, &dc, 8, NULL, &e) == 0, "%s", e.msg);
  EXPECT(rk_frozen_cache_load(&g, cache, &e) != 0 && strstr(e.msg, "cell_vectors.safetensors") &&
             strstr(e.msg, "pooling mean") && strstr(e.msg, "pooling first"),
         "a cache of other settings: %s", e.msg);
  rk_frozen_free(&g);
  for (int32_t i = 0; i < ds->n; i++) free(x[i]), free(y[i]);
  free(x), free(y);
  tok_free(tk);
  rk_frozen_free(&f);
}

/* Cross-fitted heads: head k reads fold k's weights (not the MLPs being trained), and a model
 * whose predictions take the mean over the folds gives each markdown the median of the mean of
 * the folds' slot distributions, computed here from each head alone. */
static void test_fold_heads(const nb_dataset *ds, const char *ckpt) {
  rk_dual_config dc = {.md_tokens = 8, .code_tokens = 8, .dim = 4};
  char tokp[700];
  snprintf(tokp, sizeof tokp, "%s/tokenizer.json", ckpt);
  rk_model m;
  memset(&m, 0, sizeof m);
  ordo_err e = {{0}};
  ORDO_CHECKF(rk_frozen_open(&m.fz, ckpt, tokp, RK_POOL_MEAN, &dc, 8, NULL, &e) == 0, "%s", e.msg);
  ORDO_CHECK(tok_load(&m.tk, tokp, &e) == 0);
  m.dc = dc, m.has_dual = m.dual_frozen = 1, m.dual_only = 1;
  rk_frozen *f = &m.fz;
  rk_frozen_set_folds(f, 2);
  for (int k = 0; k < 2; k++) {
    rk_frozen_init_head(f, 11 + (uint64_t)k);
    rk_frozen_keep_fold(f, k);
  }
  rk_frozen_init_head(f, 13); /* the MLPs trained on all */
  float **x = calloc((size_t)ds->n, sizeof *x);
  rk_frozen_vectors(f, m.tk, &dc, ds, NULL, 1, x);
  float **pos = calloc((size_t)ds->n, sizeof *pos);
  m.fold_mean = 1;
  rk_predict_positions(&m, ds, NULL, 1, pos);
  int same = 1, differs = 0, own = 1;
  for (int32_t i = 0; i < ds->n; i++) {
    const nb_notebook *nb = &ds->nbs[i];
    size_t R = (size_t)nb->n_md * (nb->n_code + 1);
    float *z = malloc((size_t)nb->n_cells * 2 * dc.dim * sizeof *z), *zk = malloc((size_t)nb->n_cells * 2 * dc.dim * sizeof *zk);
    float *p[2], *mean = malloc(R * sizeof *mean), ref[8];
    for (int k = 0; k < 2; k++) {
      p[k] = malloc(R * sizeof **p);
      rk_frozen_head(f, k, nb, x[i], zk);
      rk_dual_logprobs(nb, zk, dc.dim, p[k]);
      for (size_t r = 0; r < R; r++) p[k][r] = expf(p[k][r]);
    }
    /* fold 0's head is its kept weights, not the ones in f->params */
    rk_frozen_head(f, RK_HEAD_ALL, nb, x[i], z);
    rk_frozen_head(f, 0, nb, x[i], zk);
    own &= memcmp(z, zk, (size_t)nb->n_cells * 2 * dc.dim * sizeof *z) != 0;
    for (size_t r = 0; r < R; r++) mean[r] = (p[0][r] + p[1][r]) / 2.0f;
    rk_slot_decode(nb, mean, ref);
    for (int32_t md = 0; md < nb->n_md; md++) {
      same &= pos[i][md] == ref[md];
      differs |= fabsf(mean[md] - p[0][md]) > 1e-4f;
    }
    free(z), free(zk), free(p[0]), free(p[1]), free(mean), free(pos[i]), free(x[i]);
  }
  EXPECT(own, "fold 0's head gives the vectors of the MLPs being trained");
  EXPECT(differs, "the folds' distributions are alike: the test would not see a wrong mean");
  EXPECT(same, "predictions over the folds' mean differ from the median of the mean distribution");
  free(pos), free(x);
  tok_free(m.tk);
  rk_frozen_free(&m.fz);
}

int main(void) {
  omp_set_num_threads(1);
  char tmp[] = "/tmp/ordo-test-frozen-XXXXXX";
  ORDO_CHECK(mkdtemp(tmp));
  char ckpt[600];
  snprintf(ckpt, sizeof ckpt, "%s/bert", tmp);
  nb_dataset ds;
  make_dataset(&ds);
  make_checkpoint(ckpt);
  test_head_gradient(&ds);
  test_pooling(&ds, ckpt, RK_POOL_MEAN);
  test_pooling(&ds, ckpt, RK_POOL_FIRST);
  test_cache(&ds, ckpt, tmp);
  test_fold_heads(&ds, ckpt);
  free_dataset(&ds);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return test_summary();
}
