/* Storage-dtype ops of both CPU backends: convert, and gemm_ex, the typed linear layer
 * (matmul_forward_ex / matmul_backward_ex) and the typed embedding lookup (embed_forward_ex) as
 * conversions around the backend's own fp32 gemm, matmul and embed ops, so a product on 16-bit operands has exactly the bits of the fp32 product on the
 * same values held as rounded float arrays. */
#include "cpu/cpu_ops.h"
#include "ordo/core.h"

enum { CONVERT_BLOCK = 16384 }; /* elements per parallel task */

void convert_ref(ordo_ctx *ctx ORDO_UNUSED, void *dst, ordo_dtype dst_dt, const void *src,
                 ordo_dtype src_dt, int64_t N) {
  ORDO_CHECK(N >= 0);
  storage_convert_n(dst, dst_dt, src, src_dt, (size_t)N);
}

void convert_cpu(ordo_ctx *ctx ORDO_UNUSED, void *dst, ordo_dtype dst_dt, const void *src,
                 ordo_dtype src_dt, int64_t N) {
  ORDO_CHECK(N >= 0);
  int64_t nblk = (N + CONVERT_BLOCK - 1) / CONVERT_BLOCK;
#pragma omp parallel for schedule(static) if (nblk > 1)
  for (int64_t b = 0; b < nblk; b++) {
    int64_t i0 = b * CONVERT_BLOCK, n = N - i0 < CONVERT_BLOCK ? N - i0 : CONVERT_BLOCK;
    storage_convert_n(dtype_at(dst, dst_dt, i0), dst_dt, dtype_at_c(src, src_dt, i0), src_dt,
                      (size_t)n);
  }
}

/* A stored (rows, ld) matrix as fp32: the operand itself when it is fp32, else a converted
 * copy (freed by the caller when it differs from the operand). */
static float *as_f32(void (*conv)(ordo_ctx *, void *, ordo_dtype, const void *, ordo_dtype, int64_t),
                     const void *p, ordo_dtype dt, int64_t rows, int ld) {
  if (dt == ORDO_DT_F32) return (float *)p;
  if (!p) return NULL;
  float *f = ordo_malloc((size_t)(rows * ld > 0 ? rows * ld : 1) * sizeof(float));
  conv(NULL, f, ORDO_DT_F32, p, dt, rows * ld);
  return f;
}

static void cpu_gemm_ex_via(
    void (*gemm)(ordo_ctx *, int, int, int, int, int, float, const float *, int, const float *,
                 int, float, float *, int),
    void (*conv)(ordo_ctx *, void *, ordo_dtype, const void *, ordo_dtype, int64_t), int ta,
    int tb, int M, int N, int K, float alpha, const void *A, int lda, const void *B, int ldb,
    ordo_dtype ab_dt, float beta, void *C, int ldc, ordo_dtype c_dt) {
  ORDO_CHECKF(dtype_is_storage(ab_dt) && (c_dt == ORDO_DT_F32 || c_dt == ab_dt),
              "gemm_ex: operands %s, result %s (expected F32/BF16/F16 operands, result F32 or "
              "theirs)", dtype_name(ab_dt), dtype_name(c_dt));
  ORDO_CHECK(M >= 0 && N >= 0 && K >= 0);
  if (M == 0 || N == 0) return;
  float *a = as_f32(conv, A, ab_dt, ta ? K : M, lda), *b = as_f32(conv, B, ab_dt, tb ? N : K, ldb);
  float *c = (float *)C;
  if (c_dt != ORDO_DT_F32) { /* C's first N columns per row in fp32 (read only when beta != 0) */
    c = ordo_calloc((size_t)M * N, sizeof(float));
    if (beta != 0.0f)
      for (int i = 0; i < M; i++)
        conv(NULL, c + (size_t)i * N, ORDO_DT_F32, dtype_at_c(C, c_dt, (int64_t)i * ldc), c_dt, N);
  }
  gemm(NULL, ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, c_dt == ORDO_DT_F32 ? ldc : N);
  if (c_dt != ORDO_DT_F32) {
    for (int i = 0; i < M; i++)
      conv(NULL, dtype_at(C, c_dt, (int64_t)i * ldc), c_dt, c + (size_t)i * N, ORDO_DT_F32, N);
    free(c);
  }
  if (a != A) free(a);
  if (b != B) free(b);
}

