/* Multi-head attention core: per (batch, head) pair the score product S = scale * Q K^T (T, T)
 * and the value product O = P V (T, hs) are cpu_sgemm calls reading the strided q/k/v columns of
 * qkv (B, T, 3C) in place (leading dimension 3C), so nothing is copied. The pairs run in
 * parallel under OpenMP.
 *
 * Threading: the B * NH pairs are the unit of parallelism; the per-pair products are small
 * (T x T x hs: 1M multiply-adds at T = 128, hs = 64) and each runs on the calling thread:
 * cpu_sgemm inside a parallel region runs on its caller (ordo's AVX-512 products with the
 * thread's own buffers; the OpenMP build of OpenBLAS, the only one the build accepts, likewise).
 * Nothing here sets OpenBLAS's thread count: in that build openblas_set_num_threads() also sets
 * OpenMP's, so a set/restore pair around the region would run the region itself on one thread
 * and leave the program's thread count at whatever OpenBLAS last remembered (the cause of runs
 * that differed within one process).
 *
 * Masking: padded keys get probability exactly 0; the max subtracted before exp is over real
 * keys; a row with no real key gets zeros (see ref_ops.c). Each pair writes only its own rows
 * of att, its own head's columns of out and dqkv, and its own slice of scratch: no races and
 * the same bits for any thread count.
 *
 * Dropout on the probabilities (p > 0): the pair's dropped copy Pd = P * keep / (1 - p) is
 * built in its scratch slice and the value product reads Pd instead of P; att keeps P, which
 * the softmax backward needs. The mask is never stored: backward draws it again, once to
 * rebuild Pd for dV and once to mask dP (scratch holds one T x T matrix per pair, and the two
 * are needed at different times). p == 0 skips all of it and runs today's code unchanged.
 *
 * The rows form (attention_rows_forward/backward: a layer run at the MLM head's rows only) takes
 * the queries of some rows, each pair's run of them one product of nq rows instead of T, with the
 * full op's softmax and dropout counters row for row. */
#include <math.h>

#include "cpu/cpu_ops.h"
#include "cpu/vecmath.h"
#include "ordo/core.h"
#include "ordo/rng.h"

/* One softmax row in place over T scores; mask row NULL = all keys real. Vectorized: expf is
 * libmvec's (vecmath.h), called for every key and its result masked away for padding; the masked
 * and unmasked loops are written apart (a mask test inside the loop kept the compiler from
 * vectorizing the max and the sum: 2.5x slower rows). */
static void softmax_row_masked(float *p, const int32_t *m, int T) {
  float mx = -INFINITY;
  if (m) {
#pragma omp simd reduction(max : mx)
    for (int u = 0; u < T; u++) {
      float s = m[u] ? p[u] : -INFINITY;
      mx = s > mx ? s : mx;
    }
  } else {
#pragma omp simd reduction(max : mx)
    for (int u = 0; u < T; u++) mx = p[u] > mx ? p[u] : mx;
  }
  if (mx == -INFINITY) { /* no real key in this sequence */
    for (int u = 0; u < T; u++) p[u] = 0.0f;
    return;
  }
  /* three passes so that expf vectorizes (vecmath.h): clamp, exp, flush and mask */
#pragma omp simd
  for (int u = 0; u < T; u++) {
    /* a <= 0 for real keys; a padded key's score may exceed mx: clamped to 0 (no overflow),
     * its result masked below */
    float a = p[u] - mx;
    p[u] = a < VEC_EXP_MIN ? VEC_EXP_MIN : (a > 0.0f ? 0.0f : a);
  }
#pragma omp simd
  for (int u = 0; u < T; u++) p[u] = expf(p[u]);
  float sum = 0.0f;
  if (m) {
#pragma omp simd reduction(+ : sum)
    for (int u = 0; u < T; u++) {
      p[u] = (m[u] && p[u] > VEC_EXP_TINY) ? p[u] : 0.0f; /* exactly 0 for padding */
      sum += p[u];
    }
  } else {
#pragma omp simd reduction(+ : sum)
    for (int u = 0; u < T; u++) {
      p[u] = p[u] > VEC_EXP_TINY ? p[u] : 0.0f;
      sum += p[u];
    }
  }
  float inv = 1.0f / sum; /* sum >= 1: the max element contributes exp(0) */
#pragma omp simd
  for (int u = 0; u < T; u++) p[u] *= inv;
}

enum { ATT_LANES = CPU_PHILOX_LANES };

/* dst[i] = src[i] * scale where philox_uniform(seed, offset + i) >= p, else 0, for i in
 * [0, n); dst may alias src. Single-threaded: called once per (batch, head) pair from inside
 * the pairs' parallel loop. Words are drawn ATT_LANES blocks (4 * ATT_LANES words) at a time
 * from the block holding word offset. */
