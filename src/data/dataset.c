/* Loading notebook datasets (parallel over files) and splitting them by ancestor group. */
#include <omp.h>
#include <string.h>

#include "data/internal.h"
#include "ordo/rng.h"

/* ---- ids ------------------------------------------------------------------------------- */
static uint64_t mix64(uint64_t x) { /* splitmix64 finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t nb_hash_str(uint64_t seed, const char *s) {
  uint64_t h = mix64(seed ^ 0x9e3779b97f4a7c15ULL);
  for (; *s; s++) h = mix64(h ^ (uint8_t)*s);
  return h;
}

void nb_assign_ids(nb_notebook *nb, uint64_t seed, const char *key) {
  uint64_t h = nb_hash_str(seed, key);
  snprintf(nb->id, sizeof nb->id, "%014llx", (unsigned long long)(h >> 8));
  nb_strmap m;
  nb_strmap_init(&m, nb->n_cells);
  for (int32_t i = 0; i < nb->n_cells; i++) {
    for (uint64_t salt = 0;; salt++) { /* redraw on a collision within the notebook */
      uint64_t c = mix64(h ^ mix64(((uint64_t)i << 20) + salt + 1));
      snprintf(nb->cells[i].id, sizeof nb->cells[i].id, "%08llx", (unsigned long long)(c >> 32));
      if (nb_strmap_put(&m, nb->cells[i].id, i) < 0) break;
    }
  }
  nb_strmap_free(&m);
  nb_to_kaggle_layout(nb, mix64(h ^ 0x5bd1e995ULL));
}

/* ---- loading --------------------------------------------------------------------------- */
static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

void nb_dataset_free(nb_dataset *ds) {
  for (int32_t i = 0; i < ds->n; i++) nb_notebook_free(&ds->nbs[i]);
  free(ds->nbs);
  for (int32_t i = 0; i < ds->n_groups; i++) free(ds->groups[i]);
  free(ds->groups);
  memset(ds, 0, sizeof *ds);
}

static int cmp_nb_id(const void *a, const void *b) {
  return strcmp(((const nb_notebook *)a)->id, ((const nb_notebook *)b)->id);
}

