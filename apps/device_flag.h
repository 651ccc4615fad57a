/* --device: the flag of every command that runs a model, and the one call that turns it into a
 * backend (ordo_backend_open). */
#ifndef ORDO_APPS_DEVICE_FLAG_H
#define ORDO_APPS_DEVICE_FLAG_H

#include <stdio.h>

#include "ordo/core.h"
#include "ordo/ops.h"

/* The usage line of --device. */
void device_flag_usage(FILE *f);
/* Opens the backend named by --device (NULL: cpu) into *be and logs it; -1 with e saying
 * "--device: why" when the name is unknown or the device absent (callers open it before they
 * write anything). */
int device_open(ordo_backend *be, const char *name, ordo_err *e);
/* The ranks' collectives on the device's memory (NCCL on be's device), when be has its own
 * memory and the job has several ranks or nccl asks for it even as one process; nothing on a
 * host-memory backend. Errors: nccl on the CPU, a build without NCCL, NCCL's setup. */
struct ordo_dist;
int device_dist_join(const ordo_backend *be, struct ordo_dist *d, int nccl, ordo_err *e);

#endif
