/* Element types and float conversions (round-to-nearest-even, as the GPU rounds). */
#ifndef ORDO_DTYPE_H
#define ORDO_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum ordo_dtype {
  ORDO_DT_F32 = 0,
  ORDO_DT_F16,
  ORDO_DT_BF16,
  ORDO_DT_F64,
  ORDO_DT_I64,
  ORDO_DT_I32,
  ORDO_DT_I16,
  ORDO_DT_I8,
  ORDO_DT_U8,
  ORDO_DT_BOOL,
  ORDO_DT_COUNT
} ordo_dtype;

size_t dtype_size(ordo_dtype t);
/* safetensors spelling: "F32", "F16", "BF16", ... */
const char *dtype_name(ordo_dtype t);
/* Returns -1 when the name is unknown. */
int dtype_from_name(const char *name, ordo_dtype *out);

/* Element i of an array of dtype t: pointer arithmetic by element size, for arrays whose
 * dtype is a run-time value (storage dtypes). */
static inline void *dtype_at(void *p, ordo_dtype t, int64_t i) {
  return p ? (char *)p + (size_t)i * dtype_size(t) : NULL;
}
static inline const void *dtype_at_c(const void *p, ordo_dtype t, int64_t i) {
  return p ? (const char *)p + (size_t)i * dtype_size(t) : NULL;
}
/* 1 for the storage dtypes of activations and weight copies: F32, BF16, F16. */
static inline int dtype_is_storage(ordo_dtype t) {
  return t == ORDO_DT_F32 || t == ORDO_DT_BF16 || t == ORDO_DT_F16;
}

/* Scalar conversions. fp16: overflow rounds to inf, subnormals kept, NaN stays NaN. */
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

/* Bulk conversions. */
void f32_to_bf16_n(uint16_t *dst, const float *src, size_t n);
void bf16_to_f32_n(float *dst, const uint16_t *src, size_t n);
void f32_to_f16_n(uint16_t *dst, const float *src, size_t n);
void f16_to_f32_n(float *dst, const uint16_t *src, size_t n);
/* n values between storage dtypes (F32, BF16, F16): the conversions above; the same dtype
 * copies. */
void storage_convert_n(void *dst, ordo_dtype dt, const void *src, ordo_dtype st, size_t n);
/* Round float32 values in place to the nearest value the given type can hold (F32: no-op). */
void round_to_dtype_n(float *x, size_t n, ordo_dtype t);

/* Converts n elements of any numeric dtype to float32 / int64. */
void dtype_to_f32_n(float *dst, const void *src, ordo_dtype t, size_t n);
void dtype_to_i64_n(int64_t *dst, const void *src, ordo_dtype t, size_t n);

#endif
