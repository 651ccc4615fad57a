/* Embedding lookups. Forward: one thread per output element. Backward: a scatter-add where rows
 * with the same id collide, so instead of atomics each thread owns one column of one table and
 * walks the rows in order (the reference's order: the same bits, run to run and against it). */
#include "cuda/cuda_ops.h"
#include "cuda/storage.cuh"

/* tables of dtype dt, each element converted exactly to fp32 */
static __global__ void embed_forward_kernel(float *out, const int32_t *ids, const int32_t *pos,
                                            const int32_t *tt, const void *wte, const void *wpe,
                                            const void *wtt, int dt, int BT, int C) {
  CUDA_FOR(i, (int64_t)BT * C) {
    int64_t r = i / C, c = i % C;
    float v = storage_load(wte, dt, (int64_t)ids[r] * C + c);
    if (wpe) v += storage_load(wpe, dt, (int64_t)pos[r] * C + c);
    if (wtt) v += storage_load(wtt, dt, (int64_t)(tt ? tt[r] : 0) * C + c);
    out[i] = v;
  }
}

/* thread (table k, column c): table k's gradient column c += dout[r][c] for r in order */
static __global__ void embed_backward_kernel(float *dwte, float *dwpe, float *dwtt,
                                             const float *dout, const int32_t *ids,
                                             const int32_t *pos, const int32_t *tt, int BT, int C) {
  CUDA_FOR(i, 3 * (int64_t)C) {
    int k = (int)(i / C), c = (int)(i % C);
    float *g = k == 0 ? dwte : k == 1 ? dwpe : dwtt;
    const int32_t *idx = k == 0 ? ids : k == 1 ? pos : tt;
    if (!g) continue;
    for (int r = 0; r < BT; r++) {
      int row = idx ? idx[r] : 0; /* token types default to 0 */
      g[(int64_t)row * C + c] += dout[(int64_t)r * C + c];
    }
  }
}

void embed_forward_ex_cuda(ordo_ctx *ctx, float *out, const int32_t *ids, const int32_t *pos,
                           const int32_t *tt, const void *wte, const void *wpe, const void *wtt,
                           ordo_dtype dt, int BT, int C) {
  ORDO_CHECK(wpe == NULL || pos != NULL);
  ORDO_CHECKF(dtype_is_storage(dt), "embed_forward_ex: tables of %s (expected F32/BF16/F16)",
              dtype_name(dt));
  CUDA_LAUNCH_1D(embed_forward_kernel, (int64_t)BT * C, out, ids, pos, tt, wte, wpe, wtt, (int)dt,
                 BT, C);
}

void embed_forward_cuda(ordo_ctx *ctx, float *out, const int32_t *ids, const int32_t *pos,
                        const int32_t *tt, const float *wte, const float *wpe, const float *wtt,
                        int BT, int C) {
  embed_forward_ex_cuda(ctx, out, ids, pos, tt, wte, wpe, wtt, ORDO_DT_F32, BT, C);
}

void embed_backward_cuda(ordo_ctx *ctx, float *dwte, float *dwpe, float *dwtt, const float *dout,
                         const int32_t *ids, const int32_t *pos, const int32_t *tt, int BT, int C) {
  ORDO_CHECK(dwpe == NULL || pos != NULL);
  if (BT <= 0 || C <= 0 || (!dwte && !dwpe && !dwtt)) return;
  CUDA_LAUNCH_1D(embed_backward_kernel, 3 * (int64_t)C, dwte, dwpe, dwtt, dout, ids, pos, tt, BT,
                 C);
}