void gemm_ex_ref(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
                 const void *A, int lda, const void *B, int ldb, ordo_dtype ab_dt, float beta,
                 void *C, int ldc, ordo_dtype c_dt) {
  cpu_gemm_ex_via(gemm_ref, convert_ref, ta, tb, M, N, K, alpha, A, lda, B, ldb, ab_dt, beta, C,
                  ldc, c_dt);
}

void gemm_ex_cpu(ordo_ctx *ctx ORDO_UNUSED, int ta, int tb, int M, int N, int K, float alpha,
                 const void *A, int lda, const void *B, int ldb, ordo_dtype ab_dt, float beta,
                 void *C, int ldc, ordo_dtype c_dt) {
  cpu_gemm_ex_via(gemm_cpu, convert_cpu, ta, tb, M, N, K, alpha, A, lda, B, ldb, ab_dt, beta, C,
                  ldc, c_dt);
}

/* Frees a converted copy (not the operand itself). */
static void free_copy(const float *f, const void *operand) {
  if (f != operand) free((void *)f);
}

/* The typed linear layer through the table's own ops: operands converted with its convert, the
 * product by its matmul_forward / matmul_backward, a 16-bit out or dinp held in fp32 meanwhile. */
static void cpu_matmul_forward_ex_via(const ordo_ops *o, void *out, ordo_dtype out_dt,
                                      const void *inp, const void *w, const void *bias,
                                      ordo_dtype dt, int N, int IN, int OUT) {
  ORDO_CHECKF(dtype_is_storage(dt) && (out_dt == ORDO_DT_F32 || out_dt == dt),
              "matmul_forward_ex: operands %s, output %s (expected F32/BF16/F16 operands, output "
              "F32 or theirs)", dtype_name(dt), dtype_name(out_dt));
  ORDO_CHECK(N >= 0 && IN > 0 && OUT > 0);
  if (N == 0) return;
  const float *x = as_f32(o->convert, inp, dt, N, IN), *wf = as_f32(o->convert, w, dt, OUT, IN);
  const float *bf = as_f32(o->convert, bias, dt, 1, OUT);
  float *of = out_dt == ORDO_DT_F32 ? out : ordo_malloc((size_t)N * OUT * sizeof(float));
  o->matmul_forward(NULL, of, x, wf, bf, N, IN, OUT);
  if (of != out) {
    o->convert(NULL, out, out_dt, of, ORDO_DT_F32, (int64_t)N * OUT);
    free(of);
  }
  free_copy(x, inp), free_copy(wf, w), free_copy(bf, bias);
}

static void cpu_matmul_backward_ex_via(const ordo_ops *o, void *dinp, ordo_dtype dinp_dt,
                                       float *dw, float *dbias, const void *dout, const void *inp,
                                       const void *w, ordo_dtype dt, int N, int IN, int OUT) {
  ORDO_CHECKF(dtype_is_storage(dt) && (dinp_dt == ORDO_DT_F32 || dinp_dt == dt),
              "matmul_backward_ex: operands %s, input gradient %s (expected F32/BF16/F16 "
              "operands, input gradient F32 or theirs)", dtype_name(dt), dtype_name(dinp_dt));
  ORDO_CHECK(N >= 0 && IN > 0 && OUT > 0);
  if (N == 0) return;
  const float *d = as_f32(o->convert, dout, dt, N, OUT);
  const float *x = dw ? as_f32(o->convert, inp, dt, N, IN) : NULL;
  const float *wf = dinp ? as_f32(o->convert, w, dt, OUT, IN) : NULL;
  float *gi = dinp_dt == ORDO_DT_F32 ? dinp : as_f32(o->convert, dinp, dinp_dt, N, IN);
  o->matmul_backward(NULL, gi, dw, dbias, d, x, wf, N, IN, OUT);
  if (gi != dinp) {
    o->convert(NULL, dinp, dinp_dt, gi, ORDO_DT_F32, (int64_t)N * IN);
    free(gi);
  }
  free_copy(d, dout), free_copy(x, inp), free_copy(wf, w);
}

