/* ordo nb <build|info> — notebook datasets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "ordo/files.h"
#include "ordo/notebook.h"

static void build_usage(FILE *f) {
  fprintf(f,
          "usage: ordo nb build --from DIR [--from DIR ...] --out DATASET [--seed N]\n"
          "                     [--group-depth N] [--force] [--threads N]\n\n"
          "Turns trees of .ipynb / .ipynb.gz notebooks (nbformat 4 or 3) into the Kaggle\n"
          "AI4Code layout: DATASET/train/{id}.json, train_orders.csv, train_ancestors.csv,\n"
          "plus sources.csv (id,path). Raw and blank cells are dropped, source lists joined,\n"
          "sources cut at 20,000 bytes; kept are Python notebooks (or ones declaring no\n"
          "language) with >= 2 code cells, >= 1 markdown cell and <= 1,000 cells; exact\n"
          "duplicates (whitespace-normalised) are kept once. Notebook ids (14 hex) and cell\n"
          "ids (8 hex) and the markdown shuffle derive from --seed (default 42) and each\n"
          "file's path. ancestor_id names the group used for splits: the --from folder's name\n"
          "plus the first --group-depth (default 1) folders under it, e.g. with --from\n"
          "/usr/share/doc every package is one group. Written to a temp folder and renamed\n"
          "into place; an existing DATASET is replaced only with --force.\n");
}

static int parse_int(const char *s, const char *flag, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "ordo nb: %s: expected an integer in [%ld, %ld], got '%s'\n", flag, lo, hi, s);
    return -1;
  }
  *out = (long)v;
  return 0;
}

static const char *value_of(int argc, char **argv, int *i, int *bad) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "ordo nb: %s needs a value\n", argv[*i]);
    *bad = 1;
    return NULL;
  }
  return argv[++*i];
}

static int cmd_build(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) return build_usage(stdout), 0;
  const char **from = calloc((size_t)argc, sizeof *from);
  nb_build_opts o = {.from = from, .seed = 42, .group_depth = 1, .progress = 1};
  int bad = 0;
  long v;
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i], *x;
    if (strcmp(a, "--from") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) from[o.n_from++] = x;
      /* further plain arguments after --from are more source folders */
      while (i + 1 < argc && argv[i + 1][0] != '-') from[o.n_from++] = argv[++i];
    } else if (strcmp(a, "--out") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) o.out = x;
    } else if (strcmp(a, "--seed") == 0) {
      if ((x = value_of(argc, argv, &i, &bad)) && !(bad = parse_int(x, a, 0, 0x7fffffffL, &v) != 0)) o.seed = (uint64_t)v;
    } else if (strcmp(a, "--group-depth") == 0) {
      if ((x = value_of(argc, argv, &i, &bad)) && !(bad = parse_int(x, a, 0, 64, &v) != 0)) o.group_depth = (int)v;
    } else if (strcmp(a, "--threads") == 0) {
      if ((x = value_of(argc, argv, &i, &bad)) && !(bad = parse_int(x, a, 0, 1024, &v) != 0)) o.threads = (int)v;
    } else if (strcmp(a, "--force") == 0) {
      o.force = 1;
    } else {
      fprintf(stderr, "ordo nb build: unknown argument '%s'\n", a);
      bad = 1;
    }
  }
  if (!bad && (o.n_from == 0 || !o.out)) {
    fprintf(stderr, "ordo nb build: --from and --out are required\n");
    bad = 1;
  }
  if (bad) {
    free(from);
    build_usage(stderr);
    return 2;
  }
  ordo_err e = {{0}};
  nb_build_stats st;
  double t0 = ordo_time();
  int rc = nb_build_dataset(&o, &st, &e);
  free(from);
  if (rc) {
    fprintf(stderr, "ordo nb build: %s\n", e.msg);
    return 1;
  }
  printf("notebook files %lld: kept %lld (%lld cells, %lld groups); skipped: malformed %lld, "
         "not Python %lld, too few cells %lld, too many cells %lld, duplicates %lld\n",
         (long long)st.files, (long long)st.kept, (long long)st.cells, (long long)st.groups,
         (long long)st.malformed, (long long)st.not_python, (long long)st.too_few,
         (long long)st.too_many, (long long)st.duplicates);
  fprintf(stderr, "wrote %s in %.2f s\n", o.out, ordo_time() - t0);
  return 0;
}

static void info_usage(FILE *f) {
  fprintf(f,
          "usage: ordo nb info --data DATASET [--val-frac F --seed N --split-by repo|group]\n\n"
          "Loads a dataset (root, folder of {id}.json, or .ipynb tree) and prints its counts;\n"
          "with --val-frac, also the sizes of the split (by repository, the default, when the\n"
          "dataset has a sources.csv, else by ancestor group; see `ordo nb split --help`).\n");
}

