/* Training metrics to a run directory: JSON lines, TensorBoard event files, a CSV (metrics.h). */
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ordo/files.h"
#include "ordo/metrics.h"

#define EVENTS_FILE "events.out.tfevents.ordo"

int metrics_open(ordo_metrics *m, const char *dir, ordo_err *e) {
  memset(m, 0, sizeof *m);
  if (snprintf(m->dir, sizeof m->dir, "%s", dir) >= (int)sizeof m->dir)
    return ordo_fail(e, "%s: path too long", dir);
  return ordo_dir_ensure(dir, e);
}

static void close_files(ordo_metrics *m) {
  if (m->jsonl) fclose(m->jsonl);
  if (m->events) fclose(m->events);
  if (m->csv) fclose(m->csv);
  m->jsonl = m->events = m->csv = NULL;
}

void metrics_close(ordo_metrics *m) { close_files(m); }

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double metrics_rss_mb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (!f) return 0;
  int ok = fscanf(f, "%ld %ld", &pages, &resident) == 2;
  fclose(f);
  return ok ? (double)resident * (double)sysconf(_SC_PAGESIZE) / 1e6 : 0;
}

/* Whole lines of txt (a torn last line is dropped) kept when keep(line) says so. */
typedef int (*line_keep_fn)(const char *line, size_t n, const void *ctx);

static void keep_lines(ordo_buf *out, const char *txt, line_keep_fn keep, const void *ctx) {
  const char *line = txt;
  while (line && *line) {
    const char *nl = strchr(line, '\n');
    if (!nl) break;
    if (keep(line, (size_t)(nl - line), ctx)) ordo_buf_add(out, line, (size_t)(nl - line + 1));
    line = nl + 1;
  }
}

typedef struct stage_keep {
  const char *stage;
  int64_t keep_step;
} stage_keep;

/* a JSON line of another stage, or of this one up to the kept step */
static int jsonl_keep(const char *line, size_t n, const void *ctx) {
  const stage_keep *k = ctx;
  const char *pre = "{\"stage\": \"";
  size_t pl = strlen(pre), sl = strlen(k->stage);
  if (n < pl || strncmp(line, pre, pl) != 0) return 0; /* not a record of ours */
  if (n < pl + sl + 1 || strncmp(line + pl, k->stage, sl) != 0 || line[pl + sl] != '"') return 1;
  const char *st = strstr(line, "\"step\": ");
  return st && st < line + n && atoll(st + 8) <= k->keep_step;
}

/* a CSV row with 0 < step <= kept step; the first bad row ends the kept part */
static int csv_keep(const char *line, size_t n, const void *ctx) {
  (void)n;
  const stage_keep *k = ctx;
  long long s = atoll(line);
  return s > 0 && s <= k->keep_step;
}

static int write_atomic_open(FILE **f, const char *path, const ordo_buf *b, ordo_err *e) {
  if (ordo_write_file_atomic(path, b->n ? b->p : "", b->n, e) != 0) return -1;
  *f = fopen(path, "a");
  if (!*f) return ordo_fail(e, "%s: cannot append", path);
  return 0;
}

static int open_jsonl(ordo_metrics *m, const stage_keep *k, ordo_err *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/metrics.jsonl", m->dir);
  char *old = ordo_read_file(path, NULL, NULL);
  ordo_buf b = {0};
  if (old) keep_lines(&b, old, jsonl_keep, k);
  free(old);
  int rc = write_atomic_open(&m->jsonl, path, &b, e);
  free(b.p);
  return rc;
}

static int open_csv(ordo_metrics *m, const char *name, const stage_keep *k, ordo_err *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", m->dir, name);
  ordo_buf b = {0};
  for (int i = 0; i < m->n_cols; i++) {
    ordo_buf_add(&b, m->cols[i].name, strlen(m->cols[i].name));
    ordo_buf_add(&b, i + 1 < m->n_cols ? "," : "\n", 1);
  }
  char *old = k->keep_step > 0 ? ordo_read_file(path, NULL, NULL) : NULL;
  if (old) {
    /* the header, then the rows up to the first that is not kept (a torn row ends it) */
    const char *line = strchr(old, '\n');
    while (line && *++line) {
      const char *nl = strchr(line, '\n');
      if (!nl || !csv_keep(line, (size_t)(nl - line), k)) break;
      ordo_buf_add(&b, line, (size_t)(nl - line + 1));
      line = nl;
    }
  }
  free(old);
  int rc = write_atomic_open(&m->csv, path, &b, e);
  free(b.p);
  return rc;
}

