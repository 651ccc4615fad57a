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

#endif
