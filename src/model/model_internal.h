/* Shared between the model's source files; not part of the public API. */
#ifndef ORDO_MODEL_INTERNAL_H
#define ORDO_MODEL_INTERNAL_H

#include "ordo/model.h"

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
/* The attention bias (NH, T, T) of the ALiBi or relative scheme, and the relative table's
 * gradient from the bias's (accumulated). */
void enc_position_bias(const enc_model *m, int T, float *bias);
void enc_position_bias_backward(enc_model *m, int T, const float *dbias);

#endif