/* --split-by: repo | group. */
static int parse_split_by(const char *cmd, const char *x, nb_split_by *by) {
  if (nb_split_parse(x, by) == 0) return 0;
  fprintf(stderr, "%s: --split-by: expected repo or group, got '%s'\n", cmd, x);
  return -1;
}

/* --val-frac: a number in [0, 1]. */
static int parse_frac(const char *cmd, const char *x, double *frac) {
  char *end;
  *frac = strtod(x, &end);
  if (*end || end == x || !(*frac >= 0 && *frac <= 1)) {
    fprintf(stderr, "%s: --val-frac: expected a number in [0, 1], got '%s'\n", cmd, x);
    return -1;
  }
  return 0;
}

static int cmd_info(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) return info_usage(stdout), 0;
  const char *data = NULL;
  double frac = -1;
  long seed = 42;
  nb_split_by by = NB_SPLIT_REPO;
  int bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i], *x;
    if (strcmp(a, "--data") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) data = x;
    } else if (strcmp(a, "--seed") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) bad = parse_int(x, a, 0, 0x7fffffffL, &seed) != 0;
    } else if (strcmp(a, "--val-frac") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) bad = parse_frac("ordo nb info", x, &frac) != 0;
    } else if (strcmp(a, "--split-by") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) bad = parse_split_by("ordo nb info", x, &by) != 0;
    } else {
      fprintf(stderr, "ordo nb info: unknown argument '%s'\n", a);
      bad = 1;
    }
  }
  if (!bad && !data) {
    fprintf(stderr, "ordo nb info: --data is required\n");
    bad = 1;
  }
  if (bad) return info_usage(stderr), 2;
  ordo_err e = {{0}};
  nb_dataset ds;
  double t0 = ordo_time();
  if (nb_dataset_load(&ds, data, 0, (uint64_t)seed, &e) != 0) {
    fprintf(stderr, "ordo nb info: %s\n", e.msg);
    return 1;
  }
  double dt = ordo_time() - t0;
  long long code = 0, md = 0, bytes = 0;
  for (int32_t i = 0; i < ds.n; i++) {
    code += ds.nbs[i].n_code;
    md += ds.nbs[i].n_md;
    for (int32_t k = 0; k < ds.nbs[i].n_cells; k++) bytes += ds.nbs[i].cells[k].len;
  }
  printf("notebooks %d, groups %d, repositories %d, cells %lld (code %lld, markdown %lld), source %.1f MiB, "
         "orders %s, skipped %d, loaded in %.2f s\n",
         ds.n, ds.n_groups, ds.n_repos, code + md, code, md, (double)bytes / (1 << 20),
         ds.has_orders ? "yes" : "no", ds.n_skipped, dt);
  if (frac >= 0) {
    uint8_t *val = malloc((size_t)(ds.n ? ds.n : 1));
    nb_split(&ds, by, frac, (uint64_t)seed, val);
    char *sum = nb_split_summary(&ds, by, val);
    printf("split --val-frac %g --seed %ld: %s\n", frac, seed, sum);
    free(sum);
    free(val);
  }
  nb_dataset_free(&ds);
  return 0;
}

static void split_usage(FILE *f) {
  fprintf(f,
          "usage: ordo nb split --data DATASET --out DIR [--val-frac F] [--seed N]\n"
          "                     [--split-by repo|group] [--texts] [--force]\n\n"
          "Splits a dataset (--val-frac default 0.1, --seed default 42; the same split as\n"
          "`ordo ai4code baseline --split`) and writes the true orders of each side as\n"
          "DIR/train_orders.csv and DIR/val_orders.csv. --split-by repo (the default) holds out\n"
          "whole repositories named by the dataset's sources.csv, each at most a ninth of the\n"
          "held-out side, so that at least eight are held out when there are enough; without a\n"
          "sources.csv, or with --split-by group, whole ancestor groups (train_ancestors.csv)\n"
          "with no size cap. val_orders.csv can score a submission on the held-out side with\n"
          "`ordo ai4code score`. --texts also writes the training side's notebooks as text,\n"
          "DIR/train_texts/{id}.txt (the cells' sources in their true order, a blank line\n"
          "between cells), a pretraining corpus for `ordo train --corpus` that holds nothing\n"
          "of the held-out side. A DIR that already holds files\n"
          "(a dataset's own train_orders.csv, say) is written into only with --force.\n");
}

/* DIR/train_texts/{id}.txt for each training-side notebook: its cells in true order. */
static int split_write_texts(const nb_dataset *ds, const uint8_t *val, const char *out, ordo_err *e) {
  size_t dl = strlen(out) + 64;
  char *dir = malloc(dl), *path = malloc(dl + 64);
  snprintf(dir, dl, "%s/train_texts", out);
  int rc = ordo_dir_ensure(dir, e), n = 0;
  size_t bytes = 0;
  for (int32_t i = 0; i < ds->n && rc == 0; i++) {
    const nb_notebook *nb = &ds->nbs[i];
    if (val[i]) continue;
    size_t len;
    char *txt = nb_text(nb, &len);
    snprintf(path, dl + 64, "%s/%s.txt", dir, nb->id);
    rc = ordo_write_file_atomic(path, txt, len, e);
    bytes += len;
    n++;
    free(txt);
  }
  if (rc == 0) printf("%s: %d notebooks, %.1f MB of text\n", dir, n, bytes / 1e6);
  free(dir), free(path);
  return rc;
}

