/* `ordo nb build`: a tree of .ipynb / .ipynb.gz files -> a Kaggle-layout dataset.
 *
 * Kept notebooks: valid nbformat 4 or 3 JSON, Python (or no language declared), at least 2
 * code cells and 1 markdown cell and at most 1,000 cells after raw and blank cells are
 * dropped; a cell's source is cut at 20,000 bytes. Exact duplicates (same sequence of cell
 * types and whitespace-normalised sources) are dropped, the first in (--from order, path
 * order) kept. Ids come from the seed and the file's path under its --from root, so a
 * rebuild gives the same ids and the same markdown shuffles. */
#define _XOPEN_SOURCE 700
#include <cjson/cJSON.h>
#include <ftw.h>
#include <omp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/internal.h"
#include "ordo/progress.h"

enum { MAX_CELLS = 1000, MAX_CELL_CHARS = 20000 };

/* Content hash of a notebook: cell types and sources with whitespace runs collapsed. */
static uint64_t nb_content_hash(const nb_notebook *nb) {
  uint64_t h = 1469598103934665603ULL;
  for (int32_t k = 0; k < nb->n_cells; k++) {
    int32_t i = nb->order ? nb->order[k] : k;
    h = (h ^ (uint64_t)(nb->cells[i].type + 1)) * 1099511628211ULL;
    int space = 1; /* leading whitespace dropped */
    for (const char *p = nb->cells[i].source; *p; p++) {
      unsigned char c = (unsigned char)*p;
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        space = 1;
        continue;
      }
      if (space) h = (h ^ ' ') * 1099511628211ULL, space = 0;
      h = (h ^ c) * 1099511628211ULL;
    }
    h = (h ^ 0xff) * 1099511628211ULL;
  }
  return h;
}

/* Group key: root's base name plus the first `depth` folders of rel (fewer when the file sits
 * higher up). */
static char *group_key(const char *root, const char *rel, int depth) {
  size_t rl = strlen(root);
  while (rl > 1 && root[rl - 1] == '/') rl--; /* trailing slashes */
  size_t bs = rl;
  while (bs > 0 && root[bs - 1] != '/') bs--;
  size_t cut = 0;
  int seen = 0;
  for (size_t i = 0; rel[i] && seen < depth; i++)
    if (rel[i] == '/') cut = i, seen++;
  size_t n = (rl - bs) + 1 + cut + 1;
  char *k = ordo_malloc(n);
  snprintf(k, n, "%.*s/%.*s", (int)(rl - bs), root + bs, (int)cut, rel);
  return k;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static int write_json(const char *path, const nb_notebook *nb, ordo_err *e) {
  cJSON *root = cJSON_CreateObject(), *types = cJSON_CreateObject(), *srcs = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "cell_type", types);
  cJSON_AddItemToObject(root, "source", srcs);
  for (int32_t i = 0; i < nb->n_cells; i++) { /* code in order, then shuffled markdown */
    const nb_cell *c = &nb->cells[i];
    cJSON_AddItemToObject(types, c->id, cJSON_CreateString(c->type == NB_CELL_CODE ? "code" : "markdown"));
    cJSON_AddItemToObject(srcs, c->id, cJSON_CreateString(c->source));
  }
  char *s = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  ORDO_CHECK(s);
  int rc = ordo_write_file_atomic(path, s, strlen(s), e);
  free(s);
  return rc;
}

