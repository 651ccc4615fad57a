/* safetensors reader (mmap + full validation) and writer (atomic, sorted, 8-byte aligned). */
#include "io/json_kind.h"
#include "ordo/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

/* Largest integer a JSON number (a double in cJSON) holds exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0

static void fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, cap - n, "[");
  for (int i = 0; i < ndim && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int is_float_dtype(ordo_dtype t) {
  return t == ORDO_DT_F32 || t == ORDO_DT_F16 || t == ORDO_DT_BF16 || t == ORDO_DT_F64;
}

/* ---- reader ---------------------------------------------------------------------------- */

/* A JSON number that must be a non-negative integer exactly representable as a double. */
static int json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return -1;
  double d = v->valuedouble;
  if (!(d >= 0) || d > ST_MAX_JSON_INT || d != floor(d)) return -1;
  *out = (uint64_t)d;
  return 0;
}


static int cmp_tensor_name(const void *a, const void *b) {
  return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_tensor_ptr_begin(const void *a, const void *b) {
  const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
  const char *px = x->data, *py = y->data;
  return px < py ? -1 : px > py;
}

static int parse_metadata(st_file *f, const cJSON *m, ordo_err *e) {
  if (cJSON_IsNull(m)) return 0;
  if (!cJSON_IsObject(m))
    return ordo_fail(e, "%s: \"__metadata__\" is %s, expected an object of strings", f->path,
                     io_json_kind(m));
  int n = cJSON_GetArraySize(m);
  f->meta = ordo_calloc((size_t)(2 * n + 1), sizeof(char *));
  for (const cJSON *kv = m->child; kv; kv = kv->next) {
    if (!cJSON_IsString(kv))
      return ordo_fail(e, "%s: \"__metadata__\" key '%s' is %s, expected a string", f->path,
                       kv->string, io_json_kind(kv));
    f->meta[2 * f->n_meta] = ordo_strdup(kv->string);
    f->meta[2 * f->n_meta + 1] = ordo_strdup(kv->valuestring);
    f->n_meta++;
  }
  return 0;
}

/* Validates one header entry against the data buffer [data, data + data_len). */
static int parse_entry(st_file *f, st_tensor *t, const cJSON *ent, const unsigned char *data,
                       uint64_t data_len, ordo_err *e) {
  const char *p = f->path, *nm = t->name;
  if (!cJSON_IsObject(ent))
    return ordo_fail(e, "%s: tensor '%s': entry is %s, expected an object", p, nm, io_json_kind(ent));

  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(ent, "dtype");
  if (!dt) return ordo_fail(e, "%s: tensor '%s': missing \"dtype\"", p, nm);
  if (!cJSON_IsString(dt))
    return ordo_fail(e, "%s: tensor '%s': \"dtype\" is %s, expected a string", p, nm, io_json_kind(dt));
  if (dtype_from_name(dt->valuestring, &t->dtype) != 0)
    return ordo_fail(e,
                     "%s: tensor '%s': unknown dtype '%s' (expected F32, F16, BF16, F64, I64, "
                     "I32, I16, I8, U8 or BOOL)",
                     p, nm, dt->valuestring);

  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(ent, "shape");
  if (!sh) return ordo_fail(e, "%s: tensor '%s': missing \"shape\"", p, nm);
  if (!cJSON_IsArray(sh))
    return ordo_fail(e, "%s: tensor '%s': \"shape\" is %s, expected an array", p, nm, io_json_kind(sh));
  int nd = cJSON_GetArraySize(sh);
  if (nd > ST_MAX_DIMS)
    return ordo_fail(e, "%s: tensor '%s': shape has %d dimensions, at most %d supported", p, nm,
                     nd, ST_MAX_DIMS);
  t->ndim = nd;
  uint64_t numel = 1;
  int i = 0;
  for (const cJSON *d = sh->child; d; d = d->next, i++) {
    uint64_t v;
    if (json_uint(d, &v) != 0) {
      if (cJSON_IsNumber(d))
        return ordo_fail(e, "%s: tensor '%s': shape[%d] is %g, expected a non-negative integer",
                         p, nm, i, d->valuedouble);
      return ordo_fail(e, "%s: tensor '%s': shape[%d] is %s, expected a non-negative integer", p,
                       nm, i, io_json_kind(d));
    }
    t->shape[i] = (int64_t)v;
    if (v != 0 && numel > UINT64_MAX / v)
      return ordo_fail(e, "%s: tensor '%s': shape overflows", p, nm);
    numel *= v;
  }

  const cJSON *off = cJSON_GetObjectItemCaseSensitive(ent, "data_offsets");
  if (!off) return ordo_fail(e, "%s: tensor '%s': missing \"data_offsets\"", p, nm);
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
    return ordo_fail(e, "%s: tensor '%s': \"data_offsets\" is %s, expected [begin, end]", p, nm,
                     cJSON_IsArray(off) ? "an array of the wrong length" : io_json_kind(off));
  uint64_t begin, end;
  if (json_uint(off->child, &begin) != 0 || json_uint(off->child->next, &end) != 0)
    return ordo_fail(e, "%s: tensor '%s': \"data_offsets\" must hold two non-negative integers",
                     p, nm);
  if (begin > end)
    return ordo_fail(e, "%s: tensor '%s': data_offsets begin %llu > end %llu", p, nm,
                     (unsigned long long)begin, (unsigned long long)end);
  if (end > data_len)
    return ordo_fail(e,
                     "%s: tensor '%s': data_offsets end %llu is past the end of the data buffer "
                     "(%llu bytes)",
                     p, nm, (unsigned long long)end, (unsigned long long)data_len);
  uint64_t esz = dtype_size(t->dtype);
  if (numel > UINT64_MAX / esz || numel * esz != end - begin) {
    char s[160];
    fmt_shape(s, sizeof s, t->ndim, t->shape);
    return ordo_fail(e,
                     "%s: tensor '%s': %llu bytes in data_offsets, but shape %s of %s needs "
                     "%llu x %llu",
                     p, nm, (unsigned long long)(end - begin), s, dtype_name(t->dtype),
                     (unsigned long long)numel, (unsigned long long)esz);
  }
  t->numel = (int64_t)numel;
  t->nbytes = (size_t)(end - begin);
  t->data = data + begin;
  return 0;
}

static int parse_header(st_file *f, ordo_err *e) {
  const unsigned char *b = f->map;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
  if (hlen > ST_MAX_HEADER_BYTES)
    return ordo_fail(e, "%s: header length %llu at offset 0 is absurd (more than %llu bytes)",
                     f->path, (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER_BYTES);
  if (hlen > f->size - 8)
    return ordo_fail(e,
                     "%s: header length %llu at offset 0 runs past the end of the file "
                     "(%zu bytes)",
                     f->path, (unsigned long long)hlen, f->size);
  const char *hdr = (const char *)b + 8, *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
  if (!root) {
    size_t at = 8 + (end && end >= hdr ? (size_t)(end - hdr) : 0);
    return ordo_fail(e, "%s: header is not valid JSON (error near byte offset %zu)", f->path, at);
  }
  /* The header may be padded with spaces after the JSON; anything else is corrupt. */
  for (const char *q = end; q < hdr + hlen; q++)
    if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
      cJSON_Delete(root);
      return ordo_fail(e, "%s: unexpected byte 0x%02x after the JSON header at offset %zu",
                       f->path, (unsigned char)*q, (size_t)(q - (const char *)b));
    }
  int rc = 0;
  if (!cJSON_IsObject(root)) {
    rc = ordo_fail(e, "%s: header is %s, expected a JSON object", f->path, io_json_kind(root));
    goto done;
  }
  int total = cJSON_GetArraySize(root);
  f->tensors = ordo_calloc((size_t)total + 1, sizeof *f->tensors);
  const unsigned char *data = b + 8 + hlen;
  uint64_t data_len = f->size - 8 - hlen;
  for (const cJSON *ent = root->child; ent; ent = ent->next) {
    if (strcmp(ent->string, "__metadata__") == 0) {
      if (f->meta) {
        rc = ordo_fail(e, "%s: duplicate \"__metadata__\"", f->path);
        goto done;
      }
      if ((rc = parse_metadata(f, ent, e)) != 0) goto done;
      continue;
    }
    st_tensor *t = &f->tensors[f->n++];
    t->name = ordo_strdup(ent->string);
    if ((rc = parse_entry(f, t, ent, data, data_len, e)) != 0) goto done;
  }

  qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, cmp_tensor_name);
  for (int i = 1; i < f->n; i++)
    if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0) {
      rc = ordo_fail(e, "%s: duplicate tensor name '%s'", f->path, f->tensors[i].name);
      goto done;
    }

  /* Overlaps: gaps (bytes no tensor covers) are allowed, shared bytes are not. */
  {
    const st_tensor **by_off = ordo_malloc((size_t)(f->n + 1) * sizeof *by_off);
    int m = 0;
    for (int i = 0; i < f->n; i++)
      if (f->tensors[i].nbytes) by_off[m++] = &f->tensors[i];
    qsort(by_off, (size_t)m, sizeof *by_off, cmp_tensor_ptr_begin);
    for (int i = 1; i < m && rc == 0; i++) {
      const st_tensor *x = by_off[i - 1], *y = by_off[i];
      const char *xe = (const char *)x->data + x->nbytes;
      if ((const char *)y->data < xe) {
        size_t xb = (size_t)((const unsigned char *)x->data - data);
        size_t yb = (size_t)((const unsigned char *)y->data - data);
        rc = ordo_fail(e, "%s: tensors '%s' [%zu, %zu) and '%s' [%zu, %zu) overlap", f->path,
                       x->name, xb, xb + x->nbytes, y->name, yb, yb + y->nbytes);
      }
    }
    free(by_off);
  }