static void att_dropout_apply(float *dst, const float *src, float p, float scale, uint64_t seed,
                              uint64_t offset, int64_t n) {
  uint64_t blk = offset >> 2;
  int64_t i = 0;
  int skip = (int)(offset & 3); /* words of the first block before element 0 */
  const uint32_t keep_from = cpu_dropout_keep_from(p);
  while (i < n) {
    uint32_t words[4 * ATT_LANES];
    cpu_philox_words(words, blk, seed);
    int64_t m = 4 * ATT_LANES - skip; /* elements covered by these words */
    if (m > n - i) m = n - i;
    cpu_dropout_words(dst + i, src + i, words + skip, m, keep_from, scale);
    i += m;
    blk += ATT_LANES;
    skip = 0;
  }
}

void attention_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, float *scratch, const float *qkv,
                           const int32_t *mask, int causal, const float *bias, float p, uint64_t seed,
                           uint64_t offset, int B, int T, int C, int NH) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && T > 0);
  ORDO_CHECK(p >= 0.0f && p <= 1.0f && (p == 0.0f || scratch));
  const int hs = C / NH, ld = 3 * C;
  const float scale = 1.0f / sqrtf((float)hs);
  const float dscale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const int pairs = B * NH;
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < pairs; bh++) {
    int b = bh / NH, h = bh % NH;
    const float *q = qkv + (int64_t)b * T * ld + h * hs, *k = q + C, *v = q + 2 * C;
    float *P = att + (int64_t)bh * T * T;
    const int32_t *m = mask ? mask + (int64_t)b * T : NULL;
    /* P (T, T) = scale * Q (T, hs) @ K^T (hs, T) */
    cpu_sgemm(0, 1, T, T, hs, scale, q, ld, k, ld, 0.0f, NULL, P, T);
    if (bias) {
      const float *bh_bias = bias + (int64_t)h * T * T;
#pragma omp simd
      for (int64_t i = 0; i < (int64_t)T * T; i++) P[i] += bh_bias[i];
    }
    for (int t = 0; t < T; t++) {
      /* causal: keys after the query get probability exactly 0 */
      int nk = causal && t + 1 < T ? t + 1 : T;
      softmax_row_masked(P + (int64_t)t * T, m, nk);
      for (int u = nk; u < T; u++) P[(int64_t)t * T + u] = 0.0f;
    }
    const float *Pv = P; /* the matrix the value product reads: P, or its dropped copy */
    if (p > 0.0f) {
      float *Pd = scratch + (int64_t)bh * T * T;
      att_dropout_apply(Pd, P, p, dscale, seed, offset + (uint64_t)bh * T * T, (int64_t)T * T);
      Pv = Pd;
    }
    /* out head h (T, hs, row stride C) = Pv (T, T) @ V (T, hs) */
    cpu_sgemm(0, 0, T, hs, T, 1.0f, Pv, T, v, ld, 0.0f, NULL, out + (int64_t)b * T * C + h * hs, C);
  }
}

/* The softmax backward of nr rows of T in place: dS = P * (dP - rowsum(P * dP)), dS holding dP. */
static void softmax_backward_rows(float *dS, const float *P, int nr, int T) {
  for (int t = 0; t < nr; t++) {
    const float *pr = P + (int64_t)t * T;
    float *s = dS + (int64_t)t * T, pdp = 0.0f;
#pragma omp simd reduction(+ : pdp)
    for (int u = 0; u < T; u++) pdp += pr[u] * s[u];
#pragma omp simd
    for (int u = 0; u < T; u++) s[u] = pr[u] * (s[u] - pdp);
  }
}

/* Per pair, with dO the head's slice of dout and M = keep / (1 - p) (M = 1 when p == 0):
 *   dV (+)= (P * M)^T dO;  dP = (dO V^T) * M (T, T) into scratch;
 *   dS = P * (dP - rowsum(P * dP)) in place;  dQ += scale dS K;  dK += scale dS^T Q. */
