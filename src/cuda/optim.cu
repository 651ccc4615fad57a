/* The optimizer's ops: block sums of squares (global norm parts), the AdamW step with 32-bit
 * moments and with 8-bit block-quantized moments. Every float operation is spelled with its
 * rounding (__fmaf_rn, __fmul_rn ...) as the CPU build evaluates it (gcc contracts
 * src/train/adamw.c's update into these fused multiply-adds), so the GPU step gives the CPU's
 * bits; the norm parts are double sums in ops.h's lane order like the CPU's. */
#include "cuda/cuda_ops.h"

/* ---- block sums of squares: one thread per block, ops.h's lanes ----------------------------- */

static __global__ void sumsq_blocks_kernel(double *parts, const float *x, int64_t N, int block,
                                           int64_t nb) {
  CUDA_FOR(b, nb) {
    int64_t lo = b * block, hi = lo + block < N ? lo + block : N;
    double acc[ORDO_SUMSQ_LANES], s = 0.0;
    for (int l = 0; l < ORDO_SUMSQ_LANES; l++) acc[l] = 0.0;
    for (int64_t j = lo; j < hi; j++) {
      double *a = &acc[(j - lo) % ORDO_SUMSQ_LANES];
      *a = __fma_rn((double)x[j], (double)x[j], *a);
    }
    for (int l = 0; l < ORDO_SUMSQ_LANES; l++) s = __dadd_rn(s, acc[l]);
    parts[b] = s;
  }
}

void sumsq_blocks_cuda(ordo_ctx *ctx, double *parts, const float *x, int64_t N, int block) {
  ORDO_CHECK(block > 0);
  int64_t nb = (N + block - 1) / block;
  CUDA_LAUNCH_1D(sumsq_blocks_kernel, nb, parts, x, N, block, nb);
}

/* ---- AdamW ------------------------------------------------------------------------------- */

/* torch.optim.AdamW's element update: w *= wd_mul; m += (1-b1)(g-m); v = v b2 + (1-b2) g g;
 * w -= step_size (m / (sqrt(v) / bc2_sqrt + eps)) */
static __device__ __forceinline__ void adamw_elem(float *w, float *m, float *v, float g,
                                                  const ordo_adamw_hp &hp) {
  *w = __fmul_rn(*w, hp.wd_mul);
  *m = __fmaf_rn(__fsub_rn(g, *m), __fsub_rn(1.0f, hp.b1), *m);
  *v = __fmaf_rn(*v, hp.b2, __fmul_rn(__fmul_rn(__fsub_rn(1.0f, hp.b2), g), g));
  float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(*v), hp.bc2_sqrt), hp.eps);
  *w = __fmaf_rn(-hp.step_size, __fdiv_rn(*m, denom), *w);
}

static __global__ void adamw_kernel(float *w, const float *g, float *m, float *v, int64_t N,
                                    ordo_adamw_hp hp) {
  CUDA_FOR(i, N) {
    float wi = w[i], mi = m[i], vi = v[i];
    adamw_elem(&wi, &mi, &vi, g[i], hp);
    w[i] = wi, m[i] = mi, v[i] = vi;
  }
}

void adamw_step_cuda(ordo_ctx *ctx, float *w, const float *g, float *m, float *v, int64_t N,
                     ordo_adamw_hp hp) {
  CUDA_LAUNCH_1D(adamw_kernel, N, w, g, m, v, N, hp);
}

/* ---- 8-bit AdamW: one thread block per quantization block --------------------------------- */

/* Largest |x| bit pattern over the block (a NaN, above inf, poisons the block instead of
 * hiding), then each code: the count of mid[] entries below x * (1 / absmax), found by the
 * binary search of q8_code. */
