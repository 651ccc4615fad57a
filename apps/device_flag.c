/* --device (see device_flag.h). */
#include "device_flag.h"

#include "ordo/core.h"
#include "ordo/dist.h"

void device_flag_usage(FILE *f) {
  fprintf(f, "  --device D           cpu | cuda | cuda:N: where the model's weights, gradients,\n"
             "                       optimizer state and activations live and its ops run (default\n"
             "                       cpu); cuda is device 0, under mpirun the local rank's (modulo\n"
             "                       the devices), cuda:N device N\n");
}

int device_open(ordo_backend *be, const char *name, ordo_err *e) {
  if (!name) name = "cpu";
  if (ordo_backend_open(be, name, e) != 0) return ordo_err_prefix(e, "--device");
  log_info("device: %s", be->ops->name);
  return 0;
}

int device_dist_join(const ordo_backend *be, ordo_dist *d, int nccl, ordo_err *e) {
  const int world = dist_world(d);
  if (nccl && be->ops->host_memory)
    return ordo_fail(e, "--nccl: the NCCL path is for a device with its own memory (--device "
                     "cuda), not --device %s", be->ops->name);
  if (be->ops->host_memory || (world < 2 && !nccl)) return 0;
  /* the gradients' collectives on the device's memory; the scalars stay on the host (MPI) */
  if (!dist_dev_available()) {
    if (nccl) return ordo_fail(e, "--nccl: this build has no NCCL (configure with -DORDO_NCCL=ON)");
    return ordo_fail(e, "--device %s under mpirun needs the NCCL path, and this build has no NCCL "
                     "(configure with -DORDO_NCCL=ON): run it as one process", be->ops->name);
  }
  if (dist_dev_init(d, be->device, e) != 0) return ordo_err_prefix(e, "NCCL");
  log_info("NCCL: %d rank%s, collectives on %s memory (device %d)", world, world > 1 ? "s" : "",
           be->ops->name, be->device);
  return 0;
}
