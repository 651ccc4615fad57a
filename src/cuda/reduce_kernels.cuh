/* Column and block reductions of the CUDA backend whose work is mostly reading memory, written so
 * that the reads are coalesced and the work is spread over many blocks while every sum still has
 * one fixed order (no atomics: the same bits on every run). Device code only, without launches:
 * included by layernorm.cu and optim.cu, and by tests/emu/test_reduce_kernels_emu.cpp, which
 * runs the very same kernels on the CPU through tests/emu/cuda_emu.h. */
#ifndef ORDO_CUDA_REDUCE_KERNELS_CUH
#define ORDO_CUDA_REDUCE_KERNELS_CUH

#include <stdint.h>

/* ---- LayerNorm's dw and db ------------------------------------------------------------------
 * dw[c] += sum_n dout[n, c] xh[n, c] and db[c] += sum_n dout[n, c], xh = (inp - mean) rstd, in
 * two kernels: the rows are cut into chunks of `chunk` rows; a block of LN_COLS x LN_LANES
 * threads owns LN_COLS adjacent columns of one chunk (a warp reads 32 adjacent floats of a row:
 * coalesced), lane y summing the chunk's rows y, y + LN_LANES, ... in order, then the lanes'
 * partial sums added in lane order into part[chunk][c]; the second kernel adds the chunks'
 * partial sums in chunk order onto dw and db. The order differs from the reference's one pass
 * over the rows (the sums agree to float rounding), and is the same on every run. */
enum { LN_COLS = 32, LN_LANES = 4, LN_THREADS = LN_COLS * LN_LANES };

/* grid (ceil(C / LN_COLS), nchunks), LN_THREADS threads; pw, pb (nchunks, C) */
static __global__ void layernorm_dparams_part_kernel(float *pw, float *pb, const float *dout,
                                                     const float *inp, const float *mean,
                                                     const float *rstd, int N, int C, int chunk) {
  __shared__ float sw[LN_LANES][LN_COLS], sb[LN_LANES][LN_COLS];
  const int lane = threadIdx.x % LN_COLS, y = threadIdx.x / LN_COLS;
  const int c = blockIdx.x * LN_COLS + lane;
  const int64_t k = blockIdx.y;
  const int r0 = (int)(k * chunk), r1 = r0 + chunk < N ? r0 + chunk : N;
  float aw = 0.0f, ab = 0.0f;
  if (c < C)
    for (int n = r0 + y; n < r1; n += LN_LANES) {
      const int64_t i = (int64_t)n * C + c;
      const float d = dout[i];
      aw += d * ((inp[i] - mean[n]) * rstd[n]);
      ab += d;
    }
  sw[y][lane] = aw;
  sb[y][lane] = ab;
  __syncthreads();
  if (y == 0 && c < C) {
    float w = 0.0f, b = 0.0f;
    for (int j = 0; j < LN_LANES; j++) {
      w += sw[j][lane];
      b += sb[j][lane];
    }
    pw[k * C + c] = w;
    pb[k * C + c] = b;
  }
}

/* dw[c] += sum over the chunks of pw[k][c] (k in order), db likewise; either may be NULL */
static __global__ void layernorm_dparams_sum_kernel(float *dw, float *db, const float *pw,
                                                    const float *pb, int nchunks, int C) {
  for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < C;
       c += (int64_t)gridDim.x * blockDim.x) {
    float w = 0.0f, b = 0.0f;
    for (int k = 0; k < nchunks; k++) {
      w += pw[(int64_t)k * C + c];
      b += pb[(int64_t)k * C + c];
    }
    if (dw) dw[c] += w;
    if (db) db[c] += b;
  }
}

/* ---- block sums of squares ------------------------------------------------------------------
 * parts[b] = sum of x[j]^2 (in double, fma, j in order) over block b = x[b*block .. ), as one
 * thread per block always summed it (sumsq_blocks' contract: element order), but with the reads
 * coalesced: a thread block of SQ_THREADS threads owns SQ_THREADS consecutive blocks, copies a
 * SQ_TILE-element slice of each into shared memory (each warp reading SQ_TILE adjacent floats of
 * one block at a time), then every thread goes on with its own block's sum over that slice. */
enum { SQ_THREADS = 128, SQ_TILE = 32, SQ_WARPS = SQ_THREADS / 32 };

/* grid ceil(nb / SQ_THREADS), SQ_THREADS threads */
static __global__ void sumsq_blocks_tiled_kernel(double *parts, const float *x, int64_t N,
                                                 int block, int64_t nb) {
  __shared__ float tile[SQ_THREADS][SQ_TILE + 1]; /* + 1: a row per bank shift */
  const int t = threadIdx.x, lane = t % 32, warp = t / 32;
  const int64_t b0 = (int64_t)blockIdx.x * SQ_THREADS;
  double s = 0.0;
  for (int j0 = 0; j0 < block; j0 += SQ_TILE) {
    for (int r = warp; r < SQ_THREADS; r += SQ_WARPS) { /* row r: block b0 + r's slice */
      const int64_t e = (b0 + r) * block + j0 + lane;
      tile[r][lane] = b0 + r < nb && j0 + lane < block && e < N ? x[e] : 0.0f;
    }
    __syncthreads();
    if (b0 + t < nb) {
      const int64_t lo = (b0 + t) * block + j0;
      int n = block - j0 < SQ_TILE ? block - j0 : SQ_TILE;
      if (lo + n > N) n = lo < N ? (int)(N - lo) : 0;
      for (int j = 0; j < n; j++) s = __fma_rn((double)tile[t][j], (double)tile[t][j], s);
    }
    __syncthreads();
  }
  if (b0 + t < nb) parts[b0 + t] = s;
}

#endif