done:
  cJSON_Delete(root);
  return rc;
}

int st_open(st_file *f, const char *path, ordo_err *e) {
  memset(f, 0, sizeof *f);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return ordo_fail(e, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return ordo_fail(e, "%s: not a regular file", path);
  }
  if (sb.st_size < 8) {
    close(fd);
    return ordo_fail(e, "%s: file is %lld bytes, shorter than the 8-byte header length", path,
                     (long long)sb.st_size);
  }
  void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (map == MAP_FAILED) return ordo_fail(e, "%s: cannot map: %s", path, strerror(err));
  f->map = map;
  f->size = (size_t)sb.st_size;
  f->path = ordo_strdup(path);
  if (parse_header(f, e) != 0) {
    st_close(f);
    return -1;
  }
  return 0;
}

void st_close(st_file *f) {
  if (f->map) munmap(f->map, f->size);
  for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
  free(f->tensors);
  for (int i = 0; i < 2 * f->n_meta; i++) free(f->meta[i]);
  free(f->meta);
  free(f->path);
  memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
  int lo = 0, hi = f->n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(name, f->tensors[mid].name);
    if (c == 0) return &f->tensors[mid];
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return NULL;
}

const char *st_metadata(const st_file *f, const char *key) {
  for (int i = 0; i < f->n_meta; i++)
    if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
  return NULL;
}

