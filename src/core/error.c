/* Errors, logging, checked allocation and file helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ordo/core.h"

void ordo_die(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "ordo: internal error at %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

int ordo_fail(ordo_err *e, const char *fmt, ...) {
  if (!e) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

int ordo_err_prefix(ordo_err *e, const char *fmt, ...) {
  if (!e) return -1;
  char buf[2 * sizeof e->msg];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof e->msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof e->msg) n = (int)sizeof e->msg - 1;
  size_t old = strnlen(e->msg, sizeof e->msg - 1);
  memcpy(buf + n, ": ", 2);
  memcpy(buf + n + 2, e->msg, old);
  size_t len = (size_t)n + 2 + old;
  if (len >= sizeof e->msg) len = sizeof e->msg - 1;
  memcpy(e->msg, buf, len);
  e->msg[len] = 0;
  return -1;
}

/* The only process-wide setting: how chatty the log is (set once by the CLI). */
static int g_log_level = ORDO_LOG_INFO;
void ordo_log_set_level(int level) { g_log_level = level; }
int ordo_log_level(void) { return g_log_level; }

void ordo_log(int level, const char *fmt, ...) {
  if (level > g_log_level) return;
  static const char *tag[] = {"error", "warn", "info", "debug"};
  va_list ap;
  fprintf(stderr, "[%s] ", tag[level < 0 ? 0 : level > 3 ? 3 : level]);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

void *ordo_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  ORDO_CHECKF(p, "out of memory allocating %zu bytes", n);
  return p;
}

void *ordo_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  ORDO_CHECKF(p, "out of memory allocating %zu x %zu bytes", count, size);
  return p;
}

void *ordo_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  ORDO_CHECKF(q, "out of memory reallocating %zu bytes", n);
  return q;
}

void *ordo_alloc_aligned(size_t n) {
  size_t sz = (n + 63) / 64 * 64;
  void *p = aligned_alloc(64, sz ? sz : 64);
  ORDO_CHECKF(p, "out of memory allocating %zu bytes", n);
  memset(p, 0, sz ? sz : 64);
  return p;
}

void ordo_free_aligned(void *p) { free(p); }

char *ordo_strdup(const char *s) {
  size_t n = strlen(s);
  char *d = ordo_malloc(n + 1);
  memcpy(d, s, n + 1);
  return d;
}

char *ordo_read_file(const char *path, size_t *len, ordo_err *e) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    ordo_fail(e, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = ordo_malloc(cap);
  for (;;) {
    if (n + 1 >= cap) buf = ordo_realloc(buf, cap *= 2);
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    ordo_fail(e, "%s: read error", path);
    return NULL;
  }
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

int ordo_write_file_atomic(const char *path, const void *data, size_t len, ordo_err *e) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  /* a device or a pipe (--out /dev/null, /dev/stdout) is written to, never renamed over: that
   * would put a plain file in its place */
  struct stat sb;
  int direct = stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode);
  if (direct) snprintf(tmp, sizeof tmp, "%s", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return ordo_fail(e, "%s: cannot create: %s", tmp, strerror(errno));
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      if (!direct) unlink(tmp);
      return ordo_fail(e, "%s: write failed: %s", tmp, strerror(err));
    }
    p += w;
    left -= (size_t)w;
  }
  if (direct) return close(fd) == 0 ? 0 : ordo_fail(e, "%s: cannot write: %s", path, strerror(errno));
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp);
    return ordo_fail(e, "%s: cannot flush: %s", tmp, strerror(errno));
  }
  if (rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    return ordo_fail(e, "%s: cannot rename into place: %s", path, strerror(err));
  }
  return 0;
}

double ordo_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
