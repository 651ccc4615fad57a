/* Labelled text sets (CSV or JSON-lines) and their label sets. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "ordo/classify.h"
#include "ordo/config.h"
#include "ordo/notebook.h"
#include "tok/tok_internal.h"

static void set_add(cls_set *s, int64_t *cap, int64_t line, const char *text, size_t len, const char *label) {
  if (s->n == *cap) {
    *cap = *cap ? 2 * *cap : 1024;
    s->text = ordo_realloc(s->text, (size_t)*cap * sizeof(char *));
    s->len = ordo_realloc(s->len, (size_t)*cap * sizeof(size_t));
    s->label = ordo_realloc(s->label, (size_t)*cap * sizeof(char *));
    s->line = ordo_realloc(s->line, (size_t)*cap * sizeof(int64_t));
  }
  s->line[s->n] = line;
  char *t = ordo_malloc(len + 1);
  memcpy(t, text, len);
  t[len] = 0;
  s->text[s->n] = t;
  s->len[s->n] = len;
  s->label[s->n] = label ? ordo_strdup(label) : NULL;
  s->n++;
}

/* NULL when label is acceptable, else what is wrong with it. */
static const char *label_problem(const char *label) {
  size_t n = strlen(label);
  if (n == 0) return "an empty label";
  if (n > CLS_MAX_LABEL_LEN) return "a label longer than 200 bytes";
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += (size_t)tok_utf8_next((const unsigned char *)label + i, n - i, &cp);
    if (cp == TOK_INVALID) return "a label that is not valid UTF-8";
    if (cp < 0x20 || cp == 0x7F) return "a label with a control character";
  }
  return NULL;
}

static int check_row(const char *path, int64_t line, const char *label, int need, ordo_err *e) {
  if (!label) return need ? ordo_fail(e, "%s: line %lld has no label", path, (long long)line) : 0;
  const char *p = label_problem(label);
  return p ? ordo_fail(e, "%s: line %lld has %s", path, (long long)line, p) : 0;
}

static int read_jsonl(cls_set *s, const char *path, const char *text, size_t len, int need,
                      ordo_err *e) {
  int64_t cap = 0, line = 0;
  for (size_t p = 0; p < len;) {
    const char *nl = memchr(text + p, '\n', len - p);
    size_t end = nl ? (size_t)(nl - text) : len, q = p;
    line++;
    while (q < end && (text[q] == ' ' || text[q] == '\t' || text[q] == '\r')) q++;
    if (q == end) { /* a blank line */
      p = end + 1;
      continue;
    }
    cJSON *o = cJSON_ParseWithLength(text + p, end - p);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "label");
    char num[32], *label = NULL;
    int rc = 0;
    if (!cJSON_IsObject(o) || !cJSON_IsString(t))
      rc = ordo_fail(e, "%s: line %lld: expected a JSON object with a string \"text\"", path,
                     (long long)line);
    else if (cJSON_IsString(l))
      label = l->valuestring;
    else if (cJSON_IsNumber(l) && l->valuedouble == (double)(int64_t)l->valuedouble)
      snprintf(num, sizeof num, "%lld", (long long)l->valuedouble), label = num;
    else if (l && !cJSON_IsNull(l))
      rc = ordo_fail(e, "%s: line %lld: \"label\" must be a string or an integer", path,
                     (long long)line);
    if (rc == 0) rc = check_row(path, line, label, need, e);
    if (rc == 0 && s->n >= CLS_MAX_ROWS)
      rc = ordo_fail(e, "%s: more than %d rows", path, CLS_MAX_ROWS);
    if (rc == 0) set_add(s, &cap, line, t->valuestring, strlen(t->valuestring), label);
    cJSON_Delete(o);
    if (rc != 0) return -1;
    p = end + 1;
  }
  return 0;
}

static int64_t count_lines(const char *text, size_t from, size_t to) {
  int64_t n = 0;
  for (size_t i = from; i < to; i++) n += text[i] == '\n';
  return n;
}

