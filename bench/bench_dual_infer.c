/* Dual-encoder inference benchmark: the cell vectors of the first N notebooks of a dataset, as
 * `ordo ai4code predict` computes them (rk_dual_embed_ct: tokenized beforehand, so that the
 * timed pass is the encoder's alone, as on the PyTorch side, which reads the dumped ids).
 * Prints one JSON line: best of --rounds passes.
 *
 *   bench_dual_infer --model DIR --data DIR [--notebooks 200] [--threads N] [--rounds 3]
 *                    [--dump-ids FILE] [--vectors FILE] [--force]
 * --model: a ranker directory of `ordo ai4code train` with a dual encoder (DIR/dual is its HF
 * checkpoint: RobertaForSequenceClassification, whose logits are the cell vectors).
 * --dump-ids: the exact rows the encoder runs, one line per cell in notebook order:
 *   "notebook cell token_type id id ..." after a header line "# cells K notebooks N dim D".
 * --vectors: the cell vectors of the last pass, float32 (K, 2 D) in the same order.
 * Existing output files are replaced only with --force. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/files.h"
#include "ordo/ranker.h"

static int usage(FILE *f) {
  fprintf(f, "usage: bench_dual_infer --model DIR --data DIR [--notebooks 200] [--threads N] "
             "[--rounds 3]\n                        [--dump-ids FILE] [--vectors FILE] [--force]\n");
  return f == stdout ? 0 : 2;
}

static int int_flag(const char *name, const char *v, int lo, int hi, int *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < lo || x > hi) {
    fprintf(stderr, "bench_dual_infer: %s: expected an integer in [%d, %d], got '%s'\n", name, lo,
            hi, v);
    return -1;
  }
  *out = (int)x;
  return 0;
}

static int output_ok(const char *path, int force, const char *flag) {
  ordo_err e = {{0}};
  if (ordo_check_output_file(path, &e) != 0) {
    fprintf(stderr, "bench_dual_infer: %s: %s\n", flag, e.msg);
    return -1;
  }
  if (!force && ordo_is_file(path)) {
    fprintf(stderr, "bench_dual_infer: %s: %s exists (--force replaces it)\n", flag, path);
    return -1;
  }
  return 0;
}

/* Appends printf output to a growing buffer. */
typedef struct text {
  char *p;
  size_t n, cap;
} text;
static void text_add(text *t, const char *fmt, long a, long b, long c) {
  if (t->cap - t->n < 96) {
    t->cap = t->cap ? 2 * t->cap : 1 << 16;
    t->p = realloc(t->p, t->cap);
    ORDO_CHECK(t->p);
  }
  t->n += (size_t)snprintf(t->p + t->n, t->cap - t->n, fmt, a, b, c);
}

static int dump_ids(const char *path, const rk_model *m, const nb_dataset *ds,
                    const rk_cell_tokens *ct, int32_t n_nb, int64_t cells) {
  int per = m->dc.md_tokens > m->dc.code_tokens ? m->dc.md_tokens : m->dc.code_tokens, T = per + 2;
  int32_t *ids = ordo_malloc((size_t)T * sizeof *ids), *msk = ordo_malloc((size_t)T * sizeof *msk);
  int32_t *tt = ordo_malloc((size_t)T * sizeof *tt);
  text t = {0};
  text_add(&t, "# cells %ld notebooks %ld dim %ld\n", (long)cells, (long)n_nb, (long)m->dc.dim);
  for (int32_t i = 0; i < n_nb; i++)
    for (int32_t c = 0; c < ds->nbs[i].n_cells; c++) {
      int n = rk_dual_encode_cell(&m->dc, m->tk, ct, i, &ds->nbs[i], c, T, ids, msk, tt);
      text_add(&t, "%ld %ld %ld", (long)i, (long)c, (long)tt[0]);
      for (int k = 0; k < n; k++) text_add(&t, " %ld", (long)ids[k], 0, 0);
      text_add(&t, "\n", 0, 0, 0);
    }
  ordo_err e = {{0}};
  int rc = ordo_write_file_atomic(path, t.p, t.n, &e);
  if (rc) fprintf(stderr, "bench_dual_infer: --dump-ids: %s\n", e.msg);
  free(t.p), free(ids), free(msk), free(tt);
  return rc;
}

