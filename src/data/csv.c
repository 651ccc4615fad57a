/* CSV reading, the orders files (id,cell_order) and a string -> int map. */
#include <string.h>

#include "ordo/notebook.h"

/* ---- string map ------------------------------------------------------------------------ */
static uint64_t str_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h;
}

void nb_strmap_init(nb_strmap *m, int64_t expected) {
  int64_t cap = 16;
  while (cap < expected * 2) cap *= 2;
  m->cap = cap;
  m->n = 0;
  m->keys = ordo_calloc((size_t)cap, sizeof(char *));
  m->vals = ordo_calloc((size_t)cap, sizeof(int32_t));
}

void nb_strmap_free(nb_strmap *m) {
  if (m->keys)
    for (int64_t i = 0; i < m->cap; i++) free(m->keys[i]);
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

int32_t nb_strmap_get(const nb_strmap *m, const char *key) {
  if (!m->cap) return -1;
  for (uint64_t i = str_hash(key) & (uint64_t)(m->cap - 1);; i = (i + 1) & (uint64_t)(m->cap - 1)) {
    if (!m->keys[i]) return -1;
    if (strcmp(m->keys[i], key) == 0) return m->vals[i];
  }
}

static void strmap_grow(nb_strmap *m) {
  nb_strmap big;
  nb_strmap_init(&big, m->cap);
  for (int64_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    uint64_t j = str_hash(m->keys[i]) & (uint64_t)(big.cap - 1);
    while (big.keys[j]) j = (j + 1) & (uint64_t)(big.cap - 1);
    big.keys[j] = m->keys[i];
    big.vals[j] = m->vals[i];
  }
  big.n = m->n;
  free(m->keys);
  free(m->vals);
  *m = big;
}

int32_t nb_strmap_put(nb_strmap *m, const char *key, int32_t val) {
  if (!m->cap) nb_strmap_init(m, 16);
  if ((m->n + 1) * 2 > m->cap) strmap_grow(m);
  uint64_t i = str_hash(key) & (uint64_t)(m->cap - 1);
  for (; m->keys[i]; i = (i + 1) & (uint64_t)(m->cap - 1))
    if (strcmp(m->keys[i], key) == 0) return m->vals[i];
  m->keys[i] = ordo_strdup(key);
  m->vals[i] = val;
  m->n++;
  return -1;
}

/* ---- CSV ------------------------------------------------------------------------------- */
int nb_csv_next(const char *text, size_t len, size_t *pos, char *buf, size_t buf_cap,
                char **fields, int max_fields) {
  size_t p = *pos, o = 0;
  if (p >= len) return 0;
  int nf = 0;
  ORDO_CHECK(buf_cap > 0 && max_fields > 0);
  fields[nf++] = buf;
  for (;;) {
    if (p >= len || text[p] == '\n' || (text[p] == '\r' && (p + 1 >= len || text[p + 1] == '\n'))) {
      if (p < len && text[p] == '\r') p++;
      if (p < len) p++;
      break;
    }
    if (text[p] == ',') {
      p++;
      if (o + 1 < buf_cap) buf[o++] = 0;
      if (nf < max_fields) fields[nf++] = buf + o;
      continue;
    }
    if (text[p] == '"' && (o == 0 || buf[o - 1] == 0)) { /* quoted field */
      p++;
      for (;;) {
        if (p >= len) return -1;
        if (text[p] == '"') {
          if (p + 1 < len && text[p + 1] == '"') {
            if (o + 1 < buf_cap) buf[o++] = '"';
            p += 2;
            continue;
          }
          p++;
          break;
        }
        if (o + 1 < buf_cap) buf[o++] = text[p];
        p++;
      }
      continue;
    }
    if (o + 1 < buf_cap) buf[o++] = text[p];
    p++;
  }
  buf[o] = 0;
  *pos = p;
  return nf;
}

/* ---- orders ---------------------------------------------------------------------------- */
void nb_orders_free(nb_orders *o) {
  for (int32_t i = 0; i < o->n; i++) {
    free(o->ids[i]);
    for (int32_t j = 0; j < o->count[i]; j++) free(o->cells[i][j]);
    free(o->cells[i]);
  }
  free(o->ids);
  free(o->count);
  free(o->cells);
  memset(o, 0, sizeof *o);
}

void nb_orders_add(nb_orders *o, const char *id, char *const *cells, int32_t count) {
  /* grow by powers of two: capacity is implied by n */
  if ((o->n & (o->n - 1)) == 0) {
    size_t cap = o->n ? (size_t)o->n * 2 : 1;
    o->ids = ordo_realloc(o->ids, cap * sizeof *o->ids);
    o->count = ordo_realloc(o->count, cap * sizeof *o->count);
    o->cells = ordo_realloc(o->cells, cap * sizeof *o->cells);
  }
  o->ids[o->n] = ordo_strdup(id);
  o->count[o->n] = count;
  o->cells[o->n] = ordo_malloc((size_t)(count ? count : 1) * sizeof(char *));
  for (int32_t j = 0; j < count; j++) o->cells[o->n][j] = ordo_strdup(cells[j]);
  o->n++;
}

void nb_orders_add_nb(nb_orders *o, const nb_notebook *nb, const int32_t *idx) {
  char **c = ordo_malloc((size_t)(nb->n_cells ? nb->n_cells : 1) * sizeof(char *));
  for (int32_t j = 0; j < nb->n_cells; j++) {
    ORDO_CHECK(idx[j] >= 0 && idx[j] < nb->n_cells);
    c[j] = nb->cells[idx[j]].id;
  }
  nb_orders_add(o, nb->id, c, nb->n_cells);
  free(c);
}

static int valid_id(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          *s == '_' || *s == '-'))
      return 0;
  return 1;
}

