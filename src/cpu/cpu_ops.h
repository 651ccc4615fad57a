/* Internal to src/cpu: the fast kernels that ops_table.c gathers into ops_cpu(), and the
 * scalar helpers both backends share so that they agree on the formula. Signatures and
 * semantics are those of ordo_ops (include/ordo/ops.h). */
#ifndef ORDO_CPU_OPS_H
#define ORDO_CPU_OPS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ordo/ops.h"

/* BCE-with-logits term max(x,0) - x y + log(1 + exp(-|x|)), stable for any x. */
float bce_logits_term(float x, float y);
/* 1 / (1 + exp(-x)) without overflow for large |x|. */
float bce_sigmoid(float x);

/* The AdamW update of one element, torch.optim.AdamW's expression order (p.mul_(1 - lr*wd);
 * m.lerp_(g, 1-b1); v.mul_(b2).addcmul_(g, g, 1-b2); p.addcdiv_(m, v.sqrt()/sqrt(bc2) + eps,
 * value=-lr/bc1)): the one formula of both backends' adamw_step and adamw8_step. */
static inline void cpu_adamw_elem(float *w, float *m, float *v, float g, float wd_mul, float b1,
                                  float b2, float eps, float bc2_sqrt, float step_size) {
  *w *= wd_mul;
  *m += (1.0f - b1) * (g - *m);
  *v = *v * b2 + (1.0f - b2) * g * g;
  float denom = sqrtf(*v) / bc2_sqrt + eps;
  *w -= step_size * (*m / denom);
}

/* quant8_cpu.c: the 8-bit block rule, one implementation for the optimizer ops and
 * train/quant8.c. Encodes n values (any n >= 0) as one block: returns the absmax (the largest
 * |x| bit pattern, so a NaN poisons the block) and writes each code, the number of the 255
 * midpoints mid[] below x * (1 / absmax) (absmax 0: x taken as 0). */
float q8_block_encode(const float *mid, const float *x, int64_t n, uint8_t *codes);
/* One 8-bit AdamW block of n elements: decode m, v from the codes and the block's scales (*sm,
 * *sv), apply cpu_adamw_elem, encode them again. mf, vf: n floats of workspace. */
void q8_adamw_block(float *w, const float *g, uint8_t *qm, uint8_t *qv, float *sm, float *sv,
                    const float *map_m, const float *mid_m, const float *map_v,
                    const float *mid_v, int64_t n, ordo_adamw_hp hp, float *mf, float *vf);

/* memory_cpu.c: host memory, the memory ops of both CPU tables */
void *mem_alloc_cpu(ordo_ctx *ctx ORDO_UNUSED, size_t bytes);
void mem_free_cpu(ordo_ctx *ctx ORDO_UNUSED, void *p);
void mem_copy_cpu(ordo_ctx *ctx ORDO_UNUSED, void *dst, const void *src, size_t bytes);
void mem_zero_cpu(ordo_ctx *ctx ORDO_UNUSED, void *dst, size_t bytes);
void mem_fill_cpu(ordo_ctx *ctx ORDO_UNUSED, float *x, float v, int64_t N);
void mem_sync_cpu(ordo_ctx *ctx ORDO_UNUSED);
/* The memory entries of an ordo_ops initializer, the same in both CPU tables. */
#define CPU_HOST_MEMORY_OPS                                                                      \
  .host_memory = 1, .alloc = mem_alloc_cpu, .free = mem_free_cpu, .upload = mem_copy_cpu,        \
  .download = mem_copy_cpu, .copy = mem_copy_cpu, .zero = mem_zero_cpu, .fill = mem_fill_cpu,    \
  .sync = mem_sync_cpu

/* ref_rows_optim.c: the reference's general product, row moves, axpy/scale/round, block norms
 * and AdamW steps (the rest of the reference is static in ref_ops.c) */
void gemm_ref(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
void gather_rows_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *src,
                     const int32_t *rows, int n, int C);
void scatter_add_rows_ref(ordo_ctx *ctx ORDO_UNUSED, float *dst, const float *src,
                          const int32_t *rows, int n, int C);
