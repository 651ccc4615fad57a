/* Reading a run directory for the report: metrics.jsonl, tb/<stage>/ event files, heldout.jsonl,
 * each as far as it is readable (report.h). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "ordo/files.h"
#include "ordo/metrics.h"
#include "ordo/report.h"

static void add_note(rp_run *r, int skipped, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  r->notes = ordo_realloc(r->notes, (size_t)(r->n_notes + 1) * sizeof *r->notes);
  r->notes[r->n_notes++] = ordo_strdup(buf);
  r->skipped |= skipped;
}

static rp_series *series_get(rp_run *r, const char *stage, const char *name) {
  for (int i = 0; i < r->n_series; i++)
    if (strcmp(r->s[i].stage, stage) == 0 && strcmp(r->s[i].name, name) == 0) return &r->s[i];
  if (r->n_series == r->cap_series) {
    r->cap_series = r->cap_series ? 2 * r->cap_series : 32;
    r->s = ordo_realloc(r->s, (size_t)r->cap_series * sizeof *r->s);
  }
  rp_series *s = &r->s[r->n_series++];
  memset(s, 0, sizeof *s);
  snprintf(s->stage, sizeof s->stage, "%s", stage);
  snprintf(s->name, sizeof s->name, "%s", name);
  return s;
}

const rp_series *report_find_series(const rp_run *r, const char *stage, const char *name) {
  for (int i = 0; i < r->n_series; i++)
    if (strcmp(r->s[i].stage, stage) == 0 && strcmp(r->s[i].name, name) == 0) return &r->s[i];
  return NULL;
}

static void series_push(rp_series *s, int64_t step, double v) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->step = ordo_realloc(s->step, (size_t)s->cap * sizeof *s->step);
    s->val = ordo_realloc(s->val, (size_t)s->cap * sizeof *s->val);
  }
  s->step[s->n] = step;
  s->val[s->n++] = v;
}

/* Stable sort of a series by step (insertion sort: the points arrive nearly sorted). */
static void series_sort(rp_series *s) {
  for (int64_t i = 1; i < s->n; i++) {
    int64_t st = s->step[i], j = i;
    double v = s->val[i];
    for (; j > 0 && s->step[j - 1] > st; j--) s->step[j] = s->step[j - 1], s->val[j] = s->val[j - 1];
    s->step[j] = st, s->val[j] = v;
  }
}

