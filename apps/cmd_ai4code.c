/* ordo ai4code <score|baseline|ensemble> — the cell-ordering task's commands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "ordo/ai4code.h"
#include "ordo/notebook.h"

/* --name value or --name=value: returns the value and advances *i, or NULL when argv[*i] is not
 * this flag. A missing value is reported and flagged through *bad. */
static const char *flag_value(int argc, char **argv, int *i, const char *name, int *bad) {
  size_t l = strlen(name);
  if (strncmp(argv[*i], name, l) != 0) return NULL;
  if (argv[*i][l] == '=') return argv[*i] + l + 1;
  if (argv[*i][l] != 0) return NULL;
  if (*i + 1 >= argc) {
    fprintf(stderr, "ordo ai4code: %s needs a value\n", name);
    *bad = 1;
    return NULL;
  }
  return argv[++*i];
}

static int parse_double(const char *s, const char *flag, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "ordo ai4code: %s: expected a number in [%g, %g], got '%s'\n", flag, lo, hi, s);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_u64(const char *s, const char *flag, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') {
    fprintf(stderr, "ordo ai4code: %s: expected a non-negative integer, got '%s'\n", flag, s);
    return -1;
  }
  *out = v;
  return 0;
}

/* ---- score ------------------------------------------------------------------------------ */
static void score_usage(FILE *f) {
  fprintf(f,
          "usage: ordo ai4code score --orders ORDERS.csv --submission SUB.csv\n\n"
          "Prints the competition's Kendall tau (inversions pooled over notebooks) as\n"
          "'kendall_tau: 0.xxxxxx'. Both files are id,cell_order csv files. The two must hold\n"
          "the same notebooks (a notebook in only one of them is an error naming the first\n"
          "few), and each submission row exactly the true cell ids, each once.\n");
}

static int cmd_score(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) return score_usage(stdout), 0;
  const char *orders = NULL, *subp = NULL, *v;
  int bad = 0;
  for (int i = 1; i < argc; i++) {
    if ((v = flag_value(argc, argv, &i, "--orders", &bad))) orders = v;
    else if ((v = flag_value(argc, argv, &i, "--submission", &bad))) subp = v;
    else if (!bad) {
      fprintf(stderr, "ordo ai4code score: unknown argument '%s'\n", argv[i]);
      bad = 1;
    }
    if (bad) break;
  }
  if (!bad && (!orders || !subp)) {
    fprintf(stderr, "ordo ai4code score: --orders and --submission are required\n");
    bad = 1;
  }
  if (bad) return score_usage(stderr), 2;
  ordo_err e = {{0}};
  nb_orders o, s;
  if (nb_orders_read(&o, orders, &e) != 0) {
    fprintf(stderr, "ordo ai4code score: %s\n", e.msg);
    return 1;
  }
  if (nb_orders_read(&s, subp, &e) != 0) {
    fprintf(stderr, "ordo ai4code score: %s\n", e.msg);
    nb_orders_free(&o);
    return 1;
  }
  double tau;
  ai4_tau acc;
  int rc = ai4_score_orders(&o, &s, &tau, &acc, &e);
  if (rc == 0) {
    printf("kendall_tau: %.6f\n", tau);
    fprintf(stderr, "notebooks %d, inversions %lld, sum n(n-1) %lld\n", o.n,
            (long long)acc.inversions, (long long)acc.pairs2);
  } else
    fprintf(stderr, "ordo ai4code score: %s (submission %s, orders %s)\n", e.msg, subp, orders);
  nb_orders_free(&o);
  nb_orders_free(&s);
  return rc ? 1 : 0;
}

/* ---- baseline --------------------------------------------------------------------------- */
static void baseline_usage(FILE *f) {
  fprintf(f,
          "usage: ordo ai4code baseline --method first|even|tfidf --data DATASET --out SUB.csv\n"
          "                             [--split all|train|val] [--val-frac F] [--seed N]\n"
          "                             [--threads N]\n\n"
          "Simple orderings, written as an id,cell_order submission:\n"
          "  first  all markdown cells before all code cells, in the given order\n"
          "  even   markdown cells spread evenly among the code cells, in the given order\n"
          "  tfidf  each markdown cell just before its most similar code cell (TF-IDF cosine\n"
          "         over word and identifier-part terms, idf fitted on the loaded notebooks'\n"
          "         cells; a markdown cell with no term in common with any code goes first)\n"
          "DATASET is a dataset root (test/ if present, else train/ with train_orders.csv and\n"
          "train_ancestors.csv), a folder of {id}.json files, or a folder of .ipynb(.gz) files.\n"
          "--split val/train keeps one side of the split by ancestor group (--val-frac, default\n"
          "0.1; --seed, default 42). When the true orders are known, the Kendall tau is printed.\n");
}

