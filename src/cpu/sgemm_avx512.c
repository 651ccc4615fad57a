/* fp32 matrix products on AVX-512: C = alpha op(A) op(B) + beta C, row-major, op = transposed or
 * not, as cblas_sgemm. This file alone is compiled with -mavx512f; cpu_sgemm (matmul_cpu.c) calls it
 * only on a CPU that has AVX-512F.
 *
 * The blocking is the usual one for caches (bench/NOTES.md has the measurements):
 *   each thread takes a range of column panels of C (or of rows, when the panels are too few);
 *   for each block of at most KC_MAX inner indices:
 *     pack op(B)'s panels of NR = 32 columns (k-major, zero-padded past N)
 *     for each block of MC rows:
 *       a transposed A: pack its panels of MR = 12 rows (k-major, all panels a k at a time); else
 *       A's rows are read in place
 *       for each B panel, for each A panel (or the other way round, see gemm_part): a 12 x 32
 *       tile of C in 24 registers, a k loop of 12 broadcasts and 24 FMAs, the B panel in L1.
 * No buffer is shared, so no thread waits for another. Every element of C is one FMA chain in
 * increasing k per block of k, the blocks added in order: the same bits for any thread count. */
#if defined(__AVX512F__)
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/sgemm_avx512.h"

/* MR x NR: the tile of C in registers; AS: floats a k in a packed A panel (MR: a stride of 16, a
 * whole line, measured slower); KC_MAX, MC, NC: the blocks of k, rows and columns. */
enum { MR = 12, NR = 32, AS = MR, KC_MAX = 384, MC = 384, NC = 2048 };
/* The packed B panels of one block of k that stay in L2 beside the rest (half of this Xeon's 2 MB). */
enum { B_IN_L2 = 1 << 20 };

/* Per-thread packing buffers, grown on demand and kept (a product inside another OpenMP region,
 * as attention's per-head products are, runs on its caller's thread with its own buffers). */
typedef struct pack_bufs {
  float *a, *b;
  size_t a_cap, b_cap;
} pack_bufs;
static __thread pack_bufs tls_bufs;

static float *grow(float **p, size_t *cap, size_t n) {
  if (*cap >= n) return *p;
  free(*p);
  *p = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
  *cap = *p ? n : 0;
  return *p;
}

/* B's panel j0..j0+nr (nr <= NR) of rows k0..k0+kc into dst[k * NR + j], zeros past nr. */
static void pack_b_panel(float *dst, const float *B, int ldb, int tb, int k0, int kc, int j0, int nr) {
  if (!tb) {
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
    for (int k = 0; k < kc; k++) {
      const float *src = B + (int64_t)(k0 + k) * ldb + j0;
      _mm512_store_ps(dst + k * NR, _mm512_maskz_loadu_ps(m0, src));
      _mm512_store_ps(dst + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
  } else {
    /* op(B)(k, j) = B[j * ldb + k]: each of the panel's columns is a contiguous row of B, so each
     * row of the panel is gathered (offsets j ldb: sgemm_avx512 checks that 31 ldb fits an int) */
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i idx0 = _mm512_mullo_epi32(lane, _mm512_set1_epi32(ldb));
    const __m512i idx1 = _mm512_add_epi32(idx0, _mm512_set1_epi32(16 * ldb));
    const float *src = B + (int64_t)j0 * ldb + k0;
    for (int k = 0; k < kc; k++) {
      _mm512_store_ps(dst + k * NR, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m0, idx0, src + k, 4));
      _mm512_store_ps(dst + k * NR + 16, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m1, idx1, src + k, 4));
    }
  }
}

/* op(A)'s rows i0..i1, columns k0..k0+kc, for a transposed A (op(A)(i, k) = A[k * lda + i]), as
 * panels of MR rows: panel q at dst + q AS KC, its element (i, k) at [k * AS + i], zeros past the
 * last row. k is the outer loop, so each k reads the block's i1 - i0 floats of A's row k in one
 * sweep (a panel at a time, each k read one 48-byte piece of a row 4 lda bytes from the next:
 * the weight gradients' products 1-22% slower, bench/NOTES.md). An A that is not transposed is
 * read in place (tile_rows). */
static void pack_at_block(float *dst, int KC, const float *A, int lda, int k0, int kc, int i0, int i1) {
  const int mp = (i1 - i0 + MR - 1) / MR;
  const __mmask16 all = (__mmask16)((1u << AS) - 1);
  for (int k = 0; k < kc; k++) {
    const float *src = A + (int64_t)(k0 + k) * lda + i0;
    for (int q = 0; q < mp; q++) {
      const int mr = i1 - i0 - q * MR < MR ? i1 - i0 - q * MR : MR;
      const __mmask16 m = (__mmask16)((1u << mr) - 1);
      _mm512_mask_storeu_ps(dst + (size_t)q * AS * KC + k * AS, all, _mm512_maskz_loadu_ps(m, src + q * MR));
    }
  }
}

