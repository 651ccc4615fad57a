/* The CUDA backend as the rest of the program reaches it (plain C, no CUDA headers):
 * src/core/backend.c calls these when the build defines ORDO_HAVE_CUDA. */
#ifndef ORDO_BACKEND_CUDA_H
#define ORDO_BACKEND_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

#include "ordo/core.h"
#include "ordo/ops.h"

/* Opens CUDA device `device`: a context (stream, cuBLASLt and cuBLAS handles on it, TF32 off,
 * workspace, scratch) and the op table. Returns -1 with a message when there is no usable device
 * (no driver, none present, index out of range). */
int backend_cuda_open(ordo_backend *be, int device, ordo_err *e);
/* Waits for the stream, frees the context; be is left empty. Nothing for an empty be. */
void backend_cuda_close(ordo_backend *be);
/* 1 when a CUDA device can be opened (never aborts, also without a driver). */
int backend_cuda_available(void);
/* The CUDA op table (host_memory 0: every pointer is a device pointer). */
const ordo_ops *ops_cuda(void);

#ifdef __cplusplus
}
#endif

#endif