static int write_vectors(const char *path, const rk_model *m, const nb_dataset *ds, int32_t n_nb,
                         float **z, int64_t cells) {
  size_t L = 2 * (size_t)m->dc.dim, k = 0;
  float *all = ordo_malloc((size_t)cells * L * sizeof *all + 1);
  for (int32_t i = 0; i < n_nb; i++) {
    memcpy(all + k, z[i], (size_t)ds->nbs[i].n_cells * L * sizeof *all);
    k += (size_t)ds->nbs[i].n_cells * L;
  }
  ordo_err e = {{0}};
  int rc = ordo_write_file_atomic(path, all, (size_t)cells * L * sizeof *all, &e);
  if (rc) fprintf(stderr, "bench_dual_infer: --vectors: %s\n", e.msg);
  free(all);
  return rc;
}

int main(int argc, char **argv) {
  const char *model = NULL, *data = NULL, *ids_out = NULL, *vec_out = NULL;
  int n_want = 200, threads = 0, rounds = 3, force = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
    if (!strcmp(a, "--force")) {
      force = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "bench_dual_infer: %s: missing value\n", a);
      return usage(stderr);
    }
    i++;
    if (!strcmp(a, "--model")) model = v;
    else if (!strcmp(a, "--data")) data = v;
    else if (!strcmp(a, "--dump-ids")) ids_out = v;
    else if (!strcmp(a, "--vectors")) vec_out = v;
    else if (!strcmp(a, "--notebooks")) {
      if (int_flag(a, v, 1, 100000000, &n_want)) return 2;
    } else if (!strcmp(a, "--threads")) {
      if (int_flag(a, v, 0, 1024, &threads)) return 2;
    } else if (!strcmp(a, "--rounds")) {
      if (int_flag(a, v, 1, 1000, &rounds)) return 2;
    } else {
      fprintf(stderr, "bench_dual_infer: unknown argument '%s'\n", a);
      return usage(stderr);
    }
  }
  if (!model || !data) {
    fprintf(stderr, "bench_dual_infer: --model and --data are required\n");
    return usage(stderr);
  }
  if ((ids_out && output_ok(ids_out, force, "--dump-ids")) ||
      (vec_out && output_ok(vec_out, force, "--vectors")))
    return 1;
  ordo_set_threads(threads);
  ordo_err e = {{0}};
  rk_model m;
  if (rk_model_load(&m, model, NULL, &e) != 0) {
    fprintf(stderr, "bench_dual_infer: %s\n", e.msg);
    return 1;
  }
  if (!m.has_dual) {
    fprintf(stderr, "bench_dual_infer: --model %s has no dual encoder\n", model);
    rk_model_free(&m);
    return 1;
  }
  nb_dataset ds;
  if (nb_dataset_load(&ds, data, threads, 42, &e) != 0) {
    fprintf(stderr, "bench_dual_infer: %s\n", e.msg);
    rk_model_free(&m);
    return 1;
  }
  int32_t n_nb = ds.n < n_want ? ds.n : n_want;
  uint8_t *mask = ordo_calloc((size_t)ds.n + 1, 1);
  int64_t cells = 0;
  for (int32_t i = 0; i < n_nb; i++) mask[i] = 1, cells += ds.nbs[i].n_cells;
  int per = m.dc.md_tokens > m.dc.code_tokens ? m.dc.md_tokens : m.dc.code_tokens;
  rk_cell_tokens ct;
  rk_cell_tokens_build(&ct, m.tk, &ds, mask, per, threads);
  int rc = ids_out ? dump_ids(ids_out, &m, &ds, &ct, n_nb, cells) : 0;
  float **z = ordo_calloc((size_t)ds.n + 1, sizeof *z);
  double best = 0;
  for (int r = 0; r < rounds && rc == 0; r++) {
    for (int32_t i = 0; i < n_nb; i++) free(z[i]), z[i] = NULL;
    double t0 = ordo_time();
    rk_dual_embed_ct(&m.dual, m.tk, &m.dc, &ds, &ct, mask, z);
    double dt = ordo_time() - t0;
    if (r == 0 || dt < best) best = dt;
  }
  if (rc == 0 && vec_out) rc = write_vectors(vec_out, &m, &ds, n_nb, z, cells);
  if (rc == 0)
    printf("{\"impl\":\"ordo\",\"threads\":%d,\"notebooks\":%d,\"cells\":%lld,\"seconds\":%.4f,"
           "\"cells_per_s\":%.1f,\"notebooks_per_s\":%.2f}\n",
           threads > 0 ? threads : omp_get_max_threads(), n_nb, (long long)cells, best, cells / best,
           n_nb / best);
  for (int32_t i = 0; i < ds.n; i++) free(z[i]);
  free(z), free(mask);
  rk_cell_tokens_free(&ct);
  nb_dataset_free(&ds);
  rk_model_free(&m);
  return rc ? 1 : 0;
}