/* The 12 x 32 tile: acc[i][j] = sum_k A(i, k) b[k][j], A's element (i, k) at a[i * ars + k * aks]
 * (a packed panel: ars = 1, aks = MR; A's own rows: ars = lda, aks = 1); then, for the mr x nr
 * corner that exists, C = alpha acc + C on a later block of k, and on the first one
 * C = alpha acc + bias[j] with a bias, else alpha acc + beta C (beta == 0: C is not read). Rows
 * past mr are read from row mr - 1 and never stored. */
static inline __attribute__((always_inline)) void tile(int kc, const float *a, int64_t ars, int aks,
                                                       const float *restrict b, float *C, int ldc, int mr, int nr,
                                                       float alpha, float beta, const float *bias, int first) {
  __m512 c0[MR], c1[MR];
  const float *ar[MR];
#pragma GCC unroll 12
  for (int r = 0; r < MR; r++) {
    c0[r] = c1[r] = _mm512_setzero_ps();
    ar[r] = a + (r < mr ? r : mr - 1) * ars;
  }
  /* C's lines for the store at the end, asked for now so that they arrive during the k loop: a C
   * larger than the caches (the full head's 64 MB of logits) otherwise stalls each tile on its 24
   * line misses (2048 x 8192 x 256: +7%, bench/NOTES.md) */
#pragma GCC unroll 12
  for (int r = 0; r < MR; r++) {
    if (r >= mr) break;
    __builtin_prefetch(C + (int64_t)r * ldc, 1, 3);
    __builtin_prefetch(C + (int64_t)r * ldc + 16, 1, 3);
  }
  for (int k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_load_ps(b + k * NR), b1 = _mm512_load_ps(b + k * NR + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
      const __m512 x = _mm512_set1_ps(ar[r][k * aks]);
      c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);
    }
  }
  const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
  const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(first ? beta : 1.0f);
  const int with_bias = first && bias, read_c = !with_bias && !(first && beta == 0.0f);
  __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
  if (with_bias) {
    bias0 = _mm512_maskz_loadu_ps(m0, bias);
    bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
  }
#pragma GCC unroll 12
  for (int r = 0; r < MR; r++) {
    if (r >= mr) break;
    float *c = C + (int64_t)r * ldc;
    __m512 v0 = _mm512_mul_ps(va, c0[r]), v1 = _mm512_mul_ps(va, c1[r]);
    if (with_bias) {
      v0 = _mm512_add_ps(v0, bias0);
      v1 = _mm512_add_ps(v1, bias1);
    } else if (read_c) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), v1);
    }
    _mm512_mask_storeu_ps(c, m0, v0);
    _mm512_mask_storeu_ps(c + 16, m1, v1);
  }
}

static void tile_packed(int kc, const float *a, const float *b, float *C, int ldc, int mr, int nr, float alpha,
                        float beta, const float *bias, int first) {
  tile(kc, a, 1, AS, b, C, ldc, mr, nr, alpha, beta, bias, first);
}

static void tile_rows(int kc, const float *a, int lda, const float *b, float *C, int ldc, int mr, int nr,
                      float alpha, float beta, const float *bias, int first) {
  tile(kc, a, lda, 1, b, C, ldc, mr, nr, alpha, beta, bias, first);
}

/* Splits K into blocks of at most KC_MAX, of equal size (multiples of 8 but the last). */
static int kc_block(int K) {
  int nb = (K + KC_MAX - 1) / KC_MAX;
  int kc = (K + nb - 1) / nb;
  return (kc + 7) & ~7;
}

/* One thread's packing buffers for its part: rows i0..i1, column panels p0..p1. */
static int part_bufs(int ta, int i0, int i1, int p0, int p1, int KC, float **bp, float **ap) {
  pack_bufs *pb = &tls_bufs;
  const int pcap = p1 - p0 < NC / NR ? p1 - p0 : NC / NR;
  const int mcap = i1 - i0 < MC ? i1 - i0 : MC;
  *bp = grow(&pb->b, &pb->b_cap, (size_t)pcap * NR * KC);
  *ap = ta ? grow(&pb->a, &pb->a_cap, (size_t)((mcap + MR - 1) / MR) * AS * KC) : NULL;
  return *bp && (!ta || *ap) ? 0 : -1;
}

/* One thread's part: rows i0..i1 and the column panels p0..p1 of C, every k, in its own packing
 * buffers (no barriers: the threads never share a buffer). */
