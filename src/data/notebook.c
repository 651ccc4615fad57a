/* Parsing single notebooks: Kaggle json files and nbformat 4/3 .ipynb (optionally gzipped). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "ordo/notebook.h"
#include "ordo/rng.h"

void nb_notebook_free(nb_notebook *nb) {
  for (int32_t i = 0; i < nb->n_cells; i++) free(nb->cells[i].source);
  free(nb->cells);
  free(nb->order);
  memset(nb, 0, sizeof *nb);
  nb->group = -1, nb->repo = -1;
}

char *nb_text(const nb_notebook *nb, size_t *len) {
  size_t n = 0;
  for (int32_t k = 0; k < nb->n_cells; k++) n += (size_t)nb->cells[k].len + 2;
  char *txt = ordo_malloc(n + 1), *w = txt;
  for (int32_t k = 0; k < nb->n_cells; k++) {
    const nb_cell *c = &nb->cells[nb->order ? nb->order[k] : k];
    if (k) *w++ = '\n', *w++ = '\n';
    memcpy(w, c->source, (size_t)c->len);
    w += c->len;
  }
  *w = 0;
  *len = (size_t)(w - txt);
  return txt;
}

char *nb_read_maybe_gz(const char *path, size_t *len, ordo_err *e) {
  size_t pl = strlen(path);
  if (pl < 3 || strcmp(path + pl - 3, ".gz") != 0)
    return ordo_read_file_max(path, NB_MAX_FILE_BYTES, len, e);
  gzFile g = gzopen(path, "rb");
  if (!g) {
    ordo_fail(e, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = ordo_malloc(cap);
  for (;;) {
    if (n + 1 >= cap) buf = ordo_realloc(buf, cap *= 2);
    size_t want = cap - n - 1;
    if (want > (1u << 30)) want = 1u << 30;
    int got = gzread(g, buf + n, (unsigned)want);
    if (got < 0) {
      int zerr;
      const char *msg = gzerror(g, &zerr);
      ordo_fail(e, "%s: gzip error after %zu bytes of output: %s", path, n, msg);
      gzclose(g);
      free(buf);
      return NULL;
    }
    if (got == 0) {
      int zerr = Z_OK;
      const char *msg = gzerror(g, &zerr); /* a truncated stream ends with Z_BUF_ERROR */
      if (zerr != Z_OK && zerr != Z_STREAM_END) {
        ordo_fail(e, "%s: gzip error after %zu bytes of output: %s", path, n, msg);
        gzclose(g);
        free(buf);
        return NULL;
      }
      break;
    }
    n += (size_t)got;
    if (n > NB_MAX_FILE_BYTES) {
      ordo_fail(e, "%s: more than %d MB once unpacked, the most a notebook file may hold", path,
                NB_MAX_FILE_BYTES >> 20);
      gzclose(g);
      free(buf);
      return NULL;
    }
  }
  gzclose(g);
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

/* cJSON reports where parsing stopped; turn that into a line:column. */
static int json_fail(ordo_err *e, const char *name, const char *json, size_t len, const char *at) {
  if (!at || at < json || at > json + len) return ordo_fail(e, "%s: invalid JSON", name);
  int line = 1, col = 1;
  for (const char *p = json; p < at; p++) {
    if (*p == '\n') line++, col = 1;
    else col++;
  }
  return ordo_fail(e, "%s:%d:%d: invalid JSON (offset %zu)", name, line, col, (size_t)(at - json));
}

static int cell_add(nb_notebook *nb, int32_t *cap, const char *id, int type, const char *src,
                    size_t len) {
  if (nb->n_cells == *cap) {
    *cap = *cap ? *cap * 2 : 32;
    nb->cells = ordo_realloc(nb->cells, (size_t)*cap * sizeof *nb->cells);
  }
  nb_cell *c = &nb->cells[nb->n_cells++];
  memset(c, 0, sizeof *c);
  if (id) snprintf(c->id, sizeof c->id, "%s", id);
  c->type = type;
  c->source = ordo_malloc(len + 1);
  memcpy(c->source, src, len);
  c->source[len] = 0;
  c->len = (int32_t)len;
  if (type == NB_CELL_CODE) nb->n_code++;
  else nb->n_md++;
  return 0;
}

