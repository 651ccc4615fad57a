/* Shared between the model's source files; not part of the public API. */
#ifndef ORDO_MODEL_INTERNAL_H
#define ORDO_MODEL_INTERNAL_H

#include "ordo/model.h"

/* LoRA (lora.c) */
void lora_site_dims(const enc_model *m, int site, int *in, int *out);
void lora_add_params(enc_model *m, int layer, enc_layer_idx *L);
void lora_init_weights(enc_model *m, uint64_t seed);
void lora_forward(enc_model *m, int l, int site, const float *x, int N, float *y, int ldy,
                  uint64_t key, uint64_t drop_site);
void lora_backward(enc_model *m, int l, int site, const float *x, int N, const float *dy, int ldy,
                   float *dx, uint64_t key, uint64_t drop_site);

#endif