static int read_csv(cls_set *s, const char *path, const char *text, size_t len, int need,
                    ordo_err *e) {
  char *buf = ordo_malloc(len + 1), *f[64];
  size_t pos = 0;
  int64_t cap = 0, line = 1;
  int rc = 0, ti = -1, li = -1;
  int nf = nb_csv_next(text, len, &pos, buf, len + 1, f, 64);
  for (int i = 0; i < nf; i++) {
    if (strcmp(f[i], "text") == 0 && ti < 0) ti = i;
    if (strcmp(f[i], "label") == 0 && li < 0) li = i;
  }
  if (ti < 0 || (need && li < 0))
    rc = ordo_fail(e, "%s: the header (line 1) must name a \"text\"%s column", path,
                   need ? " and a \"label\"" : "");
  line += count_lines(text, 0, pos); /* the line the next record starts on */
  while (rc == 0) {
    size_t at = pos;
    const int64_t row_line = line;
    nf = nb_csv_next(text, len, &pos, buf, len + 1, f, 64);
    if (nf == 0) break;
    if (nf < 0) {
      rc = ordo_fail(e, "%s: line %lld: a quoted field is not closed", path, (long long)row_line);
      break;
    }
    line += count_lines(text, at, pos);
    if (nf == 1 && f[0][0] == 0) continue; /* a blank line */
    if (nf <= ti || (li >= 0 && nf <= li && need)) {
      rc = ordo_fail(e, "%s: line %lld has %d fields, the header %s", path, (long long)row_line,
                     nf, li > ti ? "names the label column after them" : "names more");
      break;
    }
    const char *label = li >= 0 && li < nf ? f[li] : NULL;
    if ((rc = check_row(path, row_line, label, need, e)) != 0) break;
    if (s->n >= CLS_MAX_ROWS) {
      rc = ordo_fail(e, "%s: more than %d rows", path, CLS_MAX_ROWS);
      break;
    }
    set_add(s, &cap, row_line, f[ti], strlen(f[ti]), label);
  }
  free(buf);
  return rc;
}

int cls_set_read(cls_set *s, const char *path, int need_labels, ordo_err *e) {
  memset(s, 0, sizeof *s);
  size_t len;
  char *text = ordo_read_file(path, &len, e);
  if (!text) return -1;
  size_t p = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; /* a UTF-8 BOM */
  size_t q = p;
  while (q < len && (text[q] == ' ' || text[q] == '\t' || text[q] == '\r' || text[q] == '\n')) q++;
  int rc = q == len ? 0 /* empty: said below */
           : text[q] == '{' ? read_jsonl(s, path, text + p, len - p, need_labels, e)
                                     : read_csv(s, path, text + p, len - p, need_labels, e);
  free(text);
  if (rc == 0 && s->n == 0) rc = ordo_fail(e, "%s holds no rows", path);
  if (rc != 0) cls_set_free(s);
  return rc;
}

void cls_set_free(cls_set *s) {
  for (int64_t i = 0; i < s->n; i++) {
    free(s->text[i]);
    if (s->label) free(s->label[i]);
  }
  free(s->text);
  free(s->len);
  free(s->label);
  free(s->line);
  memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cls_labels_collect(const cls_set *s, const char *path, char ***names, int *n, ordo_err *e) {
  nb_strmap seen = {0};
  char **out = NULL;
  int k = 0;
  for (int64_t i = 0; i < s->n; i++) {
    if (!s->label || !s->label[i]) return ordo_fail(e, "%s: line %lld has no label", path, (long long)s->line[i]);
    if (nb_strmap_get(&seen, s->label[i]) >= 0) continue;
    if (k >= ENC_MAX_LABELS) {
      nb_strmap_free(&seen);
      cls_labels_free(out, k);
      return ordo_fail(e, "%s: more than %d distinct labels", path, ENC_MAX_LABELS);
    }
    nb_strmap_put(&seen, s->label[i], k);
    out = ordo_realloc(out, (size_t)(k + 1) * sizeof(char *));
    out[k++] = ordo_strdup(s->label[i]);
  }
  nb_strmap_free(&seen);
  if (k < 2) {
    int rc = ordo_fail(e, "%s: every row has the label '%s': classification needs at least two "
                       "labels", path, k ? out[0] : "");
    cls_labels_free(out, k);
    return rc;
  }
  qsort(out, (size_t)k, sizeof(char *), cmp_str);
  *names = out;
  *n = k;
  return 0;
}

void cls_labels_free(char **names, int n) {
  for (int i = 0; i < n && names; i++) free(names[i]);
  free(names);
}

int cls_labels_index(const cls_set *s, const char *path, char *const *names, int n, int32_t *ids,
                     ordo_err *e) {
  for (int64_t i = 0; i < s->n; i++) {
    char *const *hit = s->label && s->label[i]
                           ? bsearch(&s->label[i], names, (size_t)n, sizeof(char *), cmp_str)
                           : NULL;
    if (!hit)
      return ordo_fail(e, "%s: line %lld has the label '%s', which the model does not know (its "
                       "%d labels: %s, %s%s)", path, (long long)s->line[i],
                       s->label && s->label[i] ? s->label[i] : "", n, names[0], names[1],
                       n > 2 ? ", ..." : "");
    ids[i] = (int32_t)(hit - names);
  }
  return 0;
}
