/* Shared between the model's source files; not part of the public API. */
#ifndef ORDO_MODEL_INTERNAL_H
#define ORDO_MODEL_INTERNAL_H

#include "ordo/model.h"

/* Backend memory of the model: fill with zero bytes, copy (the ranges may not overlap). */
static inline void zero_buf(const enc_model *m, void *p, size_t bytes) {
  m->be.ops->zero(m->be.ctx, p, bytes);
}
static inline void copy_buf(const enc_model *m, void *dst, const void *src, size_t bytes) {
  m->be.ops->copy(m->be.ctx, dst, src, bytes);
}
/* The typed-call layer (typed_ops.c). tv_in: an fp32 view of n values at p of dtype dt (p
 * itself for F32). tv_out: an fp32 view of the n values at p of the storage dtype m->storage
 * that the op writes (load: holding their values, for in-place ops and accumulation), stored
 * back at tv_end (p itself in float32). tv_out_dt: the same for values of dtype dt (a float32
 * array is rounded in place at tv_end). tv_end: stores the outputs (the rounding point) and
 * releases every view. tv_plan: the scratch floats enc_plan allocates. */
const float *tv_in(enc_model *m, const void *p, ordo_dtype dt, size_t n);
float *tv_out(enc_model *m, void *p, size_t n, int load);
float *tv_out_dt(enc_model *m, void *p, ordo_dtype dt, size_t n, int load);
void tv_end(enc_model *m);
size_t tv_plan(const enc_model *m);
/* A copy in the storage dtype of n float32 values that already are values of it (rounded in
 * place where the emulation rounds them): exact, held until tv_end; p itself in float32
 * storage. Lets such a buffer feed a 16-bit product. */
const void *tv_st(enc_model *m, const float *p, size_t n);

/* The linear layer on the stored arrays (typed_ops.c), the one place that chooses a 16-bit
 * product (matmul_forward_ex / matmul_backward_ex) or the fp32 one on views. w (OUT, IN) and
 * bias (OUT, or NULL) are stored weights (enc_w_st: the storage dtype); in (N, IN) of dtype
 * in_dt. tmm_forward: out (N, OUT) = in w^T + bias; out_st: out is in the storage dtype, stored
 * (rounded) by the call's tv_end at the latest; else float32, the product's unrounded result.
 * tmm_backward: dinp (N, IN) += dout (N, OUT) w (acc ORDO_OVERWRITE: dinp zeroed first), dinp_st
 * as out_st; dw += dout^T in, dbias += column sums of dout (float32, NULL: not wanted); dout of
 * dtype dout_dt. v: an adapter (LoRA) reads the fp32 views and adds to the output's: views are
 * taken and returned in *v (tv_end stores them). The caller ends the call with tv_end. */
typedef struct tmm_views {
  const float *in, *dout; /* the input; backward: the output gradient */
  float *out;             /* forward: the output; backward: the input gradient */
} tmm_views;
void tmm_forward(enc_model *m, void *out, int out_st, const void *in, ordo_dtype in_dt,
                 const void *w, const void *bias, int N, int IN, int OUT, tmm_views *v);
void tmm_backward(enc_model *m, void *dinp, int dinp_st, int acc, float *dw, float *dbias,
                  const void *dout, ordo_dtype dout_dt, const void *in, ordo_dtype in_dt,
                  const void *w, int N, int IN, int OUT, tmm_views *v);
/* Element i of a buffer in the model's storage dtype. */
static inline void *act_at(const enc_model *m, void *p, size_t i) {
  return dtype_at(p, m->storage, (int64_t)i);
}

/* Weights as the kernels see them (the low-precision copy under mixed precision: an fp32 view
 * valid until the call's tv_end) and their gradient, NULL for a frozen parameter; both in
 * backend memory (encoder.c). */
const float *enc_w(enc_model *m, int idx);
/* Spec idx's stored weights as the typed products take them: in the weight copy (the storage
 * dtype) under mixed precision, the fp32 weights otherwise; NULL for idx < 0. BERT's q, k and v
 * weights (and biases) are three specs back to back: from the first, one (3C, C) matrix. */
const void *enc_w_st(const enc_model *m, int idx);
/* Whether layer l has an adapter at site st (lora.c's sites). */
static inline int lora_at(const enc_model *m, int l, int st) {
  return m->layer[l].lora_a[st] >= 0;
}
float *enc_g(const enc_model *m, int idx);
/* Frees the activation arena and the host staging buffers (encoder.c). */
void enc_unplan(enc_model *m);
/* enc_save of the host image as it is, without downloading the working copy first. */
int enc_save_host(const enc_model *m, const char *dir, ordo_err *e);

/* "bert.encoder.layer.3.", "transformer.h.3.", ...: layer l's module prefix (encoder_params.c) */
void enc_layer_prefix(const enc_model *m, int l, char *out, size_t cap);

/* LoRA (lora.c) */
void lora_site_dims(const enc_model *m, int site, int *in, int *out);
void lora_add_params(enc_model *m, int layer, enc_layer_idx *L);
void lora_init_weights(enc_model *m, uint64_t seed);
void lora_forward(enc_model *m, int l, int site, const float *x, int N, float *y, int ldy,
                  uint64_t key, uint64_t drop_site);
void lora_backward(enc_model *m, int l, int site, const float *x, int N, const float *dy, int ldy,
                   float *dx, uint64_t key, uint64_t drop_site);

/* Position tables (posenc.c). Sinusoidal (Vaswani et al.), (P, D) row p:
 * [2i] = sin(p / 10000^(2i/D)), [2i+1] = cos(p / 10000^(2i/D)). RoFormer's embed_positions,
 * (P, hs): the sines in [0, hs/2), the cosines of the same angles in [hs/2, hs). */
void enc_sinusoidal_table(float *out, int P, int D);
void enc_rope_table(float *out, int P, int hs);
/* ALiBi's slope of head h (0-based) of NH: 2^(-8 (h+1) / NH). */
float enc_alibi_slope(int h, int NH);
/* T5's bidirectional bucket of the offset rel = key - query among nb buckets. */
int enc_relative_bucket(int rel, int nb, int max_distance);
/* The attention bias (NH, T, T) of the ALiBi or relative scheme into host memory, and the
 * relative table's working gradient from the bias's (dbias: host memory; accumulated). */
void enc_position_bias(const enc_model *m, int T, float *bias);
void enc_position_bias_backward(enc_model *m, int T, const float *dbias);

#endif
