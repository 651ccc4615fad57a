/* safetensors: read (mmap, fully validated) and write (atomic, HF layout).
 *
 * File layout: u64 little-endian N, then N bytes of JSON header
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}   (metadata optional, string values only)
 * then the data buffer; offsets are relative to the start of the data buffer.
 *
 * The reader trusts nothing in the file: every problem (short file, bad JSON, unknown dtype,
 * offsets past the end, size != numel * dtype size, overlapping or duplicate tensors) is a
 * -1 with an ordo_err naming the file and the problem. */
#ifndef ORDO_SAFETENSORS_H
#define ORDO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ordo/core.h"
#include "ordo/dtype.h"
#include "ordo/params.h"

#define ST_MAX_DIMS 8
/* A header larger than this is treated as corrupt rather than allocated. */
#define ST_MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)

typedef struct st_tensor {
  char *name;
  ordo_dtype dtype;
  int ndim; /* 0 for a scalar (numel 1) */
  int64_t shape[ST_MAX_DIMS];
  int64_t numel;
  size_t nbytes;
  /* Points into the read-only mapping; valid until st_close. Aligned to the element size only
   * when the writer padded the header to 8 bytes (HF and st_writer do): st_read_* cope with
   * either, direct users must check. */
  const void *data;
} st_tensor;

typedef struct st_file {
  char *path;
  void *map;
  size_t size;
  st_tensor *tensors; /* sorted by name */
  int n;
  char **meta; /* "__metadata__" as key/value pairs: meta[2*i], meta[2*i+1] */
  int n_meta;
} st_file;

/* Maps `path` read-only and validates the header against the file size. On failure f is left
 * zeroed (st_close is still safe to call). */
int st_open(st_file *f, const char *path, ordo_err *e);
void st_close(st_file *f);
/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* Value of a "__metadata__" key, NULL when absent. */
const char *st_metadata(const st_file *f, const char *key);

/* Copies float tensor `name` (F32/F16/BF16/F64) into dst as float32 after checking that its
 * shape equals (ndim, shape). Errors name the file, the tensor, expected vs found. */
int st_read_f32(const st_file *f, const char *name, float *dst, int ndim, const int64_t *shape,
                ordo_err *e);
/* Same for integer tensors (I64/I32/I16/I8/U8/BOOL) into int32; a value outside int32 range
 * is an error naming its index. */
int st_read_i32(const st_file *f, const char *name, int32_t *dst, int ndim, const int64_t *shape,
                ordo_err *e);

/* Writer: collects tensors, then writes them contiguous in HF's order (by dtype, widest first,
 * then by name; a single-dtype file is sorted by name), with the header padded by spaces so the
 * data buffer starts 8-byte aligned and every tensor is aligned to its element size. */
typedef struct st_wentry {
  char *name;
  ordo_dtype dtype;
  int ndim;
  int64_t shape[ST_MAX_DIMS];
  size_t nbytes;
  const void *data; /* referenced (st_writer_add) or == owned (st_writer_add_f32_as) */
  void *owned;
} st_wentry;

typedef struct st_writer {
  st_wentry *entries;
  int n, cap;
  char **meta; /* key/value pairs, copied */
  int n_meta;
} st_writer;

void st_writer_init(st_writer *w);
/* References `data` (not copied): it must stay valid and unchanged until st_writer_save. */
void st_writer_add(st_writer *w, const char *name, ordo_dtype dtype, int ndim,
                   const int64_t *shape, const void *data);
/* Converts float32 `data` to dtype (F32, F16 or BF16; round-to-nearest-even) into a buffer the
 * writer owns, so `data` may change or be freed right after the call. */
void st_writer_add_f32_as(st_writer *w, const char *name, ordo_dtype dtype, int ndim,
                          const int64_t *shape, const float *data);
/* Adds a "__metadata__" entry (copied), e.g. ("format", "pt") which transformers expects. */
void st_writer_meta(st_writer *w, const char *key, const char *value);
/* Writes path.tmp.<pid>, fsyncs, renames over path: on failure no partial file is left and an
 * existing file at path is untouched. Duplicate names are an error. */
int st_writer_save(st_writer *w, const char *path, ordo_err *e);
void st_writer_free(st_writer *w);

/* Parameter-table glue. `flags` (0 = strict):
 *   ST_ALLOW_MISSING  specs absent from the file keep their values; one log line lists them
 *                     (otherwise a missing spec is an error naming it);
 *   ST_QUIET          tensors in the file that match no spec are not reported (otherwise one
 *                     log_warn line lists them).
 * Shapes must match exactly. Passing 1 as before means "allow missing". */
enum { ST_ALLOW_MISSING = 1 << 0, ST_QUIET = 1 << 1 };
int st_load_params(ordo_params *p, const char *path, int flags, ordo_err *e);
/* Writes every spec under its name in its spec dtype, metadata {"format": "pt"}. */
int st_save_params(const ordo_params *p, const char *path, ordo_err *e);

#endif