static int load_split(const char *data, const char *split, double val_frac, uint64_t seed,
                      int threads, nb_dataset *ds, uint8_t **mask_out, const char *who) {
  ordo_err e = {{0}};
  double t0 = ordo_time();
  if (nb_dataset_load(ds, data, threads, seed, &e) != 0) {
    fprintf(stderr, "ordo ai4code %s: %s\n", who, e.msg);
    return -1;
  }
  uint8_t *mask = NULL;
  int32_t kept = ds->n;
  if (strcmp(split, "all") != 0) {
    mask = ordo_malloc((size_t)(ds->n ? ds->n : 1));
    nb_split_groups(ds, val_frac, seed, mask);
    int want_val = strcmp(split, "val") == 0;
    kept = 0;
    for (int32_t i = 0; i < ds->n; i++) {
      mask[i] = want_val ? mask[i] : !mask[i];
      kept += mask[i];
    }
  }
  fprintf(stderr, "loaded %d notebooks (%d groups) from %s in %.2f s; split %s: %d notebooks\n",
          ds->n, ds->n_groups, data, ordo_time() - t0, split, kept);
  *mask_out = mask;
  return 0;
}

static int cmd_baseline(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) return baseline_usage(stdout), 0;
  const char *method = NULL, *data = NULL, *out = NULL, *split = "all", *v;
  double val_frac = 0.1, th = 0;
  uint64_t seed = 42;
  int bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if ((v = flag_value(argc, argv, &i, "--method", &bad))) method = v;
    else if ((v = flag_value(argc, argv, &i, "--data", &bad))) data = v;
    else if ((v = flag_value(argc, argv, &i, "--out", &bad))) out = v;
    else if ((v = flag_value(argc, argv, &i, "--split", &bad))) split = v;
    else if ((v = flag_value(argc, argv, &i, "--val-frac", &bad))) bad = parse_double(v, "--val-frac", 0, 1, &val_frac) != 0;
    else if ((v = flag_value(argc, argv, &i, "--seed", &bad))) bad = parse_u64(v, "--seed", &seed) != 0;
    else if ((v = flag_value(argc, argv, &i, "--threads", &bad))) bad = parse_double(v, "--threads", 0, 1024, &th) != 0;
    else if (!bad) {
      fprintf(stderr, "ordo ai4code baseline: unknown argument '%s'\n", argv[i]);
      bad = 1;
    }
  }
  int m = method ? ai4_baseline_parse(method) : -1;
  if (!bad && (!method || !data || !out)) {
    fprintf(stderr, "ordo ai4code baseline: --method, --data and --out are required\n");
    bad = 1;
  } else if (!bad && m < 0) {
    fprintf(stderr, "ordo ai4code baseline: --method: expected first, even or tfidf, got '%s'\n", method);
    bad = 1;
  } else if (!bad && strcmp(split, "all") && strcmp(split, "train") && strcmp(split, "val")) {
    fprintf(stderr, "ordo ai4code baseline: --split: expected all, train or val, got '%s'\n", split);
    bad = 1;
  }
  if (bad) return baseline_usage(stderr), 2;
  nb_dataset ds;
  uint8_t *mask;
  if (load_split(data, split, val_frac, seed, (int)th, &ds, &mask, "baseline") != 0) return 1;
  double t0 = ordo_time();
  ai4_tfidf tf = {0};
  if (m == AI4_BASE_TFIDF) ai4_tfidf_fit(&tf, &ds, NULL, (int)th);
  nb_orders sub = {0};
  ai4_baseline_predict(m, &ds, mask, m == AI4_BASE_TFIDF ? &tf : NULL, (int)th, &sub);
  double dt = ordo_time() - t0;
  ordo_err e = {{0}};
  int rc = nb_orders_write(&sub, out, &e);
  if (rc) fprintf(stderr, "ordo ai4code baseline: %s\n", e.msg);
  fprintf(stderr, "%s: predicted %d notebooks in %.2f s -> %s\n", method, sub.n, dt, out);
  if (rc == 0 && ds.has_orders) {
    ai4_tau t = {0, 0};
    for (int32_t i = 0, r = 0; i < ds.n; i++) {
      if (mask && !mask[i]) continue;
      const nb_notebook *nb = &ds.nbs[i];
      /* the submission's row r lists this notebook's cells: map back to indices */
      nb_strmap cm;
      nb_strmap_init(&cm, nb->n_cells);
      for (int32_t k = 0; k < nb->n_cells; k++) nb_strmap_put(&cm, nb->cells[k].id, k);
      int32_t *pred = ordo_malloc((size_t)nb->n_cells * sizeof *pred);
      for (int32_t k = 0; k < nb->n_cells; k++) pred[k] = nb_strmap_get(&cm, sub.cells[r][k]);
      ai4_tau_add(&t, pred, nb->order, nb->n_cells);
      free(pred);
      nb_strmap_free(&cm);
      r++;
    }
    printf("kendall_tau: %.6f\n", ai4_tau_value(&t));
  }
  nb_orders_free(&sub);
  ai4_tfidf_free(&tf);
  free(mask);
  nb_dataset_free(&ds);
  return rc ? 1 : 0;
}