/* Finds `name` and checks its shape; returns NULL with e filled on mismatch. */
static const st_tensor *find_checked(const st_file *f, const char *name, int ndim,
                                     const int64_t *shape, ordo_err *e) {
  const st_tensor *t = st_find(f, name);
  if (!t) {
    ordo_fail(e, "%s: tensor '%s' not found", f->path, name);
    return NULL;
  }
  int same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
  if (!same) {
    char want[200], got[200];
    fmt_shape(want, sizeof want, ndim, shape);
    fmt_shape(got, sizeof got, t->ndim, t->shape);
    ordo_fail(e, "%s: tensor '%s': expected shape %s, found %s", f->path, name, want, got);
    return NULL;
  }
  return t;
}

int st_read_f32(const st_file *f, const char *name, float *dst, int ndim, const int64_t *shape,
                ordo_err *e) {
  const st_tensor *t = find_checked(f, name, ndim, shape, e);
  if (!t) return -1;
  if (!is_float_dtype(t->dtype))
    return ordo_fail(e, "%s: tensor '%s' is %s, expected a float dtype (F32, F16, BF16, F64)",
                     f->path, name, dtype_name(t->dtype));
  size_t esz = dtype_size(t->dtype);
  if (t->dtype == ORDO_DT_F32 || (uintptr_t)t->data % esz == 0) {
    dtype_to_f32_n(dst, t->data, t->dtype, (size_t)t->numel);
  } else { /* unaligned in the mapping (header not padded): convert from an aligned copy */
    void *tmp = ordo_malloc(t->nbytes);
    memcpy(tmp, t->data, t->nbytes);
    dtype_to_f32_n(dst, tmp, t->dtype, (size_t)t->numel);
    free(tmp);
  }
  return 0;
}