/* Code cells first (stable), markdown after: the in-memory invariant. */
static void partition_code_first(nb_notebook *nb) {
  if (nb->n_cells == 0) return; /* no cells array at all (memcpy from NULL is undefined) */
  nb_cell *tmp = ordo_malloc((size_t)(nb->n_cells ? nb->n_cells : 1) * sizeof *tmp);
  int32_t k = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int32_t i = 0; i < nb->n_cells; i++)
      if (nb->cells[i].type == (pass == 0 ? NB_CELL_CODE : NB_CELL_MARKDOWN)) tmp[k++] = nb->cells[i];
  memcpy(nb->cells, tmp, (size_t)nb->n_cells * sizeof *tmp);
  free(tmp);
}

int nb_parse_kaggle_json(nb_notebook *nb, const char *json, size_t len, const char *name,
                         const char *id, ordo_err *e) {
  memset(nb, 0, sizeof *nb);
  nb->group = -1, nb->repo = -1;
  snprintf(nb->id, sizeof nb->id, "%s", id);
  if (len >= 3 && memcmp(json, "\xEF\xBB\xBF", 3) == 0) json += 3, len -= 3; /* a UTF-8 BOM */
  const char *end = NULL; /* the parse-end pointer is per call: safe across threads */
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (!root) return json_fail(e, name, json, len, end);
  int rc = 0;
  const cJSON *types = cJSON_GetObjectItemCaseSensitive(root, "cell_type");
  const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(root, "source");
  if (!cJSON_IsObject(root) || !cJSON_IsObject(types) || !cJSON_IsObject(srcs)) {
    cJSON_Delete(root);
    return ordo_fail(e, "%s: expected an object with \"cell_type\" and \"source\" objects", name);
  }
  int n_types = cJSON_GetArraySize(types);
  if (n_types > NB_MAX_CELLS) {
    cJSON_Delete(root);
    return ordo_fail(e, "%s: notebook %s has %d cells, more than the %d a notebook may have",
                     name, nb->id, n_types, NB_MAX_CELLS);
  }
  int32_t cap = 0;
  const cJSON *s = srcs->child; /* usually the same key order: walk both lists together */
  for (const cJSON *t = types->child; t; t = t->next) {
    const char *cid = t->string;
    if (!cid || !*cid || strlen(cid) >= sizeof nb->cells[0].id) {
      rc = ordo_fail(e, "%s: cell %d: expected a cell id of 1 to 15 characters, got '%.40s'", name,
                     nb->n_cells, cid ? cid : "");
      break;
    }
    int type;
    if (cJSON_IsString(t) && strcmp(t->valuestring, "code") == 0) type = NB_CELL_CODE;
    else if (cJSON_IsString(t) && strcmp(t->valuestring, "markdown") == 0) type = NB_CELL_MARKDOWN;
    else {
      rc = ordo_fail(e, "%s: cell %s: expected cell_type \"code\" or \"markdown\"", name, cid);
      break;
    }
    const cJSON *src = NULL;
    if (s && s->string && strcmp(s->string, cid) == 0) src = s, s = s->next;
    else src = cJSON_GetObjectItemCaseSensitive(srcs, cid);
    if (!src) {
      rc = ordo_fail(e, "%s: cell %s has a cell_type but no source", name, cid);
      break;
    }
    const char *text = cJSON_IsString(src) ? src->valuestring : cJSON_IsNull(src) ? "" : NULL;
    if (!text) {
      rc = ordo_fail(e, "%s: cell %s: expected the source to be a string", name, cid);
      break;
    }
    cell_add(nb, &cap, cid, type, text, strlen(text));
  }
  if (rc == 0 && cJSON_GetArraySize(srcs) != nb->n_cells)
    rc = ordo_fail(e, "%s: %d sources but %d cell types", name, cJSON_GetArraySize(srcs), nb->n_cells);
  if (rc == 0) {
    /* cell ids must be unique within the notebook */
    nb_strmap m;
    nb_strmap_init(&m, nb->n_cells);
    for (int32_t i = 0; i < nb->n_cells && rc == 0; i++)
      if (nb_strmap_put(&m, nb->cells[i].id, i) >= 0)
        rc = ordo_fail(e, "%s: cell id %s appears twice", name, nb->cells[i].id);
    nb_strmap_free(&m);
  }
  cJSON_Delete(root);
  if (rc) {
    nb_notebook_free(nb);
    return rc;
  }
  partition_code_first(nb);
  return 0;
}