int nb_build_dataset(const nb_build_opts *o, nb_build_stats *st, ordo_err *e) {
  memset(st, 0, sizeof *st);
  if (o->n_from < 1) return ordo_fail(e, "nb build: no --from folder");
  if (!o->out || !o->out[0]) return ordo_fail(e, "nb build: no --out folder");
  struct stat sb;
  if (ordo_out_dir_check(o->out, o->force, e) != 0) return -1;
  static const char *const k_suf[] = {".ipynb", ".ipynb.gz"};
  ordo_paths files = {0};
  int32_t *root_of = NULL;
  for (int r = 0; r < o->n_from; r++) {
    if (!ordo_is_dir(o->from[r])) {
      ordo_paths_free(&files);
      free(root_of);
      return ordo_fail(e, "%s: not a folder", o->from[r]);
    }
    int32_t before = files.n;
    if (ordo_list_files(o->from[r], k_suf, 2, 1, &files, e) != 0) {
      ordo_paths_free(&files);
      free(root_of);
      return -1;
    }
    root_of = ordo_realloc(root_of, (size_t)(files.n ? files.n : 1) * sizeof *root_of);
    for (int32_t i = before; i < files.n; i++) root_of[i] = r;
  }
  int32_t n = files.n;
  st->files = n;
  nb_notebook *nbs = ordo_calloc((size_t)(n ? n : 1), sizeof *nbs);
  int8_t *status = ordo_calloc((size_t)(n ? n : 1), 1); /* 0 ok, 1 malformed, 2 not python, 3 few, 4 many */
  char **msgs = ordo_calloc((size_t)(n ? n : 1), sizeof *msgs);
  int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
  ordo_progress pb;
  progress_init(&pb, "reading notebooks", n);
  pb.unit = "files";
  int64_t n_read = 0;
#pragma omp parallel for schedule(dynamic, 2) num_threads(threads)
  for (int32_t i = 0; i < n; i++) {
    if (o->progress) {
#pragma omp critical(nb_build_progress)
      progress_update(&pb, ++n_read, NULL);
    }
    ordo_err fe = {{0}};
    size_t len;
    char *text = nb_read_maybe_gz(files.p[i], &len, &fe);
    nb_ipynb_opts po = {.max_cell_chars = MAX_CELL_CHARS};
    int r = text ? nb_parse_ipynb(&nbs[i], text, len, files.p[i], &po, &fe) : -1;
    free(text);
    if (r < 0) status[i] = 1, msgs[i] = ordo_strdup(fe.msg);
    else if (r == 1) status[i] = 2;
    else if (nbs[i].n_code < 2 || nbs[i].n_md < 1) status[i] = 3;
    else if (nbs[i].n_cells > MAX_CELLS) status[i] = 4;
    if (status[i]) nb_notebook_free(&nbs[i]);
  }
  if (o->progress) progress_finish(&pb, NULL);
  int shown = 0;
  for (int32_t i = 0; i < n; i++) {
    if (status[i] == 1) {
      st->malformed++;
      if (shown++ < 20) log_warn("skipped: %s", msgs[i]);
    }
    if (status[i] == 2) st->not_python++;
    if (status[i] == 3) st->too_few++;
    if (status[i] == 4) st->too_many++;
    free(msgs[i]);
  }
  free(msgs);
  if (st->malformed > 20) log_warn("... %lld more malformed files skipped", (long long)st->malformed - 20);

  /* dedupe (sequential, in file order), then ids */
  nb_strmap seen_hash, seen_id, groups;
  nb_strmap_init(&seen_hash, n);
  nb_strmap_init(&seen_id, n);
  nb_strmap_init(&groups, 64);
  char **anc = ordo_calloc((size_t)(n ? n : 1), sizeof *anc);
  for (int32_t i = 0; i < n; i++) {
    if (status[i]) continue;
    char key[32];
    snprintf(key, sizeof key, "%016llx", (unsigned long long)nb_content_hash(&nbs[i]));
    if (nb_strmap_put(&seen_hash, key, i) >= 0) {
      st->duplicates++;
      status[i] = 5;
      nb_notebook_free(&nbs[i]);
      continue;
    }
    const char *root = o->from[root_of[i]];
    const char *rel = files.p[i] + strlen(root);
    while (*rel == '/') rel++;
    char *g = group_key(root, rel, o->group_depth);
    if (nb_strmap_put(&groups, g, (int32_t)groups.n) < 0) st->groups++;
    anc[i] = ordo_malloc(16);
    snprintf(anc[i], 16, "%08llx", (unsigned long long)(nb_hash_str(o->seed ^ 0xa5a5a5a5ULL, g) >> 32));
    free(g);
    /* the id key: root base name + relative path; salted on a (very unlikely) collision */
    char *base = group_key(root, "", 0); /* "rootbase/" */
    size_t kl = strlen(base) + strlen(rel) + 16;
    char *idkey = ordo_malloc(kl);
    for (int salt = 0;; salt++) {
      if (salt == 0) snprintf(idkey, kl, "%s%s", base, rel);
      else snprintf(idkey, kl, "%s%s#%d", base, rel, salt);
      char idbuf[32]; /* the id nb_assign_ids will derive */
      snprintf(idbuf, sizeof idbuf, "%014llx", (unsigned long long)(nb_hash_str(o->seed, idkey) >> 8));
      if (nb_strmap_get(&seen_id, idbuf) < 0) break;
    }
    free(base);
    nb_assign_ids(&nbs[i], o->seed, idkey);
    nb_strmap_put(&seen_id, nbs[i].id, i);
    free(idkey);
    st->kept++;
    st->cells += nbs[i].n_cells;
  }
  nb_strmap_free(&seen_hash);
  nb_strmap_free(&seen_id);
  nb_strmap_free(&groups);

  /* write into a temp folder, then rename it into place */
  size_t ol = strlen(o->out) + 64;
  char *tmp = ordo_malloc(ol), *old = ordo_malloc(ol), *p = ordo_malloc(ol + 64);
  snprintf(tmp, ol, "%s.tmp.%ld", o->out, (long)getpid());
  snprintf(old, ol, "%s.old.%ld", o->out, (long)getpid());
  snprintf(p, ol + 64, "%s/train", tmp);
  int rc = 0;
  if (mkdir(tmp, 0755) != 0 || mkdir(p, 0755) != 0) rc = ordo_fail(e, "%s: cannot create the folder", p);
  ordo_buf orders = {0}, ancs = {0}, srcs = {0};
  ordo_buf_str(&orders, "id,cell_order\n");
  ordo_buf_str(&ancs, "id,ancestor_id,parent_id\n");
  ordo_buf_str(&srcs, "id,path\n");
  /* rows sorted by notebook id, as the Kaggle files are */
  int32_t *idx = ordo_malloc((size_t)(n ? n : 1) * sizeof *idx), k = 0;
  for (int32_t i = 0; i < n; i++)
    if (!status[i]) idx[k++] = i;
  for (int32_t a = 1; a < k; a++) /* insertion sort by id: k is small (thousands) */
    for (int32_t b = a; b > 0 && strcmp(nbs[idx[b - 1]].id, nbs[idx[b]].id) > 0; b--) {
      int32_t t = idx[b];
      idx[b] = idx[b - 1];
      idx[b - 1] = t;
    }
  for (int32_t j = 0; j < k && rc == 0; j++) {
    const nb_notebook *nb = &nbs[idx[j]];
    snprintf(p, ol + 64, "%s/train/%s.json", tmp, nb->id);
    rc = write_json(p, nb, e);
    ordo_buf_str(&orders, nb->id);
    ordo_buf_str(&orders, ",");
    for (int32_t c = 0; c < nb->n_cells; c++) {
      if (c) ordo_buf_str(&orders, " ");
      ordo_buf_str(&orders, nb->cells[nb->order[c]].id);
    }
    ordo_buf_str(&orders, "\n");
    ordo_buf_str(&ancs, nb->id);
    ordo_buf_str(&ancs, ",");
    ordo_buf_str(&ancs, anc[idx[j]]);
    ordo_buf_str(&ancs, ",\n");
    ordo_buf_str(&srcs, nb->id);
    ordo_buf_str(&srcs, ",");
    ordo_buf_csv_field(&srcs, "", files.p[idx[j]]);
    ordo_buf_str(&srcs, "\n");
  }
  const char *names[3] = {"train_orders.csv", "train_ancestors.csv", "sources.csv"};
  ordo_buf *bufs[3] = {&orders, &ancs, &srcs};
  for (int f = 0; f < 3 && rc == 0; f++) {
    snprintf(p, ol + 64, "%s/%s", tmp, names[f]);
    rc = ordo_write_file_atomic(p, bufs[f]->p, bufs[f]->n, e);
  }
  if (rc == 0) {
    int had = stat(o->out, &sb) == 0;
    if (had && rename(o->out, old) != 0) rc = ordo_fail(e, "%s: cannot move the old dataset aside", o->out);
    else if (rename(tmp, o->out) != 0) rc = ordo_fail(e, "%s: cannot rename %s into place", o->out, tmp);
    else if (had) nftw(old, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  }
  if (rc) nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(orders.p), free(ancs.p), free(srcs.p);
  free(tmp), free(old), free(p), free(idx);
  for (int32_t i = 0; i < n; i++) {
    nb_notebook_free(&nbs[i]);
    free(anc[i]);
  }
  free(anc), free(nbs), free(status), free(root_of);
  ordo_paths_free(&files);
  return rc;
}