static __device__ float q8_requantize(uint8_t *q, const float *x, int len, const float *mid,
                                      unsigned *red) {
  unsigned amax = 0;
  for (int j = threadIdx.x; j < len; j += blockDim.x)
    amax = max(amax, __float_as_uint(x[j]) & 0x7FFFFFFFu);
  red[threadIdx.x] = amax;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] = max(red[threadIdx.x], red[threadIdx.x + s]);
    __syncthreads();
  }
  float absmax = __uint_as_float(red[0]);
  __syncthreads(); /* red is reused by the next call */
  float inv = absmax > 0.0f ? __fdiv_rn(1.0f, absmax) : 0.0f;
  for (int j = threadIdx.x; j < len; j += blockDim.x) {
    float xn = __fmul_rn(x[j], inv);
    unsigned i = 0;
    for (unsigned s = 128; s; s >>= 1)
      if (mid[i + s - 1] < xn) i += s;
    q[j] = (uint8_t)i;
  }
  return absmax;
}

/* shared: map_m, mid_m, map_v, mid_v (256 + 255 each), the reduction (blockDim), then the
 * block's dequantized moments m, v (block each) */
static __global__ void adamw8_kernel(float *w, const float *g, uint8_t *qm, uint8_t *qv, float *sm,
                                     float *sv, const float *map_m, const float *mid_m,
                                     const float *map_v, const float *mid_v, int64_t N, int block,
                                     ordo_adamw_hp hp) {
  extern __shared__ float sh[];
  float *smap_m = sh, *smid_m = smap_m + 256, *smap_v = smid_m + 255, *smid_v = smap_v + 256;
  unsigned *red = (unsigned *)(smid_v + 255);
  float *mf = (float *)(red + blockDim.x), *vf = mf + block;
  for (int j = threadIdx.x; j < 256; j += blockDim.x) {
    smap_m[j] = map_m[j];
    smap_v[j] = map_v[j];
    if (j < 255) smid_m[j] = mid_m[j], smid_v[j] = mid_v[j];
  }
  __syncthreads();
  const int64_t b = blockIdx.x, base = b * block;
  const int len = (int)(N - base < block ? N - base : block);
  const float am = sm[b], av = sv[b];
  for (int j = threadIdx.x; j < len; j += blockDim.x) {
    float mj = __fmul_rn(smap_m[qm[base + j]], am), vj = __fmul_rn(smap_v[qv[base + j]], av);
    float wj = w[base + j];
    adamw_elem(&wj, &mj, &vj, g[base + j], hp);
    w[base + j] = wj;
    mf[j] = mj;
    vf[j] = vj;
  }
  __syncthreads();
  float new_sm = q8_requantize(qm + base, mf, len, smid_m, red);
  float new_sv = q8_requantize(qv + base, vf, len, smid_v, red);
  if (threadIdx.x == 0) sm[b] = new_sm, sv[b] = new_sv;
}

void adamw8_step_cuda(ordo_ctx *ctx, float *w, const float *g, uint8_t *qm, uint8_t *qv, float *sm,
                      float *sv, const float *map_m, const float *mid_m, const float *map_v,
                      const float *mid_v, int64_t N, int block, ordo_adamw_hp hp) {
  ORDO_CHECK(block > 0);
  if (N <= 0) return;
  int64_t nb = (N + block - 1) / block;
  ORDO_CHECKF(nb <= 0x7fffffff, "adamw8_step: %lld blocks are more than one launch holds",
              (long long)nb);
  size_t shared = (2 * 256 + 2 * 255) * sizeof(float) + CUDA_THREADS * sizeof(unsigned) +
                  2 * (size_t)block * sizeof(float);
  if (shared > 48 * 1024) { /* beyond the default: ask for it (H100: up to 227 KB) */
    int most = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&most, cudaDevAttrMaxSharedMemoryPerBlockOptin, ctx->device));
    ORDO_CHECKF(shared <= (size_t)most,
                "adamw8_step: block %d needs %zu bytes of shared memory, "
                "the device has %d",
                block, shared, most);
    CUDA_CHECK(cudaFuncSetAttribute(adamw8_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    (int)shared));
  }
  adamw8_kernel<<<(unsigned)nb, CUDA_THREADS, shared, ctx->stream>>>(
      w, g, qm, qv, sm, sv, map_m, mid_m, map_v, mid_v, N, block, hp);
  CUDA_LAUNCH_CHECK();
}