int nb_orders_read(nb_orders *o, const char *path, ordo_err *e) {
  memset(o, 0, sizeof *o);
  size_t len;
  char *text = ordo_read_file(path, &len, e);
  if (!text) return -1;
  size_t pos = 0, cap = 1 << 16;
  char *buf = ordo_malloc(cap);
  char *f[3];
  int line = 0, rc = 0;
  nb_strmap seen;
  nb_strmap_init(&seen, 1024);
  char **cells = NULL;
  int32_t cells_cap = 0;
  for (;;) {
    size_t start = pos;
    /* size the buffer to the longest possible field: the rest of the line */
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t need = (nl ? (size_t)(nl - text) : len) - pos + 1;
    if (need > cap) buf = ordo_realloc(buf, cap = need);
    int nf = nb_csv_next(text, len, &pos, buf, cap, f, 3);
    if (nf == 0) break;
    line++;
    if (nf < 0) {
      rc = ordo_fail(e, "%s:%d: unterminated quoted field", path, line);
      break;
    }
    if (line == 1) {
      if (nf != 2 || strcmp(f[0], "id") != 0 || strcmp(f[1], "cell_order") != 0) {
        rc = ordo_fail(e, "%s:1: expected the header 'id,cell_order'", path);
        break;
      }
      continue;
    }
    if (nf == 1 && f[0][0] == 0 && pos - start <= 2) continue; /* blank line */
    if (nf != 2) {
      rc = ordo_fail(e, "%s:%d: expected 2 fields (id,cell_order), got %d", path, line, nf);
      break;
    }
    if (!valid_id(f[0])) {
      rc = ordo_fail(e, "%s:%d: expected a notebook id (letters, digits), got '%.40s'", path,
                     line, f[0]);
      break;
    }
    if (nb_strmap_put(&seen, f[0], line) >= 0) {
      rc = ordo_fail(e, "%s:%d: notebook %s appears twice (first on line %d)", path, line, f[0],
                     nb_strmap_get(&seen, f[0]));
      break;
    }
    int32_t n = 0;
    for (char *s = f[1];;) {
      while (*s == ' ' || *s == '\t') s++;
      if (!*s) break;
      char *t = s;
      while (*t && *t != ' ' && *t != '\t') t++;
      int end = *t == 0;
      *t = 0;
      if (!valid_id(s)) {
        rc = ordo_fail(e, "%s:%d: notebook %s: expected a cell id, got '%.40s'", path, line, f[0], s);
        break;
      }
      if (n == cells_cap) cells = ordo_realloc(cells, (size_t)(cells_cap = cells_cap ? cells_cap * 2 : 64) * sizeof *cells);
      cells[n++] = s;
      if (end) break;
      s = t + 1;
    }
    if (rc) break;
    nb_orders_add(o, f[0], cells, n);
  }
  free(cells);
  nb_strmap_free(&seen);
  free(buf);
  free(text);
  if (rc == 0 && line == 0) rc = ordo_fail(e, "%s: empty file, expected the header 'id,cell_order'", path);
  if (rc) nb_orders_free(o);
  return rc;
}

int nb_orders_write(const nb_orders *o, const char *path, ordo_err *e) {
  size_t cap = 1 << 16, n = 0;
  char *buf = ordo_malloc(cap);
#define PUT(s, l)                                                    \
  do {                                                               \
    size_t _l = (l);                                                 \
    while (n + _l + 1 > cap) buf = ordo_realloc(buf, cap *= 2);      \
    memcpy(buf + n, (s), _l);                                        \
    n += _l;                                                         \
  } while (0)
  PUT("id,cell_order\n", 14);
  for (int32_t i = 0; i < o->n; i++) {
    PUT(o->ids[i], strlen(o->ids[i]));
    PUT(",", 1);
    for (int32_t j = 0; j < o->count[i]; j++) {
      if (j) PUT(" ", 1);
      PUT(o->cells[i][j], strlen(o->cells[i][j]));
    }
    PUT("\n", 1);
  }
#undef PUT
  int rc = ordo_write_file_atomic(path, buf, n, e);
  free(buf);
  return rc;
}