/* One little-endian integer element; memcpy keeps unaligned data safe. */
static int64_t load_int(const unsigned char *p, ordo_dtype t) {
  switch (t) {
    case ORDO_DT_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    case ORDO_DT_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case ORDO_DT_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case ORDO_DT_I8: return (int8_t)*p;
    case ORDO_DT_U8:
    case ORDO_DT_BOOL: return *p;
    default: ORDO_CHECKF(0, "load_int: not an integer dtype %d", (int)t);
  }
  return 0;
}

int st_read_i32(const st_file *f, const char *name, int32_t *dst, int ndim, const int64_t *shape,
                ordo_err *e) {
  const st_tensor *t = find_checked(f, name, ndim, shape, e);
  if (!t) return -1;
  if (is_float_dtype(t->dtype))
    return ordo_fail(e,
                     "%s: tensor '%s' is %s, expected an integer dtype (I64, I32, I16, I8, U8, "
                     "BOOL)",
                     f->path, name, dtype_name(t->dtype));
  const unsigned char *src = t->data;
  size_t esz = dtype_size(t->dtype);
  for (int64_t i = 0; i < t->numel; i++) {
    int64_t v = load_int(src + (size_t)i * esz, t->dtype);
    if (v < INT32_MIN || v > INT32_MAX)
      return ordo_fail(e, "%s: tensor '%s': element %lld = %lld does not fit in int32", f->path,
                       name, (long long)i, (long long)v);
    dst[i] = (int32_t)v;
  }
  return 0;
}

/* ---- writer ---------------------------------------------------------------------------- */

void st_writer_init(st_writer *w) { memset(w, 0, sizeof *w); }

static st_wentry *writer_push(st_writer *w, const char *name, ordo_dtype dtype, int ndim,
                              const int64_t *shape) {
  ORDO_CHECK(name && ndim >= 0 && ndim <= ST_MAX_DIMS);
  ORDO_CHECK(dtype >= 0 && dtype < ORDO_DT_COUNT);
  if (w->n == w->cap) {
    w->cap = w->cap ? 2 * w->cap : 64;
    w->entries = ordo_realloc(w->entries, (size_t)w->cap * sizeof *w->entries);
  }
  st_wentry *en = &w->entries[w->n++];
  memset(en, 0, sizeof *en);
  en->name = ordo_strdup(name);
  en->dtype = dtype;
  en->ndim = ndim;
  size_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    ORDO_CHECKF(shape[i] >= 0, "st_writer: tensor %s has negative dim", name);
    en->shape[i] = shape[i];
    numel *= (size_t)shape[i];
  }
  en->nbytes = numel * dtype_size(dtype);
  return en;
}

void st_writer_add(st_writer *w, const char *name, ordo_dtype dtype, int ndim,
                   const int64_t *shape, const void *data) {
  st_wentry *en = writer_push(w, name, dtype, ndim, shape);
  ORDO_CHECK(data || en->nbytes == 0);
  en->data = data;
}

void st_writer_add_f32_as(st_writer *w, const char *name, ordo_dtype dtype, int ndim,
                          const int64_t *shape, const float *data) {
  ORDO_CHECKF(dtype == ORDO_DT_F32 || dtype == ORDO_DT_F16 || dtype == ORDO_DT_BF16,
              "st_writer_add_f32_as: %s cannot be written as %s", name, dtype_name(dtype));
  st_wentry *en = writer_push(w, name, dtype, ndim, shape);
  size_t numel = en->nbytes / dtype_size(dtype);
  ORDO_CHECK(data || numel == 0);
  en->owned = ordo_malloc(en->nbytes);
  if (dtype == ORDO_DT_F32) memcpy(en->owned, data, en->nbytes);
  else if (dtype == ORDO_DT_F16) f32_to_f16_n(en->owned, data, numel);
  else f32_to_bf16_n(en->owned, data, numel);
  en->data = en->owned;
}

