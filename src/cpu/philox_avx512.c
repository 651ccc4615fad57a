/* Philox4x32-10 for CPU_PHILOX_LANES (16) consecutive counters on AVX-512: one 16-lane vector per
 * word, the 32 x 32 -> 64-bit products of the even lanes and of the odd ones (vpmuludq) blended
 * back into lane order, as the AVX2 path in elementwise_cpu.c does with two 8-lane vectors; then
 * the four word vectors transposed in registers into the stream's order. The same words
 * (tests/cpu/test_philox_words.c). This file alone is compiled with -mavx512f;
 * cpu_philox_words calls it only on a CPU that has AVX-512F. */
#if defined(__AVX512F__)
#include <immintrin.h>

#include "cpu/cpu_ops.h"

_Static_assert(CPU_PHILOX_LANES == 16, "one AVX-512 vector of counters");

/* hi, lo: the high and low 32 bits of a[i] * m[i] for each of the 16 lanes */
static inline void philox_mul16(__m512i a, __m512i m, __m512i *hi, __m512i *lo) {
  const __m512i pe = _mm512_mul_epu32(a, m);                        /* lanes 0, 2, ... 14 */
  const __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m); /* lanes 1, 3, ... 15 */
  *hi = _mm512_mask_blend_epi32((__mmask16)0xAAAA, _mm512_srli_epi64(pe, 32), po);
  *lo = _mm512_mask_blend_epi32((__mmask16)0xAAAA, pe, _mm512_slli_epi64(po, 32));
}

void cpu_philox_words_avx512(uint32_t words[4 * CPU_PHILOX_LANES], uint64_t ctr0, uint64_t key) {
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i base = _mm512_set1_epi32((int)(uint32_t)ctr0);
  const __m512i high = _mm512_set1_epi32((int)(uint32_t)(ctr0 >> 32));
  /* counter ctr0 + l: its low word wraps, carrying into the high word */
  __m512i x0 = _mm512_add_epi32(base, lane);
  const __mmask16 carry = _mm512_cmplt_epu32_mask(x0, base);
  __m512i x1 = _mm512_mask_add_epi32(high, carry, high, _mm512_set1_epi32(1));
  __m512i x2 = _mm512_setzero_si512(), x3 = _mm512_setzero_si512();
  const __m512i m0 = _mm512_set1_epi32((int)0xD2511F53u), m1 = _mm512_set1_epi32((int)0xCD9E8D57u);
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  for (int r = 0; r < 10; r++) {
    __m512i hi0, lo0, hi1, lo1;
    philox_mul16(x0, m0, &hi0, &lo0);
    philox_mul16(x2, m1, &hi1, &lo1);
    const __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, x1), _mm512_set1_epi32((int)k0));
    const __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, x3), _mm512_set1_epi32((int)k1));
    x0 = n0, x1 = lo1, x2 = n2, x3 = lo0;
    k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
  }
  /* x0..x3 hold word 0..3 of the 16 blocks: interleave them so that each block's four words
   * are adjacent, the blocks in order (within each 128-bit lane, then across the lanes) */
  const __m512i t0 = _mm512_unpacklo_epi32(x0, x1), t1 = _mm512_unpackhi_epi32(x0, x1);
  const __m512i t2 = _mm512_unpacklo_epi32(x2, x3), t3 = _mm512_unpackhi_epi32(x2, x3);
  const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
  const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
  /* u_j's 128-bit lane i: block 4i + j; gather the lanes of each i together */
  const __m512i v0 = _mm512_shuffle_i32x4(u0, u1, 0x44), v1 = _mm512_shuffle_i32x4(u2, u3, 0x44);
  const __m512i v2 = _mm512_shuffle_i32x4(u0, u1, 0xEE), v3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);
  _mm512_storeu_si512(words, _mm512_shuffle_i32x4(v0, v1, 0x88));
  _mm512_storeu_si512(words + 16, _mm512_shuffle_i32x4(v0, v1, 0xDD));
  _mm512_storeu_si512(words + 32, _mm512_shuffle_i32x4(v2, v3, 0x88));
  _mm512_storeu_si512(words + 48, _mm512_shuffle_i32x4(v2, v3, 0xDD));
}
#else
#include "cpu/cpu_ops.h"

/* a build without the AVX-512 file: the other path (never chosen by cpu_philox_words) */
void cpu_philox_words_avx512(uint32_t words[4 * CPU_PHILOX_LANES], uint64_t ctr0, uint64_t key) {
  cpu_philox_words_avx2(words, ctr0, key);
}
#endif