/* ---- ensemble --------------------------------------------------------------------------- */
static void ensemble_usage(FILE *f) {
  fprintf(f,
          "usage: ordo ai4code ensemble --submissions A.csv,B.csv[,...] [--weights 0.5,0.5]\n"
          "                             --out SUB.csv\n\n"
          "Rank-level ensemble: each cell's position is averaged over the submissions with\n"
          "the weights (default equal; normalised), then each notebook is re-sorted; ties keep\n"
          "the order of the first submission. All submissions must hold the same notebooks\n"
          "and cells.\n");
}

/* Splits a comma list in place. Returns the count. */
static int split_commas(char *s, char **parts, int max) {
  int n = 0;
  for (char *p = s; n < max;) {
    parts[n++] = p;
    char *c = strchr(p, ',');
    if (!c) break;
    *c = 0;
    p = c + 1;
  }
  return n;
}

static int cmd_ensemble(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) return ensemble_usage(stdout), 0;
  const char *subs_arg = NULL, *w_arg = NULL, *out = NULL, *v;
  int bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if ((v = flag_value(argc, argv, &i, "--submissions", &bad))) subs_arg = v;
    else if ((v = flag_value(argc, argv, &i, "--weights", &bad))) w_arg = v;
    else if ((v = flag_value(argc, argv, &i, "--out", &bad))) out = v;
    else if (!bad) {
      fprintf(stderr, "ordo ai4code ensemble: unknown argument '%s'\n", argv[i]);
      bad = 1;
    }
  }
  if (!bad && (!subs_arg || !out)) {
    fprintf(stderr, "ordo ai4code ensemble: --submissions and --out are required\n");
    bad = 1;
  }
  enum { MAXS = 64 };
  char *sbuf = ordo_strdup(subs_arg ? subs_arg : ""), *wbuf = ordo_strdup(w_arg ? w_arg : "");
  char *paths[MAXS], *ws[MAXS];
  double weights[MAXS];
  int ns = bad ? 0 : split_commas(sbuf, paths, MAXS);
  for (int k = 0; k < ns && !bad; k++)
    if (!paths[k][0]) {
      fprintf(stderr, "ordo ai4code ensemble: --submissions: empty path in the list\n");
      bad = 1;
    }
  if (!bad && w_arg) {
    int nw = split_commas(wbuf, ws, MAXS);
    if (nw != ns) {
      fprintf(stderr, "ordo ai4code ensemble: %d weights for %d submissions\n", nw, ns);
      bad = 1;
    }
    for (int k = 0; k < nw && !bad; k++) bad = parse_double(ws[k], "--weights", 0, 1e9, &weights[k]) != 0;
  }
  if (bad) {
    free(sbuf), free(wbuf);
    return ensemble_usage(stderr), 2;
  }
  nb_orders subs[MAXS];
  ordo_err e = {{0}};
  int rc = 0, loaded = 0;
  for (; loaded < ns && rc == 0; loaded++)
    if ((rc = nb_orders_read(&subs[loaded], paths[loaded], &e)) != 0) break;
  nb_orders out_o = {0};
  if (rc == 0) rc = ai4_ensemble_ranks(subs, w_arg ? weights : NULL, ns, &out_o, &e);
  if (rc == 0) rc = nb_orders_write(&out_o, out, &e);
  if (rc) fprintf(stderr, "ordo ai4code ensemble: %s\n", e.msg);
  else fprintf(stderr, "ensembled %d submissions over %d notebooks -> %s\n", ns, out_o.n, out);
  nb_orders_free(&out_o);
  for (int k = 0; k < loaded; k++) nb_orders_free(&subs[k]);
  free(sbuf), free(wbuf);
  return rc ? 1 : 0;
}

/* ---- dispatch ----------------------------------------------------------------------------- */
static const ordo_command k_sub[] = {
    {"score", "Kendall tau of a submission against the true orders", cmd_score},
    {"baseline", "simple orderings: markdown first, spread evenly, TF-IDF nearest code", cmd_baseline},
    {"ensemble", "rank-level ensemble of whole submissions", cmd_ensemble},
    {NULL, NULL, NULL},
};

static void usage(FILE *f) {
  fprintf(f, "usage: ordo ai4code <subcommand> [options]   (each has --help)\n\n"
             "Notebook cell ordering (the AI4Code task).\n\nsubcommands:\n");
  for (const ordo_command *c = k_sub; c->name; c++) fprintf(f, "  %-10s %s\n", c->name, c->summary);
}

int cmd_ai4code(int argc, char **argv) {
  if (argc < 2) return usage(stderr), 2;
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
    return usage(stdout), 0;
  for (const ordo_command *c = k_sub; c->name; c++)
    if (strcmp(argv[1], c->name) == 0) return c->run(argc - 1, argv + 1);
  fprintf(stderr, "ordo ai4code: unknown subcommand '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