void axpy_ref(ordo_ctx *ctx ORDO_UNUSED, float *y, float a, const float *x, int64_t N);
void scale_ref(ordo_ctx *ctx ORDO_UNUSED, float *x, float s, int64_t N);
void round_dtype_ref(ordo_ctx *ctx ORDO_UNUSED, float *x, int64_t N, ordo_dtype dt);
void sumsq_blocks_ref(ordo_ctx *ctx ORDO_UNUSED, double *parts, const float *x, int64_t N,
                      int block);
void adamw_step_ref(ordo_ctx *ctx ORDO_UNUSED, float *w, const float *g, float *m, float *v,
                    int64_t N, ordo_adamw_hp hp);
void adamw8_step_ref(ordo_ctx *ctx ORDO_UNUSED, float *w, const float *g, uint8_t *qm,
                     uint8_t *qv, float *sm, float *sv, const float *map_m, const float *mid_m,
                     const float *map_v, const float *mid_v, int64_t N, int block,
                     ordo_adamw_hp hp);

/* embed_cpu.c */
void embed_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const int32_t *ids, const int32_t *pos, const int32_t *tt,
                       const float *wte, const float *wpe, const float *wtt, int BT, int C);
void embed_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dwte, float *dwpe, float *dwtt, const float *dout,
                        const int32_t *ids, const int32_t *pos, const int32_t *tt, int BT, int C);
void gather_rows_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *src,
                     const int32_t *rows, int n, int C);
void scatter_add_rows_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dst, const float *src,
                          const int32_t *rows, int n, int C);

/* layernorm_cpu.c */
void layernorm_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *mean, float *rstd, const float *inp, const float *w,
                           const float *b, float eps, int N, int C);
void layernorm_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C);

/* matmul_cpu.c */
void matmul_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, const float *w, const float *bias, int N,
                        int IN, int OUT);
void matmul_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int IN, int OUT);
/* dbias (OUT) += column sums of dout (N, OUT), columns split across threads, rows summed in
 * order: deterministic for any thread count. Shared with other column reductions. */
void cpu_colsum_add(float *dst, const float *src, int N, int OUT);
/* Inside a parallel region: the calling thread's contiguous range [*c0, *c1) of C columns, in
 * whole blocks of `block` columns. Column reductions give each thread such a range and walk the
 * rows in order over it: each column is summed row by row whatever the thread count, and each
 * thread reads one contiguous piece of every row. */
void cpu_thread_cols(int C, int block, int *c0, int *c1);
/* Row-major C = alpha op(A) op(B) + beta C (cblas_sgemm's arguments; ta, tb 0 or 1), or with a
 * bias (N floats) C = alpha op(A) op(B) + bias, C not read. ordo's AVX-512 products where the CPU
 * has them, OpenBLAS otherwise (matmul_cpu.c). Inside a parallel region it runs on the calling
 * thread alone. */
void cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
               int ldb, float beta, const float *bias, float *C, int ldc);
/* 1 when cpu_sgemm takes ordo's AVX-512 products (built, the CPU has AVX-512F, ORDO_SGEMM is not
 * "openblas"), decided at the first call. */
int cpu_sgemm_is_avx512(void);
void gemm_cpu(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Philox4x32-10 for CPU_PHILOX_LANES consecutive counters at once, lane-parallel so that the
 * rounds vectorize: core/rng.c's philox4x32() restated for speed (dropout and attention
 * dropout draw one word per element). words[4 l + w]: word w of block ctr0 + l, i.e. the words
 * 4 ctr0 .. 4 ctr0 + 63 of the stream in order. elementwise_cpu.c */
enum { CPU_PHILOX_LANES = 16 };
void cpu_philox_words(uint32_t words[4 * CPU_PHILOX_LANES], uint64_t ctr0, uint64_t key);
/* The two ways cpu_philox_words takes, by the CPU (the same words): its AVX2 (or plain C) path,
 * and philox_avx512.c's, present where the build has ORDO_HAVE_PHILOX_AVX512 and run only on a
 * CPU with AVX-512F (cpu_has_avx512f). */
void cpu_philox_words_avx2(uint32_t words[4 * CPU_PHILOX_LANES], uint64_t ctr0, uint64_t key);
void cpu_philox_words_avx512(uint32_t words[4 * CPU_PHILOX_LANES], uint64_t ctr0, uint64_t key);
int cpu_has_avx512f(void);

