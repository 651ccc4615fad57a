/* Block-wise 8-bit quantization through dynamic tree maps (Dettmers et al. 2021, after
 * Dettmers 2015, "8-bit approximations for parallelism in deep learning").
 *
 * A dynamic tree code reads, from the top bit down: a sign bit (signed map only), then a run of
 * E zero bits giving the decimal exponent 10^-E, then an indicator bit (the first 1), then the
 * remaining F bits as a linear fraction. The fraction splits [0.1, 1] into 2^F equal steps and
 * takes the upper end of step k, so decade E covers (10^-E / 10, 10^-E] without overlapping the
 * next: magnitudes are 10^-E * (0.1 + 0.9 * (k + 1) / 2^F). Large magnitudes get fine steps
 * (many fraction bits), tiny ones a coarse but wide range: 1e-7 .. 1 from 8 bits.
 *
 * Codes are stored as indices into the sorted map so that the nearest code is a binary search. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "ordo/core.h"
#include "ordo/optim.h"
#include "train/optim_internal.h"

/* Magnitude of an unsigned pattern of `nbits` bits (pattern != 0). */
static double tree_magnitude(unsigned pattern, int nbits) {
  int top = 31 - __builtin_clz(pattern); /* position of the indicator bit */
  int E = nbits - 1 - top;               /* zero bits before it */
  int F = top;                           /* fraction bits after it */
  unsigned frac = pattern & ((1u << F) - 1u);
  return pow(10.0, -E) * (0.1 + 0.9 * (double)(frac + 1) / (double)(1u << F));
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

void q8_map_dynamic(q8_map *m, int is_signed) {
  for (unsigned c = 0; c < 256; c++) {
    double v;
    if (is_signed) {
      unsigned body = c & 0x7Fu;
      int neg = (c >> 7) & 1;
      /* body 0 is zero; with the sign set it would be a second zero, so it takes the single
       * level of the next decade (exponent run exhausted: 10^-7), keeping all 256 distinct */
      if (body == 0) v = neg ? -1e-7 : 0.0;
      else v = neg ? -tree_magnitude(body, 7) : tree_magnitude(body, 7);
    } else {
      v = c == 0 ? 0.0 : tree_magnitude(c, 8);
    }
    m->v[c] = (float)v;
  }
  qsort(m->v, 256, sizeof(float), cmp_float);
  for (int i = 0; i < 255; i++) m->mid[i] = 0.5f * (m->v[i] + m->v[i + 1]);
}

uint8_t q8_code(const q8_map *m, float x) {
  /* code = number of midpoints below x: the nearest map entry (ties go to the lower one) */
  unsigned i = 0;
  for (unsigned s = 128; s; s >>= 1)
    if (m->mid[i + s - 1] < x) i += s;
  return (uint8_t)i;
}

/* One block: absmax, then codes of x / absmax, by the rule the optimizer ops share. */
float q8_quantize_block(const q8_map *m, const float *x, int n, uint8_t *codes) {
  ORDO_CHECK(n >= 0 && n <= Q8_BLOCK);
  return q8_block_encode(m->mid, x, n, codes);
}

void q8_quantize(const q8_map *m, const float *x, int64_t n, uint8_t *codes, float *absmax) {
  int64_t nb = (n + Q8_BLOCK - 1) / Q8_BLOCK;
#pragma omp parallel for schedule(static) if (nb > 8)
  for (int64_t b = 0; b < nb; b++) {
    int64_t o = b * Q8_BLOCK;
    int len = (int)(n - o < Q8_BLOCK ? n - o : Q8_BLOCK);
    absmax[b] = q8_quantize_block(m, x + o, len, codes + o);
  }
}

void q8_dequantize(const q8_map *m, const uint8_t *codes, const float *absmax, int64_t n,
                   float *x) {
  for (int64_t j = 0; j < n; j++) x[j] = m->v[codes[j]] * absmax[j / Q8_BLOCK];
}
