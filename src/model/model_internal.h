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
/* Element i of a buffer in the model's storage dtype. */
static inline void *act_at(const enc_model *m, void *p, size_t i) {
  return dtype_at(p, m->storage, (int64_t)i);
}

/* Weights as the kernels see them (the low-precision copy under mixed precision: an fp32 view
 * valid until the call's tv_end) and their gradient, NULL for a frozen parameter; both in
 * backend memory (encoder.c). */
const float *enc_w(enc_model *m, int idx);
/* The same for n values from spec idx's offset: BERT's q, k and v weights (and biases), three
 * specs back to back, read as one (3C, C) matrix. */
const float *enc_w_n(enc_model *m, int idx, size_t n);
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