/* GELU over a span, out[i] = vm_gelu(x[i]), and its gradient, dinp[i] += dout[i] vm_gelu_grad(x[i])
 * (vecmath.h; acc as in ops.h: 0 overwrites dinp with the bits of accumulating onto zeros),
 * as gelu_forward_cpu and gelu_backward_cpu run them block by block: at the x86-64
 * level the build targets (8 lanes for x86-64-v3), and gelu_avx512.c's 16 lanes, present where
 * the build has ORDO_HAVE_GELU_AVX512 and run only on a CPU with AVX-512F. The same bits from
 * both (tests/cpu/test_vecmath.c). */
void cpu_gelu_forward_span(float *out, const float *x, int64_t n);
void cpu_gelu_backward_span(float *dinp, int acc, const float *x, const float *dout, int64_t n);
void cpu_gelu_forward_span_avx512(float *out, const float *x, int64_t n);
void cpu_gelu_backward_span_avx512(float *dinp, int acc, const float *x, const float *dout, int64_t n);

/* Dropout's keep rule on Philox words: kept where philox_uniform's u = (w >> 8) * 2^-24 >= p,
 * i.e. where w >> 8 >= ceil(p * 2^24) (exact in double; p = 1: 2^24, nothing kept). Compared
 * on integers and applied through a bit mask, the loops below have no branch and vectorize
 * (a select on the float compare, or a load under it, kept them scalar). */
static inline uint32_t cpu_dropout_keep_from(float p) {
  return (uint32_t)ceil((double)p * 16777216.0);
}
static inline uint32_t cpu_f32_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}
static inline float cpu_f32_from_bits(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}
/* dst[i] = kept(w[i]) ? src[i] * scale : 0 for i < n, bit for bit; dst may alias src. */
static inline void cpu_dropout_words(float *dst, const float *src, const uint32_t *w, int64_t n,
                                     uint32_t keep_from, float scale) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    uint32_t keep = 0u - (uint32_t)((w[i] >> 8) >= keep_from);
    dst[i] = cpu_f32_from_bits(cpu_f32_bits(src[i] * scale) & keep);
  }
}

/* attention_cpu.c */
void attention_cached_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, const float *q, const float *k,
                                  const float *v, int ldq, int ldkv, int Tq, int Tk, int C,
                                  int NH);
void attention_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, float *scratch, const float *qkv,
                           const int32_t *mask, int causal, const float *bias, float p, uint64_t seed,
                           uint64_t offset, int B, int T, int C, int NH);
void attention_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dqkv, int acc, float *dbias, float *scratch, const float *dout,
                            const float *qkv, const float *att, const int32_t *mask, float p,
                            uint64_t seed, uint64_t offset, int B, int T, int C, int NH);

void attention_rows_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, float *scratch,
                                const float *q, int ldq, const float *k, const float *v, int ldkv,
                                const int32_t *rows, int n, const int32_t *mask, float p,
                                uint64_t seed, uint64_t offset, int B, int T, int C, int NH);
void attention_rows_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dq, float *dk, float *dv,
                                 float *scratch, const float *dout, const float *q, int ldq,
                                 const float *k, const float *v, int ldkv, const float *att,
                                 const int32_t *rows, int n, float p, uint64_t seed,
                                 uint64_t offset, int B, int T, int C, int NH);

/* posenc_cpu.c: the rotary angle of pair i (of hs/2) at position p, as both backends take it */
void rope_cos_sin(double p, float theta, int i, int hs, float *c, float *s);
void rope_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *qkv, const int32_t *pos, float scale, float theta, int nseg, int BT,
                      int C, int NH);
void rope_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dqkv, const int32_t *pos, float scale, float theta, int nseg,
                       int BT, int C, int NH);

/* elementwise_cpu.c */
void gelu_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N);
void gelu_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, const float *inp, const float *dout, int64_t N);
void gelu_tanh_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N);
void gelu_tanh_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, const float *inp, const float *dout, int64_t N);
void tanh_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N);
void tanh_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, const float *out, const float *dout, int64_t N);
void dropout_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, float p, uint64_t seed, uint64_t offset,
                         int64_t N);
void dropout_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, const float *dout, float p, uint64_t seed,
                          uint64_t offset, int64_t N);