static int is_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isspace((unsigned char)s[i])) return 0;
  return 1;
}

/* A source field: a string or a list of strings (joined without separators: nbformat lists
 * keep their own newlines). Returns a malloc'd string or NULL when the shape is wrong. */
static char *join_source(const cJSON *src, size_t *len) {
  if (cJSON_IsString(src)) {
    *len = strlen(src->valuestring);
    return ordo_strdup(src->valuestring);
  }
  if (!cJSON_IsArray(src)) return NULL;
  size_t n = 0;
  for (const cJSON *x = src->child; x; x = x->next) {
    if (!cJSON_IsString(x)) return NULL;
    n += strlen(x->valuestring);
  }
  char *out = ordo_malloc(n + 1), *p = out;
  for (const cJSON *x = src->child; x; x = x->next) {
    size_t l = strlen(x->valuestring);
    memcpy(p, x->valuestring, l);
    p += l;
  }
  *p = 0;
  *len = n;
  return out;
}

static int lang_is_python(const char *s) { return strncasecmp(s, "python", 6) == 0 || strncasecmp(s, "ipython", 7) == 0; }

/* Returns 1 when the metadata names a language and it is not Python. */
static int declared_not_python(const cJSON *root) {
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
  if (!cJSON_IsObject(md)) return 0;
  const cJSON *ks = cJSON_GetObjectItemCaseSensitive(md, "kernelspec");
  const cJSON *li = cJSON_GetObjectItemCaseSensitive(md, "language_info");
  const cJSON *l1 = cJSON_IsObject(ks) ? cJSON_GetObjectItemCaseSensitive(ks, "language") : NULL;
  const cJSON *l2 = cJSON_IsObject(li) ? cJSON_GetObjectItemCaseSensitive(li, "name") : NULL;
  const cJSON *l3 = cJSON_GetObjectItemCaseSensitive(md, "language");
  if (cJSON_IsString(l1)) return !lang_is_python(l1->valuestring);
  if (cJSON_IsString(l2)) return !lang_is_python(l2->valuestring);
  if (cJSON_IsString(l3)) return !lang_is_python(l3->valuestring);
  return 0;
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max) return len;
  size_t n = max;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  return n;
}

