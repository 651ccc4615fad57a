/* Pointwise ops. The index range is cut into fixed blocks of PW_BLOCK elements spread over
 * the threads, each block a vectorized loop: GELU's exp and normal CDF are ordo's own
 * (vecmath.h; 16 lanes on a CPU with AVX-512F, gelu_avx512.c), tanhf goes to glibc's vector
 * math library. The blocks depend on N only, so an element meets the same vector or
 * scalar code path (and gives the same bits) whatever the thread count.
 *
 * Dropout draws one Philox block per four elements (the reference calls philox_uniform per
 * element, which computes the whole block and keeps one word), sixteen blocks at a time in
 * SIMD lanes: the mask is identical, at a small fraction of the RNG work. */
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "cpu/cpu_ops.h"
#include "cpu/vecmath.h"
#include "ordo/core.h"
#include "ordo/rng.h"

enum { PW_BLOCK = 4096 }; /* 16 KiB of floats per task: in L1/L2, many tasks per tensor */

/* The acc argument of the activations' backward (ops.h): with ORDO_OVERWRITE a block of the
 * gradient is zeroed just before the += loop writes it, while it is in cache, where a zero-fill
 * of the whole buffer by the caller would be one more pass over memory; the bits are those of
 * accumulating onto zeros. */
static void acc_or_zero(float *dinp, int64_t n, int acc) {
  if (!acc) memset(dinp, 0, (size_t)n * sizeof(float));
}

static int64_t pw_blocks(int64_t N) { return (N + PW_BLOCK - 1) / PW_BLOCK; }
static int64_t pw_end(int64_t blk, int64_t N) {
  return (blk + 1) * PW_BLOCK < N ? (blk + 1) * PW_BLOCK : N;
}

void cpu_gelu_forward_span(float *out, const float *x, int64_t n) { vm_gelu_forward_span(out, x, n); }
void cpu_gelu_backward_span(float *dinp, int acc, const float *x, const float *dout, int64_t n) {
  vm_gelu_backward_span(dinp, acc, x, dout, n);
}

void gelu_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N) {
  void (*span)(float *, const float *, int64_t) = cpu_gelu_forward_span;
#if defined(ORDO_HAVE_GELU_AVX512)
  if (cpu_has_avx512f()) span = cpu_gelu_forward_span_avx512;
#endif
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < pw_blocks(N); blk++) {
    const int64_t i0 = blk * PW_BLOCK;
    span(out + i0, inp + i0, pw_end(blk, N) - i0);
  }
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x) (vecmath.h) */
void gelu_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, const float *inp, const float *dout, int64_t N) {
  if (!dinp) return;
  void (*span)(float *, int, const float *, const float *, int64_t) = cpu_gelu_backward_span;
#if defined(ORDO_HAVE_GELU_AVX512)
  if (cpu_has_avx512f()) span = cpu_gelu_backward_span_avx512;
#endif
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < pw_blocks(N); blk++) {
    const int64_t i0 = blk * PW_BLOCK, n = pw_end(blk, N) - i0;
    span(dinp + i0, acc, inp + i0, dout + i0, n);
  }
}

/* GPT-2's gelu_new, as the reference: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
#define GELU_TANH_K 0.7978845608028654f
void gelu_tanh_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N) {
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < pw_blocks(N); blk++) {
    const int64_t i0 = blk * PW_BLOCK, i1 = pw_end(blk, N);
#pragma omp simd
    for (int64_t i = i0; i < i1; i++) {
      float x = inp[i];
      out[i] = 0.5f * x * (1.0f + tanhf(GELU_TANH_K * (x + 0.044715f * x * x * x)));
    }
  }
}

void gelu_tanh_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, const float *inp, const float *dout, int64_t N) {
  if (!dinp) return;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < pw_blocks(N); blk++) {
    const int64_t i0 = blk * PW_BLOCK, i1 = pw_end(blk, N);
    acc_or_zero(dinp + i0, i1 - i0, acc);
#pragma omp simd
    for (int64_t i = i0; i < i1; i++) {
      float x = inp[i];
      float th = tanhf(GELU_TANH_K * (x + 0.044715f * x * x * x));
      float du = GELU_TANH_K * (1.0f + 3.0f * 0.044715f * x * x);
      dinp[i] += dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
    }
  }
}

void tanh_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N) {
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < pw_blocks(N); blk++) {
    const int64_t i0 = blk * PW_BLOCK, i1 = pw_end(blk, N);
#pragma omp simd
    for (int64_t i = i0; i < i1; i++) out[i] = tanhf(inp[i]);
  }
}

void tanh_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, const float *out, const float *dout, int64_t N) {
  if (!dinp) return;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < pw_blocks(N); blk++) {
    const int64_t i0 = blk * PW_BLOCK, i1 = pw_end(blk, N);
    acc_or_zero(dinp + i0, i1 - i0, acc);
#pragma omp simd
    for (int64_t i = i0; i < i1; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
  }
}

enum { DROP_LANES = CPU_PHILOX_LANES };
#if defined(__AVX2__)
/* hi, lo: the high and low 32 bits of a[i] * m[i] for each of the 8 lanes */
static inline void philox_mul8(__m256i a, __m256i m, __m256i *hi, __m256i *lo) {
  __m256i pe = _mm256_mul_epu32(a, m);                        /* lanes 0, 2, 4, 6 */
  __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m); /* lanes 1, 3, 5, 7 */
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
  *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
}
#endif
int cpu_has_avx512f(void) {
  static int has = -1;
  int h;
#pragma omp atomic read
  h = has;
  if (h < 0) {
    h = __builtin_cpu_supports("avx512f") != 0;
#pragma omp atomic write
    has = h;
  }
  return h;
}

