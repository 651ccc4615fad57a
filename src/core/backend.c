/* The one place a backend is chosen (ordo_backend_open from --device), and the helpers over a
 * backend's table. The CUDA backend lives in src/cuda and is reached only when the build has
 * it (ORDO_HAVE_CUDA); a build without it names the configure flag that adds it. */
#include <stdlib.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/ops.h"

#ifdef ORDO_HAVE_CUDA
/* src/cuda: open device `device` into be (-1 with a message when it cannot; device < 0: the
 * local rank's, ordo_cuda_device_of), close it, and whether a device is present. */
int backend_cuda_open(ordo_backend *be, int device, ordo_err *e);
void backend_cuda_close(ordo_backend *be);
int backend_cuda_available(void);
#endif

ordo_backend backend_cpu(void) { return (ordo_backend){.ops = ops_cpu(), .ctx = NULL}; }
ordo_backend backend_cpu_ref(void) { return (ordo_backend){.ops = ops_cpu_ref(), .ctx = NULL}; }

int ordo_backend_open(ordo_backend *be, const char *device, ordo_err *e) {
  memset(be, 0, sizeof *be);
  if (!device) return ordo_fail(e, "no device given (expected cpu, cpu-ref or cuda)");
  if (strcmp(device, "cpu") == 0) {
    *be = backend_cpu();
    return 0;
  }
  if (strcmp(device, "cpu-ref") == 0) {
    *be = backend_cpu_ref();
    return 0;
  }
  if (strcmp(device, "cuda") == 0 || strncmp(device, "cuda:", 5) == 0) {
    int index = -1; /* "cuda": the local rank's */
    if (device[4] == ':') {
      char *end = NULL;
      long v = strtol(device + 5, &end, 10);
      if (end == device + 5 || *end || v < 0 || v > 1023)
        return ordo_fail(e, "'%s': expected cuda:N with N a device index (0, 1, ...)", device);
      index = (int)v;
    }
#ifdef ORDO_HAVE_CUDA
    return backend_cuda_open(be, index, e);
#else
    (void)index; /* the index is checked even where no CUDA backend can use it */
    return ordo_fail(e, "device cuda: this build has no CUDA backend (configure with -DORDO_CUDA=ON)");
#endif
  }
  return ordo_fail(e, "unknown device '%s' (expected cpu, cpu-ref, cuda or cuda:N)", device);
}

int ordo_local_rank(void) {
  const char *keys[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", NULL};
  for (int i = 0; keys[i]; i++) {
    const char *v = getenv(keys[i]);
    if (v && *v) {
      int r = atoi(v);
      return r > 0 ? r : 0;
    }
  }
  return 0;
}

int ordo_cuda_device_of(int local_rank, int count) {
  return count > 0 && local_rank > 0 ? local_rank % count : 0;
}

void ordo_backend_close(ordo_backend *be) {
#ifdef ORDO_HAVE_CUDA
  if (be->ops && !be->ops->host_memory) backend_cuda_close(be);
#endif
  memset(be, 0, sizeof *be);
}

int ordo_cuda_available(void) {
#ifdef ORDO_HAVE_CUDA
  return backend_cuda_available();
#else
  return 0;
#endif
}

float *be_alloc_f32(const ordo_backend *be, size_t n) {
  return be->ops->alloc(be->ctx, n * sizeof(float));
}

void be_free(const ordo_backend *be, void *p) { be->ops->free(be->ctx, p); }

void be_upload(const ordo_backend *be, void *dst, const void *src, size_t bytes) {
  be->ops->upload(be->ctx, dst, src, bytes);
}

void be_download(const ordo_backend *be, void *dst, const void *src, size_t bytes) {
  be->ops->download(be->ctx, dst, src, bytes);
}

float be_read_f32(const ordo_backend *be, const float *x) {
  float v;
  be->ops->download(be->ctx, &v, x, sizeof v);
  return v;
}
