/* Notebook reading: Kaggle json (key order), nbformat 4/3 .ipynb and .ipynb.gz, the Kaggle
 * layout rearrangement, orders csv, dataset loading with malformed files, group splits and
 * `nb build`. Files are written to a fresh temp folder. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "ordo/notebook.h"

static char g_tmp[256];

static void put(const char *rel, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_tmp, rel);
  /* create parent folders */
  for (char *s = p + strlen(g_tmp) + 1; (s = strchr(s, '/')); s++) {
    *s = 0;
    mkdir(p, 0755);
    *s = '/';
  }
  size_t l = strlen(p);
  if (l > 3 && strcmp(p + l - 3, ".gz") == 0) {
    gzFile g = gzopen(p, "wb");
    gzwrite(g, text, (unsigned)strlen(text));
    gzclose(g);
  } else {
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
  }
}

static const char *path(const char *rel) {
  static char p[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", g_tmp, rel);
  return p[k];
}

static void test_kaggle_json(void) {
  /* markdown listed before a code cell on purpose: cells still come out code first */
  const char *js = "{\"cell_type\": {\"c2\": \"code\", \"m1\": \"markdown\", \"c1\": \"code\", \"m0\": \"markdown\"},"
                   " \"source\": {\"c2\": \"import os\", \"c1\": \"x = 1\", \"m1\": \"# Title\", \"m0\": \"text\"}}";
  nb_notebook nb;
  ordo_err e = {{0}};
  EXPECT(nb_parse_kaggle_json(&nb, js, strlen(js), "t.json", "abc", &e) == 0, "%s", e.msg);
  EXPECT(nb.n_cells == 4 && nb.n_code == 2 && nb.n_md == 2, "counts %d %d %d", nb.n_cells, nb.n_code, nb.n_md);
  EXPECT(strcmp(nb.cells[0].id, "c2") == 0 && strcmp(nb.cells[1].id, "c1") == 0, "code key order kept");
  EXPECT(strcmp(nb.cells[2].id, "m1") == 0 && strcmp(nb.cells[3].id, "m0") == 0, "markdown key order kept");
  EXPECT(strcmp(nb.cells[1].source, "x = 1") == 0 && nb.cells[1].len == 5, "source by id");
  EXPECT(strcmp(nb.id, "abc") == 0 && nb.order == NULL, "id, no order");
  nb_notebook_free(&nb);
  /* no cells at all (a fuzz finding: the code-first partition copied from NULL) */
  const char *empty = "{\"cell_type\":{},\"source\":{}}";
  EXPECT(nb_parse_kaggle_json(&nb, empty, strlen(empty), "e.json", "e", &e) == 0 && nb.n_cells == 0,
         "no cells: %s", e.msg);
  nb_notebook_free(&nb);

  struct {
    const char *js, *expect;
  } bad[] = {
      {"{\"cell_type\": {\"a\": \"code\"}, \"source\": {\"a\": \"x\",}}", "t.json:1:"},
      {"{\"cell_type\": {\"a\": \"raw\"}, \"source\": {\"a\": \"x\"}}", "expected cell_type"},
      {"{\"cell_type\": {\"a\": \"code\"}, \"source\": {\"b\": \"x\"}}", "no source"},
      {"{\"cell_type\": {\"a\": \"code\"}, \"source\": {\"a\": 3}}", "string"},
      {"{\"cell_type\": {\"a\": \"code\", \"a\": \"code\"}, \"source\": {\"a\": \"x\", \"a\": \"y\"}}", "twice"},
      {"[1, 2]", "expected an object"},
      {"{\"cell_type\": {\"a\": \"code\"},\n \"source\": {\"a\": \"x\"", "t.json:2:"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    e.msg[0] = 0;
    EXPECT(nb_parse_kaggle_json(&nb, bad[k].js, strlen(bad[k].js), "t.json", "abc", &e) == -1, "bad %zu accepted", k);
    EXPECT(strstr(e.msg, bad[k].expect) && strstr(e.msg, "t.json"), "bad %zu: '%s'", k, e.msg);
  }
}

static const char *k_nb4 =
    "{\"nbformat\": 4, \"nbformat_minor\": 2, \"metadata\": {\"kernelspec\": {\"language\": \"python\"}},\n"
    " \"cells\": [\n"
    "  {\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": [\"# Load\\n\", \"the data\"]},\n"
    "  {\"cell_type\": \"code\", \"metadata\": {}, \"source\": \"import pandas as pd\", \"outputs\": []},\n"
    "  {\"cell_type\": \"raw\", \"metadata\": {}, \"source\": \"raw text\"},\n"
    "  {\"cell_type\": \"code\", \"metadata\": {}, \"source\": [\"  \\n\", \"\\t\"]},\n"
    "  {\"cell_type\": \"markdown\", \"metadata\": {}, \"source\": \"Plot it\"},\n"
    "  {\"cell_type\": \"code\", \"metadata\": {}, \"source\": [\"df.plot()\"]}\n"
    " ]}\n";

static const char *k_nb3 =
    "{\"nbformat\": 3, \"metadata\": {}, \"worksheets\": [{\"cells\": [\n"
    "  {\"cell_type\": \"heading\", \"level\": 2, \"source\": [\"Intro\"]},\n"
    "  {\"cell_type\": \"code\", \"input\": [\"a = 1\\n\", \"b = 2\"], \"language\": \"python\"},\n"
    "  {\"cell_type\": \"code\", \"input\": \"print(a)\", \"language\": \"python\"}\n"
    "]}]}\n";

static void test_ipynb(void) {
  nb_notebook nb;
  ordo_err e = {{0}};
  EXPECT(nb_parse_ipynb(&nb, k_nb4, strlen(k_nb4), "a.ipynb", NULL, &e) == 0, "%s", e.msg);
  EXPECT(nb.n_cells == 4 && nb.n_code == 2 && nb.n_md == 2, "raw and blank dropped: %d cells", nb.n_cells);
  EXPECT(strcmp(nb.cells[0].source, "# Load\nthe data") == 0, "source list joined: '%s'", nb.cells[0].source);
  EXPECT(nb.cells[1].type == NB_CELL_CODE && nb.cells[3].type == NB_CELL_CODE, "true order kept");
  for (int i = 0; i < nb.n_cells; i++) EXPECT(nb.order[i] == i, "identity order");
  /* Kaggle layout: code first, markdown shuffled, order still gives the true sequence */
  const char *seq[4];
  for (int i = 0; i < 4; i++) seq[i] = nb.cells[i].source;
  nb_to_kaggle_layout(&nb, 5);
  EXPECT(nb.cells[0].type == NB_CELL_CODE && nb.cells[1].type == NB_CELL_CODE &&
             nb.cells[2].type == NB_CELL_MARKDOWN && nb.cells[3].type == NB_CELL_MARKDOWN, "code first");
  for (int i = 0; i < 4; i++) EXPECT(nb.cells[nb.order[i]].source == seq[i], "order maps back at %d", i);
  nb_notebook_free(&nb);

  EXPECT(nb_parse_ipynb(&nb, k_nb3, strlen(k_nb3), "b.ipynb", NULL, &e) == 0, "%s", e.msg);
  EXPECT(nb.n_cells == 3 && nb.n_md == 1, "nbformat 3: %d cells", nb.n_cells);
  EXPECT(nb.n_cells == 3 && strcmp(nb.cells[0].source, "## Intro") == 0, "heading -> '%s'", nb.n_cells ? nb.cells[0].source : "");
  EXPECT(nb.n_cells == 3 && strcmp(nb.cells[1].source, "a = 1\nb = 2") == 0, "code input joined");
  nb_notebook_free(&nb);

  /* a UTF-8 byte order mark is allowed */
  const char *bom = "\xEF\xBB\xBF{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"code\", \"source\": \"x\"}]}";
  EXPECT(nb_parse_ipynb(&nb, bom, strlen(bom), "bom.ipynb", NULL, &e) == 0 && nb.n_cells == 1, "BOM: %s", e.msg);
  nb_notebook_free(&nb);
  const char *r = "{\"nbformat\": 4, \"metadata\": {\"kernelspec\": {\"language\": \"R\"}}, \"cells\": []}";
  EXPECT(nb_parse_ipynb(&nb, r, strlen(r), "r.ipynb", NULL, &e) == 1, "non-Python flagged");
  nb_notebook_free(&nb);
  const char *v2 = "{\"nbformat\": 2, \"cells\": []}";
  EXPECT(nb_parse_ipynb(&nb, v2, strlen(v2), "old.ipynb", NULL, &e) == -1 && strstr(e.msg, "old.ipynb"),
         "nbformat 2 refused: '%s'", e.msg);
  const char *badsrc = "{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"code\", \"source\": [1]}]}";
  EXPECT(nb_parse_ipynb(&nb, badsrc, strlen(badsrc), "s.ipynb", NULL, &e) == -1 && strstr(e.msg, "cell 0"),
         "bad source: '%s'", e.msg);
  /* the cut keeps whole UTF-8 sequences */
  const char *u = "{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"markdown\", \"source\": \"ab\xc3\xa9\xc3\xa9\"}]}";
  nb_ipynb_opts po = {.max_cell_chars = 3};
  EXPECT(nb_parse_ipynb(&nb, u, strlen(u), "u.ipynb", &po, &e) == 0 && nb.n_cells == 1 && nb.cells[0].len == 2,
         "utf-8 cut");
  nb_notebook_free(&nb);

  /* gzip round trip */
  put("gz/x.ipynb.gz", k_nb4);
  size_t len = 0;
  char *t = nb_read_maybe_gz(path("gz/x.ipynb.gz"), &len, &e);
  EXPECT(t && len == strlen(k_nb4) && memcmp(t, k_nb4, len) == 0, "gunzip");
  free(t);
  put("gz/broken.ipynb.gz", "");
  FILE *f = fopen(path("gz/broken.ipynb.gz"), "wb");
  fwrite("\x1f\x8b\x08\x00garbage", 1, 11, f);
  fclose(f);
  t = nb_read_maybe_gz(path("gz/broken.ipynb.gz"), &len, &e);
  EXPECT(!t && strstr(e.msg, "broken.ipynb.gz"), "corrupt gzip: '%s'", e.msg);
  free(t);
}

static void test_orders_csv(void) {
  put("o/ok.csv", "id,cell_order\r\nn1,a b c\r\n\"n2\",\"x  y\"\r\n");
  nb_orders o;
  ordo_err e = {{0}};
  EXPECT(nb_orders_read(&o, path("o/ok.csv"), &e) == 0, "%s", e.msg);
  EXPECT(o.n == 2 && o.count[0] == 3 && o.count[1] == 2 && strcmp(o.cells[1][1], "y") == 0, "rows");
  EXPECT(nb_orders_write(&o, path("o/out.csv"), &e) == 0, "%s", e.msg);
  nb_orders_free(&o);
  size_t len;
  char *t = ordo_read_file(path("o/out.csv"), &len, &e);
  EXPECT(t && strcmp(t, "id,cell_order\nn1,a b c\nn2,x y\n") == 0, "written: '%s'", t ? t : "");
  free(t);
  struct {
    const char *text, *expect;
  } bad[] = {
      {"id,order\nn1,a\n", ":1: expected the header"},
      {"id,cell_order\nn1,a\nn1,b\n", ":3: notebook n1 appears twice"},
      {"id,cell_order\nn1,a,b\n", ":2: expected 2 fields"},
      {"id,cell_order\nn1,\"a b\n", ":2: unterminated"},
      {"id,cell_order\nn1,a b$ c\n", ":2: notebook n1: expected a cell id"},
      {"", "empty file"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    put("o/bad.csv", bad[k].text);
    e.msg[0] = 0;
    EXPECT(nb_orders_read(&o, path("o/bad.csv"), &e) == -1, "bad csv %zu accepted", k);
    EXPECT(strstr(e.msg, bad[k].expect) && strstr(e.msg, "bad.csv"), "bad csv %zu: '%s'", k, e.msg);
  }
}

static void test_dataset_load(void) {
  put("ds/train/aaa.json", "{\"cell_type\": {\"c0\": \"code\", \"c1\": \"code\", \"m0\": \"markdown\"},"
                           " \"source\": {\"c0\": \"a\", \"c1\": \"b\", \"m0\": \"m\"}}");
  put("ds/train/bbb.json", "{\"cell_type\": {\"d0\": \"code\", \"n0\": \"markdown\", \"n1\": \"markdown\"},"
                           " \"source\": {\"d0\": \"a\", \"n0\": \"m\", \"n1\": \"k\"}}");
  put("ds/train/ccc.json", "{\"cell_type\": {\"e0\": \"code\"}, \"source\": {\"e0\": ");
  put("ds/train/ddd.json", "{\"cell_type\": {\"f0\": \"code\", \"f1\": \"code\"}, \"source\": {\"f0\": \"x\", \"f1\": \"y\"}}");
  put("ds/train_orders.csv", "id,cell_order\naaa,c0 m0 c1\nbbb,n1 d0 n0\nccc,e0\nddd,f1 f0\n");
  put("ds/train_ancestors.csv", "id,ancestor_id,parent_id\naaa,g1,\nbbb,g1,\nddd,g2,\n");
  nb_dataset ds;
  ordo_err e = {{0}};
  EXPECT(nb_dataset_load(&ds, path("ds"), 2, 1, &e) == 0, "%s", e.msg);
  /* ccc is invalid JSON; ddd lists its code cells against the file's code order */
  EXPECT(ds.n == 2 && ds.n_skipped == 2, "n %d skipped %d", ds.n, ds.n_skipped);
  EXPECT(ds.has_orders && ds.n_groups == 1, "orders %d groups %d", ds.has_orders, ds.n_groups);
  if (ds.n == 2) {
    EXPECT(strcmp(ds.nbs[0].id, "aaa") == 0 && nb_dataset_find(&ds, "bbb") == 1 && nb_dataset_find(&ds, "zzz") == -1, "find");
    const nb_notebook *b = &ds.nbs[1];
    EXPECT(strcmp(b->cells[b->order[0]].id, "n1") == 0 && strcmp(b->cells[b->order[1]].id, "d0") == 0, "order attached");
    EXPECT(ds.nbs[0].group == ds.nbs[1].group, "same ancestor, same group");
  }
  EXPECT(ds.n_repos == 0, "no sources.csv, no repositories");
  nb_dataset_free(&ds);
  /* sources.csv names repositories (columns found by name; a row without one is unknown);
   * one without a repo column (as `ordo nb build` writes) gives none */
  put("ds/sources.csv", "id,repo,path\nbbb,org/b,x.ipynb\naaa,,y.ipynb\n");
  EXPECT(nb_dataset_load(&ds, path("ds"), 2, 1, &e) == 0, "%s", e.msg);
  EXPECT(ds.n == 2 && ds.n_repos == 1 && ds.nbs[0].repo == -1 && ds.nbs[1].repo == 0 &&
             strcmp(ds.repos[0], "org/b") == 0, "repositories read: %d", ds.n_repos);
  nb_dataset_free(&ds);
  put("ds/sources.csv", "id,path\naaa,y.ipynb\n");
  EXPECT(nb_dataset_load(&ds, path("ds"), 2, 1, &e) == 0 && ds.n_repos == 0, "no repo column: %s", e.msg);
  nb_dataset_free(&ds);
  remove(path("ds/sources.csv"));
  /* the train folder alone: no orders, each notebook its own group */
  EXPECT(nb_dataset_load(&ds, path("ds/train"), 1, 1, &e) == 0, "%s", e.msg);
  EXPECT(ds.n == 3 && !ds.has_orders && ds.n_groups == 3, "folder of json: n %d groups %d", ds.n, ds.n_groups);
  nb_dataset_free(&ds);
  /* a tree of .ipynb files: true order known */
  put("tree/pkg1/a.ipynb", k_nb4);
  put("tree/pkg1/sub/b.ipynb.gz", k_nb3);
  put("tree/pkg2/c.ipynb", "{not json");
  EXPECT(nb_dataset_load(&ds, path("tree"), 2, 3, &e) == 0, "%s", e.msg);
  EXPECT(ds.n == 2 && ds.n_skipped == 1 && ds.has_orders && ds.n_groups == 1, "ipynb tree: n %d skipped %d groups %d",
         ds.n, ds.n_skipped, ds.n_groups);
  nb_dataset_free(&ds);
  EXPECT(nb_dataset_load(&ds, path("nothing-here"), 1, 1, &e) == -1 && strstr(e.msg, "nothing-here"), "missing folder");
  put("empty/readme.txt", "x");
  EXPECT(nb_dataset_load(&ds, path("empty"), 1, 1, &e) == -1 && strstr(e.msg, "no notebooks"), "no notebooks: '%s'", e.msg);
}

/* A synthetic dataset of n notebooks over ng groups of uneven sizes. */
static void fake_dataset(nb_dataset *ds, int n, int ng) {
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->n_groups = ng;
  ds->nbs = calloc((size_t)n, sizeof *ds->nbs);
  ds->groups = calloc((size_t)ng, sizeof *ds->groups);
  for (int g = 0; g < ng; g++) {
    ds->groups[g] = malloc(16);
    snprintf(ds->groups[g], 16, "g%03d", g);
  }
  for (int i = 0; i < n; i++) ds->nbs[i].group = (i * i + 7 * i) % ng;
}

static void test_split(void) {
  nb_dataset ds;
  fake_dataset(&ds, 2000, 37);
  uint8_t *a = malloc(2000), *b = malloc(2000), *c = malloc(2000);
  nb_split(&ds, NB_SPLIT_GROUP, 0.1, 42, a);
  nb_split(&ds, NB_SPLIT_GROUP, 0.1, 42, b);
  nb_split(&ds, NB_SPLIT_GROUP, 0.1, 43, c);
  EXPECT(memcmp(a, b, 2000) == 0, "same seed, same split");
  EXPECT(memcmp(a, c, 2000) != 0, "another seed, another split");
  int nv = 0;
  for (int i = 0; i < 2000; i++) nv += a[i];
  EXPECT(nv > 0 && nv <= 200 && nv > 100, "val size %d for a target of 200", nv);
  /* no group on both sides */
  int side[37];
  for (int g = 0; g < 37; g++) side[g] = -1;
  int straddle = 0;
  for (int i = 0; i < 2000; i++) {
    int g = ds.nbs[i].group;
    if (side[g] >= 0 && side[g] != a[i]) straddle++;
    side[g] = a[i];
  }
  EXPECT(straddle == 0, "%d notebooks on the other side of their group", straddle);
  nb_split(&ds, NB_SPLIT_GROUP, 0.0, 42, a);
  nv = 0;
  for (int i = 0; i < 2000; i++) nv += a[i];
  EXPECT(nv == 0, "val-frac 0: empty validation");
  free(a), free(b), free(c);
  nb_dataset_free(&ds);
}

/* fake_dataset's 2,000 notebooks with nr repositories named org/r00, org/r01, ... (no notebook
 * assigned to one yet). */
static void fake_repo_dataset(nb_dataset *ds, int nr) {
  fake_dataset(ds, 2000, 37);
  ds->n_repos = nr;
  ds->repos = calloc((size_t)nr, sizeof *ds->repos);
  for (int r = 0; r < nr; r++) {
    ds->repos[r] = malloc(16);
    snprintf(ds->repos[r], 16, "org/r%02d", r);
  }
}

/* The repository split: whole repositories, none bigger than a ninth of the target, at least
 * eight held out; the same as the group split when no repository is known. */
static void test_split_repos(void) {
  nb_dataset ds;
  const int nr = 40;
  fake_repo_dataset(&ds, nr);
  /* repository 0 holds 600 notebooks (more than the whole target); the others from about 160
   * down to 18; every 50th notebook has no known repository */
  for (int i = 0; i < 2000; i++) {
    double u = (i - 600) / 1400.0;
    ds.nbs[i].repo = i % 50 == 0 ? -1 : i < 600 ? 0 : 1 + (int)((nr - 1) * u * u);
  }
  uint8_t *a = malloc(2000), *b = malloc(2000);
  int32_t held = nb_split(&ds, NB_SPLIT_REPO, 0.1, 42, a);
  int vr[40] = {0}, side[40], straddle = 0, nv = 0, nrepo = 0;
  for (int r = 0; r < nr; r++) side[r] = -1;
  for (int i = 0; i < 2000; i++) {
    int r = ds.nbs[i].repo;
    nv += a[i];
    if (r < 0) continue;
    if (side[r] >= 0 && side[r] != a[i]) straddle++;
    side[r] = a[i];
    vr[r] += a[i];
  }
  for (int r = 0; r < nr; r++) nrepo += vr[r] > 0;
  EXPECT(straddle == 0, "%d notebooks on the other side of their repository", straddle);
  EXPECT(side[0] == 0, "the repository bigger than the target stays in training");
  EXPECT(nv <= 200 && nv > 150, "val size %d for a target of 200", nv);
  for (int r = 0; r < nr; r++) EXPECT(vr[r] <= 200 / (NB_SPLIT_MIN_REPOS + 1), "repository %d: %d held out", r, vr[r]);
  EXPECT(nrepo >= NB_SPLIT_MIN_REPOS && held >= nrepo, "%d repositories held out (%d units)", nrepo, held);
  char *sum = nb_split_summary(&ds, NB_SPLIT_REPO, a);
  EXPECT(strstr(sum, "repositories held out: ") && strstr(sum, "org/r"), "summary '%s'", sum);
  free(sum);
  /* without repositories: exactly the group split */
  ds.n_repos = 0;
  nb_split(&ds, NB_SPLIT_REPO, 0.1, 42, a);
  nb_split(&ds, NB_SPLIT_GROUP, 0.1, 42, b);
  EXPECT(memcmp(a, b, 2000) == 0, "no repositories: the group split");
  ds.n_repos = nr;
  free(a), free(b);
  nb_dataset_free(&ds);
}

/* Cross-fitting folds: only the masked notebooks get one, a repository (or, without one, an
 * ancestor group) never straddles two folds, the folds are near even, the same seed deals them
 * alike; with fewer units than folds the count of filled folds says so. */
static void test_folds(void) {
  nb_dataset ds;
  const int nr = 40;
  fake_repo_dataset(&ds, nr);
  for (int i = 0; i < 2000; i++) ds.nbs[i].repo = i % 50 == 0 ? -1 : (i / 7) % nr;
  uint8_t *mask = malloc(2000);
  int32_t *f = malloc(2000 * sizeof *f), *g = malloc(2000 * sizeof *g);
  for (int i = 0; i < 2000; i++) mask[i] = i % 10 != 3;
  int filled = nb_folds(&ds, NB_SPLIT_REPO, mask, 5, 42, f);
  nb_folds(&ds, NB_SPLIT_REPO, mask, 5, 42, g);
  EXPECT(filled == 5 && memcmp(f, g, 2000 * sizeof *f) == 0, "5 folds filled (%d), the same twice", filled);
  int size[5] = {0}, straddle = 0, outside = 0, at_r[40], at_g[37];
  for (int r = 0; r < nr; r++) at_r[r] = -1;
  for (int k = 0; k < 37; k++) at_g[k] = -1;
  for (int i = 0; i < 2000; i++) {
    if (!mask[i]) {
      outside += f[i] != -1;
      continue;
    }
    if (f[i] < 0 || f[i] >= 5) {
      outside++;
      continue;
    }
    size[f[i]]++;
    int *at = ds.nbs[i].repo >= 0 ? &at_r[ds.nbs[i].repo] : &at_g[ds.nbs[i].group];
    if (*at >= 0 && *at != f[i]) straddle++;
    *at = f[i];
  }
  EXPECT(outside == 0, "%d notebooks outside the mask with a fold, or in the mask without", outside);
  EXPECT(straddle == 0, "%d notebooks in another fold than their repository's", straddle);
  int lo = size[0], hi = size[0];
  for (int k = 1; k < 5; k++) lo = size[k] < lo ? size[k] : lo, hi = size[k] > hi ? size[k] : hi;
  EXPECT(hi - lo <= 63, "fold sizes %d..%d (units of at most 63 notebooks)", lo, hi);
  /* three repositories only: three folds filled of five */
  for (int i = 0; i < 2000; i++) ds.nbs[i].repo = i % 3;
  EXPECT(nb_folds(&ds, NB_SPLIT_REPO, mask, 5, 42, f) == 3, "three units dealt into five folds");
  free(mask), free(f), free(g);
  nb_dataset_free(&ds);
}

static void test_build(void) {
  put("src/pkgA/one.ipynb", k_nb4);
  put("src/pkgA/deep/two.ipynb.gz", k_nb4); /* an exact duplicate of one.ipynb */
  put("src/pkgA/r.ipynb",
      "{\"nbformat\": 4, \"metadata\": {\"kernelspec\": {\"language\": \"R\"}}, \"cells\": []}");
  put("src/pkgB/three.ipynb",
      "{\"nbformat\": 4, \"metadata\": {}, \"cells\": ["
      "{\"cell_type\": \"markdown\", \"source\": \"Intro\"},"
      "{\"cell_type\": \"code\", \"source\": \"x = 1\"},"
      "{\"cell_type\": \"markdown\", \"source\": \"then\"},"
      "{\"cell_type\": \"code\", \"source\": \"y = x + 1\"},"
      "{\"cell_type\": \"markdown\", \"source\": \"end\"}]}");
  put("src/pkgB/few.ipynb", k_nb3); /* one markdown, two code: kept */
  put("src/pkgB/onecode.ipynb", "{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"code\", \"source\": \"x\"},"
                                "{\"cell_type\": \"markdown\", \"source\": \"y\"}]}");
  put("src/pkgB/bad.ipynb", "{\"nbformat\": 4, \"cells\": [");
  const char *from[] = {path("src")};
  char out1[512], out2[512], out3[512];
  snprintf(out1, sizeof out1, "%s", path("built1"));
  snprintf(out2, sizeof out2, "%s", path("built2"));
  snprintf(out3, sizeof out3, "%s", path("built3"));
  nb_build_opts o = {.from = from, .n_from = 1, .out = out1, .seed = 42, .group_depth = 1, .threads = 2};
  nb_build_stats st;
  ordo_err e = {{0}};
  EXPECT(nb_build_dataset(&o, &st, &e) == 0, "%s", e.msg);
  EXPECT(st.files == 7 && st.kept == 3 && st.duplicates == 1 && st.malformed == 1 && st.not_python == 1 &&
             st.too_few == 1 && st.groups == 2,
         "files %lld kept %lld dup %lld bad %lld notpy %lld few %lld groups %lld", (long long)st.files,
         (long long)st.kept, (long long)st.duplicates, (long long)st.malformed, (long long)st.not_python,
         (long long)st.too_few, (long long)st.groups);
  EXPECT(nb_build_dataset(&o, &st, &e) == -1 && strstr(e.msg, "already holds files"), "no silent overwrite");
  o.force = 1;
  EXPECT(nb_build_dataset(&o, &st, &e) == 0, "--force: %s", e.msg);
  o.out = out2;
  EXPECT(nb_build_dataset(&o, &st, &e) == 0, "%s", e.msg);
  o.out = out3;
  o.seed = 7;
  EXPECT(nb_build_dataset(&o, &st, &e) == 0, "%s", e.msg);
  size_t l1, l2, l3;
  char p1[600], p2[600], p3[600];
  snprintf(p1, sizeof p1, "%s/train_orders.csv", out1);
  snprintf(p2, sizeof p2, "%s/train_orders.csv", out2);
  snprintf(p3, sizeof p3, "%s/train_orders.csv", out3);
  char *t1 = ordo_read_file(p1, &l1, &e), *t2 = ordo_read_file(p2, &l2, &e), *t3 = ordo_read_file(p3, &l3, &e);
  EXPECT(t1 && t2 && l1 == l2 && memcmp(t1, t2, l1) == 0, "same seed, same ids");
  EXPECT(t1 && t3 && strcmp(t1, t3) != 0, "another seed, other ids");
  free(t1), free(t2), free(t3);
  /* the built dataset loads back with the true order of the source notebooks */
  nb_dataset ds;
  EXPECT(nb_dataset_load(&ds, out1, 1, 0, &e) == 0, "%s", e.msg);
  EXPECT(ds.n == 3 && ds.has_orders && ds.n_groups == 2 && ds.n_skipped == 0, "reload: n %d groups %d", ds.n, ds.n_groups);
  int found = 0;
  for (int i = 0; i < ds.n; i++) {
    const nb_notebook *nb = &ds.nbs[i];
    EXPECT(strlen(nb->id) == 14 && strlen(nb->cells[0].id) == 8, "id lengths");
    if (nb->n_cells == 5) {
      found = 1;
      const char *want[] = {"Intro", "x = 1", "then", "y = x + 1", "end"};
      for (int k = 0; k < 5; k++) EXPECT(strcmp(nb->cells[nb->order[k]].source, want[k]) == 0, "cell %d", k);
    }
  }
  EXPECT(found, "three.ipynb present");
  nb_dataset_free(&ds);
  o.out = out1;
  from[0] = path("no-such-folder");
  EXPECT(nb_build_dataset(&o, &st, &e) == -1 && strstr(e.msg, "no-such-folder"), "missing --from");
}

/* Every prefix of valid inputs is either parsed or refused with a message: never a crash
 * (run under the sanitizers in CI). */
static void test_truncations(void) {
  const char *kj = "{\"cell_type\": {\"c0\": \"code\", \"m0\": \"markdown\"}, \"source\": {\"c0\": \"a\\u00e9\", \"m0\": \"# t\"}}";
  const char *docs[] = {k_nb4, k_nb3, kj};
  int refused = 0, total = 0;
  for (int d = 0; d < 3; d++) {
    size_t n = strlen(docs[d]);
    for (size_t cut = 0; cut < n; cut++) {
      char *buf = malloc(cut + 1);
      memcpy(buf, docs[d], cut);
      buf[cut] = 0;
      nb_notebook nb;
      ordo_err e = {{0}};
      int r = d < 2 ? nb_parse_ipynb(&nb, buf, cut, "cut.ipynb", NULL, &e)
                    : nb_parse_kaggle_json(&nb, buf, cut, "cut.json", "x", &e);
      if (r < 0) refused += e.msg[0] != 0 && strstr(e.msg, "cut.") != NULL;
      else nb_notebook_free(&nb);
      total += r < 0;
      free(buf);
    }
  }
  EXPECT(refused == total && total > 0, "%d of %d refusals name the file", refused, total);
  /* orders csv prefixes */
  const char *csv = "id,cell_order\nn1,a b c\n\"n2\",\"x y\"\n";
  for (size_t cut = 0; cut < strlen(csv); cut++) {
    char rel[32];
    snprintf(rel, sizeof rel, "o/cut%zu.csv", cut);
    char *buf = malloc(cut + 1);
    memcpy(buf, csv, cut);
    buf[cut] = 0;
    put(rel, buf);
    free(buf);
    nb_orders o;
    ordo_err e = {{0}};
    if (nb_orders_read(&o, path(rel), &e) == 0) nb_orders_free(&o);
    else EXPECT(strstr(e.msg, "cut") != NULL, "csv cut %zu: '%s'", cut, e.msg);
  }
}

/* A notebook of more than NB_MAX_CELLS cells is refused with its name and size, in both formats. */
static void test_cell_cap(void) {
  int n = NB_MAX_CELLS + 1;
  size_t cap = (size_t)n * 64 + 64, k = 0;
  char *kj = malloc(cap), *ip = malloc(cap);
  k += (size_t)snprintf(kj + k, cap - k, "{\"cell_type\": {");
  for (int i = 0; i < n; i++) k += (size_t)snprintf(kj + k, cap - k, "%s\"c%d\": \"code\"", i ? ", " : "", i);
  k += (size_t)snprintf(kj + k, cap - k, "}, \"source\": {");
  for (int i = 0; i < n; i++) k += (size_t)snprintf(kj + k, cap - k, "%s\"c%d\": \"x\"", i ? ", " : "", i);
  snprintf(kj + k, cap - k, "}}");
  k = (size_t)snprintf(ip, cap, "{\"nbformat\": 4, \"cells\": [");
  for (int i = 0; i < n; i++)
    k += (size_t)snprintf(ip + k, cap - k, "%s{\"cell_type\": \"code\", \"source\": \"x\"}", i ? ", " : "");
  snprintf(ip + k, cap - k, "]}");
  nb_notebook nb;
  ordo_err e = {{0}};
  EXPECT(nb_parse_kaggle_json(&nb, kj, strlen(kj), "big.json", "bignb", &e) == -1 &&
             strstr(e.msg, "big.json: notebook bignb has 2049 cells, more than the 2048"), "%s", e.msg);
  EXPECT(nb_parse_ipynb(&nb, ip, strlen(ip), "big.ipynb", NULL, &e) == -1 &&
             strstr(e.msg, "big.ipynb: the notebook has 2049 cells, more than the 2048"), "%s", e.msg);
  free(kj), free(ip);
}

int main(void) {
  snprintf(g_tmp, sizeof g_tmp, "%s/ordo-test-nb-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(g_tmp)) {
    perror("mkdtemp");
    return 1;
  }
  ordo_log_set_level(ORDO_LOG_ERROR); /* the skipped-file warnings are expected here */
  test_kaggle_json();
  test_ipynb();
  test_orders_csv();
  test_dataset_load();
  test_split();
  test_split_repos();
  test_folds();
  test_build();
  test_truncations();
  test_cell_cap();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
  return test_summary();
}