void cpu_philox_words(uint32_t words[4 * CPU_PHILOX_LANES], uint64_t ctr0, uint64_t key) {
#if defined(ORDO_HAVE_PHILOX_AVX512)
  if (cpu_has_avx512f()) {
    cpu_philox_words_avx512(words, ctr0, key);
    return;
  }
#endif
  cpu_philox_words_avx2(words, ctr0, key);
}

/* out[w][l]: word w of block ctr0 + l */
static void philox_lanes(uint32_t out[4][DROP_LANES], uint64_t ctr0, uint64_t key) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0[DROP_LANES], c1[DROP_LANES], c2[DROP_LANES], c3[DROP_LANES];
  for (int l = 0; l < DROP_LANES; l++) {
    uint64_t c = ctr0 + (uint64_t)l;
    c0[l] = (uint32_t)c, c1[l] = (uint32_t)(c >> 32), c2[l] = 0, c3[l] = 0;
  }
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
#if defined(__AVX2__)
  /* The rounds on 8 lanes per vector: the 32 x 32 -> 64-bit products of the even lanes and of
   * the odd ones (vpmuludq), their high and low halves blended back into lane order. GCC's
   * vectorization of the loop below widened every lane to 64 bits and shuffled it back,
   * about four times the instructions. The same words. */
  const __m256i m0 = _mm256_set1_epi32((int)M0), m1 = _mm256_set1_epi32((int)M1);
  for (int v = 0; v < DROP_LANES; v += 8) {
    __m256i x0 = _mm256_loadu_si256((const __m256i *)(c0 + v));
    __m256i x1 = _mm256_loadu_si256((const __m256i *)(c1 + v));
    __m256i x2 = _mm256_loadu_si256((const __m256i *)(c2 + v));
    __m256i x3 = _mm256_loadu_si256((const __m256i *)(c3 + v));
    uint32_t kk0 = k0, kk1 = k1;
    for (int r = 0; r < 10; r++) {
      __m256i hi0, lo0, hi1, lo1;
      philox_mul8(x0, m0, &hi0, &lo0);
      philox_mul8(x2, m1, &hi1, &lo1);
      __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, x1), _mm256_set1_epi32((int)kk0));
      __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, x3), _mm256_set1_epi32((int)kk1));
      x0 = n0, x1 = lo1, x2 = n2, x3 = lo0;
      kk0 += W0, kk1 += W1;
    }
    _mm256_storeu_si256((__m256i *)(out[0] + v), x0);
    _mm256_storeu_si256((__m256i *)(out[1] + v), x1);
    _mm256_storeu_si256((__m256i *)(out[2] + v), x2);
    _mm256_storeu_si256((__m256i *)(out[3] + v), x3);
  }
#else
  for (int r = 0; r < 10; r++) {
#pragma omp simd
    for (int l = 0; l < DROP_LANES; l++) {
      uint64_t p0 = (uint64_t)M0 * c0[l], p1 = (uint64_t)M1 * c2[l];
      uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0, n1 = (uint32_t)p1;
      uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1, n3 = (uint32_t)p0;
      c0[l] = n0, c1[l] = n1, c2[l] = n2, c3[l] = n3;
    }
    k0 += W0, k1 += W1;
  }
  for (int l = 0; l < DROP_LANES; l++)
    out[0][l] = c0[l], out[1][l] = c1[l], out[2][l] = c2[l], out[3][l] = c3[l];
#endif
}

void cpu_philox_words_avx2(uint32_t words[4 * CPU_PHILOX_LANES], uint64_t ctr0, uint64_t key) {
  uint32_t wd[4][DROP_LANES];
  philox_lanes(wd, ctr0, key);
  for (int l = 0; l < DROP_LANES; l++)
    for (int j = 0; j < 4; j++) words[l * 4 + j] = wd[j][l];
}

