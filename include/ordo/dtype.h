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
/* Round float32 values in place to the nearest value the given type can hold (F32: no-op). */
void round_to_dtype_n(float *x, size_t n, ordo_dtype t);

/* Converts n elements of any numeric dtype to float32 / int64. */
void dtype_to_f32_n(float *dst, const void *src, ordo_dtype t, size_t n);
void dtype_to_i64_n(int64_t *dst, const void *src, ordo_dtype t, size_t n);

#endif
