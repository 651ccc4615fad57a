/* Rotary position embedding on the GPU: one thread per (row, pair) computes the pair's angle
 * once and turns that pair in every head of the nseg column blocks. cos and sin come from the
 * CPU's formula (rope_cos_sin in src/cpu/posenc_cpu.c) in double precision, then rounded to
 * float, so both backends turn by the same float cos/sin (double cos, sin and pow may differ
 * from the host's libm in the last double bit, which the rounding to float almost always
 * absorbs). */
#include <math.h>
#include <stdint.h>

#include "cuda/cuda_mm.h"
#include "cuda/cuda_ops.h"

/* rope_cos_sin of posenc_cpu.c: transformers builds the table in float64,
 * p / theta^(2i/hs), then cos/sin, then float32. */
static __device__ void rope_cos_sin_dev(double p, float theta, int i, int hs, float *c, float *s) {
  double a = p / pow((double)theta, 2.0 * i / hs);
  *c = (float)cos(a);
  *s = (float)sin(a);
}

/* dir +1 turns by +a (forward), -1 by -a (backward: the transpose). */
static __global__ void rope_kernel(float *x, const int32_t *pos, float scale, float theta,
                                   int nseg, int BT, int C, int NH, float dir) {
  int hs = C / NH, half = hs / 2;
  CUDA_FOR(id, (int64_t)BT * half) {
    int64_t r = id / half;
    int i = (int)(id % half);
    float c, s;
    rope_cos_sin_dev((double)pos[r] * scale, theta, i, hs, &c, &s);
    s *= dir;
    for (int sg = 0; sg < nseg; sg++)
      for (int h = 0; h < NH; h++) {
        float *v = x + r * 3 * C + (int64_t)sg * C + h * hs + 2 * i;
        float a = v[0], b = v[1];
        v[0] = a * c - b * s;
        v[1] = b * c + a * s;
      }
  }
}

static void rope_apply_cuda(ordo_ctx *ctx, float *x, const int32_t *pos, float scale, float theta,
                            int nseg, int BT, int C, int NH, float dir) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && (C / NH) % 2 == 0 && nseg >= 1 && nseg <= 3 && BT >= 0);
  CUDA_LAUNCH_1D(rope_kernel, (int64_t)BT * (C / NH / 2), x, pos, scale, theta, nseg, BT, C, NH,
                 dir);
}

void rope_forward_cuda(ordo_ctx *ctx, float *qkv, const int32_t *pos, float scale, float theta,
                       int nseg, int BT, int C, int NH) {
  rope_apply_cuda(ctx, qkv, pos, scale, theta, nseg, BT, C, NH, 1.0f);
}

void rope_backward_cuda(ordo_ctx *ctx, float *dqkv, const int32_t *pos, float scale, float theta,
                        int nseg, int BT, int C, int NH) {
  if (dqkv) rope_apply_cuda(ctx, dqkv, pos, scale, theta, nseg, BT, C, NH, -1.0f);
}