int32_t nb_dataset_find(const nb_dataset *ds, const char *id) {
  int32_t lo = 0, hi = ds->n - 1;
  while (lo <= hi) {
    int32_t mid = (lo + hi) / 2;
    int c = strcmp(ds->nbs[mid].id, id);
    if (c == 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/* Sets nb->order from one orders row; returns -1 naming what does not match. */
static int attach_order(nb_notebook *nb, char *const *cells, int32_t count, const char *path,
                        ordo_err *e) {
  if (count != nb->n_cells)
    return ordo_fail(e, "%s: notebook %s: %d cells in the order but %d in the notebook", path,
                     nb->id, count, nb->n_cells);
  nb_strmap m;
  nb_strmap_init(&m, nb->n_cells);
  for (int32_t i = 0; i < nb->n_cells; i++) nb_strmap_put(&m, nb->cells[i].id, i);
  int32_t *order = ordo_malloc((size_t)(count ? count : 1) * sizeof *order);
  uint8_t *used = ordo_calloc((size_t)(count ? count : 1), 1);
  int rc = 0;
  for (int32_t j = 0; j < count && rc == 0; j++) {
    int32_t i = nb_strmap_get(&m, cells[j]);
    if (i < 0) rc = ordo_fail(e, "%s: notebook %s: unknown cell id %s", path, nb->id, cells[j]);
    else if (used[i]) rc = ordo_fail(e, "%s: notebook %s: cell id %s listed twice", path, nb->id, cells[j]);
    else used[i] = 1, order[j] = i;
  }
  /* the code cells must appear in the order the notebook file lists them */
  for (int32_t j = 0, k = 0; j < count && rc == 0; j++)
    if (nb->cells[order[j]].type == NB_CELL_CODE && order[j] != k++)
      rc = ordo_fail(e, "%s: notebook %s: code cell %s out of the file's code order", path, nb->id,
                     cells[j]);
  nb_strmap_free(&m);
  free(used);
  if (rc) {
    free(order);
    return rc;
  }
  free(nb->order);
  nb->order = order;
  return 0;
}

static int read_ancestors(const char *path, nb_strmap *idmap, char **anc, ordo_err *e) {
  size_t len;
  char *text = ordo_read_file(path, &len, e);
  if (!text) return -1;
  size_t pos = 0, cap = 4096;
  char *buf = ordo_malloc(cap);
  char *f[4];
  int line = 0, rc = 0, nf;
  while ((nf = nb_csv_next(text, len, &pos, buf, cap, f, 4)) != 0) {
    line++;
    if (nf < 0) {
      rc = ordo_fail(e, "%s:%d: unterminated quoted field", path, line);
      break;
    }
    if (line == 1) {
      if (nf < 2 || strcmp(f[0], "id") != 0 || strcmp(f[1], "ancestor_id") != 0) {
        rc = ordo_fail(e, "%s:1: expected the header 'id,ancestor_id,parent_id'", path);
        break;
      }
      continue;
    }
    if (nf == 1 && !f[0][0]) continue;
    if (nf < 2 || !f[1][0]) {
      rc = ordo_fail(e, "%s:%d: expected id,ancestor_id,parent_id", path, line);
      break;
    }
    int32_t i = nb_strmap_get(idmap, f[0]);
    if (i >= 0 && !anc[i]) anc[i] = ordo_strdup(f[1]);
  }
  free(buf);
  free(text);
  return rc;
}

int nb_dataset_load(nb_dataset *ds, const char *dir, int threads, uint64_t seed, ordo_err *e) {
  memset(ds, 0, sizeof *ds);
  if (!ordo_is_dir(dir)) return ordo_fail(e, "%s: not a folder (expected a dataset root or a folder of notebooks)", dir);
  size_t dl = strlen(dir) + 64;
  char *sub = ordo_malloc(dl), *orders_path = ordo_malloc(dl), *anc_path = ordo_malloc(dl);
  orders_path[0] = anc_path[0] = 0;
  snprintf(sub, dl, "%s/test", dir);
  if (!ordo_is_dir(sub)) {
    snprintf(sub, dl, "%s/train", dir);
    if (ordo_is_dir(sub)) {
      snprintf(orders_path, dl, "%s/train_orders.csv", dir);
      snprintf(anc_path, dl, "%s/train_ancestors.csv", dir);
    } else
      snprintf(sub, dl, "%s", dir);
  }
  ordo_paths files = {0};
  static const char *const k_json[] = {".json"};
  static const char *const k_ipynb[] = {".ipynb", ".ipynb.gz"};
  int ipynb = 0;
  int rc = ordo_list_files(sub, k_json, 1, 0, &files, e);
  if (rc == 0 && files.n == 0) {
    ipynb = 1;
    rc = ordo_list_files(sub, k_ipynb, 2, 1, &files, e);
  }
  if (rc == 0 && files.n == 0)
    rc = ordo_fail(e, "%s: no notebooks found (expected train/ or test/ with {id}.json files, "
                      "{id}.json files, or .ipynb/.ipynb.gz files)", sub);
  if (rc) {
    ordo_paths_free(&files);
    free(sub), free(orders_path), free(anc_path);
    return -1;
  }

  int32_t n = files.n;
  nb_notebook *nbs = ordo_calloc((size_t)n, sizeof *nbs);
  char **msgs = ordo_calloc((size_t)n, sizeof *msgs); /* a message per skipped file */
  char **groupkey = ordo_calloc((size_t)n, sizeof *groupkey);
  size_t sl = strlen(sub);
  if (threads <= 0) threads = omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
  for (int32_t i = 0; i < n; i++) {
    ordo_err fe = {{0}};
    size_t len;
    const char *path = files.p[i];
    char *text = nb_read_maybe_gz(path, &len, &fe);
    int r = -1;
    if (text && !ipynb) {
      char id[sizeof nbs[i].id];
      size_t il = strlen(base_name(path)) - 5; /* drop ".json" */
      if (il == 0 || il >= sizeof id) {
        r = ordo_fail(&fe, "%s: expected a file name {notebook id}.json with an id of 1 to %zu characters",
                      path, sizeof id - 1);
      } else {
        memcpy(id, base_name(path), il);
        id[il] = 0;
        r = nb_parse_kaggle_json(&nbs[i], text, len, path, id, &fe);
      }
    } else if (text) {
      nb_ipynb_opts po = {.max_cell_chars = 0};
      r = nb_parse_ipynb(&nbs[i], text, len, path, &po, &fe);
      if (r >= 0) {
        r = 0;
        const char *rel = path + sl + (path[sl] == '/');
        nb_assign_ids(&nbs[i], seed, rel);
        /* group: the top folder under the root, or the file itself */
        const char *slash = strchr(rel, '/');
        size_t gl = slash ? (size_t)(slash - rel) : strlen(rel);
        groupkey[i] = ordo_malloc(gl + 1);
        memcpy(groupkey[i], rel, gl);
        groupkey[i][gl] = 0;
      }
    }
    if (r == 0 && nbs[i].n_cells == 0) {
      nb_notebook_free(&nbs[i]);
      r = ordo_fail(&fe, "%s: no cells", path);
    }
    if (r != 0) msgs[i] = ordo_strdup(fe.msg);
    free(text);
  }
  /* compact, warn in file order */
  int32_t k = 0, shown = 0;
  for (int32_t i = 0; i < n; i++) {
    if (msgs[i]) {
      if (shown++ < 20) log_warn("skipped: %s", msgs[i]);
      free(msgs[i]);
      ds->n_skipped++;
      free(groupkey[i]);
      continue;
    }
    groupkey[k] = groupkey[i];
    nbs[k++] = nbs[i];
  }
  if (ds->n_skipped > 20) log_warn("... %d more files skipped", ds->n_skipped - 20);
  if (ds->n_skipped) log_warn("%s: %d of %d notebook files skipped as malformed", sub, ds->n_skipped, n);
  free(msgs);
  ordo_paths_free(&files);
  ds->n = k;
  ds->nbs = nbs;
  /* sort by id, carrying the group keys along */
  for (int32_t i = 0; i < k; i++) nbs[i].group = i;
  qsort(nbs, (size_t)k, sizeof *nbs, cmp_nb_id);
  char **anc = ordo_calloc((size_t)(k ? k : 1), sizeof *anc);
  for (int32_t i = 0; i < k; i++) anc[i] = groupkey[nbs[i].group], nbs[i].group = -1;
  free(groupkey);
  for (int32_t i = 1; i < k && rc == 0; i++)
    if (strcmp(nbs[i].id, nbs[i - 1].id) == 0)
      rc = ordo_fail(e, "%s: two notebooks with the id %s", sub, nbs[i].id);

  nb_strmap idmap;
  nb_strmap_init(&idmap, k);
  for (int32_t i = 0; i < k; i++) nb_strmap_put(&idmap, nbs[i].id, i);

  if (rc == 0 && orders_path[0] && ordo_is_file(orders_path)) {
    nb_orders o;
    rc = nb_orders_read(&o, orders_path, e);
    uint8_t *bad = ordo_calloc((size_t)(k ? k : 1), 1);
    int32_t nbad = 0;
    for (int32_t r = 0; rc == 0 && r < o.n; r++) {
      int32_t i = nb_strmap_get(&idmap, o.ids[r]);
      if (i < 0) continue; /* a notebook whose file was skipped or is absent */
      ordo_err oe = {{0}};
      if (attach_order(&nbs[i], o.cells[r], o.count[r], orders_path, &oe) != 0) {
        if (nbad++ < 20) log_warn("skipped: %s", oe.msg);
        bad[i] = 1;
      }
    }
    if (rc == 0) nb_orders_free(&o);
    if (nbad) { /* drop notebooks whose order does not match their file */
      int32_t w = 0;
      for (int32_t i = 0; i < k; i++) {
        if (bad[i]) {
          nb_notebook_free(&nbs[i]);
          free(anc[i]);
          continue;
        }
        anc[w] = anc[i];
        nbs[w++] = nbs[i];
      }
      ds->n = k = w;
      ds->n_skipped += nbad;
      log_warn("%s: %d notebooks skipped: their order does not match their file", orders_path, nbad);
      nb_strmap_free(&idmap);
      nb_strmap_init(&idmap, k);
      for (int32_t i = 0; i < k; i++) nb_strmap_put(&idmap, nbs[i].id, i);
    }
    free(bad);
  }
  if (rc == 0 && anc_path[0] && ordo_is_file(anc_path)) rc = read_ancestors(anc_path, &idmap, anc, e);
  nb_strmap_free(&idmap);

  if (rc == 0) {
    ds->has_orders = k > 0;
    int32_t missing = 0;
    for (int32_t i = 0; i < k; i++)
      if (!nbs[i].order) ds->has_orders = 0, missing++;
    if (missing && missing < k)
      log_warn("%s: %d of %d notebooks have no true order", orders_path[0] ? orders_path : sub, missing, k);
    /* groups: sorted distinct ancestor ids; a notebook without one is its own group */
    ordo_paths g = {0};
    for (int32_t i = 0; i < k; i++) {
      if (!anc[i]) anc[i] = ordo_strdup(nbs[i].id);
      ordo_paths_add(&g, anc[i]);
    }
    ordo_paths_sort(&g);
    int32_t ng = 0;
    for (int32_t i = 0; i < g.n; i++) {
      if (ng && strcmp(g.p[ng - 1], g.p[i]) == 0) {
        free(g.p[i]);
        continue;
      }
      g.p[ng++] = g.p[i];
    }
    ds->groups = g.p;
    ds->n_groups = ng;
    nb_strmap gm;
    nb_strmap_init(&gm, ng);
    for (int32_t i = 0; i < ng; i++) nb_strmap_put(&gm, g.p[i], i);
    for (int32_t i = 0; i < k; i++) nbs[i].group = nb_strmap_get(&gm, anc[i]);
    nb_strmap_free(&gm);
  }
  for (int32_t i = 0; i < k; i++) free(anc[i]);
  free(anc);
  free(sub), free(orders_path), free(anc_path);
  if (rc) nb_dataset_free(ds);
  return rc;
}

/* ---- splits ---------------------------------------------------------------------------- */
void nb_split_groups(const nb_dataset *ds, double val_frac, uint64_t seed, uint8_t *is_val) {
  memset(is_val, 0, (size_t)ds->n);
  if (val_frac <= 0 || ds->n_groups == 0) return;
  int32_t ng = ds->n_groups;
  int64_t *size = ordo_calloc((size_t)ng, sizeof *size);
  for (int32_t i = 0; i < ds->n; i++) size[ds->nbs[i].group]++;
  int32_t *perm = ordo_malloc((size_t)ng * sizeof *perm);
  for (int32_t g = 0; g < ng; g++) perm[g] = g; /* groups are sorted by name: order-free */
  ordo_rng r;
  rng_init(&r, seed);
  rng_shuffle_i32(&r, perm, ng);
  int64_t target = (int64_t)(val_frac * (double)ds->n + 0.5), got = 0;
  uint8_t *take = ordo_calloc((size_t)ng, 1);
  for (int32_t j = 0; j < ng; j++)
    if (got + size[perm[j]] <= target) take[perm[j]] = 1, got += size[perm[j]];
  if (got == 0) { /* every group is bigger than the target: take the smallest */
    int32_t best = 0;
    for (int32_t g = 1; g < ng; g++)
      if (size[g] < size[best]) best = g;
    take[best] = 1;
  }
  for (int32_t i = 0; i < ds->n; i++) is_val[i] = take[ds->nbs[i].group];
  free(size), free(perm), free(take);
}
