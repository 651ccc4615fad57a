/* The device code of the fused attention (flash_attention.cu, whose top comment says what it
 * supports): the tile helpers and the kernels, without launches, in a header of its own so that
 * tests/emu compiles the very same kernels for the host against an emulation of the CUDA
 * features they use (tests/emu/cuda_emu.h: warps as threads, wmma as plain loops) and checks
 * them against the reference where there is no GPU. Include after cuda_bf16.h, mma.h,
 * cuda/cuda_ops.h (CUDA_FOR) and cuda/philox.cuh, or after the emulation. */
#ifndef ORDO_CUDA_FLASH_ATTENTION_KERNELS_CUH
#define ORDO_CUDA_FLASH_ATTENTION_KERNELS_CUH

namespace {

using namespace nvcuda;

typedef __nv_bfloat16 bf16;

constexpr int FA_BLOCK = 64; /* rows per block, and the width of every score tile */
constexpr int FA_WARPS = 4;
constexpr int FA_THREADS = 32 * FA_WARPS;
constexpr int WM = 16; /* wmma tile edge */
static_assert(FA_BLOCK == FA_WARPS * WM, "each warp owns one 16-row strip");
static_assert(FA_BLOCK == 64, "a lane pair covers a 64-wide score row: 32 columns each");

/* Leading dimensions (elements) of the shared-memory tiles, padded against bank conflicts.
 * wmma needs them multiples of 8 (16-bit) / 4 (float), and tile starts 32-byte aligned: a strip
 * starts 16 rows in (16 * LD * 2 or * 4 bytes: multiples of 32) and columns step by 16 elements. */
template <int HD>
struct fa_dims {
  static_assert(HD % WM == 0 && HD >= 32 && HD <= 128, "head size 32, 64 or 128");
  static constexpr int LDH = HD + 8;       /* bf16 (64, HD) tiles: Q, K, V, dO */
  static constexpr int LDP = FA_BLOCK + 8; /* bf16 (64, 64) tiles: P, dS */
  static constexpr int LDS = FA_BLOCK + 4; /* float (64, 64) tiles: S, dP */
  static constexpr int LDO = HD + 4;       /* float (64, HD) tiles: O, staged gradients */
  static constexpr size_t H = (size_t)FA_BLOCK * LDH * sizeof(bf16);
  static constexpr size_t P = (size_t)FA_BLOCK * LDP * sizeof(bf16);
  static constexpr size_t S = (size_t)FA_BLOCK * LDS * sizeof(float);
  static constexpr size_t O = (size_t)FA_BLOCK * LDO * sizeof(float);
  static constexpr size_t ROW = (size_t)FA_BLOCK * sizeof(float);
  static_assert(H % 128 == 0 && P % 128 == 0 && S % 128 == 0 && O % 128 == 0,
                "every tile starts 128-byte aligned");
  /* shared bytes of each kernel, in the order the kernels carve them */
  static constexpr size_t FWD = 3 * H + P + S + O + ROW; /* Q K V | P | S | O | kvalid */
  static constexpr size_t BWD_KV =
      4 * H + 2 * P + 2 * S + 3 * ROW; /* K V Q dO | P dS | S dP | kvalid L D */
  static constexpr size_t BWD_Q =
      4 * H + P + 2 * S + 3 * ROW; /* Q dO K V | dS | S dP | kvalid L D */
  /* the backward kernels stage their gradient strips in S and dP, which lie side by side */
  static_assert(2 * S >= O, "S and dP hold a (64, HD) float tile");
};

typedef wmma::fragment<wmma::accumulator, WM, WM, WM, float> acc_frag;
typedef wmma::fragment<wmma::matrix_a, WM, WM, WM, bf16, wmma::row_major> a_frag;

/* A warp's strip (16, K) of a row-major bf16 tile in shared memory as K / 16 fragments held in
 * registers: the strips that stay the same over a kernel's whole tile loop are read once. */
template <int K>
__device__ void load_strip(a_frag (&a)[K / WM], const bf16 *A, int lda) {
#pragma unroll
  for (int k = 0; k < K / WM; k++) wmma::load_matrix_sync(a[k], A + k * WM, lda);
}

/* C (16, N) = A (16, K) B^T: A as load_strip holds it, B (N, K) row-major bf16 in shared memory,
 * C float in shared memory. (B^T read as a column-major (K, N) matrix: element (k, n) at
 * B[n * ldb + k].) */
template <int N, int K>
__device__ void strip_abt(float *C, int ldc, const a_frag (&a)[K / WM], const bf16 *B, int ldb) {
#pragma unroll
  for (int n = 0; n < N / WM; n++) {
    acc_frag c;
    wmma::fill_fragment(c, 0.0f);
#pragma unroll
    for (int k = 0; k < K / WM; k++) {
      wmma::fragment<wmma::matrix_b, WM, WM, WM, bf16, wmma::col_major> b;
      wmma::load_matrix_sync(b, B + (size_t)n * WM * ldb + k * WM, ldb);
      wmma::mma_sync(c, a[k], b, c);
    }
    wmma::store_matrix_sync(C + n * WM, c, ldc, wmma::mem_row_major);
  }
}

/* c[n] += A (16, K) B (K, N) for the N / 16 column tiles n: A, B row-major bf16 in shared
 * memory; the accumulators stay in registers (indexed by unrolled constants only). */
template <int N, int K>
__device__ void strip_ab(acc_frag (&c)[N / WM], const bf16 *A, int lda, const bf16 *B, int ldb) {
#pragma unroll
  for (int k = 0; k < K / WM; k++) {
    wmma::fragment<wmma::matrix_a, WM, WM, WM, bf16, wmma::row_major> a;
    wmma::load_matrix_sync(a, A + k * WM, lda);
#pragma unroll
    for (int n = 0; n < N / WM; n++) {
      wmma::fragment<wmma::matrix_b, WM, WM, WM, bf16, wmma::row_major> b;
      wmma::load_matrix_sync(b, B + (size_t)k * WM * ldb + n * WM, ldb);
      wmma::mma_sync(c[n], a, b, c[n]);
    }
  }
}

/* The same product onto a float strip in shared memory (the forward's O, rescaled between
 * tiles, so not kept in registers): C (16, N) += A (16, K) B. */
template <int N, int K>
__device__ void strip_ab_smem(float *C, int ldc, const bf16 *A, int lda, const bf16 *B, int ldb) {
  acc_frag c[N / WM];
#pragma unroll
  for (int n = 0; n < N / WM; n++)
    wmma::load_matrix_sync(c[n], C + n * WM, ldc, wmma::mem_row_major);
  strip_ab<N, K>(c, A, lda, B, ldb);
#pragma unroll
  for (int n = 0; n < N / WM; n++)
    wmma::store_matrix_sync(C + n * WM, c[n], ldc, wmma::mem_row_major);
}

/* dst (64, LDH) = rows r0 .. r0 + 63 of a bf16 matrix with row stride ld (HD columns from src),
 * rows at or past T as zeros; 16-byte loads by the whole block. */
template <int HD>
__device__ void load_tile(bf16 *dst, const bf16 *src, int64_t ld, int r0, int T) {
  constexpr int CH = HD / 8; /* 16-byte chunks per row */
  for (int i = threadIdx.x; i < FA_BLOCK * CH; i += FA_THREADS) {
    int r = i / CH, c = (i % CH) * 8;
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (r0 + r < T) v = *reinterpret_cast<const uint4 *>(src + (int64_t)(r0 + r) * ld + c);
    *reinterpret_cast<uint4 *>(dst + r * fa_dims<HD>::LDH + c) = v;
  }
}

/* kvalid[i] = 1 when key k0 + i exists and is real (mask NULL: every key is). */
__device__ void load_key_valid(int *kvalid, const int32_t *kmask, int k0, int T) {
  for (int i = threadIdx.x; i < FA_BLOCK; i += FA_THREADS) {
    int u = k0 + i;
    kvalid[i] = u < T && (!kmask || kmask[u] != 0);
  }
}

/* lse and D of query rows q0 .. q0 + 63 of pair bh (0 past T: those rows see no key). */
__device__ void load_row_stats(float *Ls, float *Ds, const float *lse, const float *delta,
                               int64_t bh, int q0, int T) {
  for (int i = threadIdx.x; i < FA_BLOCK; i += FA_THREADS) {
    int t = q0 + i;
    Ls[i] = t < T ? lse[bh * T + t] : 0.0f;
    Ds[i] = t < T ? delta[bh * T + t] : 0.0f;
  }
}

/* The dropout multiplier of element (bh, t, u): 1 / (1 - p) when kept, 0 when dropped. */
__device__ float keep_scale(float p, float dscale, uint64_t seed, uint64_t offset, int64_t bh,
                            int t, int u, int T) {
  uint64_t i = ((uint64_t)bh * T + (uint64_t)t) * (uint64_t)T + (uint64_t)u;
  return philox_uniform_hd(seed, offset + i) >= p ? dscale : 0.0f;
}

/* Writes a (16, HD) float strip (row r of it: 16 rows x HD, this lane pair's half of row r) as
 * bf16 to dst row (scaled by mul), adding dst's old value when acc. */
template <int HD>
__device__ void store_row_half(bf16 *dst, const float *src, float mul, int acc) {
#pragma unroll 8
  for (int j = 0; j < HD / 2; j++) {
    float v = src[j] * mul;
    if (acc) v += __bfloat162float(dst[j]);
    dst[j] = __float2bfloat16(v);
  }
}

/* ---- forward ------------------------------------------------------------------------------
 * grid (ceil(T / 64), B * NH). Lane pair (2i, 2i + 1) of warp w owns row r = 16 w + i of the
 * block, query t = q0 + r; lane parity picks columns 0..31 or 32..63 of each score row. */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS)
    flash_fwd_kernel(bf16 *out, float *lse, const bf16 *qkv, const int32_t *mask, int causal,
                     float p, float dscale, uint64_t seed, uint64_t offset, int T, int C, int NH,
                     float scale) {
  typedef fa_dims<HD> D;
  extern __shared__ __align__(128) unsigned char fa_smem[];
  bf16 *Qs = reinterpret_cast<bf16 *>(fa_smem);
  bf16 *Ks = reinterpret_cast<bf16 *>(fa_smem + D::H);
  bf16 *Vs = reinterpret_cast<bf16 *>(fa_smem + 2 * D::H);
  bf16 *Ps = reinterpret_cast<bf16 *>(fa_smem + 3 * D::H);
  float *Ss = reinterpret_cast<float *>(fa_smem + 3 * D::H + D::P);
  float *Os = reinterpret_cast<float *>(fa_smem + 3 * D::H + D::P + D::S);
  int *kvalid = reinterpret_cast<int *>(fa_smem + 3 * D::H + D::P + D::S + D::O);

  const int q0 = blockIdx.x * FA_BLOCK;
  const int64_t bh = blockIdx.y;
  const int b = (int)(bh / NH), h = (int)(bh % NH);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r = warp * WM + lane / 2, half = lane % 2, t = q0 + r;
  const int64_t ld = 3 * (int64_t)C;
  const bf16 *seq = qkv + (int64_t)b * T * ld + (int64_t)h * HD; /* this head's q at row 0 */
  const int32_t *kmask = mask ? mask + (int64_t)b * T : nullptr;

  load_tile<HD>(Qs, seq, ld, q0, T);
  for (int i = threadIdx.x; i < FA_BLOCK * D::LDO; i += FA_THREADS) Os[i] = 0.0f;
  __syncthreads();
  a_frag qa[HD / WM]; /* this warp's query strip, for every key tile */
  load_strip<HD>(qa, Qs + warp * WM * D::LDH, D::LDH);
  float m = -INFINITY, l = 0.0f; /* row r's running max and sum (both lanes of the pair) */
  float *srow = Ss + r * D::LDS + half * 32;
  bf16 *prow = Ps + r * D::LDP + half * 32;
  float *orow = Os + r * D::LDO + half * (HD / 2);
  const int kend =
      causal ? min(T, q0 + FA_BLOCK) : T; /* keys past the block's last query: hidden */
  for (int k0 = 0; k0 < kend; k0 += FA_BLOCK) {
    __syncthreads(); /* every warp is done with the previous K, V tiles */
    load_tile<HD>(Ks, seq + C, ld, k0, T);
    load_tile<HD>(Vs, seq + 2 * C, ld, k0, T);
    load_key_valid(kvalid, kmask, k0, T);
    __syncthreads();
    /* S strip (16, 64) = Q strip (16, HD) K^T */
    strip_abt<FA_BLOCK, HD>(Ss + warp * WM * D::LDS, D::LDS, qa, Ks, D::LDH);
    __syncwarp();
    float mx = -INFINITY;
    for (int j = 0; j < 32; j++) {
      int c = half * 32 + j, u = k0 + c;
      bool vis = t < T && kvalid[c] && !(causal && u > t);
      float s = vis ? srow[j] * scale : -INFINITY;
      srow[j] = s;
      mx = fmaxf(mx, s);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float mnew = fmaxf(m, mx);
    /* no visible key so far: O and l stay 0 (alpha 1 avoids exp(-inf + inf)) */
    const float alpha = mnew == -INFINITY ? 1.0f : expf(m - mnew);
    float sum = 0.0f;
    for (int j = 0; j < 32; j++) {
      float e = srow[j] == -INFINITY ? 0.0f : expf(srow[j] - mnew);
      sum += e; /* l sums the probabilities before dropout */
      if (p > 0.0f && e != 0.0f)
        e *= keep_scale(p, dscale, seed, offset, bh, t, k0 + half * 32 + j, T);
      prow[j] = __float2bfloat16(e);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * alpha + sum;
    m = mnew;
    for (int j = 0; j < HD / 2; j++) orow[j] *= alpha;
    __syncwarp();
    /* O strip (16, HD) += P strip (16, 64) V (64, HD) */
    strip_ab_smem<HD, FA_BLOCK>(Os + warp * WM * D::LDO, D::LDO, Ps + warp * WM * D::LDP, D::LDP,
                                Vs, D::LDH);
  }
  __syncwarp();
  if (t < T) {
    const float inv = l > 0.0f ? 1.0f / l : 0.0f; /* l == 0: no visible key, a row of zeros */
    store_row_half<HD>(out + ((int64_t)b * T + t) * C + (int64_t)h * HD + half * (HD / 2), orow,
                       inv, 0);
    if (half == 0) lse[bh * T + t] = l > 0.0f ? m + logf(l) : -INFINITY;
  }
}

/* ---- backward -----------------------------------------------------------------------------
 * delta[bh * T + t] = sum_c dO[b, t, h*hs + c] * O[b, t, h*hs + c], one thread per row. */
__global__ void flash_delta_kernel(float *delta, const bf16 *dout, const bf16 *out, int T, int C,
                                   int NH, int HD, int64_t rows) {
  CUDA_FOR(i, rows) {
    int64_t bh = i / T;
    int t = (int)(i % T), b = (int)(bh / NH), h = (int)(bh % NH);
    int64_t at = ((int64_t)b * T + t) * C + (int64_t)h * HD;
    float d = 0.0f;
    for (int c = 0; c < HD; c++)
      d += __bfloat162float(dout[at + c]) * __bfloat162float(out[at + c]);
    delta[i] = d;
  }
}

/* P, dP of one score element with the masks and dropout applied, and dS = P (dP - D):
 * s the raw q.k, dpr the raw dO.v; pd receives the dropped probability (the value product's). */
__device__ float score_grad(float *pd, float s, float dpr, bool vis, float scale, float L,
                            float Drow, float p, float dscale, uint64_t seed, uint64_t offset,
                            int64_t bh, int t, int u, int T) {
  if (!vis) {
    *pd = 0.0f;
    return 0.0f;
  }
  float P = expf(s * scale - L);
  float M = p > 0.0f ? keep_scale(p, dscale, seed, offset, bh, t, u, T) : 1.0f;
  *pd = P * M;
  return P * (dpr * M - Drow);
}

/* dK, dV: grid (ceil(T / 64), B * NH), a block per 64 keys k0 .. k0 + 63; warp strips are keys.
 * Lane pair row r = key k0 + r; lane parity picks queries 0..31 or 32..63 of the query tile. */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS)
    flash_bwd_kv_kernel(bf16 *dqkv, int acc, const bf16 *dout, const bf16 *qkv, const float *lse,
                        const float *delta, const int32_t *mask, int causal, float p, float dscale,
                        uint64_t seed, uint64_t offset, int T, int C, int NH, float scale) {
  typedef fa_dims<HD> D;
  extern __shared__ __align__(128) unsigned char fa_smem[];
  bf16 *Ks = reinterpret_cast<bf16 *>(fa_smem);
  bf16 *Vs = reinterpret_cast<bf16 *>(fa_smem + D::H);
  bf16 *Qs = reinterpret_cast<bf16 *>(fa_smem + 2 * D::H);
  bf16 *dOs = reinterpret_cast<bf16 *>(fa_smem + 3 * D::H);
  bf16 *Pts = reinterpret_cast<bf16 *>(fa_smem + 4 * D::H);         /* (keys, queries) */
  bf16 *dSts = reinterpret_cast<bf16 *>(fa_smem + 4 * D::H + D::P); /* (keys, queries) */
  float *Sts = reinterpret_cast<float *>(fa_smem + 4 * D::H + 2 * D::P);
  float *dPts = reinterpret_cast<float *>(fa_smem + 4 * D::H + 2 * D::P + D::S);
  int *kvalid = reinterpret_cast<int *>(fa_smem + 4 * D::H + 2 * D::P + 2 * D::S);
  float *Ls = reinterpret_cast<float *>(fa_smem + 4 * D::H + 2 * D::P + 2 * D::S + D::ROW);
  float *Dsh = reinterpret_cast<float *>(fa_smem + 4 * D::H + 2 * D::P + 2 * D::S + 2 * D::ROW);

  const int k0 = blockIdx.x * FA_BLOCK;
  const int64_t bh = blockIdx.y;
  const int b = (int)(bh / NH), h = (int)(bh % NH);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r = warp * WM + lane / 2, half = lane % 2, u = k0 + r;
  const int64_t ld = 3 * (int64_t)C;
  const bf16 *seq = qkv + (int64_t)b * T * ld + (int64_t)h * HD;
  const bf16 *dseq = dout + (int64_t)b * T * C + (int64_t)h * HD;
  const int32_t *kmask = mask ? mask + (int64_t)b * T : nullptr;

  load_tile<HD>(Ks, seq + C, ld, k0, T);
  load_tile<HD>(Vs, seq + 2 * C, ld, k0, T);
  load_key_valid(kvalid, kmask, k0, T);
  __syncthreads();
  a_frag ka[HD / WM], va[HD / WM]; /* this warp's key and value strips, for every query tile */
  load_strip<HD>(ka, Ks + warp * WM * D::LDH, D::LDH);
  load_strip<HD>(va, Vs + warp * WM * D::LDH, D::LDH);
  acc_frag dK[HD / WM], dV[HD / WM];
#pragma unroll
  for (int n = 0; n < HD / WM; n++)
    wmma::fill_fragment(dK[n], 0.0f), wmma::fill_fragment(dV[n], 0.0f);
  const float *strow = Sts + r * D::LDS + half * 32, *dptrow = dPts + r * D::LDS + half * 32;
  bf16 *ptrow = Pts + r * D::LDP + half * 32, *dstrow = dSts + r * D::LDP + half * 32;
  /* causal: queries before the key tile's first key see none of it */
  for (int q0 = causal ? k0 : 0; q0 < T; q0 += FA_BLOCK) {
    __syncthreads(); /* every warp is done with the previous Q, dO tiles and rows */
    load_tile<HD>(Qs, seq, ld, q0, T);
    load_tile<HD>(dOs, dseq, C, q0, T);
    load_row_stats(Ls, Dsh, lse, delta, bh, q0, T);
    __syncthreads();
    /* S^T strip (16 keys, 64 queries) = K strip Q^T; dP^T strip = V strip dO^T */
    strip_abt<FA_BLOCK, HD>(Sts + warp * WM * D::LDS, D::LDS, ka, Qs, D::LDH);
    strip_abt<FA_BLOCK, HD>(dPts + warp * WM * D::LDS, D::LDS, va, dOs, D::LDH);
    __syncwarp();
    for (int j = 0; j < 32; j++) {
      int c = half * 32 + j, t = q0 + c;
      bool vis = t < T && kvalid[r] && !(causal && u > t); /* kvalid[r]: key u exists and is real */
      float pd;
      float ds = score_grad(&pd, strow[j], dptrow[j], vis, scale, Ls[c], Dsh[c], p, dscale, seed,
                            offset, bh, t, u, T);
      ptrow[j] = __float2bfloat16(pd);
      dstrow[j] = __float2bfloat16(ds);
    }
    __syncwarp();
    /* dV strip (16 keys, HD) += Pd^T strip (16, 64 queries) dO (64, HD); dK += dS^T strip Q */
    strip_ab<HD, FA_BLOCK>(dV, Pts + warp * WM * D::LDP, D::LDP, dOs, D::LDH);
    strip_ab<HD, FA_BLOCK>(dK, dSts + warp * WM * D::LDP, D::LDP, Qs, D::LDH);
  }
  /* stage each gradient strip in S and dP (side by side: one (64, HD) float tile), write rows */
  float *stage = Sts, *srow = stage + r * D::LDO + half * (HD / 2);
#pragma unroll /* which is a constant in each copy: the fragments stay in registers */
  for (int which = 0; which < 2; which++) { /* 0: dK (k columns), 1: dV (v columns, C further) */
    __syncthreads(); /* every warp is done with S and dP (and with the previous stage) */
#pragma unroll
    for (int n = 0; n < HD / WM; n++)
      wmma::store_matrix_sync(stage + warp * WM * D::LDO + n * WM, which == 0 ? dK[n] : dV[n],
                              D::LDO, wmma::mem_row_major);
    __syncwarp();
    if (u < T)
      store_row_half<HD>(dqkv + ((int64_t)b * T + u) * ld + (1 + which) * (int64_t)C +
                             (int64_t)h * HD + half * (HD / 2),
                         srow, which == 0 ? scale : 1.0f, acc);
  }
}

/* dQ: grid (ceil(T / 64), B * NH), a block per 64 queries; lane pair row r = query q0 + r. */
template <int HD>
__global__ void __launch_bounds__(FA_THREADS)
    flash_bwd_q_kernel(bf16 *dqkv, int acc, const bf16 *dout, const bf16 *qkv, const float *lse,
                       const float *delta, const int32_t *mask, int causal, float p, float dscale,
                       uint64_t seed, uint64_t offset, int T, int C, int NH, float scale) {
  typedef fa_dims<HD> D;
  extern __shared__ __align__(128) unsigned char fa_smem[];
  bf16 *Qs = reinterpret_cast<bf16 *>(fa_smem);
  bf16 *dOs = reinterpret_cast<bf16 *>(fa_smem + D::H);
  bf16 *Ks = reinterpret_cast<bf16 *>(fa_smem + 2 * D::H);
  bf16 *Vs = reinterpret_cast<bf16 *>(fa_smem + 3 * D::H);
  bf16 *dSs = reinterpret_cast<bf16 *>(fa_smem + 4 * D::H);
  float *Ss = reinterpret_cast<float *>(fa_smem + 4 * D::H + D::P);
  float *dPs = reinterpret_cast<float *>(fa_smem + 4 * D::H + D::P + D::S);
  int *kvalid = reinterpret_cast<int *>(fa_smem + 4 * D::H + D::P + 2 * D::S);
  float *Ls = reinterpret_cast<float *>(fa_smem + 4 * D::H + D::P + 2 * D::S + D::ROW);
  float *Dsh = reinterpret_cast<float *>(fa_smem + 4 * D::H + D::P + 2 * D::S + 2 * D::ROW);

  const int q0 = blockIdx.x * FA_BLOCK;
  const int64_t bh = blockIdx.y;
  const int b = (int)(bh / NH), h = (int)(bh % NH);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r = warp * WM + lane / 2, half = lane % 2, t = q0 + r;
  const int64_t ld = 3 * (int64_t)C;
  const bf16 *seq = qkv + (int64_t)b * T * ld + (int64_t)h * HD;
  const bf16 *dseq = dout + (int64_t)b * T * C + (int64_t)h * HD;
  const int32_t *kmask = mask ? mask + (int64_t)b * T : nullptr;

  load_tile<HD>(Qs, seq, ld, q0, T);
  load_tile<HD>(dOs, dseq, C, q0, T);
  load_row_stats(Ls, Dsh, lse, delta, bh, q0, T);
  __syncthreads();
  a_frag qa[HD / WM], doa[HD / WM]; /* this warp's query and dO strips, for every key tile */
  load_strip<HD>(qa, Qs + warp * WM * D::LDH, D::LDH);
  load_strip<HD>(doa, dOs + warp * WM * D::LDH, D::LDH);
  acc_frag dQ[HD / WM];
#pragma unroll
  for (int n = 0; n < HD / WM; n++) wmma::fill_fragment(dQ[n], 0.0f);
  const float *srow = Ss + r * D::LDS + half * 32, *dprow = dPs + r * D::LDS + half * 32;
  bf16 *dsrow = dSs + r * D::LDP + half * 32;
  const int kend = causal ? min(T, q0 + FA_BLOCK) : T;
  for (int k0 = 0; k0 < kend; k0 += FA_BLOCK) {
    __syncthreads(); /* every warp is done with the previous K, V tiles */
    load_tile<HD>(Ks, seq + C, ld, k0, T);
    load_tile<HD>(Vs, seq + 2 * C, ld, k0, T);
    load_key_valid(kvalid, kmask, k0, T);
    __syncthreads();
    /* S strip (16 queries, 64 keys) = Q strip K^T; dP strip = dO strip V^T */
    strip_abt<FA_BLOCK, HD>(Ss + warp * WM * D::LDS, D::LDS, qa, Ks, D::LDH);
    strip_abt<FA_BLOCK, HD>(dPs + warp * WM * D::LDS, D::LDS, doa, Vs, D::LDH);
    __syncwarp();
    for (int j = 0; j < 32; j++) {
      int c = half * 32 + j, u = k0 + c;
      bool vis = t < T && kvalid[c] && !(causal && u > t);
      float pd;
      float ds = score_grad(&pd, srow[j], dprow[j], vis, scale, Ls[r], Dsh[r], p, dscale, seed,
                            offset, bh, t, u, T);
      dsrow[j] = __float2bfloat16(ds);
    }
    __syncwarp();
    /* dQ strip (16, HD) += dS strip (16, 64 keys) K (64, HD) */
    strip_ab<HD, FA_BLOCK>(dQ, dSs + warp * WM * D::LDP, D::LDP, Ks, D::LDH);
  }
  __syncthreads(); /* every warp is done with S and dP: they become the staging tile */
  float *stage = Ss;
#pragma unroll
  for (int n = 0; n < HD / WM; n++)
    wmma::store_matrix_sync(stage + warp * WM * D::LDO + n * WM, dQ[n], D::LDO,
                            wmma::mem_row_major);
  __syncwarp();
  if (t < T)
    store_row_half<HD>(dqkv + ((int64_t)b * T + t) * ld + (int64_t)h * HD + half * (HD / 2),
                       stage + r * D::LDO + half * (HD / 2), scale, acc);
}

} // namespace

#endif
