/* Element types and float32 <-> bf16/fp16 conversions with round-to-nearest-even. */
#include <math.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/dtype.h"

static const struct {
  const char *name;
  size_t size;
} k_types[ORDO_DT_COUNT] = {
    [ORDO_DT_F32] = {"F32", 4}, [ORDO_DT_F16] = {"F16", 2}, [ORDO_DT_BF16] = {"BF16", 2},
    [ORDO_DT_F64] = {"F64", 8}, [ORDO_DT_I64] = {"I64", 8}, [ORDO_DT_I32] = {"I32", 4},
    [ORDO_DT_I16] = {"I16", 2}, [ORDO_DT_I8] = {"I8", 1},   [ORDO_DT_U8] = {"U8", 1},
    [ORDO_DT_BOOL] = {"BOOL", 1},
};

size_t dtype_size(ordo_dtype t) {
  ORDO_CHECK(t >= 0 && t < ORDO_DT_COUNT);
  return k_types[t].size;
}

const char *dtype_name(ordo_dtype t) {
  ORDO_CHECK(t >= 0 && t < ORDO_DT_COUNT);
  return k_types[t].name;
}

int dtype_from_name(const char *name, ordo_dtype *out) {
  for (int i = 0; i < ORDO_DT_COUNT; i++)
    if (strcmp(name, k_types[i].name) == 0) {
      *out = (ordo_dtype)i;
      return 0;
    }
  return -1;
}

static inline uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t u = f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);                                        /* RNE */
  return (uint16_t)(u >> 16);
}

float bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t f32_to_f16(float f) {
  uint32_t u = f2u(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* NaN */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
  if (a < 0x38800000u) {                                    /* below 2^-14: subnormal or 0 */
    /* value = a as float; subnormal unit is 2^-24: round(|f| * 2^24) with RNE. */
    float v = u2f(a) * 16777216.0f; /* exact: scaling by a power of two */
    float r = nearbyintf(v);        /* default rounding mode is nearest-even */
    return (uint16_t)(sign | (uint32_t)r);
  }
  uint32_t mant = a & 0x7fffffu;
  uint32_t exp = (a >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* carries into exponent correctly */
  return (uint16_t)(sign | h);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = (float)mant * (1.0f / 16777216.0f); /* 2^-24 units */
    return sign ? -v : v;
  }
  if (exp == 31) return u2f(sign | 0x7f800000u | (mant << 13));
  return u2f(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

void f32_to_bf16_n(uint16_t *dst, const float *src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}
void bf16_to_f32_n(float *dst, const uint16_t *src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}
void f32_to_f16_n(uint16_t *dst, const float *src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = f32_to_f16(src[i]);
}
void f16_to_f32_n(float *dst, const uint16_t *src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(src[i]);
}

void round_to_dtype_n(float *x, size_t n, ordo_dtype t) {
  if (t == ORDO_DT_BF16)
    for (size_t i = 0; i < n; i++) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
  else if (t == ORDO_DT_F16)
    for (size_t i = 0; i < n; i++) x[i] = f16_to_f32(f32_to_f16(x[i]));
}

void dtype_to_f32_n(float *dst, const void *src, ordo_dtype t, size_t n) {
  switch (t) {
    case ORDO_DT_F32: memcpy(dst, src, n * 4); break;
    case ORDO_DT_F16: f16_to_f32_n(dst, src, n); break;
    case ORDO_DT_BF16: bf16_to_f32_n(dst, src, n); break;
    case ORDO_DT_F64: for (size_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i]; break;
    case ORDO_DT_I64: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int64_t *)src)[i]; break;
    case ORDO_DT_I32: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i]; break;
    case ORDO_DT_I16: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int16_t *)src)[i]; break;
    case ORDO_DT_I8: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)src)[i]; break;
    case ORDO_DT_U8:
    case ORDO_DT_BOOL: for (size_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)src)[i]; break;
    default: ORDO_CHECKF(0, "bad dtype %d", (int)t);
  }
}

void dtype_to_i64_n(int64_t *dst, const void *src, ordo_dtype t, size_t n) {
  switch (t) {
    case ORDO_DT_I64: memcpy(dst, src, n * 8); break;
    case ORDO_DT_I32: for (size_t i = 0; i < n; i++) dst[i] = ((const int32_t *)src)[i]; break;
    case ORDO_DT_I16: for (size_t i = 0; i < n; i++) dst[i] = ((const int16_t *)src)[i]; break;
    case ORDO_DT_I8: for (size_t i = 0; i < n; i++) dst[i] = ((const int8_t *)src)[i]; break;
    case ORDO_DT_U8:
    case ORDO_DT_BOOL: for (size_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)src)[i]; break;
    default: {
      float *tmp = ordo_malloc(n * sizeof(float));
      dtype_to_f32_n(tmp, src, t, n);
      for (size_t i = 0; i < n; i++) dst[i] = (int64_t)tmp[i];
      free(tmp);
    }
  }
}

void storage_convert_n(void *dst, ordo_dtype dt, const void *src, ordo_dtype st, size_t n) {
  ORDO_CHECKF(dtype_is_storage(dt) && dtype_is_storage(st), "convert: %s to %s is not between storage dtypes",
              dtype_name(st), dtype_name(dt));
  if (dt == st) memcpy(dst, src, n * dtype_size(dt));
  else if (st == ORDO_DT_F32 && dt == ORDO_DT_BF16) f32_to_bf16_n(dst, src, n);
  else if (st == ORDO_DT_F32) f32_to_f16_n(dst, src, n);
  else if (dt == ORDO_DT_F32) dtype_to_f32_n(dst, src, st, n);
  else { /* bf16 <-> fp16: through float32 (exact), then rounded */
    for (size_t i = 0; i < n; i++) {
      float f = st == ORDO_DT_BF16 ? bf16_to_f32(((const uint16_t *)src)[i]) : f16_to_f32(((const uint16_t *)src)[i]);
      ((uint16_t *)dst)[i] = dt == ORDO_DT_BF16 ? f32_to_bf16(f) : f32_to_f16(f);
    }
  }
}
