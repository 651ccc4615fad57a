/* The model driver on the fast CPU backend, and on the same kernels with a memory of their own
 * (host_memory 0: the weights' working copy apart from the host image, as on a GPU), against the
 * plain reference: one training step of several families (driver_backend_check.h). The second
 * catches a driver or reader that uses the host image where the working copy is meant, or that
 * forgets an upload or download. Then every case with bf16 storage against the reference in
 * bf16 (the check CUDA's 16-bit products get), and on each backend bf16/fp16 storage as 16-bit
 * arrays against the emulated storage (float32 arrays rounded in place), bit for bit.
 * Tolerances: fp32 1e-5 relative (the fast kernels sum in another order than the reference:
 * float32 rounding, about 1e-7 per operation, over a two-layer step); bf16/fp16 storage 2e-2
 * (a value near a rounding boundary may round the other way: one low-precision step, 2^-8 for
 * bf16, in a few values). */
#include "model/driver_backend_check.h"

int main(void) {
  ordo_backend cpu = backend_cpu(), own = backend_cpu();
  ordo_ops own_ops = *own.ops;
  own_ops.name = "cpu-own-memory";
  own_ops.host_memory = 0;
  own.ops = &own_ops;
  db_check_backend(&cpu, 1e-5, 2e-2);
  db_check_backend(&own, 1e-5, 2e-2);
  db_check_precision(&cpu, ORDO_DT_BF16, 2e-2);
  db_check_storage(&cpu);
  db_check_storage(&own);
  return test_summary();
}
