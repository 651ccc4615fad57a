/* The 8-bit block rule (absmax scale, nearest code of a sorted 256-entry map) and the 8-bit
 * AdamW block built on it. train/quant8.c's q8_quantize_block and both CPU tables' adamw8_step
 * call these, so the optimizer's state is encoded one way whichever path wrote it. */
#include <string.h>

#include "cpu/cpu_ops.h"

/* Values searched per pass: the level-by-level search below keeps them in two stack arrays. */
enum { Q8_ENCODE_CHUNK = 2048 };

float q8_block_encode(const float *mid, const float *x, int64_t n, uint8_t *codes) {
  /* absmax as the largest |x| bit pattern: for finite values the same as fmaxf, and a loop the
   * compiler vectorizes (a NaN, which sorts above inf, poisons the block instead of hiding) */
  uint32_t amax_bits = 0;
  for (int64_t j = 0; j < n; j++) {
    uint32_t b;
    memcpy(&b, &x[j], 4);
    b &= 0x7FFFFFFFu;
    amax_bits = b > amax_bits ? b : amax_bits;
  }
  float amax;
  memcpy(&amax, &amax_bits, 4);
  const float inv = amax > 0.0f ? 1.0f / amax : 0.0f;
  /* a binary search over the midpoints (the count of those below x), run level by level across
   * a chunk so that each level is one vector loop (gathers from the 1 KB midpoint table) */
  float xn[Q8_ENCODE_CHUNK];
  uint32_t idx[Q8_ENCODE_CHUNK];
  for (int64_t c0 = 0; c0 < n; c0 += Q8_ENCODE_CHUNK) {
    const int len = (int)(n - c0 < Q8_ENCODE_CHUNK ? n - c0 : Q8_ENCODE_CHUNK);
    for (int j = 0; j < len; j++) {
      xn[j] = x[c0 + j] * inv;
      idx[j] = 0;
    }
    for (uint32_t s = 128; s; s >>= 1)
      for (int j = 0; j < len; j++) idx[j] += mid[idx[j] + s - 1] < xn[j] ? s : 0;
    for (int j = 0; j < len; j++) codes[c0 + j] = (uint8_t)idx[j];
  }
  return amax;
}

void q8_adamw_block(float *w, const float *g, uint8_t *qm, uint8_t *qv, float *sm, float *sv,
                    const float *map_m, const float *mid_m, const float *map_v,
                    const float *mid_v, int64_t n, ordo_adamw_hp hp, float *mf, float *vf) {
  const float am = *sm, av = *sv;
  for (int64_t j = 0; j < n; j++) {
    mf[j] = map_m[qm[j]] * am;
    vf[j] = map_v[qv[j]] * av;
  }
  for (int64_t j = 0; j < n; j++)
    cpu_adamw_elem(&w[j], &mf[j], &vf[j], g[j], hp.wd_mul, hp.b1, hp.b2, hp.eps, hp.bc2_sqrt,
                   hp.step_size);
  *sm = q8_block_encode(mid_m, mf, n, qm);
  *sv = q8_block_encode(mid_v, vf, n, qv);
}