/* Applies the dropout mask of elements [0, N) (Philox words offset .. offset+N-1):
 * dst[i] = (accumulate ? dst[i] : 0) + (kept ? src[i] * scale : 0). Work is split into groups
 * of DROP_LANES Philox blocks (64 words); an element's result depends only on its word. */
static void dropout_apply(float *dst, const float *src, float p, uint64_t seed, uint64_t offset,
                          int64_t N, int accumulate) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (N <= 0) return;
  const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const uint32_t keep_from = cpu_dropout_keep_from(p);
  const uint64_t first = offset >> 2, last = (offset + (uint64_t)N - 1) >> 2;
  const int64_t ngroups = (int64_t)((last - first) / DROP_LANES) + 1;
  /* a short call (one row of a layer run at the head's rows) stays on its thread */
#pragma omp parallel for schedule(static) if (N > PW_BLOCK)
  for (int64_t g = 0; g < ngroups; g++) {
    uint64_t blk0 = first + (uint64_t)g * DROP_LANES;
    uint32_t words[4 * DROP_LANES]; /* in word order: word blk0 * 4 + k is words[k] */
    cpu_philox_words(words, blk0, seed);
    /* elements of this call whose words fall in this group: a contiguous range */
    uint64_t w0 = blk0 * 4, w1 = w0 + 4 * DROP_LANES;
    int64_t i0 = w0 > offset ? (int64_t)(w0 - offset) : 0;
    int64_t i1 = (int64_t)(w1 - offset) < N ? (int64_t)(w1 - offset) : N;
    const int64_t base = (int64_t)(offset - w0); /* element i uses words[base + i] */
    if (accumulate) {
#pragma omp simd
      for (int64_t i = i0; i < i1; i++) {
        /* the plain form's dst[i] += kept ? src[i] * scale : 0, bit for bit */
        uint32_t keep = 0u - (uint32_t)((words[base + i] >> 8) >= keep_from);
        float d = dst[i], kept = d + src[i] * scale, dropped = d + 0.0f;
        dst[i] = cpu_f32_from_bits((cpu_f32_bits(kept) & keep) | (cpu_f32_bits(dropped) & ~keep));
      }
    } else {
      cpu_dropout_words(dst + i0, src + i0, words + (base + i0), i1 - i0, keep_from, scale);
    }
  }
}

void dropout_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, float p, uint64_t seed, uint64_t offset,
                         int64_t N) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (p == 0.0f) {
    if (out != inp) memcpy(out, inp, (size_t)N * sizeof(float));
    return;
  }
  dropout_apply(out, inp, p, seed, offset, N, 0);
}

void dropout_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dinp, const float *dout, float p, uint64_t seed,
                          uint64_t offset, int64_t N) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (!dinp) return;
  if (p == 0.0f) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < N; i++) dinp[i] += dout[i];
    return;
  }
  dropout_apply(dinp, dout, p, seed, offset, N, 1);
}

void residual_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *a, const float *b, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}

void axpy_cpu(ordo_ctx *ctx ORDO_UNUSED, float *y, float a, const float *x, int64_t N) {
#pragma omp parallel for schedule(static) if (N > PW_BLOCK)
  for (int64_t blk = 0; blk < pw_blocks(N); blk++) {
    const int64_t i1 = pw_end(blk, N);
#pragma omp simd
    for (int64_t i = blk * PW_BLOCK; i < i1; i++) y[i] += a * x[i];
  }
}

void scale_cpu(ordo_ctx *ctx ORDO_UNUSED, float *x, float s, int64_t N) {
#pragma omp parallel for schedule(static) if (N > PW_BLOCK)
  for (int64_t blk = 0; blk < pw_blocks(N); blk++) {
    const int64_t i1 = pw_end(blk, N);
#pragma omp simd
    for (int64_t i = blk * PW_BLOCK; i < i1; i++) x[i] *= s;
  }
}

/* dtype.c's rounding, block by block */
void round_dtype_cpu(ordo_ctx *ctx ORDO_UNUSED, float *x, int64_t N, ordo_dtype dt) {
  ORDO_CHECKF(dt == ORDO_DT_F32 || dt == ORDO_DT_F16 || dt == ORDO_DT_BF16,
              "round_dtype: %s is not a storage dtype", dtype_name(dt));
  if (dt == ORDO_DT_F32) return;
#pragma omp parallel for schedule(static) if (N > PW_BLOCK)
  for (int64_t blk = 0; blk < pw_blocks(N); blk++)
    round_to_dtype_n(x + blk * PW_BLOCK, (size_t)(pw_end(blk, N) - blk * PW_BLOCK), dt);
}
