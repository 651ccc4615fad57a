/* The model driver on the CUDA backend against the plain CPU reference: one training step of
 * several families (driver_backend_check.h: losses, hidden states, head outputs, every parameter
 * gradient, d_add_emb, cached decoding, a checkpoint saved from device memory), and every case
 * again with bf16 and with fp16 storage against the reference in the same storage. On CUDA the
 * 16-bit storage runs 16-bit products (tensor cores: matmul_forward_ex / matmul_backward_ex),
 * which sum in another order than the emulation's fp32 products on rounded values, so the bit
 * for bit comparison with the emulated storage (db_check_storage) holds on the CPU backends
 * only (model.test_driver_backend, model.test_precision_bits). Exits 77 (skipped) without a
 * CUDA device.
 * Tolerances: fp32 1e-4 relative, the parity bound (TF32 off; the GPU sums in other orders and
 * may fuse a multiply and an add the CPU rounds twice); bf16/fp16 storage 2e-2 (a value near a
 * rounding boundary may round the other way). */
#include "model/driver_backend_check.h"

int main(void) {
  ordo_backend cuda;
  ordo_err e = {{0}};
  if (!ordo_cuda_available() || ordo_backend_open(&cuda, "cuda", &e) != 0) {
    printf("skipped: no CUDA device%s%s\n", e.msg[0] ? ": " : "", e.msg);
    return 77;
  }
  (void)db_check_storage;
  db_check_backend(&cuda, 1e-4, 2e-2);
  db_check_precision(&cuda, ORDO_DT_BF16, 2e-2);
  db_check_precision(&cuda, ORDO_DT_F16, 2e-2);
  ordo_backend_close(&cuda);
  return test_summary();
}