void residual_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *a, const float *b, int64_t N);
void axpy_cpu(ordo_ctx *ctx ORDO_UNUSED, float *y, float a, const float *x, int64_t N);
void scale_cpu(ordo_ctx *ctx ORDO_UNUSED, float *x, float s, int64_t N);
void round_dtype_cpu(ordo_ctx *ctx ORDO_UNUSED, float *x, int64_t N, ordo_dtype dt);

/* optim_cpu.c */
void sumsq_blocks_cpu(ordo_ctx *ctx ORDO_UNUSED, double *parts, const float *x, int64_t N,
                      int block);
void adamw_step_cpu(ordo_ctx *ctx ORDO_UNUSED, float *w, const float *g, float *m, float *v,
                    int64_t N, ordo_adamw_hp hp);
void adamw8_step_cpu(ordo_ctx *ctx ORDO_UNUSED, float *w, const float *g, uint8_t *qm,
                     uint8_t *qv, float *sm, float *sv, const float *map_m, const float *mid_m,
                     const float *map_v, const float *mid_v, int64_t N, int block,
                     ordo_adamw_hp hp);

/* loss_cpu.c */
void crossentropy_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *loss, float *probs, const float *logits,
                              const int32_t *targets, int ignore_index, int N, int V);
void crossentropy_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dlogits, int acc, const float *probs, const int32_t *targets,
                               int ignore_index, float dloss_per_row, int N, int V);
void mse_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *loss, const float *pred, const float *target,
                     int64_t N);
void mse_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dpred, const float *pred, const float *target, float dloss,
                      int64_t N);
void bce_logits_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *loss, const float *logits,
                            const float *targets, const float *weights, int64_t N);
void bce_logits_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dlogits, const float *logits, const float *targets,
                             const float *weights, float dloss, int64_t N);

/* typed_cpu.c: storage-dtype conversion and the product on storage dtypes (ordo_ops.convert,
 * gemm_ex, matmul_forward_ex, matmul_backward_ex, embed_forward_ex) of both CPU tables */
void convert_ref(ordo_ctx *ctx ORDO_UNUSED, void *dst, ordo_dtype dst_dt, const void *src,
                 ordo_dtype src_dt, int64_t N);
void convert_cpu(ordo_ctx *ctx ORDO_UNUSED, void *dst, ordo_dtype dst_dt, const void *src,
                 ordo_dtype src_dt, int64_t N);
void gemm_ex_ref(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
                 const void *A, int lda, const void *B, int ldb, ordo_dtype ab_dt, float beta,
                 void *C, int ldc, ordo_dtype c_dt);
void gemm_ex_cpu(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
                 const void *A, int lda, const void *B, int ldb, ordo_dtype ab_dt, float beta,
                 void *C, int ldc, ordo_dtype c_dt);
void embed_forward_ex_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const int32_t *ids,
                          const int32_t *pos, const int32_t *tt, const void *wte, const void *wpe,
                          const void *wtt, ordo_dtype dt, int BT, int C);
void embed_forward_ex_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const int32_t *ids,
                          const int32_t *pos, const int32_t *tt, const void *wte, const void *wpe,
                          const void *wtt, ordo_dtype dt, int BT, int C);
void matmul_forward_ex_ref(ordo_ctx *ctx ORDO_UNUSED, void *out, ordo_dtype out_dt,
                           const void *inp, const void *w, const void *bias, ordo_dtype dt, int N,
                           int IN, int OUT);
void matmul_forward_ex_cpu(ordo_ctx *ctx ORDO_UNUSED, void *out, ordo_dtype out_dt,
                           const void *inp, const void *w, const void *bias, ordo_dtype dt, int N,
                           int IN, int OUT);
void matmul_backward_ex_ref(ordo_ctx *ctx ORDO_UNUSED, void *dinp, ordo_dtype dinp_dt, float *dw,
                            float *dbias, const void *dout, const void *inp, const void *w,
                            ordo_dtype dt, int N, int IN, int OUT);
void matmul_backward_ex_cpu(ordo_ctx *ctx ORDO_UNUSED, void *dinp, ordo_dtype dinp_dt, float *dw,
                            float *dbias, const void *dout, const void *inp, const void *w,
                            ordo_dtype dt, int N, int IN, int OUT);

#endif
