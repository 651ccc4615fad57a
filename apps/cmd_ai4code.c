/* ordo ai4code <score|baseline|ensemble|train|predict> — the cell-ordering task's commands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "device_flag.h"
#include "train_flags.h"
#include "ordo/ai4code.h"
#include "ordo/dist.h"
#include "ordo/notebook.h"
#include "ordo/ranker.h"

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
/* An output file must be absent or a regular file: said before the work, not after it. */
static int out_file_usable(const char *out, const char *who) {
  ordo_err e = {{0}};
  if (ordo_check_output_file(out, &e) == 0) return 0;
  fprintf(stderr, "ordo ai4code %s: --out %s\n", who, e.msg);
  return -1;
}

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
          "                             [--split-by repo|group] [--threads N] [--no-stem]\n\n"
          "Simple orderings, written as an id,cell_order submission:\n"
          "  first  all markdown cells before all code cells, in the given order\n"
          "  even   markdown cells spread evenly among the code cells, in the given order\n"
          "  tfidf  each markdown cell just before its most similar code cell (TF-IDF cosine\n"
          "         over word and identifier-part terms, stemmed unless --no-stem, idf fitted\n"
          "         on the loaded notebooks' cells; a markdown cell with no term in common with\n"
          "         any code goes first)\n"
          "DATASET is a dataset root (test/ if present, else train/ with train_orders.csv and\n"
          "train_ancestors.csv), a folder of {id}.json files, or a folder of .ipynb(.gz) files.\n"
          "--split val/train keeps one side of the split (--val-frac, default 0.1; --seed, default\n"
          "42; --split-by repo, the default, or group: see `ordo nb split --help`). When the true\n"
          "orders are known, the Kendall tau is printed.\n");
}

/* --split-by: repo | group. */
static int parse_split_by(const char *v, nb_split_by *by) {
  if (nb_split_parse(v, by) == 0) return 0;
  fprintf(stderr, "ordo ai4code: --split-by: expected repo or group, got '%s'\n", v);
  return -1;
}

