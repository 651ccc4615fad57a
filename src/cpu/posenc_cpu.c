/* Position encodings applied inside attention: rotary (RoPE). Rows run in parallel; each row's
 * cos/sin are computed once and shared by its heads and q/k(/v) blocks. */
#include <math.h>
#include <stdlib.h>

#include "cpu/cpu_ops.h"
#include "ordo/core.h"

void rope_cos_sin(double p, float theta, int i, int hs, float *c, float *s) {
  /* transformers builds the table in float64: p / theta^(2i/hs), then sin/cos, then float32 */
  double a = p / pow((double)theta, 2.0 * i / hs);
  *c = (float)cos(a);
  *s = (float)sin(a);
}

static void rope_apply_cpu(float *x, const int32_t *pos, float scale, float theta, int nseg,
                           int BT, int C, int NH, int dir) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && (C / NH) % 2 == 0 && nseg >= 1 && nseg <= 3);
  const int hs = C / NH, half = hs / 2;
#pragma omp parallel
  {
    float *cs = malloc(2 * (size_t)half * sizeof(float));
    ORDO_CHECK(cs);
#pragma omp for schedule(static)
    for (int r = 0; r < BT; r++) {
      for (int i = 0; i < half; i++) {
        rope_cos_sin((double)pos[r] * scale, theta, i, hs, &cs[i], &cs[half + i]);
        cs[half + i] *= (float)dir;
      }
      for (int sg = 0; sg < nseg; sg++)
        for (int h = 0; h < NH; h++) {
          float *v = x + (int64_t)r * 3 * C + (int64_t)sg * C + h * hs;
          for (int i = 0; i < half; i++) {
            float a = v[2 * i], b = v[2 * i + 1], c = cs[i], s = cs[half + i];
            v[2 * i] = a * c - b * s;
            v[2 * i + 1] = b * c + a * s;
          }
        }
    }
    free(cs);
  }
}

void rope_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *qkv, const int32_t *pos, float scale, float theta, int nseg, int BT,
                      int C, int NH) {
  rope_apply_cpu(qkv, pos, scale, theta, nseg, BT, C, NH, 1);
}

void rope_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dqkv, const int32_t *pos, float scale, float theta, int nseg,
                       int BT, int C, int NH) {
  if (dqkv) rope_apply_cpu(dqkv, pos, scale, theta, nseg, BT, C, NH, -1);
}