void st_writer_meta(st_writer *w, const char *key, const char *value) {
  w->meta = ordo_realloc(w->meta, (size_t)(2 * w->n_meta + 2) * sizeof *w->meta);
  w->meta[2 * w->n_meta] = ordo_strdup(key);
  w->meta[2 * w->n_meta + 1] = ordo_strdup(value);
  w->n_meta++;
}

void st_writer_free(st_writer *w) {
  for (int i = 0; i < w->n; i++) {
    free(w->entries[i].name);
    free(w->entries[i].owned);
  }
  free(w->entries);
  for (int i = 0; i < 2 * w->n_meta; i++) free(w->meta[i]);
  free(w->meta);
  memset(w, 0, sizeof *w);
}

static void sb_json_string(ordo_buf *b, const char *s) {
  ordo_buf_add(b, "\"", 1);
  for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
    char esc[8];
    if (*q == '"' || *q == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*q;
      ordo_buf_add(b, esc, 2);
    } else if (*q < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *q);
      ordo_buf_add(b, esc, 6);
    } else {
      ordo_buf_add(b, (const char *)q, 1);
    }
  }
  ordo_buf_add(b, "\"", 1);
}

/* HF's writer orders tensors by dtype (widest first, in its dtype enum's order) and then by
 * name: with the header padded to 8 bytes every tensor then starts aligned to its element
 * size. Same rank here, so a file rewritten by ordo is byte-identical to HF's. */
static int dtype_rank(ordo_dtype t) {
  static const int rank[ORDO_DT_COUNT] = {
      [ORDO_DT_I64] = 0, [ORDO_DT_F64] = 1, [ORDO_DT_F32] = 2, [ORDO_DT_I32] = 3,
      [ORDO_DT_BF16] = 4, [ORDO_DT_F16] = 5, [ORDO_DT_I16] = 6, [ORDO_DT_I8] = 7,
      [ORDO_DT_U8] = 8, [ORDO_DT_BOOL] = 9,
  };
  return rank[t];
}

static int cmp_wentry_ptr(const void *a, const void *b) {
  const st_wentry *x = *(const st_wentry *const *)a, *y = *(const st_wentry *const *)b;
  int rx = dtype_rank(x->dtype), ry = dtype_rank(y->dtype);
  if (rx != ry) return rx < ry ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int cmp_wentry_name(const void *a, const void *b) {
  return strcmp((*(const st_wentry *const *)a)->name, (*(const st_wentry *const *)b)->name);
}

int st_writer_save(st_writer *w, const char *path, ordo_err *e) {
  const st_wentry **ord = ordo_malloc((size_t)(w->n + 1) * sizeof *ord);
  for (int i = 0; i < w->n; i++) ord[i] = &w->entries[i];
  qsort(ord, (size_t)w->n, sizeof *ord, cmp_wentry_name);
  for (int i = 1; i < w->n; i++)
    if (strcmp(ord[i - 1]->name, ord[i]->name) == 0) {
      ordo_fail(e, "%s: duplicate tensor name '%s'", path, ord[i]->name);
      free(ord);
      return -1;
    }
  qsort(ord, (size_t)w->n, sizeof *ord, cmp_wentry_ptr);

  /* Header: metadata first, then tensors in file order with contiguous offsets. */
  ordo_buf h = {0};
  char num[64];
  ordo_buf_str(&h, "{");
  int first = 1;
  if (w->n_meta) {
    ordo_buf_str(&h, "\"__metadata__\":{");
    for (int i = 0; i < w->n_meta; i++) {
      if (i) ordo_buf_str(&h, ",");
      sb_json_string(&h, w->meta[2 * i]);
      ordo_buf_str(&h, ":");
      sb_json_string(&h, w->meta[2 * i + 1]);
    }
    ordo_buf_str(&h, "}");
    first = 0;
  }
  uint64_t off = 0;
  for (int i = 0; i < w->n; i++) {
    const st_wentry *en = ord[i];
    if (!first) ordo_buf_str(&h, ",");
    first = 0;
    sb_json_string(&h, en->name);
    ordo_buf_str(&h, ":{\"dtype\":\"");
    ordo_buf_str(&h, dtype_name(en->dtype));
    ordo_buf_str(&h, "\",\"shape\":[");
    for (int d = 0; d < en->ndim; d++) {
      snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)en->shape[d]);
      ordo_buf_str(&h, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
             (unsigned long long)(off + en->nbytes));
    ordo_buf_str(&h, num);
    off += en->nbytes;
  }
  ordo_buf_str(&h, "}");
  while (h.n % 8) ordo_buf_add(&h, " ", 1); /* 8 + N stays 8-aligned, so the data is too */
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));

  ordo_atomic at;
  int rc = ordo_atomic_begin(&at, path, e);
  if (rc == 0) rc = ordo_atomic_write(&at, len8, 8, e);
  if (rc == 0) rc = ordo_atomic_write(&at, h.p, h.n, e);
  for (int i = 0; i < w->n && rc == 0; i++)
    if (ord[i]->nbytes) rc = ordo_atomic_write(&at, ord[i]->data, ord[i]->nbytes, e);
  if (rc == 0) rc = ordo_atomic_commit(&at, e);
  free(h.p);
  free(ord);
  return rc;
}

