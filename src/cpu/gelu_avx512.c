/* GELU and its gradient on 16 lanes: vecmath.h's loops compiled for AVX-512F (this file alone
 * is; CMakeLists.txt). gelu_forward_cpu and gelu_backward_cpu call these only on a CPU with
 * AVX-512F; the same operations lane for lane as the x86-64-v3 loops, so the same bits. */
#if defined(__AVX512F__)
#include "cpu/cpu_ops.h"
#include "cpu/vecmath.h"

void cpu_gelu_forward_span_avx512(float *out, const float *x, int64_t n) { vm_gelu_forward_span(out, x, n); }
void cpu_gelu_backward_span_avx512(float *dinp, int acc, const float *x, const float *dout, int64_t n) {
  vm_gelu_backward_span(dinp, acc, x, dout, n);
}
#else
#include "cpu/cpu_ops.h"

/* a build without the AVX-512 file: the build level's spans (never chosen by the GELU ops) */
void cpu_gelu_forward_span_avx512(float *out, const float *x, int64_t n) {
  cpu_gelu_forward_span(out, x, n);
}
void cpu_gelu_backward_span_avx512(float *dinp, int acc, const float *x, const float *dout, int64_t n) {
  cpu_gelu_backward_span(dinp, acc, x, dout, n);
}
#endif