static int series_has(const rp_series *s, int64_t step) {
  int64_t lo = 0, hi = s->n;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (s->step[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  return lo < s->n && s->step[lo] == step;
}

/* A JSON-lines file, line by line: parse(r, line) returns 0 for a record it took, -1 for a line
 * that is not one (a torn last line, with no newline, is never one). One note says how many of
 * each there were and where the first bad line is. `what` names the records. */
typedef int (*line_parse_fn)(rp_run *r, const char *line);

static void load_lines(rp_run *r, const char *name, const char *what, int required,
                       line_parse_fn parse) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", r->dir, name);
  if (!ordo_is_file(path)) {
    if (required) add_note(r, 0, "%s: not present", path);
    return;
  }
  size_t len;
  char *txt = ordo_read_file(path, &len, NULL);
  if (!txt) {
    add_note(r, 1, "%s: cannot be read, skipped", path);
    return;
  }
  int64_t line_no = 0, good = 0, bad = 0, first_bad = 0;
  for (char *line = txt; line < txt + len;) {
    char *nl = memchr(line, '\n', (size_t)(txt + len - line));
    line_no++;
    if (nl) *nl = 0;
    if (nl && parse(r, line) == 0) good++;
    else if (*line || !nl) bad++, first_bad = first_bad ? first_bad : line_no;
    if (!nl) break;
    line = nl + 1;
  }
  free(txt);
  if (bad)
    add_note(r, 1, "%s: %lld %s read; %lld line%s not complete (first: line %lld, e.g. torn by a "
             "run that was killed), skipped", path, (long long)good, what, (long long)bad,
             bad == 1 ? " is" : "s are", (long long)first_bad);
  else
    add_note(r, 0, "%s: %lld %s read", path, (long long)good, what);
}

/* A line of metrics.jsonl: {"stage", "step", "wall", then the values (null: not finite)}. */
static int parse_record(rp_run *r, const char *line) {
  cJSON *o = cJSON_Parse(line);
  const cJSON *stage = cJSON_GetObjectItemCaseSensitive(o, "stage");
  const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
  int ok = cJSON_IsString(stage) && cJSON_IsNumber(step);
  for (const cJSON *it = ok ? o->child : NULL; it; it = it->next) {
    if (!strcmp(it->string, "stage") || !strcmp(it->string, "step") || !strcmp(it->string, "wall"))
      continue;
    if (cJSON_IsNumber(it) || cJSON_IsNull(it))
      series_push(series_get(r, stage->valuestring, it->string), (int64_t)step->valuedouble,
                  cJSON_IsNumber(it) ? it->valuedouble : NAN);
  }
  cJSON_Delete(o);
  return ok ? 0 : -1;
}

/* The tb/<stage>/ event files (names holding "tfevents"): up to the first torn or damaged record; points missing from the JSON
 * lines are added. */
static void load_events(rp_run *r) {
  char tb[4200];
  snprintf(tb, sizeof tb, "%s/tb", r->dir);
  if (!ordo_is_dir(tb)) return;
  ordo_paths files = {0};
  ordo_err e;
  if (ordo_list_files(tb, NULL, 0, 1, &files, &e) != 0) {
    add_note(r, 1, "%s", e.msg);
    return;
  }
  for (int i = 0; i < r->n_series; i++) series_sort(&r->s[i]);
  for (int32_t f = 0; f < files.n; f++) {
    const char *base = strrchr(files.p[f], '/');
    if (!strstr(base ? base : files.p[f], "tfevents") || strstr(files.p[f], ".tmp.")) continue;
    events_read_result er;
    if (events_read_file(files.p[f], &er, &e) != 0) {
      add_note(r, 1, "%s, skipped", e.msg);
      continue;
    }
    int64_t added = 0;
    for (int64_t k = 0; k < er.n; k++) {
      char stage[48], *slash = strchr(er.s[k].tag, '/');
      if (!slash || slash - er.s[k].tag >= (long)sizeof stage) continue;
      memcpy(stage, er.s[k].tag, (size_t)(slash - er.s[k].tag));
      stage[slash - er.s[k].tag] = 0;
      rp_series *s = series_get(r, stage, slash + 1);
      if (series_has(s, er.s[k].step)) continue;
      series_push(s, er.s[k].step, isfinite(er.s[k].value) ? (double)er.s[k].value : NAN);
      added++;
    }
    if (er.stop[0])
      add_note(r, 1, "%s: %lld records read, then %s: the last %lld bytes skipped", files.p[f],
               (long long)er.records, er.stop, (long long)(er.bytes_total - er.bytes_read));
    else
      add_note(r, 0, "%s: %lld records read", files.p[f], (long long)er.records);
    if (added)
      add_note(r, 0, "%s: %lld scalars that metrics.jsonl lacks were taken from it", files.p[f],
               (long long)added);
    events_read_result_free(&er);
    for (int i = 0; i < r->n_series; i++) series_sort(&r->s[i]);
  }
  ordo_paths_free(&files);
}

static int nb_from_json(rp_notebook *nb, const cJSON *o) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
  const cJSON *tau = cJSON_GetObjectItemCaseSensitive(o, "tau");
  const cJSON *types = cJSON_GetObjectItemCaseSensitive(o, "types");
  const cJSON *tr = cJSON_GetObjectItemCaseSensitive(o, "true");
  const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "pred");
  const cJSON *tx = cJSON_GetObjectItemCaseSensitive(o, "text");
  if (!cJSON_IsString(id) || !cJSON_IsNumber(tau) || !cJSON_IsString(types) ||
      !cJSON_IsArray(tr) || !cJSON_IsArray(pr) || !cJSON_IsArray(tx))
    return -1;
  int32_t n = (int32_t)strlen(types->valuestring);
  if (n < 1 || cJSON_GetArraySize(tr) != n || cJSON_GetArraySize(pr) != n || cJSON_GetArraySize(tx) != n)
    return -1;
  memset(nb, 0, sizeof *nb);
  snprintf(nb->id, sizeof nb->id, "%s", id->valuestring);
  nb->tau = tau->valuedouble;
  nb->n = n;
  nb->types = ordo_strdup(types->valuestring);
  nb->truth = ordo_malloc((size_t)n * sizeof *nb->truth);
  nb->pred = ordo_malloc((size_t)n * sizeof *nb->pred);
  nb->text = ordo_calloc((size_t)n, sizeof *nb->text);
  uint8_t *seen = ordo_calloc((size_t)n * 2, 1);
  int ok = 1;
  for (int32_t i = 0; i < n; i++) {
    const cJSON *a = cJSON_GetArrayItem(tr, i), *b = cJSON_GetArrayItem(pr, i), *t = cJSON_GetArrayItem(tx, i);
    nb->truth[i] = cJSON_IsNumber(a) ? a->valueint : -1;
    nb->pred[i] = cJSON_IsNumber(b) ? b->valueint : -1;
    nb->text[i] = ordo_strdup(cJSON_IsString(t) ? t->valuestring : "");
    /* each order must hold every cell once */
    ok &= nb->truth[i] >= 0 && nb->truth[i] < n && !seen[nb->truth[i]]++;
    ok &= nb->pred[i] >= 0 && nb->pred[i] < n && !seen[n + nb->pred[i]]++;
  }
  free(seen);
  return ok ? 0 : -2;
}