/* ---- parameter table ------------------------------------------------------------------- */

/* Appends names to a bounded list for one log/error line: "a, b, c (+k more)". */
static void list_add(char *buf, size_t cap, int *shown, int *more, const char *name) {
  size_t n = strlen(buf);
  if (n + strlen(name) + 3 < cap - 32) {
    snprintf(buf + n, cap - n, "%s%s", *shown ? ", " : "", name);
    (*shown)++;
  } else {
    (*more)++;
  }
}
static void list_end(char *buf, size_t cap, int more) {
  size_t n = strlen(buf);
  if (more) snprintf(buf + n, cap - n, " (+%d more)", more);
}

int st_load_params(ordo_params *p, const char *path, int flags, ordo_err *e) {
  ORDO_CHECKF(p->data, "st_load_params before params_alloc");
  st_file f;
  if (st_open(&f, path, e) != 0) return -1;
  /* Validate every spec first so a failure leaves the parameters untouched. */
  char missing[700] = "";
  int n_missing = 0, shown = 0, more = 0;
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    if (!st_find(&f, s->name)) {
      n_missing++;
      list_add(missing, sizeof missing, &shown, &more, s->name);
      continue;
    }
    const st_tensor *t = find_checked(&f, s->name, s->ndim, s->shape, e);
    if (!t) goto fail;
    if (!is_float_dtype(t->dtype)) {
      ordo_fail(e, "%s: tensor '%s' is %s, expected a float dtype", path, s->name,
                dtype_name(t->dtype));
      goto fail;
    }
  }
  list_end(missing, sizeof missing, more);
  if (n_missing && !(flags & ST_ALLOW_MISSING)) {
    ordo_fail(e, "%s: %d of %d parameters missing from the file: %s", path, n_missing, p->n,
              missing);
    goto fail;
  }
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    if (st_find(&f, s->name) &&
        st_read_f32(&f, s->name, params_data(p, i), s->ndim, s->shape, e) != 0)
      goto fail; /* unreachable after the checks above, kept for safety */
  }
  if (n_missing)
    log_info("%s: %d parameters not in the file keep their initial values: %s", path, n_missing,
             missing);
  if (!(flags & ST_QUIET)) {
    char extra[700] = "";
    int n_extra = 0;
    shown = more = 0;
    for (int i = 0; i < f.n; i++)
      if (params_find(p, f.tensors[i].name) < 0) {
        n_extra++;
        list_add(extra, sizeof extra, &shown, &more, f.tensors[i].name);
      }
    list_end(extra, sizeof extra, more);
    if (n_extra)
      log_warn("%s: %d tensors in the file match no parameter and are ignored: %s", path, n_extra,
               extra);
  }
  st_close(&f);
  return 0;
fail:
  st_close(&f);
  return -1;
}

int st_save_params(const ordo_params *p, const char *path, ordo_err *e) {
  ORDO_CHECKF(p->data, "st_save_params before params_alloc");
  st_writer w;
  st_writer_init(&w);
  st_writer_meta(&w, "format", "pt");
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    const float *d = params_data(p, i);
    if (s->dtype == ORDO_DT_F32) st_writer_add(&w, s->name, s->dtype, s->ndim, s->shape, d);
    else st_writer_add_f32_as(&w, s->name, s->dtype, s->ndim, s->shape, d);
  }
  int rc = st_writer_save(&w, path, e);
  st_writer_free(&w);
  return rc;
}
