/* Loading notebook datasets (parallel over files) and splitting them by repository or ancestor
 * group. */
#include <omp.h>
#include <stdint.h>
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
  for (int32_t i = 0; i < ds->n_repos; i++) free(ds->repos[i]);
  free(ds->repos);
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

/* Reads the column col of an "id,..." CSV (train_ancestors.csv: ancestor_id; sources.csv: repo)
 * into val[i] for the notebooks in idmap; the first value of an id wins. A file without that
 * column is an error when required, else read as having no values. */
static int read_id_column(const char *path, const char *col, const char *header, int required,
                          nb_strmap *idmap, char **val, ordo_err *e) {
  size_t len;
  char *text = ordo_read_file(path, &len, e);
  if (!text) return -1;
  size_t pos = 0, cap = 4096;
  char *buf = ordo_malloc(cap);
  char *f[8];
  int line = 0, rc = 0, nf, c = -1;
  while ((nf = nb_csv_next(text, len, &pos, buf, cap, f, 8)) != 0) {
    line++;
    if (nf < 0) {
      rc = ordo_fail(e, "%s:%d: unterminated quoted field", path, line);
      break;
    }
    if (line == 1) {
      for (int j = 1; j < nf && strcmp(f[0], "id") == 0; j++)
        if (strcmp(f[j], col) == 0) c = j;
      if (c < 0 && required) rc = ordo_fail(e, "%s:1: expected the header '%s'", path, header);
      if (c < 0) break;
      continue;
    }
    if (nf == 1 && !f[0][0]) continue;
    if (nf <= c || !f[c][0]) {
      if (!required) continue; /* unknown for this notebook */
      rc = ordo_fail(e, "%s:%d: expected %s", path, line, header);
      break;
    }
    int32_t i = nb_strmap_get(idmap, f[0]);
    if (i >= 0 && !val[i]) val[i] = ordo_strdup(f[c]);
  }
  free(buf);
  free(text);
  return rc;
}

/* Sorted distinct names of key[0..k) (NULLs skipped) into *names; idx[i] = the index of key[i]
 * among them, -1 for NULL. Returns the count. */
static int32_t index_names(char **key, int32_t k, char ***names, int32_t *idx) {
  ordo_paths g = {0};
  for (int32_t i = 0; i < k; i++)
    if (key[i]) ordo_paths_add(&g, key[i]);
  ordo_paths_sort(&g);
  int32_t ng = 0;
  for (int32_t i = 0; i < g.n; i++) {
    if (ng && strcmp(g.p[ng - 1], g.p[i]) == 0) {
      free(g.p[i]);
      continue;
    }
    g.p[ng++] = g.p[i];
  }
  nb_strmap gm;
  nb_strmap_init(&gm, ng);
  for (int32_t i = 0; i < ng; i++) nb_strmap_put(&gm, g.p[i], i);
  for (int32_t i = 0; i < k; i++) idx[i] = key[i] ? nb_strmap_get(&gm, key[i]) : -1;
  nb_strmap_free(&gm);
  *names = g.p;
  return ng;
}

