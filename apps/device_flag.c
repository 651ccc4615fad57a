/* --device (see device_flag.h). */
#include "device_flag.h"

#include "ordo/core.h"

void device_flag_usage(FILE *f) {
  fprintf(f, "  --device D           cpu | cuda: where the model's weights, gradients, optimizer\n"
             "                       state and activations live and its ops run (default cpu)\n");
}

int device_open(ordo_backend *be, const char *name, ordo_err *e) {
  if (!name) name = "cpu";
  if (ordo_backend_open(be, name, e) != 0) return ordo_err_prefix(e, "--device");
  log_info("device: %s", be->ops->name);
  return 0;
}
