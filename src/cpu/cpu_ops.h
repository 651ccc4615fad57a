/* Internal to src/cpu: the fast kernels that ops_table.c gathers into ops_cpu(), and the
 * scalar helpers both backends share so that they agree on the formula. Signatures and
 * semantics are those of ordo_ops (include/ordo/ops.h). */
#ifndef ORDO_CPU_OPS_H
#define ORDO_CPU_OPS_H

#include <stdint.h>

#include "ordo/ops.h"

/* BCE-with-logits term max(x,0) - x y + log(1 + exp(-|x|)), stable for any x. */
float bce_logits_term(float x, float y);
/* 1 / (1 + exp(-x)) without overflow for large |x|. */
float bce_sigmoid(float x);

/* embed_cpu.c */
void embed_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const int32_t *ids, const int32_t *pos, const int32_t *tt,
                       const float *wte, const float *wpe, const float *wtt, int BT, int C);
void embed_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dwte, float *dwpe, float *dwtt, const float *dout,
                        const int32_t *ids, const int32_t *pos, const int32_t *tt, int BT, int C);

/* layernorm_cpu.c */
void layernorm_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *mean, float *rstd, const float *inp, const float *w,
                           const float *b, float eps, int N, int C);
void layernorm_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, float *dw, float *db, const float *dout,
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

/* Philox4x32-10 for CPU_PHILOX_LANES consecutive counters at once, lane-parallel so that the
 * rounds vectorize: core/rng.c's philox4x32() restated for speed (dropout and attention
 * dropout draw one word per element). out[w][l]: word w of block ctr0 + l. elementwise_cpu.c */
enum { CPU_PHILOX_LANES = 16 };
void cpu_philox_lanes(uint32_t out[4][CPU_PHILOX_LANES], uint64_t ctr0, uint64_t key);

/* attention_cpu.c */
void attention_cached_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, const float *q, const float *k,
                                  const float *v, int ldq, int ldkv, int Tq, int Tk, int C,
                                  int NH);
void attention_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, float *scratch, const float *qkv,
                           const int32_t *mask, int causal, const float *bias, float p, uint64_t seed,
                           uint64_t offset, int B, int T, int C, int NH);
void attention_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dqkv, float *dbias, float *scratch, const float *dout,
                            const float *qkv, const float *att, const int32_t *mask, float p,
                            uint64_t seed, uint64_t offset, int B, int T, int C, int NH);

/* posenc_cpu.c: the rotary angle of pair i (of hs/2) at position p, as both backends take it */
void rope_cos_sin(double p, float theta, int i, int hs, float *c, float *s);
void rope_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *qkv, const int32_t *pos, float scale, float theta, int nseg, int BT,
                      int C, int NH);
void rope_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dqkv, const int32_t *pos, float scale, float theta, int nseg,
                       int BT, int C, int NH);

/* elementwise_cpu.c */
void gelu_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N);
void gelu_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, const float *inp, const float *dout, int64_t N);
void gelu_tanh_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N);
void gelu_tanh_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, const float *inp, const float *dout, int64_t N);
void tanh_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N);
void tanh_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, const float *out, const float *dout, int64_t N);
void dropout_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, float p, uint64_t seed, uint64_t offset,
                         int64_t N);
void dropout_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, const float *dout, float p, uint64_t seed,
                          uint64_t offset, int64_t N);
void residual_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *a, const float *b, int64_t N);

/* loss_cpu.c */
void crossentropy_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *loss, float *probs, const float *logits,
                              const int32_t *targets, int ignore_index, int N, int V);
void crossentropy_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dlogits, const float *probs, const int32_t *targets,
                               int ignore_index, float dloss_per_row, int N, int V);
void mse_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *loss, const float *pred, const float *target,
                     int64_t N);
void mse_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dpred, const float *pred, const float *target, float dloss,
                      int64_t N);
void bce_logits_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *loss, const float *logits,
                            const float *targets, const float *weights, int64_t N);
void bce_logits_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dlogits, const float *logits, const float *targets,
                             const float *weights, float dloss, int64_t N);

#endif