static int open_events(ordo_metrics *m, const stage_keep *k, ordo_err *e) {
  char path[4300];
  snprintf(path, sizeof path, "%s/tb", m->dir);
  if (ordo_dir_ensure(path, e) != 0) return -1;
  snprintf(path, sizeof path, "%s/tb/%s", m->dir, k->stage);
  if (ordo_dir_ensure(path, e) != 0) return -1;
  snprintf(path, sizeof path, "%s/tb/%s/" EVENTS_FILE, m->dir, k->stage);
  events_read_result old = {0};
  int have_old = k->keep_step > 0 && events_read_file(path, &old, NULL) == 0;
  char tmp[4400];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return ordo_fail(e, "%s: cannot create", tmp);
  int rc = events_write_event(f, have_old && old.n ? old.s[0].wall : wall_now(), 0,
                              "brain.Event:2", NULL, NULL, 0);
  /* the kept scalars, those of one record (same wall time and step) in one event again */
  for (int64_t i = 0; have_old && i < old.n && rc == 0;) {
    int64_t j = i;
    const char *tags[METRICS_MAX_VALUES];
    float vals[METRICS_MAX_VALUES];
    while (j < old.n && j - i < METRICS_MAX_VALUES && old.s[j].step == old.s[i].step &&
           old.s[j].wall == old.s[i].wall) {
      tags[j - i] = old.s[j].tag, vals[j - i] = old.s[j].value;
      j++;
    }
    if (old.s[i].step <= k->keep_step)
      rc = events_write_event(f, old.s[i].wall, old.s[i].step, NULL, tags, vals, (int)(j - i));
    i = j;
  }
  events_read_result_free(&old);
  if (fclose(f) != 0 || rc != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return ordo_fail(e, "%s: cannot write", path);
  }
  m->events = fopen(path, "ab");
  if (!m->events) return ordo_fail(e, "%s: cannot append", path);
  return 0;
}

int metrics_stage_begin(ordo_metrics *m, const char *stage, int64_t keep_step,
                        const char *csv_name, const metrics_column *cols, int n_cols,
                        ordo_err *e) {
  close_files(m);
  size_t sl = strlen(stage);
  if (sl == 0 || sl >= sizeof m->stage || strspn(stage, "abcdefghijklmnopqrstuvwxyz0123456789_") != sl)
    return ordo_fail(e, "metrics: bad stage name '%s'", stage);
  memcpy(m->stage, stage, sl + 1);
  m->cols = cols;
  m->n_cols = csv_name ? n_cols : 0;
  stage_keep k = {m->stage, keep_step < 0 ? 0 : keep_step};
  if (open_jsonl(m, &k, e) != 0) return -1;
  if (open_events(m, &k, e) != 0) return -1;
  if (csv_name && open_csv(m, csv_name, &k, e) != 0) return -1;
  return 0;
}

void metrics_record_begin(ordo_metrics *m, int64_t step) {
  m->step = step;
  m->n = 0;
}

void metrics_record_add(ordo_metrics *m, const char *name, double value) {
  ORDO_CHECK(m->n < METRICS_MAX_VALUES);
  size_t l = strlen(name);
  ORDO_CHECK(l > 0 && l < METRICS_NAME_LEN);
  memcpy(m->names[m->n], name, l + 1);
  m->vals[m->n++] = value;
}

static int find_value(const ordo_metrics *m, const char *name) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->names[i], name) == 0) return i;
  return -1;
}

int metrics_record_end(ordo_metrics *m, ordo_err *e) {
  ORDO_CHECK(m->jsonl && m->events);
  double wall = wall_now();
  FILE *f = m->jsonl;
  fprintf(f, "{\"stage\": \"%s\", \"step\": %lld, \"wall\": %.17g", m->stage, (long long)m->step, wall);
  const char *tags[METRICS_MAX_VALUES];
  char tagbuf[METRICS_MAX_VALUES][2 * METRICS_NAME_LEN];
  float vals[METRICS_MAX_VALUES];
  for (int i = 0; i < m->n; i++) {
    if (isfinite(m->vals[i])) fprintf(f, ", \"%s\": %.17g", m->names[i], m->vals[i]);
    else fprintf(f, ", \"%s\": null", m->names[i]);
    snprintf(tagbuf[i], sizeof tagbuf[i], "%s/%s", m->stage, m->names[i]);
    tags[i] = tagbuf[i];
    vals[i] = (float)m->vals[i];
  }
  fputs("}\n", f);
  int bad = fflush(f) != 0;
  bad |= events_write_event(m->events, wall, m->step, NULL, tags, vals, m->n) != 0;
  bad |= fflush(m->events) != 0;
  if (m->csv) {
    for (int c = 0; c < m->n_cols; c++) {
      if (c) fputc(',', m->csv);
      if (strcmp(m->cols[c].name, "step") == 0) {
        fprintf(m->csv, m->cols[c].fmt, (long long)m->step);
      } else {
        int i = find_value(m, m->cols[c].name);
        ORDO_CHECKF(i >= 0, "metrics: CSV column %s not in the record", m->cols[c].name);
        fprintf(m->csv, m->cols[c].fmt, m->vals[i]);
      }
    }
    fputc('\n', m->csv);
    bad |= fflush(m->csv) != 0;
  }
  return bad ? ordo_fail(e, "%s: cannot write the metrics (disk full?)", m->dir) : 0;
}