void matmul_forward_ex_ref(ordo_ctx *ctx ORDO_UNUSED, void *out, ordo_dtype out_dt,
                           const void *inp, const void *w, const void *bias, ordo_dtype dt, int N,
                           int IN, int OUT) {
  cpu_matmul_forward_ex_via(ops_cpu_ref(), out, out_dt, inp, w, bias, dt, N, IN, OUT);
}
void matmul_forward_ex_cpu(ordo_ctx *ctx ORDO_UNUSED, void *out, ordo_dtype out_dt,
                           const void *inp, const void *w, const void *bias, ordo_dtype dt, int N,
                           int IN, int OUT) {
  cpu_matmul_forward_ex_via(ops_cpu(), out, out_dt, inp, w, bias, dt, N, IN, OUT);
}
void matmul_backward_ex_ref(ordo_ctx *ctx ORDO_UNUSED, void *dinp, ordo_dtype dinp_dt, float *dw,
                            float *dbias, const void *dout, const void *inp, const void *w,
                            ordo_dtype dt, int N, int IN, int OUT) {
  cpu_matmul_backward_ex_via(ops_cpu_ref(), dinp, dinp_dt, dw, dbias, dout, inp, w, dt, N, IN,
                             OUT);
}
void matmul_backward_ex_cpu(ordo_ctx *ctx ORDO_UNUSED, void *dinp, ordo_dtype dinp_dt, float *dw,
                            float *dbias, const void *dout, const void *inp, const void *w,
                            ordo_dtype dt, int N, int IN, int OUT) {
  cpu_matmul_backward_ex_via(ops_cpu(), dinp, dinp_dt, dw, dbias, dout, inp, w, dt, N, IN, OUT);
}

/* The lookup through the table's own embed_forward: the BT rows each table contributes, converted
 * to fp32 (BT x C floats a table, not the table), then looked up as rows 0 .. BT - 1 of those:
 * the op's own sums of the same values. */
static void cpu_embed_forward_ex_via(const ordo_ops *o, float *out, const int32_t *ids,
                                     const int32_t *pos, const int32_t *tt, const void *wte,
                                     const void *wpe, const void *wtt, ordo_dtype dt, int BT,
                                     int C) {
  if (dt == ORDO_DT_F32) {
    o->embed_forward(NULL, out, ids, pos, tt, wte, wpe, wtt, BT, C);
    return;
  }
  ORDO_CHECKF(dtype_is_storage(dt), "embed_forward_ex: tables of %s (expected F32/BF16/F16)",
              dtype_name(dt));
  ORDO_CHECK(wpe == NULL || pos != NULL);
  ORDO_CHECK(BT >= 0 && C > 0);
  const void *tab[3] = {wte, wpe, wtt};
  const int32_t *idx[3] = {ids, pos, tt};
  float *rows[3] = {NULL, NULL, NULL};
  int32_t *seq = ordo_malloc((size_t)(BT > 0 ? BT : 1) * sizeof(int32_t));
  for (int r = 0; r < BT; r++) seq[r] = r;
  for (int k = 0; k < 3; k++) {
    if (!tab[k]) continue;
    rows[k] = ordo_malloc((size_t)(BT > 0 ? BT : 1) * C * sizeof(float));
    for (int r = 0; r < BT; r++) /* token types default to 0, as embed_forward's */
      storage_convert_n(rows[k] + (size_t)r * C, ORDO_DT_F32,
                        dtype_at_c(tab[k], dt, (int64_t)(idx[k] ? idx[k][r] : 0) * C), dt,
                        (size_t)C);
  }
  o->embed_forward(NULL, out, seq, seq, seq, rows[0], rows[1], rows[2], BT, C);
  for (int k = 0; k < 3; k++) free(rows[k]);
  free(seq);
}

void embed_forward_ex_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const int32_t *ids,
                          const int32_t *pos, const int32_t *tt, const void *wte, const void *wpe,
                          const void *wtt, ordo_dtype dt, int BT, int C) {
  cpu_embed_forward_ex_via(ops_cpu_ref(), out, ids, pos, tt, wte, wpe, wtt, dt, BT, C);
}
void embed_forward_ex_cpu(ordo_ctx *ctx ORDO_UNUSED, float *out, const int32_t *ids,
                          const int32_t *pos, const int32_t *tt, const void *wte, const void *wpe,
                          const void *wtt, ordo_dtype dt, int BT, int C) {
  cpu_embed_forward_ex_via(ops_cpu(), out, ids, pos, tt, wte, wpe, wtt, dt, BT, C);
}
