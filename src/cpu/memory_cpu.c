/* Host memory: the memory ops of both CPU tables (ops_cpu and ops_cpu_ref). Backend memory is
 * host memory there, so upload, download and copy are all one memcpy, and sync has nothing to
 * wait for (every op has returned when the next one starts). */
#include <string.h>

#include "cpu/cpu_ops.h"
#include "ordo/core.h"

void *mem_alloc_cpu(ordo_ctx *ctx ORDO_UNUSED, size_t bytes) {
  return bytes ? ordo_alloc_aligned(bytes) : NULL; /* zeroed, 64-byte aligned; aborts on OOM */
}

void mem_free_cpu(ordo_ctx *ctx ORDO_UNUSED, void *p) { ordo_free_aligned(p); }

void mem_copy_cpu(ordo_ctx *ctx ORDO_UNUSED, void *dst, const void *src, size_t bytes) {
  if (bytes) memcpy(dst, src, bytes);
}

void mem_zero_cpu(ordo_ctx *ctx ORDO_UNUSED, void *dst, size_t bytes) {
  if (bytes) memset(dst, 0, bytes);
}

void mem_fill_cpu(ordo_ctx *ctx ORDO_UNUSED, float *x, float v, int64_t N) {
  for (int64_t i = 0; i < N; i++) x[i] = v;
}

void mem_sync_cpu(ordo_ctx *ctx ORDO_UNUSED) {}