int nb_parse_ipynb(nb_notebook *nb, const char *json, size_t len, const char *name,
                   const nb_ipynb_opts *opts, ordo_err *e) {
  memset(nb, 0, sizeof *nb);
  nb->group = -1, nb->repo = -1;
  if (len >= 3 && memcmp(json, "\xEF\xBB\xBF", 3) == 0) json += 3, len -= 3; /* a UTF-8 BOM */
  const char *end = NULL; /* the parse-end pointer is per call: safe across threads */
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (!root) return json_fail(e, name, json, len, end);
  int rc = 0;
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "nbformat");
  int version = cJSON_IsNumber(fmt) ? fmt->valueint : 0;
  const cJSON *cells = NULL;
  if (!cJSON_IsObject(root)) rc = ordo_fail(e, "%s: expected a notebook object", name);
  else if (version == 4) cells = cJSON_GetObjectItemCaseSensitive(root, "cells");
  else if (version == 3) {
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(root, "worksheets");
    if (cJSON_IsArray(ws) && cJSON_GetArraySize(ws) > 0)
      cells = cJSON_GetObjectItemCaseSensitive(ws->child, "cells");
  } else
    rc = ordo_fail(e, "%s: expected \"nbformat\": 4 or 3", name);
  if (rc == 0 && !cJSON_IsArray(cells))
    rc = ordo_fail(e, "%s: expected a \"cells\" array (nbformat %d)", name, version);
  int32_t cap = 0, k = 0;
  for (const cJSON *c = rc ? NULL : cells->child; c; c = c->next, k++) {
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(c, "cell_type");
    if (!cJSON_IsString(ct)) {
      rc = ordo_fail(e, "%s: cell %d: expected a \"cell_type\" string", name, k);
      break;
    }
    const char *t = ct->valuestring;
    int type, heading = 0;
    if (strcmp(t, "code") == 0) type = NB_CELL_CODE;
    else if (strcmp(t, "markdown") == 0) type = NB_CELL_MARKDOWN;
    else if (strcmp(t, "heading") == 0) type = NB_CELL_MARKDOWN, heading = 1;
    else continue; /* raw and unknown cell kinds are not part of the task */
    const char *field = (version == 3 && type == NB_CELL_CODE) ? "input" : "source";
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(c, field);
    size_t sl = 0;
    char *text = src ? join_source(src, &sl) : NULL;
    if (!text) {
      rc = ordo_fail(e, "%s: cell %d: expected \"%s\" as a string or a list of strings", name, k, field);
      break;
    }
    if (heading) { /* nbformat 3 heading cell: "# " times its level */
      const cJSON *lv = cJSON_GetObjectItemCaseSensitive(c, "level");
      int level = cJSON_IsNumber(lv) && lv->valueint >= 1 && lv->valueint <= 6 ? lv->valueint : 1;
      char *h = ordo_malloc(sl + 8);
      memset(h, '#', (size_t)level);
      h[level] = ' ';
      memcpy(h + level + 1, text, sl + 1);
      free(text);
      text = h;
      sl += (size_t)level + 1;
    }
    if (!is_blank(text, sl)) {
      if (opts && opts->max_cell_chars > 0) sl = utf8_cut(text, sl, (size_t)opts->max_cell_chars);
      cell_add(nb, &cap, NULL, type, text, sl);
    }
    free(text);
  }
  if (rc == 0 && nb->n_cells > NB_MAX_CELLS)
    rc = ordo_fail(e, "%s: the notebook has %d cells, more than the %d a notebook may have", name,
                   nb->n_cells, NB_MAX_CELLS);
  if (rc == 0 && declared_not_python(root)) rc = 1;
  cJSON_Delete(root);
  if (rc < 0) {
    nb_notebook_free(nb);
    return rc;
  }
  nb->order = ordo_malloc((size_t)(nb->n_cells ? nb->n_cells : 1) * sizeof(int32_t));
  for (int32_t i = 0; i < nb->n_cells; i++) nb->order[i] = i;
  return rc;
}

void nb_to_kaggle_layout(nb_notebook *nb, uint64_t seed) {
  int32_t n = nb->n_cells;
  ORDO_CHECK(nb->order);
  for (int32_t i = 0; i < n; i++) ORDO_CHECK(nb->order[i] == i);
  /* perm[j] = old index of the cell that goes to slot j */
  int32_t *perm = ordo_malloc((size_t)(n ? n : 1) * sizeof *perm);
  int32_t k = 0;
  for (int32_t i = 0; i < n; i++)
    if (nb->cells[i].type == NB_CELL_CODE) perm[k++] = i;
  int32_t m0 = k;
  for (int32_t i = 0; i < n; i++)
    if (nb->cells[i].type == NB_CELL_MARKDOWN) perm[k++] = i;
  ordo_rng r;
  rng_init(&r, seed);
  rng_shuffle_i32(&r, perm + m0, n - m0);
  nb_cell *cells = ordo_malloc((size_t)(n ? n : 1) * sizeof *cells);
  int32_t *where = ordo_malloc((size_t)(n ? n : 1) * sizeof *where); /* old index -> new */
  for (int32_t j = 0; j < n; j++) {
    cells[j] = nb->cells[perm[j]];
    where[perm[j]] = j;
  }
  for (int32_t i = 0; i < n; i++) nb->order[i] = where[i];
  free(nb->cells);
  nb->cells = cells;
  free(perm);
  free(where);
}
