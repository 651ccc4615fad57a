/* Errors, logging, checked allocation and file helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
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

/* Buffers of 2 MiB or more start on a 2 MiB boundary, are a whole number of 2 MiB, and are
 * advised to the kernel's transparent huge pages before the first touch (the memset), so that
 * they are mapped by 2 MiB pages where the kernel allows it. The products walk large row-major
 * operands down their rows (a full MLM head's 2,048 x 8,192 logits: 32 KB from one row to the
 * next), a new 4 KB page and a TLB miss at every row; with 2 MiB pages the full-head training
 * step was 3-11% faster (bench/NOTES.md). The advice is only advice: where huge pages are
 * off, or the call is refused, the buffer is the same, mapped by 4 KB pages. */
enum { HUGE_PAGE_BYTES = 2 << 20 };

void *ordo_alloc_aligned(size_t n) {
  const size_t align = n >= HUGE_PAGE_BYTES ? HUGE_PAGE_BYTES : 64;
  size_t sz = n ? (n + align - 1) / align * align : 64;
  void *p = aligned_alloc(align, sz);
  ORDO_CHECKF(p, "out of memory allocating %zu bytes", n);
#ifdef MADV_HUGEPAGE
  if (align == HUGE_PAGE_BYTES) (void)madvise(p, sz, MADV_HUGEPAGE);
#endif
  memset(p, 0, sz);
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
  return ordo_read_file_max(path, SIZE_MAX - 1, len, e);
}

char *ordo_read_file_max(const char *path, size_t max, size_t *len, ordo_err *e) {
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
    if (n > max) {
      fclose(f);
      free(buf);
      ordo_fail(e, "%s: larger than %zu bytes, the most this file may hold", path, max);
      return NULL;
    }
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

static const char *file_kind(mode_t m) {
  return S_ISDIR(m) ? "a folder" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : S_ISFIFO(m) ? "a pipe" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

int ordo_check_output_file(const char *path, ordo_err *e) {
  struct stat sb;
  if (stat(path, &sb) != 0) return 0; /* absent (or a dangling link, which creates its file) */
  if (!S_ISREG(sb.st_mode))
    return ordo_fail(e, "%s: is %s, not a regular file: refusing to replace it with the output",
                     path, file_kind(sb.st_mode));
  return 0;
}

int ordo_atomic_begin(ordo_atomic *a, const char *path, ordo_err *e) {
  a->fd = -1;
  if (ordo_check_output_file(path, e) != 0) return -1;
  struct stat sb;
  char *real = lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode) ? realpath(path, NULL) : NULL;
  const char *target = real ? real : path;
  int n = snprintf(a->path, sizeof a->path, "%s", target);
  free(real);
  if (n < 0 || (size_t)n >= sizeof a->path) return ordo_fail(e, "%s: path too long", path);
  snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", a->path, (long)getpid());
  a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (a->fd < 0) return ordo_fail(e, "%s: cannot create: %s", a->tmp, strerror(errno));
  return 0;
}

void ordo_atomic_abort(ordo_atomic *a) {
  if (a->fd >= 0) close(a->fd);
  a->fd = -1;
  unlink(a->tmp);
}

int ordo_atomic_write(ordo_atomic *a, const void *data, size_t len, ordo_err *e) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(a->fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ordo_atomic_abort(a);
      return ordo_fail(e, "%s: write failed: %s", a->tmp, strerror(err));
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int ordo_atomic_commit(ordo_atomic *a, ordo_err *e) {
  if (fsync(a->fd) != 0) {
    int err = errno;
    ordo_atomic_abort(a);
    return ordo_fail(e, "%s: cannot flush: %s", a->tmp, strerror(err));
  }
  int rc = close(a->fd);
  a->fd = -1;
  if (rc != 0) {
    int err = errno;
    ordo_atomic_abort(a);
    return ordo_fail(e, "%s: cannot flush: %s", a->tmp, strerror(err));
  }
  /* checked again just before the rename: the target may have changed since begin */
  if (ordo_check_output_file(a->path, e) != 0) {
    ordo_atomic_abort(a);
    return -1;
  }
  if (rename(a->tmp, a->path) != 0) {
    int err = errno;
    ordo_atomic_abort(a);
    return ordo_fail(e, "%s: cannot rename into place: %s", a->path, strerror(err));
  }
  return 0;
}

int ordo_write_file_atomic(const char *path, const void *data, size_t len, ordo_err *e) {
  ordo_atomic a;
  if (ordo_atomic_begin(&a, path, e) != 0) return -1;
  if (ordo_atomic_write(&a, data, len, e) != 0) return -1;
  return ordo_atomic_commit(&a, e);
}

uint64_t ordo_fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t k = 0; k < n; k++) h = (h ^ b[k]) * 0x100000001b3ull;
  return h;
}

double ordo_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