static int cmd_split(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) return split_usage(stdout), 0;
  const char *data = NULL, *out = NULL;
  double frac = 0.1;
  long seed = 42;
  nb_split_by by = NB_SPLIT_REPO;
  int bad = 0, force = 0, texts = 0;
  for (int i = 1; i < argc && !bad; i++) {
    const char *a = argv[i], *x;
    if (strcmp(a, "--data") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) data = x;
    } else if (strcmp(a, "--out") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) out = x;
    } else if (strcmp(a, "--force") == 0) {
      force = 1;
    } else if (strcmp(a, "--texts") == 0) {
      texts = 1;
    } else if (strcmp(a, "--seed") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) bad = parse_int(x, a, 0, 0x7fffffffL, &seed) != 0;
    } else if (strcmp(a, "--val-frac") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) bad = parse_frac("ordo nb split", x, &frac) != 0;
    } else if (strcmp(a, "--split-by") == 0) {
      if ((x = value_of(argc, argv, &i, &bad))) bad = parse_split_by("ordo nb split", x, &by) != 0;
    } else {
      fprintf(stderr, "ordo nb split: unknown argument '%s'\n", a);
      bad = 1;
    }
  }
  if (!bad && (!data || !out)) {
    fprintf(stderr, "ordo nb split: --data and --out are required\n");
    bad = 1;
  }
  if (bad) return split_usage(stderr), 2;
  ordo_err e = {{0}};
  if (ordo_out_dir_check(out, force, &e) != 0) {
    fprintf(stderr, "ordo nb split: %s\n", e.msg);
    return 1;
  }
  nb_dataset ds;
  if (nb_dataset_load(&ds, data, 0, (uint64_t)seed, &e) != 0) {
    fprintf(stderr, "ordo nb split: %s\n", e.msg);
    return 1;
  }
  int rc = 0;
  if (!ds.has_orders) {
    fprintf(stderr, "ordo nb split: %s: the true orders are not known for every notebook\n", data);
    rc = 1;
  }
  if (rc == 0 && ordo_dir_ensure(out, &e) != 0) {
    fprintf(stderr, "ordo nb split: %s\n", e.msg);
    rc = 1;
  }
  uint8_t *val = malloc((size_t)(ds.n ? ds.n : 1));
  nb_split(&ds, by, frac, (uint64_t)seed, val);
  if (rc == 0) {
    char *sum = nb_split_summary(&ds, by, val);
    fprintf(stderr, "ordo nb split: %s\n", sum);
    free(sum);
  }
  for (int side = 0; side < 2 && rc == 0; side++) {
    nb_orders o = {0};
    for (int32_t i = 0; i < ds.n; i++)
      if (val[i] == side) nb_orders_add_nb(&o, &ds.nbs[i], ds.nbs[i].order);
    size_t pl = strlen(out) + 32;
    char *p = malloc(pl);
    snprintf(p, pl, "%s/%s_orders.csv", out, side ? "val" : "train");
    if (nb_orders_write(&o, p, &e) != 0) {
      fprintf(stderr, "ordo nb split: %s\n", e.msg);
      rc = 1;
    } else
      printf("%s: %d notebooks\n", p, o.n);
    free(p);
    nb_orders_free(&o);
  }
  if (rc == 0 && texts && split_write_texts(&ds, val, out, &e) != 0) {
    fprintf(stderr, "ordo nb split: %s\n", e.msg);
    rc = 1;
  }
  free(val);
  nb_dataset_free(&ds);
  return rc;
}

static const ordo_command k_sub[] = {
    {"build", "turn .ipynb trees into a Kaggle-layout dataset", cmd_build},
    {"info", "counts of a dataset and of its group split", cmd_info},
    {"split", "write the true orders of each side of a group split", cmd_split},
    {NULL, NULL, NULL},
};

int cmd_nb(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    FILE *f = argc < 2 ? stderr : stdout;
    fprintf(f, "usage: ordo nb <subcommand> [options]   (each has --help)\n\nsubcommands:\n");
    for (const ordo_command *c = k_sub; c->name; c++) fprintf(f, "  %-8s %s\n", c->name, c->summary);
    return argc < 2 ? 2 : 0;
  }
  for (const ordo_command *c = k_sub; c->name; c++)
    if (strcmp(argv[1], c->name) == 0) return c->run(argc - 1, argv + 1);
  fprintf(stderr, "ordo nb: unknown subcommand '%s' (build, info, split)\n", argv[1]);
  return 2;
}