static void gemm_part(int ta, int tb, int i0, int i1, int p0, int p1, int N, int K, int KC, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, const float *bias, float *C,
                      int ldc, float *bp, float *ap) {
  const int pcap = p1 - p0 < NC / NR ? p1 - p0 : NC / NR;
  for (int pj = p0; pj < p1; pj += pcap) {
    const int np = p1 - pj < pcap ? p1 - pj : pcap;
    for (int pc = 0; pc < K; pc += KC) {
      const int kc = K - pc < KC ? K - pc : KC, first = pc == 0;
      /* with one block of rows, each B panel is packed just before its tiles use it (still in L1) */
      const int one_block = i1 - i0 <= MC;
      for (int p = 0; p < np && !one_block; p++) {
        const int j0 = (pj + p) * NR, nr = N - j0 < NR ? N - j0 : NR;
        pack_b_panel(bp + (size_t)p * NR * KC, B, ldb, tb, pc, kc, j0, nr);
      }
      for (int ic = i0; ic < i1; ic += MC) {
        const int mc = i1 - ic < MC ? i1 - ic : MC, mp = (mc + MR - 1) / MR;
        if (ta) pack_at_block(ap, KC, A, lda, pc, kc, ic, ic + mc);
        /* The tiles' order: each B panel across all the A tiles (the panel in L1), or, for an A
         * read in place whose packed panels fit in L2, each A tile across all the panels (the
         * tile's 12 rows in L1 and the packed panels streaming from L2; its rows from A's own
         * strided rows are the harder stream to keep: dX and forward products up to +12%,
         * bench/NOTES.md). Tiles never share an output: the same bits in either order. */
        const int a_outer = !ta && !one_block && (size_t)np * NR * KC * sizeof(float) <= B_IN_L2;
        for (int t = 0; t < np * mp; t++) {
          const int p = a_outer ? t % np : t / mp, q = a_outer ? t / np : t % mp;
          const int j0 = (pj + p) * NR, nr = N - j0 < NR ? N - j0 : NR;
          const float *b = bp + (size_t)p * NR * KC;
          if (one_block && q == 0) pack_b_panel(bp + (size_t)p * NR * KC, B, ldb, tb, pc, kc, j0, nr);
          const int r0 = ic + q * MR, mr = i1 - r0 < MR ? i1 - r0 : MR;
          float *c = C + (int64_t)r0 * ldc + j0;
          const float *bj = bias ? bias + j0 : NULL;
          if (ta) tile_packed(kc, ap + (size_t)q * AS * KC, b, c, ldc, mr, nr, alpha, beta, bj, first);
          else tile_rows(kc, A + (int64_t)r0 * lda + pc, lda, b, c, ldc, mr, nr, alpha, beta, bj, first);
        }
      }
    }
  }
}

int sgemm_avx512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, const float *bias, float *C, int ldc) {
  if (M <= 0 || N <= 0) return 0;
  if (K <= 0) {
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        float *c = C + (int64_t)i * ldc + j;
        *c = bias ? bias[j] : beta == 0.0f ? 0.0f : beta * *c;
      }
    return 0;
  }
  /* a transposed B is gathered with 32-bit offsets up to 31 ldb */
  if (tb && (int64_t)ldb * (NR - 1) > INT32_MAX) return -1;
  const int KC = kc_block(K), np = (N + NR - 1) / NR, mt = (M + MR - 1) / MR;
  int failed = 0;
  /* Threads take column panels when there are enough of them, else row tiles; a transposed A,
   * which each thread packs for its own part, is split by rows when it is the larger operand to
   * pack (each thread then packs all of B instead: K N rather than M K floats twice). Every
   * thread has its buffers before any writes C, so a failure leaves C as it was. */
#pragma omp parallel if (!omp_in_parallel() && (int64_t)M * N * K >= (int64_t)1 << 18)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int i0 = 0, i1 = M, p0 = 0, p1 = np;
    const int by_rows = mt >= nt && (np < 2 * nt || (ta && M > N && mt >= 2 * nt));
    if (!by_rows) {
      p0 = (int)((int64_t)np * t / nt);
      p1 = (int)((int64_t)np * (t + 1) / nt);
    } else {
      i0 = (int)((int64_t)mt * t / nt) * MR;
      i1 = (int)((int64_t)mt * (t + 1) / nt) * MR;
      if (i1 > M) i1 = M;
    }
    float *bp = NULL, *ap = NULL;
    const int mine = i0 < i1 && p0 < p1;
    if (mine && part_bufs(ta, i0, i1, p0, p1, KC, &bp, &ap) != 0) {
#pragma omp atomic write
      failed = 1;
    }
    if (nt > 1) {
#pragma omp barrier
    }
    int stop;
#pragma omp atomic read
    stop = failed;
    if (mine && !stop) gemm_part(ta, tb, i0, i1, p0, p1, N, K, KC, alpha, A, lda, B, ldb, beta, bias, C, ldc, bp, ap);
  }
  return failed ? -1 : 0;
}
#endif