static int load_split(const char *data, const char *split, nb_split_by by, double val_frac, uint64_t seed,
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
    nb_split(ds, by, val_frac, seed, mask);
    char *sum = nb_split_summary(ds, by, mask);
    fprintf(stderr, "split --val-frac %g --seed %llu: %s\n", val_frac, (unsigned long long)seed, sum);
    free(sum);
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
  nb_split_by by = NB_SPLIT_REPO;
  uint64_t seed = 42;
  int bad = 0, stem = 1;
  for (int i = 1; i < argc && !bad; i++) {
    if (strcmp(argv[i], "--no-stem") == 0) stem = 0;
    else if ((v = flag_value(argc, argv, &i, "--method", &bad))) method = v;
    else if ((v = flag_value(argc, argv, &i, "--data", &bad))) data = v;
    else if ((v = flag_value(argc, argv, &i, "--out", &bad))) out = v;
    else if ((v = flag_value(argc, argv, &i, "--split", &bad))) split = v;
    else if ((v = flag_value(argc, argv, &i, "--val-frac", &bad))) bad = parse_double(v, "--val-frac", 0, 1, &val_frac) != 0;
    else if ((v = flag_value(argc, argv, &i, "--split-by", &bad))) bad = parse_split_by(v, &by) != 0;
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
  if (out_file_usable(out, "baseline") != 0) return 1;
  nb_dataset ds;
  uint8_t *mask;
  if (load_split(data, split, by, val_frac, seed, (int)th, &ds, &mask, "baseline") != 0) return 1;
  double t0 = ordo_time();
  ai4_tfidf tf = {0};
  if (m == AI4_BASE_TFIDF) ai4_tfidf_fit(&tf, &ds, NULL, stem, (int)th);
  nb_orders sub = {0};
  ai4_baseline_predict(m, &ds, mask, m == AI4_BASE_TFIDF ? &tf : NULL, (int)th, &sub);
  double dt = ordo_time() - t0;
  ordo_err e = {{0}};
  int rc = nb_orders_write(&sub, out, &e);
  if (rc) fprintf(stderr, "ordo ai4code baseline: %s\n", e.msg);
  else fprintf(stderr, "%s: predicted %d notebooks in %.2f s -> %s\n", method, sub.n, dt, out);
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

/* Parses an integer flag value in [lo, hi]. */
static int parse_int(const char *s, const char *flag, long lo, long hi, int *out) {
  double v;
  if (parse_double(s, flag, (double)lo, (double)hi, &v) != 0) return -1;
  if (v != (double)(long)v) {
    fprintf(stderr, "ordo ai4code: %s: expected an integer, got '%s'\n", flag, s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* ---- ensemble --------------------------------------------------------------------------- */
static void ensemble_usage(FILE *f) {
  fprintf(f,
          "usage: ordo ai4code ensemble --submissions A.csv,B.csv[,...] [--weights 0.5,0.5]\n"
          "                             [--fit-weights ORDERS.csv [--grid N]] --out SUB.csv\n\n"
          "Rank-level ensemble: each cell's position is averaged over the submissions with\n"
          "the weights (default equal; normalised), then each notebook is re-sorted; ties keep\n"
          "the order of the first submission. All submissions must hold the same notebooks\n"
          "and cells.\n"
          "--fit-weights chooses the weights instead: every point of the simplex in steps of\n"
          "1/N (--grid, default 10) is tried, and the one whose ensemble scores the highest\n"
          "Kendall tau against the true orders (ORDERS.csv, e.g. train_orders.csv; it must hold\n"
          "every notebook of the submissions) is used and printed: predict held-out notebooks\n"
          "(e.g. `ordo ai4code predict --split val`) to choose them on unseen repositories.\n");
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
  const char *subs_arg = NULL, *w_arg = NULL, *out = NULL, *fit = NULL, *v;
  int bad = 0, grid = 10;
  for (int i = 1; i < argc && !bad; i++) {
    if ((v = flag_value(argc, argv, &i, "--submissions", &bad))) subs_arg = v;
    else if ((v = flag_value(argc, argv, &i, "--fit-weights", &bad))) fit = v;
    else if ((v = flag_value(argc, argv, &i, "--grid", &bad))) bad = parse_int(v, "--grid", 1, 100, &grid) != 0;
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
  if (!bad && fit && w_arg) {
    fprintf(stderr, "ordo ai4code ensemble: --weights and --fit-weights exclude each other\n");
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
  if (out_file_usable(out, "ensemble") != 0) {
    free(sbuf), free(wbuf);
    return 1;
  }
  nb_orders subs[MAXS];
  ordo_err e = {{0}};
  int rc = 0, loaded = 0;
  for (; loaded < ns && rc == 0; loaded++)
    if ((rc = nb_orders_read(&subs[loaded], paths[loaded], &e)) != 0) break;
  if (rc == 0 && fit) {
    nb_orders truth;
    double tau;
    int64_t points = 1; /* C(grid + ns - 1, ns - 1) weight vectors */
    for (int k = 1; k < ns; k++) points = points * (grid + k) / k;
    if (points > 200000) {
      rc = ordo_fail(&e, "--fit-weights: %lld weight vectors for %d submissions at --grid %d: "
                     "use a coarser grid", (long long)points, ns, grid);
    } else if ((rc = nb_orders_read(&truth, fit, &e)) == 0) {
      rc = ai4_ensemble_fit(subs, ns, &truth, grid, weights, &tau, &e);
      nb_orders_free(&truth);
      if (rc == 0) {
        printf("weights");
        for (int k = 0; k < ns; k++) printf(" %.3f", weights[k]);
        printf(" (of %lld tried): kendall_tau %.6f against %s\n", (long long)points, tau, fit);
      }
    }
  }
  nb_orders out_o = {0};
  if (rc == 0) rc = ai4_ensemble_ranks(subs, w_arg || fit ? weights : NULL, ns, &out_o, &e);
  if (rc == 0) rc = nb_orders_write(&out_o, out, &e);
  if (rc) fprintf(stderr, "ordo ai4code ensemble: %s\n", e.msg);
  else fprintf(stderr, "ensembled %d submissions over %d notebooks -> %s\n", ns, out_o.n, out);
  nb_orders_free(&out_o);
  for (int k = 0; k < loaded; k++) nb_orders_free(&subs[k]);
  free(sbuf), free(wbuf);
  return rc ? 1 : 0;
}

/* ---- train ------------------------------------------------------------------------------ */
static void train_usage(FILE *f) {
  rk_train_opts d = rk_train_defaults();
  fprintf(f,
          "usage: ordo ai4code train --data DATASET --out MODEL_DIR [--init CKPT] [--tokenizer FILE]\n"
          "                          [--val-frac F] [--seed N] [--split-by repo|group] [--threads N]\n"
          "                          [--device D] [options]\n\n"
          "Trains the cell-order ranker on a dataset with true orders, holding out whole\n"
          "repositories (--val-frac, default %g; --seed, default %llu; --split-by, default repo: see\n"
          "`ordo nb split --help`) to validate each epoch by Kendall tau and keep the best weights.\n"
          "The parts:\n"
          "  dual       a transformer encodes every cell alone; a markdown's score for a slot is a\n"
          "             bilinear match of its vector with those of the code cells after and before\n"
          "             the slot, trained by a softmax over each markdown's slots (a byte-level BPE\n"
          "             tokenizer is trained on the training notebooks unless --tokenizer is given,\n"
          "             or --init names a checkpoint: then its own tokenizer.json is used; it is\n"
          "             stored in MODEL_DIR); cross-fitted (--dual-folds): each fold's encoder,\n"
          "             trained on the other folds' repositories, gives its fold's training\n"
          "             notebooks their evidence, so that the later parts train on all of them\n"
          "  pointwise  (--point) an encoder reads <s> markdown </s> + code cells sampled evenly and\n"
          "             regresses the markdown's relative slot\n"
          "  notebook   a small transformer over every cell's dual vector (code cells at the\n"
          "             position of their order, markdown cells without one) refines the slot\n"
          "             ranker's distributions of every markdown jointly (--notebook-over dual: the\n"
          "             dual encoder's, read by the slot ranker); it trains on the slot model's\n"
          "             notebooks and is kept when it validates better\n"
          "  slot       an MLP over lexical features of each (markdown, slot) pair (TF-IDF/BM25 to\n"
          "             the code before and after, place, headings, the code cells that first and\n"
          "             last use the markdown's words, the other markdown cells matching the same\n"
          "             code or sharing its words) and the encoders' evidence;\n"
          "             softmax over slots, decoded by the weighted median slot\n"
          "Besides the model, MODEL_DIR gets the run's records: metrics.jsonl and TensorBoard event\n"
          "files in tb/<stage>/ (stages dual, dual_fold<k>, pointwise, notebook, slot_lex, slot,\n"
          "slot_nbm: loss, learning rate,\n"
          "gradient norm, loss scale, throughput, memory per step; held-out tau, per notebook\n"
          "length too, and loss per epoch) and heldout.jsonl (the kept model's held-out orders);\n"
          "'ordo report MODEL_DIR --out report.html' shows them.\n"
          "options (defaults):\n"
          "  --lexical-only        slot model on lexical features only (no encoder)\n"
          "  --point / --no-point  train the pointwise encoder too (off)\n"
          "  --no-dual             no dual encoder\n"
          "  --dual-epochs N (%d) --dual-lr F (%g) --dual-cells N (%d; cells per micro-batch)\n"
          "  --cell-tokens N (%d; tokens kept per cell) --dual-dim N (%d)\n"
          "  --init-route frozen|finetune  how --init (a BERT-family checkpoint with its\n"
          "                        tokenizer.json) starts the dual encoder: finetune trains the whole\n"
          "                        encoder; frozen keeps it as it is, computes every cell's vector once\n"
          "                        (cached in MODEL_DIR/frozen, keyed by the cell's text, reused by a\n"
          "                        rerun and by predict) and trains an MLP per side (code, markdown)\n"
          "                        into the dual scoring on them. Default: finetune with --device\n"
          "                        cuda, frozen on the CPU (fine-tuning a 6-layer encoder over every\n"
          "                        cell does not fit a CPU's time)\n"
          "  --init-pool mean|first (mean; the frozen cell vector: the mean of the last hidden\n"
          "                        states over the real tokens, as sentence-embedding checkpoints are\n"
          "                        trained, or the first position's)\n"
          "  --frozen-hidden N (%d) --frozen-epochs N (%d) --frozen-lr F (%g; the MLPs')\n"
          "  --dual-folds K (%d on the frozen route, %d with a trained dual encoder; 0: none)\n"
          "                        cross-fitting: the training notebooks in K folds of whole\n"
          "                        repositories, each fold's dual part (the MLPs, or an encoder of\n"
          "                        its own) trained on the others, so that every training notebook\n"
          "                        gets evidence from a model that never saw it and the slot and\n"
          "                        notebook models train on all of them (without: on --slot-max-nb\n"
          "                        notebooks kept from the dual encoder); predictions come from the\n"
          "                        part trained on all or from the mean over the folds', as the\n"
          "                        held-out side prefers (with nothing held out: the folds' mean on\n"
          "                        the frozen route, the encoder trained on all otherwise). With\n"
          "                        --dual-from: the folds of DIR, their encoders taken as they are\n"
          "  --no-stem             the lexical terms (TF-IDF, BM25, the term prior) are stemmed by a\n"
          "                        light English suffix stripper, so that prose meets code\n"
          "                        (\"training the models\", train_model); this keeps words whole\n"
          "  --no-dense-features   the slot model with evidence also reads the cosine similarities\n"
          "                        of the cell vectors (the pretrained encoder's on the frozen\n"
          "                        route, the dual encoder's own otherwise: markdown to the code\n"
          "                        around each slot, code to code); this leaves them out\n"
          "  --dual-from DIR       take the dual encoder, its folds' encoders and the tokenizer of\n"
          "                        model DIR instead of training them (DIR trained on the same data,\n"
          "                        split, seeds and --max-train: its folds must be dealt the same,\n"
          "                        which is checked)\n"
          "  --no-notebook         no notebook-level model\n"
          "  --notebook-over slot|dual (slot; what the notebook model refines)\n"
          "  --notebook-epochs N (%d) --notebook-lr F (%g) --notebook-layers N (%d)\n"
          "  --notebook-hidden N (%d)\n"
          "  --init-seed N         seed of the weights and data order (default: --seed); --seed\n"
          "                        alone fixes the split, so models of one split can differ\n"
          "  encoders (dual and pointwise): --layers N (%d) --hidden N (%d) --heads N (%d)\n"
          "  --intermediate N (%d) --vocab N (%d; of the trained tokenizer)\n"
          "  --max-steps N (0: no cap; of each encoder's training)\n"
          "  pointwise: --seq N (%d) --md-tokens N (%d) --code-cells N (%d) --code-tokens N (%d)\n"
          "  --batch N (%d) --lr F (%g) --epochs N (%d)\n"
          "  --max-minutes F (%g; each encoder's training stops after this long, 0: no cap)\n"
          "  --max-train N         use at most N training notebooks (0: all)\n"
          "  --slot-hidden N (%d) --slot-epochs N (%d; %d and %d for the model with cross-fitted\n"
          "                  evidence, which trains on every training notebook) --slot-lr F (%g)\n"
          "  --slot-max-nb N (%d; without cross-fitting: notebooks the slot model with the\n"
          "                  encoders' evidence trains on; the dual encoder trains on the others,\n"
          "                  the lexical model on all; 0: all for every part)\n"
          "MODEL_DIR gets ranker.json, term_prior.json, tokenizer.json, dual/ (config.json,\n"
          "model.safetensors; on the frozen route dual/head.safetensors, the MLPs, and frozen/: the\n"
          "pretrained encoder and cell_vectors.safetensors, the cache), the folds' encoders in\n"
          "dual_fold<k>/ (on the frozen route their MLPs in dual/head_fold<k>.safetensors) and with\n"
          "--point config.json and model.safetensors. With --save-every, the dual stages checkpoint\n"
          "in MODEL_DIR/checkpoint_dual and checkpoint_dual_fold<k> and the pointwise one in\n"
          "MODEL_DIR/checkpoint, and a rerun resumes from them. A MODEL_DIR\n"
          "that holds anything else is replaced only with --force.\n",
          d.val_frac, (unsigned long long)d.seed, d.dual_epochs, d.dual_lr, d.dual_cells,
          d.dc.md_tokens, d.dc.dim, d.frozen_hidden, d.frozen_epochs, d.frozen_lr, RK_DUAL_FOLDS, RK_DUAL_FOLDS_TRAINED, d.nbm_epochs, d.nbm_lr, d.nbc.layers, d.nbc.hidden, d.layers, d.hidden, d.heads, d.intermediate,
          d.vocab_size, d.pc.seq, d.pc.md_tokens, d.pc.n_code, d.pc.code_tokens, d.batch,
          d.point_lr, d.point_epochs, d.max_minutes, RK_SLOT_HIDDEN, RK_SLOT_EPOCHS, RK_SLOT_HIDDEN_ALL, RK_SLOT_EPOCHS_ALL, d.slot_lr, d.slot_max_nb);
  fprintf(f, "\nBoth encoders train on the shared trainer: with --accum-steps N a pointwise step sees\n"
             "--batch x N markdown cells, a dual step N micro-batches of whole notebooks.\n"
             "  --notebook-batch N (%d; notebooks per step of the notebook model)\n\n"
             "mpirun -np R ordo ai4code train ...   R data-parallel ranks: each computes its part of\n"
             "every step's batch, which is R times the one process's (R x --accum-steps\n"
             "micro-batches; the notebook model's R x --notebook-batch notebooks), and the ranks'\n"
             "gradients are summed, so R ranks give the weights of one process with R times the\n"
             "accumulation; validation, the choices made on it and --max-minutes are rank 0's;\n"
             "rank 0 alone writes MODEL_DIR, logs and checkpoints. A checkpoint resumes on any\n"
             "number of ranks with the same R x --accum-steps.\n"
             "  --dist-timeout S     a rank waiting longer than S seconds for the others aborts the\n"
             "                       job, naming the ranks that did not come (default %.0f)\n",
          d.nbm_notebooks, DIST_TIMEOUT_DEFAULT);
  device_flag_usage(f);
  train_flags_usage(f);
}


/* The run's figures on stdout (rank 0's). */
static void print_train_results(const rk_train_opts o, const rk_train_result res, const char *out,
                                double t0) {
  if (!res.validated) {
    /* no held-out notebooks: losses only, and no tau (a placeholder would read as a score) */
    if (o.dual)
      printf("dual: %lld steps in %.1f s, loss %.4f -> %.4f\n", (long long)res.dual_steps,
             res.seconds_dual, res.dual_loss_first, res.dual_loss_last);
    if (o.dual && o.nbm) printf("notebook model: %.1f s\n", res.seconds_nbm);
    if (o.point)
      printf("pointwise: %lld steps in %.1f s, loss %.4f -> %.4f\n", (long long)res.point_steps,
             res.seconds_point, res.point_loss_first, res.point_loss_last);
    printf("slot ranker: %.1f s\n", res.seconds_slot);
    printf("kendall_tau: not measured (no held-out notebooks with --val-frac 0)\n");
    printf("total %.1f s; saved %s\n", ordo_time() - t0, out);
  } else {
    if (o.dual)
      printf("dual: %lld steps in %.1f s, loss %.4f -> %.4f, val kendall_tau %.6f\n",
             (long long)res.dual_steps, res.seconds_dual, res.dual_loss_first,
             res.dual_loss_last, res.tau_dual);
    if (res.fold_steps > 0)
      printf("dual folds' encoders: %lld steps in %.1f s\n", (long long)res.fold_steps,
             res.seconds_folds);
    if (o.dual && o.nbm && o.nbm_over_slot)
      printf("notebook model over the slot ranker: %.1f s, val kendall_tau %.6f\n", res.seconds_nbm,
             res.tau_nbm);
    else if (o.dual && o.nbm)
      printf("notebook model over the dual encoder: %.1f s, val kendall_tau %.6f; the slot ranker "
             "with it %.6f\n", res.seconds_nbm, res.tau_nbm, res.tau_with_nbm);
    if (res.tau_fold_all > -1)
      printf("cross-fitting: val kendall_tau from the dual part trained on all %.6f, the mean "
             "over the folds' %.6f\n", res.tau_fold_all, res.tau_fold_mean);
    if (res.tau_joint > -1)
      printf("decoding: val kendall_tau weighted medians %.6f, fewest expected inversions %.6f\n",
             res.tau_median, res.tau_joint);
    if (o.point)
      printf("pointwise: %lld steps in %.1f s, loss %.4f -> %.4f, val kendall_tau %.6f\n",
             (long long)res.point_steps, res.seconds_point, res.point_loss_first,
             res.point_loss_last, res.tau_point);
    printf("slot ranker: %.1f s, val kendall_tau lexical only %.6f", res.seconds_slot, res.tau_lex);
    if (o.point || o.dual) printf(", with the encoder evidence %.6f", o.dual ? res.tau_with_dual : res.tau_both);
    printf("\n");
    printf("kendall_tau: %.6f\n", res.tau_slot);
    printf("total %.1f s; saved %s\n", ordo_time() - t0, out);
  }
}

/* A training run's error: said (with the rank under mpirun), and the whole job ended, since the
 * other ranks would wait for this one. */
static int train_fail(ordo_dist *d, ordo_backend *be, const ordo_err *e) {
  dist_fail(d, "ordo ai4code train", e->msg, 1);
  dist_dev_free(d);
  if (be) ordo_backend_close(be);
  dist_free(d);
  return 1;
}

static int cmd_rk_train(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) return train_usage(stdout), 0;
  rk_train_opts o = rk_train_defaults();
  double dist_timeout = DIST_TIMEOUT_DEFAULT;
  const char *data = NULL, *out = NULL, *device = NULL, *v;
  double d;
  int bad = 0, x, init_seed_set = 0, force = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if ((v = flag_value(argc, argv, &i, "--data", &bad))) data = v;
    else if ((v = flag_value(argc, argv, &i, "--out", &bad))) out = v;
    else if ((v = flag_value(argc, argv, &i, "--init", &bad))) o.init = v;
    else if ((v = flag_value(argc, argv, &i, "--tokenizer", &bad))) o.tokenizer = v;
    else if ((v = flag_value(argc, argv, &i, "--device", &bad))) device = v;
    else if ((v = flag_value(argc, argv, &i, "--val-frac", &bad))) bad = parse_double(v, "--val-frac", 0, 0.9, &o.val_frac) != 0;
    else if ((v = flag_value(argc, argv, &i, "--split-by", &bad))) bad = parse_split_by(v, &o.split_by) != 0;
    else if ((v = flag_value(argc, argv, &i, "--seed", &bad))) bad = parse_u64(v, "--seed", &o.seed) != 0;
    else if ((v = flag_value(argc, argv, &i, "--init-seed", &bad))) bad = parse_u64(v, "--init-seed", &o.init_seed) != 0, init_seed_set = 1;
    else if ((v = flag_value(argc, argv, &i, "--threads", &bad))) bad = parse_int(v, "--threads", 0, 1024, &o.threads) != 0;
    else if ((v = flag_value(argc, argv, &i, "--dist-timeout", &bad))) bad = parse_double(v, "--dist-timeout", 1, 1e7, &dist_timeout) != 0;
    else if (strcmp(argv[i], "--force") == 0) force = 1;
    else if (strcmp(argv[i], "--no-point") == 0) o.point = 0;
    else if (strcmp(argv[i], "--point") == 0) o.point = 1;
    else if (strcmp(argv[i], "--no-dual") == 0) o.dual = 0;
    else if (strcmp(argv[i], "--lexical-only") == 0) o.point = o.dual = 0;
    else if ((v = flag_value(argc, argv, &i, "--dual-epochs", &bad))) bad = parse_int(v, "--dual-epochs", 1, 1000, &o.dual_epochs) != 0;
    else if ((v = flag_value(argc, argv, &i, "--dual-lr", &bad))) bad = parse_double(v, "--dual-lr", 0, 1, &o.dual_lr) != 0;
    else if ((v = flag_value(argc, argv, &i, "--dual-cells", &bad))) bad = parse_int(v, "--dual-cells", 1, 8192, &o.dual_cells) != 0;
    else if ((v = flag_value(argc, argv, &i, "--dual-from", &bad))) o.dual_from = v;
    else if ((v = flag_value(argc, argv, &i, "--init-route", &bad))) {
      if (strcmp(v, "frozen") == 0) o.init_frozen = 1;
      else if (strcmp(v, "finetune") == 0) o.init_frozen = 0;
      else fprintf(stderr, "ordo ai4code train: --init-route: expected frozen or finetune, got '%s'\n", v), bad = 1;
    }
    else if ((v = flag_value(argc, argv, &i, "--init-pool", &bad))) {
      if (rk_pool_parse(v, &o.frozen_pool) != 0)
        fprintf(stderr, "ordo ai4code train: --init-pool: expected mean or first, got '%s'\n", v), bad = 1;
    }
    else if ((v = flag_value(argc, argv, &i, "--frozen-hidden", &bad))) bad = parse_int(v, "--frozen-hidden", 1, 65536, &o.frozen_hidden) != 0;
    else if ((v = flag_value(argc, argv, &i, "--frozen-epochs", &bad))) bad = parse_int(v, "--frozen-epochs", 1, 100000, &o.frozen_epochs) != 0;
    else if ((v = flag_value(argc, argv, &i, "--frozen-lr", &bad))) bad = parse_double(v, "--frozen-lr", 0, 1, &o.frozen_lr) != 0;
    else if (strcmp(argv[i], "--no-dense-features") == 0) o.dense_feats = 0;
    else if (strcmp(argv[i], "--no-stem") == 0) o.stem = 0;
    else if ((v = flag_value(argc, argv, &i, "--dual-folds", &bad))) {
      bad = parse_int(v, "--dual-folds", 0, RK_MAX_FOLDS, &o.dual_folds) != 0;
      if (!bad && o.dual_folds == 1)
        fprintf(stderr, "ordo ai4code train: --dual-folds 1: cross-fitting needs 2 folds or more "
                        "(0: none)\n"), bad = 1;
    }
    else if (strcmp(argv[i], "--no-notebook") == 0) o.nbm = 0;
    else if ((v = flag_value(argc, argv, &i, "--notebook-over", &bad))) {
      if (strcmp(v, "slot") == 0) o.nbm_over_slot = 1;
      else if (strcmp(v, "dual") == 0) o.nbm_over_slot = 0;
      else fprintf(stderr, "ordo ai4code train: --notebook-over: expected slot or dual, got '%s'\n", v), bad = 1;
    }
    else if ((v = flag_value(argc, argv, &i, "--notebook-epochs", &bad))) bad = parse_int(v, "--notebook-epochs", 1, 1000, &o.nbm_epochs) != 0;
    else if ((v = flag_value(argc, argv, &i, "--notebook-lr", &bad))) bad = parse_double(v, "--notebook-lr", 0, 1, &o.nbm_lr) != 0;
    else if ((v = flag_value(argc, argv, &i, "--notebook-layers", &bad))) bad = parse_int(v, "--notebook-layers", 1, 12, &o.nbc.layers) != 0;
    else if ((v = flag_value(argc, argv, &i, "--notebook-hidden", &bad))) bad = parse_int(v, "--notebook-hidden", 8, 1024, &o.nbc.hidden) != 0;
    else if ((v = flag_value(argc, argv, &i, "--notebook-batch", &bad))) bad = parse_int(v, "--notebook-batch", 1, 4096, &o.nbm_notebooks) != 0;
    else if ((v = flag_value(argc, argv, &i, "--dual-dim", &bad))) bad = parse_int(v, "--dual-dim", 1, 4096, &o.dc.dim) != 0;
    else if ((v = flag_value(argc, argv, &i, "--cell-tokens", &bad))) bad = parse_int(v, "--cell-tokens", 1, 4094, &o.dc.md_tokens) != 0, o.dc.code_tokens = o.dc.md_tokens;
    else if ((v = flag_value(argc, argv, &i, "--layers", &bad))) bad = parse_int(v, "--layers", 1, 48, &o.layers) != 0;
    else if ((v = flag_value(argc, argv, &i, "--hidden", &bad))) bad = parse_int(v, "--hidden", 8, 4096, &o.hidden) != 0;
    else if ((v = flag_value(argc, argv, &i, "--heads", &bad))) bad = parse_int(v, "--heads", 1, 64, &o.heads) != 0;
    else if ((v = flag_value(argc, argv, &i, "--intermediate", &bad))) bad = parse_int(v, "--intermediate", 8, 16384, &o.intermediate) != 0;
    else if ((v = flag_value(argc, argv, &i, "--vocab", &bad))) bad = parse_int(v, "--vocab", 300, 200000, &o.vocab_size) != 0;
    else if ((v = flag_value(argc, argv, &i, "--seq", &bad))) bad = parse_int(v, "--seq", 16, 4096, &o.pc.seq) != 0;
    else if ((v = flag_value(argc, argv, &i, "--md-tokens", &bad))) bad = parse_int(v, "--md-tokens", 1, 4096, &o.pc.md_tokens) != 0;
    else if ((v = flag_value(argc, argv, &i, "--code-cells", &bad))) bad = parse_int(v, "--code-cells", 0, 512, &o.pc.n_code) != 0;
    else if ((v = flag_value(argc, argv, &i, "--code-tokens", &bad))) bad = parse_int(v, "--code-tokens", 1, 4096, &o.pc.code_tokens) != 0;
    else if ((v = flag_value(argc, argv, &i, "--batch", &bad))) bad = parse_int(v, "--batch", 1, 4096, &o.batch) != 0;
    else if ((v = flag_value(argc, argv, &i, "--lr", &bad))) bad = parse_double(v, "--lr", 0, 1, &o.point_lr) != 0;
    else if ((v = flag_value(argc, argv, &i, "--epochs", &bad))) bad = parse_int(v, "--epochs", 1, 1000, &o.point_epochs) != 0;
    else if ((v = flag_value(argc, argv, &i, "--max-steps", &bad))) bad = parse_int(v, "--max-steps", 0, 2000000000, &x) != 0, o.max_steps = x;
    else if ((v = flag_value(argc, argv, &i, "--max-minutes", &bad))) bad = parse_double(v, "--max-minutes", 0, 1e6, &o.max_minutes) != 0;
    else if ((v = flag_value(argc, argv, &i, "--max-train", &bad))) bad = parse_int(v, "--max-train", 0, 100000000, &o.max_train_nb) != 0;
    else if ((v = flag_value(argc, argv, &i, "--slot-hidden", &bad))) bad = parse_int(v, "--slot-hidden", 1, 4096, &o.slot_hidden) != 0;
    else if ((v = flag_value(argc, argv, &i, "--slot-epochs", &bad))) bad = parse_int(v, "--slot-epochs", 1, 1000, &o.slot_epochs) != 0;
    else if ((v = flag_value(argc, argv, &i, "--slot-max-nb", &bad))) bad = parse_int(v, "--slot-max-nb", 0, 100000000, &o.slot_max_nb) != 0;
    else if ((v = flag_value(argc, argv, &i, "--slot-lr", &bad))) bad = parse_double(v, "--slot-lr", 0, 1, &d) != 0, o.slot_lr = d;
    else if (!bad && (x = train_flags_parse(&o.tech, argc, argv, &i, "ordo ai4code train")) != 0) bad = x < 0;
    else if (!bad) {
      fprintf(stderr, "ordo ai4code train: unknown argument '%s'\n", argv[i]);
      bad = 1;
    }
  }
  if (!bad && train_flags_check(&o.tech, "ordo ai4code train") != 0) bad = 1;
  if (!bad && (!data || !out)) {
    fprintf(stderr, "ordo ai4code train: --data and --out are required\n");
    bad = 1;
  }
  if (!bad && o.hidden % o.heads != 0) {
    fprintf(stderr, "ordo ai4code train: --hidden %d is not a multiple of --heads %d\n", o.hidden, o.heads);
    bad = 1;
  }
  if (!bad && o.nbc.hidden % (2 * o.nbc.heads) != 0) {
    fprintf(stderr, "ordo ai4code train: --notebook-hidden %d is not a multiple of %d (twice its "
                    "%d heads)\n", o.nbc.hidden, 2 * o.nbc.heads, o.nbc.heads);
    bad = 1;
  }
  if (!bad && o.dual_from && (!o.dual || o.init || o.tokenizer)) {
    fprintf(stderr, "ordo ai4code train: --dual-from takes the dual encoder and its tokenizer as "
                    "they are: it excludes --no-dual, --lexical-only, --init and --tokenizer\n");
    bad = 1;
  }
  if (!bad && o.pc.md_tokens + 3 > o.pc.seq) {
    fprintf(stderr, "ordo ai4code train: --seq %d leaves no room after --md-tokens %d\n", o.pc.seq, o.pc.md_tokens);
    bad = 1;
  }
  if (!bad && o.dual_folds > 0 && !o.dual) {
    fprintf(stderr, "ordo ai4code train: --dual-folds cross-fits the dual part: not with "
                    "--no-dual or --lexical-only\n");
    bad = 1;
  }
  if (!bad && o.init_frozen >= 0 && !o.init) {
    fprintf(stderr, "ordo ai4code train: --init-route chooses how --init starts the dual encoder: "
                    "give --init\n");
    bad = 1;
  }
  if (bad) return train_usage(stderr), 2;
  if (!init_seed_set) o.init_seed = o.seed;
  nb_dataset ds;
  ordo_err e = {{0}};
  ordo_dist dist;
  if (dist_init(&dist, dist_timeout, &e) != 0) {
    fprintf(stderr, "ordo ai4code train: %s\n", e.msg);
    return 1;
  }
  /* every rank reads the same files and trains alike; rank 0 alone prints and writes */
  const int root = dist_is_root(&dist), world = dist_world(&dist);
  if (!root && ordo_log_level() > ORDO_LOG_ERROR) ordo_log_set_level(ORDO_LOG_ERROR);
  o.verbose = root;
  o.dist = world > 1 ? &dist : NULL;
  ordo_backend be;
  if (device_open(&be, device, &e) != 0) return train_fail(&dist, NULL, &e);
  o.be = &be;
  if (o.init && rk_frozen_check_init(o.init, &e) != 0) return train_fail(&dist, &be, &e);
  if (device_dist_join(&be, &dist, 0, &e) != 0 || (root && rk_train_check_dir(out, force, &e) != 0))
    return train_fail(&dist, &be, &e);
  if (world > 1 && root)
    fprintf(stderr, "data parallel: %d ranks; a step's batch is ranks x --accum-steps micro-batches "
                    "(pointwise: of --batch cells; dual: of whole notebooks; slot: of 8 notebooks; "
                    "notebook model: --notebook-batch of 1 notebook)\n", world);
  double t0 = ordo_time();
  ordo_set_threads(o.threads);
  if (nb_dataset_load(&ds, data, o.threads, o.seed, &e) != 0) return train_fail(&dist, &be, &e);
  if (root)
    fprintf(stderr, "loaded %d notebooks (%d groups) from %s in %.1f s\n", ds.n, ds.n_groups, data,
            ordo_time() - t0);
  rk_train_result res;
  int rc = rk_train(&ds, &o, out, &res, &e);
  if (rc) {
    nb_dataset_free(&ds);
    return train_fail(&dist, &be, &e);
  }
  if (root) print_train_results(o, res, out, t0);
  nb_dataset_free(&ds);
  dist_dev_free(&dist);
  ordo_backend_close(&be);
  dist_free(&dist);
  return 0;
}

/* ---- predict ---------------------------------------------------------------------------- */
static void predict_usage(FILE *f) {
  fprintf(f,
          "usage: ordo ai4code predict --model DIR[,DIR...] [--weights W1,W2,...] --data DATASET\n"
          "                            --out SUB.csv [--split all|train|val] [--val-frac F]\n"
          "                            [--seed N] [--split-by repo|group] [--threads N]\n"
          "                            [--point-only | --dual-only | --notebook-only] [--device D]\n\n"
          "Writes an id,cell_order submission from models made by 'ordo ai4code train'. With several\n"
          "models, each markdown cell's predicted position is the weighted average of the models'\n"
          "(weights default equal, normalised). DATASET as for 'baseline' (test/ if present, else\n"
          "train/, or a folder of notebooks); --split keeps one side of the split (as for\n"
          "'baseline'). When the true orders are known the Kendall tau is printed. Throughput goes\n"
          "to stderr.\n"
          "--point-only predicts from the models' pointwise encoders alone (no slot model);\n"
          "--dual-only from their dual encoders alone (each markdown in its median slot);\n"
          "--notebook-only from their notebook-level models alone (the same decoding).\n");
  device_flag_usage(f);
}

static int cmd_rk_predict(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) return predict_usage(stdout), 0;
  const char *models_arg = NULL, *w_arg = NULL, *data = NULL, *out = NULL, *split = "all", *v;
  const char *device = NULL;
  double val_frac = 0.1, th = 0;
  nb_split_by by = NB_SPLIT_REPO;
  uint64_t seed = 42;
  int bad = 0, point_only = 0, dual_only = 0, nbm_only = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if ((v = flag_value(argc, argv, &i, "--model", &bad))) models_arg = v;
    else if ((v = flag_value(argc, argv, &i, "--weights", &bad))) w_arg = v;
    else if ((v = flag_value(argc, argv, &i, "--data", &bad))) data = v;
    else if ((v = flag_value(argc, argv, &i, "--out", &bad))) out = v;
    else if ((v = flag_value(argc, argv, &i, "--split", &bad))) split = v;
    else if ((v = flag_value(argc, argv, &i, "--device", &bad))) device = v;
    else if (strcmp(argv[i], "--point-only") == 0) point_only = 1;
    else if (strcmp(argv[i], "--dual-only") == 0) dual_only = 1;
    else if (strcmp(argv[i], "--notebook-only") == 0) nbm_only = 1;
    else if ((v = flag_value(argc, argv, &i, "--val-frac", &bad))) bad = parse_double(v, "--val-frac", 0, 1, &val_frac) != 0;
    else if ((v = flag_value(argc, argv, &i, "--split-by", &bad))) bad = parse_split_by(v, &by) != 0;
    else if ((v = flag_value(argc, argv, &i, "--seed", &bad))) bad = parse_u64(v, "--seed", &seed) != 0;
    else if ((v = flag_value(argc, argv, &i, "--threads", &bad))) bad = parse_double(v, "--threads", 0, 1024, &th) != 0;
    else if (!bad) {
      fprintf(stderr, "ordo ai4code predict: unknown argument '%s'\n", argv[i]);
      bad = 1;
    }
  }
  if (!bad && point_only + dual_only + nbm_only > 1) {
    fprintf(stderr, "ordo ai4code predict: --point-only, --dual-only and --notebook-only exclude "
                    "each other\n");
    bad = 1;
  }
  if (!bad && (!models_arg || !data || !out)) {
    fprintf(stderr, "ordo ai4code predict: --model, --data and --out are required\n");
    bad = 1;
  } else if (!bad && strcmp(split, "all") && strcmp(split, "train") && strcmp(split, "val")) {
    fprintf(stderr, "ordo ai4code predict: --split: expected all, train or val, got '%s'\n", split);
    bad = 1;
  }
  enum { MAXM = 16 };
  char *mbuf = ordo_strdup(models_arg ? models_arg : ""), *wbuf = ordo_strdup(w_arg ? w_arg : "");
  char *dirs[MAXM], *ws[MAXM];
  double weights[MAXM];
  int nm = bad ? 0 : split_commas(mbuf, dirs, MAXM);
  for (int k = 0; k < nm; k++) weights[k] = 1.0;
  for (int k = 0; k < nm && !bad; k++)
    if (!dirs[k][0]) {
      fprintf(stderr, "ordo ai4code predict: --model: empty path in the list\n");
      bad = 1;
    }
  if (!bad && w_arg) {
    int nw = split_commas(wbuf, ws, MAXM);
    if (nw != nm) {
      fprintf(stderr, "ordo ai4code predict: %d weights for %d models\n", nw, nm);
      bad = 1;
    }
    for (int k = 0; k < nw && !bad; k++) bad = parse_double(ws[k], "--weights", 0, 1e9, &weights[k]) != 0;
  }
  if (bad) {
    free(mbuf), free(wbuf);
    return predict_usage(stderr), 2;
  }
  double wsum = 0;
  for (int k = 0; k < nm; k++) wsum += weights[k];
  if (!(wsum > 0)) {
    free(mbuf), free(wbuf);
    fprintf(stderr, "ordo ai4code predict: --weights must not all be zero\n");
    return 2;
  }
  if (out_file_usable(out, "predict") != 0) {
    free(mbuf), free(wbuf);
    return 1;
  }
  ordo_err e = {{0}};
  ordo_backend be;
  if (device_open(&be, device, &e) != 0) {
    free(mbuf), free(wbuf);
    fprintf(stderr, "ordo ai4code predict: %s\n", e.msg);
    return 1;
  }
  rk_model *models = ordo_calloc((size_t)nm, sizeof *models);
  int loaded = 0, rc = 0;
  for (; loaded < nm; loaded++)
    if (rk_model_load(&models[loaded], dirs[loaded], &be, &e) != 0) {
      fprintf(stderr, "ordo ai4code predict: %s\n", e.msg);
      rc = 1;
      break;
    } else if (point_only && !models[loaded].has_point) {
      fprintf(stderr, "ordo ai4code predict: --point-only: %s has no pointwise encoder\n", dirs[loaded]);
      rc = 1;
      loaded++;
      break;
    } else if (dual_only && !models[loaded].has_dual) {
      fprintf(stderr, "ordo ai4code predict: --dual-only: %s has no dual encoder\n", dirs[loaded]);
      rc = 1;
      loaded++;
      break;
    } else if (nbm_only && !models[loaded].has_nbm) {
      fprintf(stderr, "ordo ai4code predict: --notebook-only: %s has no notebook-level model\n",
              dirs[loaded]);
      rc = 1;
      loaded++;
      break;
    } else {
      models[loaded].point_only = point_only;
      models[loaded].dual_only = dual_only;
      models[loaded].nbm_only = nbm_only;
    }
  nb_dataset ds;
  uint8_t *mask = NULL;
  ordo_set_threads((int)th);
  if (rc == 0 && load_split(data, split, by, val_frac, seed, (int)th, &ds, &mask, "predict") != 0) rc = 1;
  if (rc) {
    for (int k = 0; k < loaded; k++) rk_model_free(&models[k]);
    free(models), free(mbuf), free(wbuf);
    ordo_backend_close(&be);
    return 1;
  }
  double t0 = ordo_time();
  float **acc = ordo_calloc((size_t)(ds.n ? ds.n : 1), sizeof *acc);
  float **pos = ordo_calloc((size_t)(ds.n ? ds.n : 1), sizeof *pos);
  for (int k = 0; k < nm; k++) {
    models[k].progress = "predict";
    rk_predict_positions(&models[k], &ds, mask, (int)th, pos);
    for (int32_t i = 0; i < ds.n; i++) {
      if (!pos[i]) continue;
      if (!acc[i]) acc[i] = ordo_calloc((size_t)(ds.nbs[i].n_md + 1), sizeof **acc);
      for (int32_t m = 0; m < ds.nbs[i].n_md; m++) acc[i][m] += (float)(weights[k] / wsum) * pos[i][m];
      free(pos[i]);
      pos[i] = NULL;
    }
  }
  nb_orders sub = {0};
  ai4_tau t = {0, 0};
  int32_t n_pred = 0;
  for (int32_t i = 0; i < ds.n; i++) {
    if (!acc[i]) continue;
    const nb_notebook *nb = &ds.nbs[i];
    int32_t *ord = ordo_malloc((size_t)(nb->n_cells ? nb->n_cells : 1) * sizeof *ord);
    rk_order_from_md_pos(nb, acc[i], ord);
    nb_orders_add_nb(&sub, nb, ord);
    if (ds.has_orders) ai4_tau_add(&t, ord, nb->order, nb->n_cells);
    free(ord);
    free(acc[i]);
    n_pred++;
  }
  double dt = ordo_time() - t0;
  rc = nb_orders_write(&sub, out, &e);
  if (rc) fprintf(stderr, "ordo ai4code predict: %s\n", e.msg);
  else {
    fprintf(stderr, "predicted %d notebooks with %d model%s in %.2f s (%.1f notebooks/s) -> %s\n", n_pred,
            nm, nm == 1 ? "" : "s", dt, dt > 0 ? n_pred / dt : 0.0, out);
    if (ds.has_orders) printf("kendall_tau: %.6f\n", ai4_tau_value(&t));
  }
  nb_orders_free(&sub);
  free(acc), free(pos), free(mask);
  nb_dataset_free(&ds);
  for (int k = 0; k < nm; k++) rk_model_free(&models[k]);
  free(models), free(mbuf), free(wbuf);
  ordo_backend_close(&be);
  return rc ? 1 : 0;
}

/* ---- dispatch ----------------------------------------------------------------------------- */
static const ordo_command k_sub[] = {
    {"score", "Kendall tau of a submission against the true orders", cmd_score},
    {"baseline", "simple orderings: markdown first, spread evenly, TF-IDF nearest code", cmd_baseline},
    {"ensemble", "rank-level ensemble of whole submissions", cmd_ensemble},
    {"train", "train the cell-order ranker (dual encoder + slot model)", cmd_rk_train},
    {"predict", "write a submission from trained rankers (weighted ensemble)", cmd_rk_predict},
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