static void nb_free(rp_notebook *nb) {
  for (int32_t i = 0; i < nb->n; i++) free(nb->text[i]);
  free(nb->text), free(nb->types), free(nb->truth), free(nb->pred);
}

static int parse_notebook(rp_run *r, const char *line) {
  cJSON *o = cJSON_Parse(line);
  rp_notebook nb;
  int rc = o ? nb_from_json(&nb, o) : -1;
  cJSON_Delete(o);
  if (rc == -2) nb_free(&nb);
  if (rc != 0) return -1;
  r->nbs = ordo_realloc(r->nbs, (size_t)(r->n_nbs + 1) * sizeof *r->nbs);
  r->nbs[r->n_nbs++] = nb;
  return 0;
}

int report_run_load(rp_run *r, const char *dir, ordo_err *e) {
  memset(r, 0, sizeof *r);
  if (!ordo_is_dir(dir)) return ordo_fail(e, "%s: not a directory", dir);
  char *abs = realpath(dir, NULL);
  snprintf(r->dir, sizeof r->dir, "%s", abs ? abs : dir);
  free(abs);
  size_t n = strlen(r->dir);
  while (n > 1 && r->dir[n - 1] == '/') r->dir[--n] = 0;
  const char *base = strrchr(r->dir, '/');
  snprintf(r->label, sizeof r->label, "%s", base && base[1] ? base + 1 : r->dir);
  load_lines(r, "metrics.jsonl", "records", 1, parse_record);
  load_events(r);
  load_lines(r, "heldout.jsonl", "held-out notebooks", 0, parse_notebook);
  if (r->n_series == 0 && r->n_nbs == 0) {
    ordo_fail(e, "%s: no readable metrics (metrics.jsonl, tb/*/events*) or heldout.jsonl", dir);
    report_run_free(r);
    return -1;
  }
  return 0;
}

void report_run_free(rp_run *r) {
  for (int i = 0; i < r->n_series; i++) free(r->s[i].step), free(r->s[i].val);
  free(r->s);
  for (int i = 0; i < r->n_nbs; i++) nb_free(&r->nbs[i]);
  free(r->nbs);
  for (int i = 0; i < r->n_notes; i++) free(r->notes[i]);
  free(r->notes);
  memset(r, 0, sizeof *r);
}
