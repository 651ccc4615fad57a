/* ordo core: the one invariant-check macro, user-facing errors, logging, checked allocation.
 *
 * Two kinds of failure:
 *  - an internal invariant broken (a bug): ORDO_CHECK aborts with file:line;
 *  - bad user input (files, flags): functions return -1 and fill an ordo_err whose message
 *    names the file, the offset or line, and what was expected. Callers print it and exit 1. */
#ifndef ORDO_CORE_H
#define ORDO_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ORDO_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) ordo_die(__FILE__, __LINE__, "check failed: %s", #cond);             \
  } while (0)
#define ORDO_CHECKF(cond, ...)                                                        \
  do {                                                                                \
    if (!(cond)) ordo_die(__FILE__, __LINE__, __VA_ARGS__);                           \
  } while (0)

void ordo_die(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* A user-facing error: filled by the function that failed, printed by the caller. */
typedef struct ordo_err {
  char msg[1024];
} ordo_err;

/* Sets e->msg (when e is not NULL) and returns -1, so callers write `return ordo_fail(e, ...)`. */
int ordo_fail(ordo_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes e->msg with "<prefix>: " (e.g. a file name added by an outer caller); returns -1. */
int ordo_err_prefix(ordo_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logging to stderr. Level: 0 error, 1 warn, 2 info, 3 debug. */
enum { ORDO_LOG_ERROR = 0, ORDO_LOG_WARN, ORDO_LOG_INFO, ORDO_LOG_DEBUG };
void ordo_log_set_level(int level);
int ordo_log_level(void);
void ordo_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) ordo_log(ORDO_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) ordo_log(ORDO_LOG_WARN, __VA_ARGS__)
#define log_info(...) ordo_log(ORDO_LOG_INFO, __VA_ARGS__)
#define log_debug(...) ordo_log(ORDO_LOG_DEBUG, __VA_ARGS__)

/* The number of CPU threads for everything that follows (OpenMP regions and, through OpenBLAS's
 * OpenMP build, every matrix product); n <= 0 leaves the default (all cores). Results are
 * bit-identical for the same build, machine and thread count; see README "Reproducibility". */
void ordo_set_threads(int n);

/* A growing byte buffer: zero-initialize it, add bytes, free(p). The n bytes are always followed
 * by a NUL, so a buffer of text is a C string. */
typedef struct ordo_buf {
  char *p;
  size_t n, cap;
} ordo_buf;
void ordo_buf_add(ordo_buf *b, const void *data, size_t n);
void ordo_buf_str(ordo_buf *b, const char *s);
/* Appends the CSV field prefix + s, quoted (with doubled quotes) when it holds a comma, a quote
 * or a line break. */
void ordo_buf_csv_field(ordo_buf *b, const char *prefix, const char *s);

/* Allocation that aborts on out-of-memory (an internal failure, not a user error). */
void *ordo_malloc(size_t n);
void *ordo_calloc(size_t count, size_t size);
void *ordo_realloc(void *p, size_t n);
/* 64-byte aligned (2 MiB aligned and advised to huge pages from 2 MiB on), zeroed; free with
 * ordo_free_aligned. */
void *ordo_alloc_aligned(size_t n);
void ordo_free_aligned(void *p);
char *ordo_strdup(const char *s);

/* Whole-file read (adds a NUL terminator after the data). Returns NULL and fills e on failure. */
char *ordo_read_file(const char *path, size_t *len, ordo_err *e);
/* The same, refusing a file of more than max bytes (a message naming the file and its size). */
char *ordo_read_file_max(const char *path, size_t max, size_t *len, ordo_err *e);
/* Atomic writes. The target must be a regular file or absent: anything else (a device, a
 * folder, a pipe) is refused with an error naming it, since the rename would replace it. A
 * symbolic link is followed, so the file it points to is replaced, not the link. Data goes to
 * <target>.tmp.<pid>, is fsynced, and is renamed over the target on commit. */
typedef struct ordo_atomic {
  int fd;
  char path[4096]; /* the target (links resolved) */
  char tmp[4096 + 32];
} ordo_atomic;
int ordo_atomic_begin(ordo_atomic *a, const char *path, ordo_err *e);
int ordo_atomic_write(ordo_atomic *a, const void *data, size_t len, ordo_err *e);
/* fsync, close, rename into place; on failure the temporary file is removed. */
int ordo_atomic_commit(ordo_atomic *a, ordo_err *e);
/* Gives up: closes and removes the temporary file. */
void ordo_atomic_abort(ordo_atomic *a);
/* begin + write + commit of one buffer. */
int ordo_write_file_atomic(const char *path, const void *data, size_t len, ordo_err *e);
/* 0 when path is absent or a regular file (the only kinds an output may replace), else -1 with
 * e naming path and what it is. */
int ordo_check_output_file(const char *path, ordo_err *e);

/* Monotonic wall clock in seconds. */
double ordo_time(void);

/* FNV-1a over n bytes, continuing from h (start from ORDO_FNV_OFFSET): fingerprints of data,
 * not protection against tampering. */
#define ORDO_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t ordo_fnv1a(uint64_t h, const void *p, size_t n);

#endif
