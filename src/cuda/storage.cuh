/* Internal to src/cuda: elements of the storage dtypes (F32, BF16, F16) in device code, with
 * src/core/dtype.c's conversions bit for bit (the rounding ops, convert, the typed products). */
#ifndef ORDO_CUDA_STORAGE_CUH
#define ORDO_CUDA_STORAGE_CUH

#include <stdint.h>

#include "ordo/dtype.h"

/* float32 to bf16 bits: RNE, NaN kept quiet */
static __device__ inline uint16_t bf16_bits(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                 /* RNE */
}
static __device__ inline float bf16_value(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

/* float32 to fp16 bits: RNE, overflow (>= 65520) to inf, subnormals kept, NaN to NaN */
static __device__ inline uint16_t f16_bits(float f) {
  uint32_t u = __float_as_uint(f);
  uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu, h;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
  if (a < 0x38800000u) return (uint16_t)(sign | (uint32_t)rintf(__uint_as_float(a) * 16777216.0f));
  uint32_t mant = a & 0x7fffffu, exp = (a >> 23) - 127 + 15;
  uint32_t rest = mant & 0x1fffu;
  h = (exp << 10) | (mant >> 13);
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}
static __device__ inline float f16_value(uint16_t h) {
  uint32_t s32 = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    float v = (float)m * (1.0f / 16777216.0f);
    return s32 ? -v : v;
  }
  if (e == 31) return __uint_as_float(s32 | 0x7f800000u | (m << 13));
  return __uint_as_float(s32 | ((e - 15 + 127) << 23) | (m << 13));
}

static __device__ inline float storage_load(const void *p, int dt, int64_t i) {
  if (dt == ORDO_DT_BF16) return bf16_value(((const uint16_t *)p)[i]);
  if (dt == ORDO_DT_F16) return f16_value(((const uint16_t *)p)[i]);
  return ((const float *)p)[i];
}

/* Element i of p, of dtype dt, set to f rounded to nearest even. */
static __device__ inline void storage_store(void *p, int dt, int64_t i, float f) {
  if (dt == ORDO_DT_BF16) ((uint16_t *)p)[i] = bf16_bits(f);
  else if (dt == ORDO_DT_F16) ((uint16_t *)p)[i] = f16_bits(f);
  else ((float *)p)[i] = f;
}

#endif