void attention_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dqkv, int acc, float *dbias, float *scratch, const float *dout,
                            const float *qkv, const float *att, const int32_t *mask, float p,
                            uint64_t seed, uint64_t offset, int B, int T, int C, int NH) {
  (void)mask; /* padded keys have P == 0, which zeroes their dS and dV terms */
  ORDO_CHECK(NH > 0 && C % NH == 0 && T > 0);
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (!dqkv) return;
  const int hs = C / NH, ld = 3 * C;
  const float scale = 1.0f / sqrtf((float)hs);
  const float dscale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  /* each of a pair's dq, dk, dv slices is written by one product: beta 0 clears it in cache
   * (ORDO_OVERWRITE), where the caller's zero-fill was a pass over all of dqkv */
  const float beta = acc ? 1.0f : 0.0f;
  const int pairs = B * NH;
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < pairs; bh++) {
    int b = bh / NH, h = bh % NH;
    int64_t qoff = (int64_t)b * T * ld + h * hs;
    const float *q = qkv + qoff, *k = q + C, *v = q + 2 * C;
    float *dq = dqkv + qoff, *dk = dq + C, *dv = dq + 2 * C;
    const float *dO = dout + (int64_t)b * T * C + h * hs;
    const float *P = att + (int64_t)bh * T * T;
    float *dS = scratch + (int64_t)bh * T * T;
    const uint64_t moff = offset + (uint64_t)bh * T * T; /* this pair's mask counters */
    if (p > 0.0f) {
      /* dV first, from Pd rebuilt in scratch, which dP then overwrites */
      att_dropout_apply(dS, P, p, dscale, seed, moff, (int64_t)T * T);
      cpu_sgemm(1, 0, T, hs, T, 1.0f, dS, T, dO, C, beta, NULL, dv, ld);
      cpu_sgemm(0, 1, T, T, hs, 1.0f, dO, C, v, ld, 0.0f, NULL, dS, T);
      att_dropout_apply(dS, dS, p, dscale, seed, moff, (int64_t)T * T);
    } else {
      cpu_sgemm(0, 1, T, T, hs, 1.0f, dO, C, v, ld, 0.0f, NULL, dS, T);
      cpu_sgemm(1, 0, T, hs, T, 1.0f, P, T, dO, C, beta, NULL, dv, ld);
    }
    softmax_backward_rows(dS, P, T, T);
    cpu_sgemm(0, 0, T, hs, T, scale, dS, T, k, ld, beta, NULL, dq, ld);
    cpu_sgemm(1, 0, T, hs, T, scale, dS, T, q, ld, beta, NULL, dk, ld);
  }
  if (dbias) {
    /* each pair's dS stays in its scratch slice: summed over the batch in batch order, the
     * heads in parallel */
#pragma omp parallel for schedule(static)
    for (int h = 0; h < NH; h++)
      for (int b = 0; b < B; b++) {
        const float *dS = scratch + ((int64_t)b * NH + h) * T * T;
        float *db = dbias + (int64_t)h * T * T;
#pragma omp simd
        for (int64_t i = 0; i < (int64_t)T * T; i++) db[i] += dS[i];
      }
  }
}

/* The first index j of rows (strictly increasing, n of them) with rows[j] >= r. */
static int rows_from(const int32_t *rows, int n, int64_t r) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (rows[mid] < r) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Sequence b's run of rows (increasing): rows[j0 .. j0 + *nq), j0 returned. */
static int seq_rows(const int32_t *rows, int n, int b, int T, int *nq) {
  int j0 = rows_from(rows, n, (int64_t)b * T);
  *nq = rows_from(rows, n, (int64_t)(b + 1) * T) - j0;
  return j0;
}

/* The dropped copy of nq probability rows of pair bh (rows[j] of the batch, T keys each) with
 * attention_forward's counters for them: row t of the pair starts at offset + (bh*T + t)*T. */
static void att_dropout_rows(float *dst, const float *src, const int32_t *rows, int nq, int b,
                             int bh, int T, float p, float scale, uint64_t seed, uint64_t offset) {
  for (int i = 0; i < nq; i++) {
    int64_t t = rows[i] - (int64_t)b * T;
    att_dropout_apply(dst + (int64_t)i * T, src + (int64_t)i * T, p, scale, seed,
                      offset + ((uint64_t)bh * T + (uint64_t)t) * T, T);
  }
}

/* Per pair (b, h): the nq rows of sequence b among rows (a contiguous run j0 .. j1, rows being
 * increasing) are the queries; the products are attention_forward's with nq rows instead of T,
 * each output row the same chain of multiply-adds. */
void attention_rows_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, float *scratch,
                                const float *q, int ldq, const float *k, const float *v, int ldkv,
                                const int32_t *rows, int n, const int32_t *mask, float p,
                                uint64_t seed, uint64_t offset, int B, int T, int C, int NH) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && T > 0 && n >= 0);
  ORDO_CHECK(p >= 0.0f && p <= 1.0f && (p == 0.0f || scratch));
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
  const float dscale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const int pairs = B * NH;
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < pairs; bh++) {
    int b = bh / NH, h = bh % NH, nq, j0 = seq_rows(rows, n, b, T, &nq);
    if (nq == 0) continue;
    const float *kb = k + (int64_t)b * T * ldkv + h * hs, *vb = v + (int64_t)b * T * ldkv + h * hs;
    const int32_t *m = mask ? mask + (int64_t)b * T : NULL;
    float *P = att + ((int64_t)h * n + j0) * T;
    cpu_sgemm(0, 1, nq, T, hs, scale, q + (int64_t)j0 * ldq + h * hs, ldq, kb, ldkv, 0.0f, NULL, P,
              T);
    for (int i = 0; i < nq; i++) softmax_row_masked(P + (int64_t)i * T, m, T);
    const float *Pv = P;
    if (p > 0.0f) {
      float *Pd = scratch + ((int64_t)h * n + j0) * T;
      att_dropout_rows(Pd, P, rows + j0, nq, b, bh, T, p, dscale, seed, offset);
      Pv = Pd;
    }
    cpu_sgemm(0, 0, nq, hs, T, 1.0f, Pv, T, vb, ldkv, 0.0f, NULL, out + (int64_t)j0 * C + h * hs, C);
  }
}