int nb_dataset_load(nb_dataset *ds, const char *dir, int threads, uint64_t seed, ordo_err *e) {
  memset(ds, 0, sizeof *ds);
  if (!ordo_is_dir(dir)) return ordo_fail(e, "%s: not a folder (expected a dataset root or a folder of notebooks)", dir);
  size_t dl = strlen(dir) + 64;
  char *sub = ordo_malloc(dl), *orders_path = ordo_malloc(dl), *anc_path = ordo_malloc(dl);
  char *src_path = ordo_malloc(dl);
  orders_path[0] = anc_path[0] = src_path[0] = 0;
  snprintf(sub, dl, "%s/test", dir);
  if (!ordo_is_dir(sub)) {
    snprintf(sub, dl, "%s/train", dir);
    if (ordo_is_dir(sub)) {
      snprintf(orders_path, dl, "%s/train_orders.csv", dir);
      snprintf(anc_path, dl, "%s/train_ancestors.csv", dir);
      snprintf(src_path, dl, "%s/sources.csv", dir);
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
    free(sub), free(orders_path), free(anc_path), free(src_path);
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
  for (int32_t i = 0; i < k; i++) anc[i] = groupkey[nbs[i].group], nbs[i].group = -1, nbs[i].repo = -1;
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
  if (rc == 0 && anc_path[0] && ordo_is_file(anc_path))
    rc = read_id_column(anc_path, "ancestor_id", "id,ancestor_id,parent_id", 1, &idmap, anc, e);
  char **repo = ordo_calloc((size_t)(k ? k : 1), sizeof *repo);
  if (rc == 0 && src_path[0] && ordo_is_file(src_path))
    rc = read_id_column(src_path, "repo", "id,repo,...", 0, &idmap, repo, e);
  nb_strmap_free(&idmap);

  if (rc == 0) {
    ds->has_orders = k > 0;
    int32_t missing = 0;
    for (int32_t i = 0; i < k; i++)
      if (!nbs[i].order) ds->has_orders = 0, missing++;
    if (missing && missing < k)
      log_warn("%s: %d of %d notebooks have no true order", orders_path[0] ? orders_path : sub, missing, k);
    /* groups: sorted distinct ancestor ids; a notebook without one is its own group */
    int32_t *idx = ordo_malloc((size_t)(k ? k : 1) * sizeof *idx);
    for (int32_t i = 0; i < k; i++)
      if (!anc[i]) anc[i] = ordo_strdup(nbs[i].id);
    ds->n_groups = index_names(anc, k, &ds->groups, idx);
    for (int32_t i = 0; i < k; i++) nbs[i].group = idx[i];
    /* repositories (sources.csv), where known */
    ds->n_repos = index_names(repo, k, &ds->repos, idx);
    for (int32_t i = 0; i < k; i++) nbs[i].repo = idx[i];
    free(idx);
  }
  for (int32_t i = 0; i < k; i++) free(anc[i]), free(repo[i]);
  free(anc), free(repo);
  free(sub), free(orders_path), free(anc_path), free(src_path);
  if (rc) nb_dataset_free(ds);
  return rc;
}

/* ---- splits ---------------------------------------------------------------------------- */
/* Holds out whole units (key[i] in [0, nk)): units are visited in a seeded shuffle of their
 * index order and taken while they fit under the target count and are no bigger than cap.
 * Returns the number of units held out. */
static int32_t split_units(const int32_t *key, int32_t n, int32_t nk, double val_frac, uint64_t seed,
                           int64_t cap, uint8_t *is_val) {
  memset(is_val, 0, (size_t)n);
  if (val_frac <= 0 || nk == 0) return 0;
  int64_t *size = ordo_calloc((size_t)nk, sizeof *size);
  for (int32_t i = 0; i < n; i++) size[key[i]]++;
  int32_t *perm = ordo_malloc((size_t)nk * sizeof *perm);
  for (int32_t g = 0; g < nk; g++) perm[g] = g; /* units are sorted by name: order-free */
  ordo_rng r;
  rng_init(&r, seed);
  rng_shuffle_i32(&r, perm, nk);
  int64_t target = (int64_t)(val_frac * (double)n + 0.5), got = 0;
  int32_t taken = 0;
  uint8_t *take = ordo_calloc((size_t)nk, 1);
  for (int32_t j = 0; j < nk; j++)
    if (size[perm[j]] <= cap && got + size[perm[j]] <= target) take[perm[j]] = 1, got += size[perm[j]], taken++;
  if (got == 0) { /* every unit is too big: take the smallest that has notebooks */
    int32_t best = -1;
    for (int32_t g = 0; g < nk; g++)
      if (size[g] > 0 && (best < 0 || size[g] < size[best])) best = g;
    if (best >= 0) take[best] = 1, taken = 1;
  }
  for (int32_t i = 0; i < n; i++) is_val[i] = take[key[i]];
  free(size), free(perm), free(take);
  return taken;
}

/* Each notebook's unit of a split by `by` (key, n notebooks); returns the number of units. */
static int32_t split_keys(const nb_dataset *ds, nb_split_by by, int32_t *key) {
  if (by == NB_SPLIT_REPO && ds->n_repos > 0) {
    /* a notebook with no known repository is a unit of its own ancestor group */
    for (int32_t i = 0; i < ds->n; i++)
      key[i] = ds->nbs[i].repo >= 0 ? ds->nbs[i].repo : ds->n_repos + ds->nbs[i].group;
    return ds->n_repos + ds->n_groups;
  }
  for (int32_t i = 0; i < ds->n; i++) key[i] = ds->nbs[i].group;
  return ds->n_groups;
}

int32_t nb_split(const nb_dataset *ds, nb_split_by by, double val_frac, uint64_t seed, uint8_t *is_val) {
  int32_t n = ds->n, *key = ordo_malloc((size_t)(n ? n : 1) * sizeof *key);
  int32_t nk = split_keys(ds, by, key);
  int64_t cap = INT64_MAX;
  if (by == NB_SPLIT_REPO && ds->n_repos > 0) {
    cap = (int64_t)(val_frac * (double)n + 0.5) / (NB_SPLIT_MIN_REPOS + 1);
    if (cap < 1) cap = 1;
  }
  int32_t taken = split_units(key, n, nk, val_frac, seed, cap, is_val);
  free(key);
  return taken;
}

int nb_folds(const nb_dataset *ds, nb_split_by by, const uint8_t *mask, int k, uint64_t seed,
             int32_t *fold) {
  int32_t n = ds->n, *key = ordo_malloc((size_t)(n ? n : 1) * sizeof *key);
  int32_t nk = split_keys(ds, by, key);
  int64_t *size = ordo_calloc((size_t)(nk ? nk : 1), sizeof *size), *load = ordo_calloc((size_t)k, sizeof *load);
  for (int32_t i = 0; i < n; i++)
    if (mask[i]) size[key[i]]++;
  /* the units in a seeded shuffle, then stably by size, largest first: each goes to the fold
   * that holds the fewest notebooks so far */
  int32_t *perm = ordo_malloc((size_t)(nk ? nk : 1) * sizeof *perm), *at = ordo_malloc((size_t)(nk ? nk : 1) * sizeof *at);
  for (int32_t u = 0; u < nk; u++) perm[u] = u;
  ordo_rng r;
  rng_init(&r, seed);
  rng_shuffle_i32(&r, perm, nk);
  for (int32_t a = 1; a < nk; a++) /* insertion sort: stable, and nk is small */
    for (int32_t b = a; b > 0 && size[perm[b]] > size[perm[b - 1]]; b--) {
      int32_t t = perm[b];
      perm[b] = perm[b - 1], perm[b - 1] = t;
    }
  for (int32_t j = 0; j < nk; j++) {
    int best = 0;
    for (int f = 1; f < k; f++) best = load[f] < load[best] ? f : best;
    at[perm[j]] = best;
    load[best] += size[perm[j]];
  }
  for (int32_t i = 0; i < n; i++) fold[i] = mask[i] ? at[key[i]] : -1;
  int filled = 0;
  for (int f = 0; f < k; f++) filled += load[f] > 0;
  free(key), free(size), free(load), free(perm), free(at);
  return filled;
}

const char *nb_split_unit(const nb_dataset *ds, nb_split_by by) {
  return by == NB_SPLIT_REPO && ds->n_repos > 0 ? "repositories" : "ancestor groups";
}

int nb_split_parse(const char *s, nb_split_by *by) {
  if (strcmp(s, "repo") == 0) return *by = NB_SPLIT_REPO, 0;
  if (strcmp(s, "group") == 0) return *by = NB_SPLIT_GROUP, 0;
  return -1;
}

char *nb_split_summary(const nb_dataset *ds, nb_split_by by, const uint8_t *is_val) {
  int repo = by == NB_SPLIT_REPO && ds->n_repos > 0;
  int32_t nu = repo ? ds->n_repos + ds->n_groups : ds->n_groups, held = 0, nv = 0;
  uint8_t *seen = ordo_calloc((size_t)(nu ? nu : 1), 1);
  for (int32_t i = 0; i < ds->n; i++) {
    if (!is_val[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    int32_t u = !repo ? nb->group : nb->repo >= 0 ? nb->repo : ds->n_repos + nb->group;
    nv++;
    if (!seen[u]) seen[u] = 1, held++;
  }
  ordo_buf b = {0};
  char tmp[96];
  snprintf(tmp, sizeof tmp, "%d notebooks of %d %s held out", nv, held, nb_split_unit(ds, by));
  ordo_buf_str(&b, tmp);
  if (held > 0 && held <= 40) { /* name them when the list is short enough to read */
    const char *sep = ": ";
    for (int32_t u = 0; u < nu; u++) {
      if (!seen[u]) continue;
      ordo_buf_str(&b, sep), sep = ", ";
      ordo_buf_str(&b, u < (repo ? ds->n_repos : 0) ? ds->repos[u] : ds->groups[repo ? u - ds->n_repos : u]);
    }
  }
  free(seen);
  return b.p;
}