void attention_rows_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dq, float *dk, float *dv,
                                 float *scratch, const float *dout, const float *q, int ldq,
                                 const float *k, const float *v, int ldkv, const float *att,
                                 const int32_t *rows, int n, float p, uint64_t seed,
                                 uint64_t offset, int B, int T, int C, int NH) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && T > 0 && n >= 0);
  ORDO_CHECK(p >= 0.0f && p <= 1.0f && scratch);
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
  const float dscale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const int pairs = B * NH;
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < pairs; bh++) {
    int b = bh / NH, h = bh % NH, nq, j0 = seq_rows(rows, n, b, T, &nq);
    int64_t kvoff = (int64_t)b * T * ldkv + h * hs;
    float *dkb = dk + kvoff, *dvb = dv + kvoff;
    if (nq == 0) { /* no query here: this sequence's keys and values had no effect */
      for (int t = 0; t < T; t++)
        for (int e = 0; e < hs; e++) dkb[(int64_t)t * ldkv + e] = dvb[(int64_t)t * ldkv + e] = 0.0f;
      continue;
    }
    const float *qb = q + (int64_t)j0 * ldq + h * hs, *kb = k + kvoff, *vb = v + kvoff;
    const float *dO = dout + (int64_t)j0 * C + h * hs;
    const float *P = att + ((int64_t)h * n + j0) * T;
    float *dS = scratch + ((int64_t)h * n + j0) * T;
    if (p > 0.0f) {
      att_dropout_rows(dS, P, rows + j0, nq, b, bh, T, p, dscale, seed, offset);
      cpu_sgemm(1, 0, T, hs, nq, 1.0f, dS, T, dO, C, 0.0f, NULL, dvb, ldkv);
      cpu_sgemm(0, 1, nq, T, hs, 1.0f, dO, C, vb, ldkv, 0.0f, NULL, dS, T);
      att_dropout_rows(dS, dS, rows + j0, nq, b, bh, T, p, dscale, seed, offset);
    } else {
      cpu_sgemm(0, 1, nq, T, hs, 1.0f, dO, C, vb, ldkv, 0.0f, NULL, dS, T);
      cpu_sgemm(1, 0, T, hs, nq, 1.0f, P, T, dO, C, 0.0f, NULL, dvb, ldkv);
    }
    softmax_backward_rows(dS, P, nq, T);
    cpu_sgemm(0, 0, nq, hs, T, scale, dS, T, kb, ldkv, 0.0f, NULL, dq + (int64_t)j0 * ldq + h * hs,
              ldq);
    cpu_sgemm(1, 0, T, hs, nq, scale, dS, T, qb, ldq, 0.0f, NULL, dkb, ldkv);
  }
}

/* Per head: S = scale Q K^T (Tq, Tk) by one sgemm, the causal softmax of each row over its
 * visible prefix, O = P V by another; heads in parallel (each writes its own columns). */
void attention_cached_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, const float *q, const float *k,
                                  const float *v, int ldq, int ldkv, int Tq, int Tk, int C,
                                  int NH) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && Tk >= Tq && Tq > 0);
  const int hs = C / NH;
  const float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for schedule(static)
  for (int h = 0; h < NH; h++) {
    float *P = att + (int64_t)h * Tq * Tk;
    cpu_sgemm(0, 1, Tq, Tk, hs, scale, q + h * hs, ldq, k + h * hs, ldkv, 0.0f, NULL, P, Tk);
    for (int i = 0; i < Tq; i++) {
      int nk = Tk - Tq + i + 1; /* keys up to the query's own position */
      softmax_row_masked(P + (int64_t)i * Tk, NULL, nk);
      for (int u = nk; u < Tk; u++) P[(int64_t)i * Tk + u] = 0.0f;
    }
    cpu_sgemm(0, 0, Tq, hs, Tk, 1.0f, P, Tk, v + h * hs, ldkv, 0.0f, NULL, out + h * hs, C);
  }
}
