/* The fused attention's kernels (src/cuda/flash_attention_kernels.cuh) run on the CPU through
 * tests/emu/cuda_emu.h, against the plain reference (ops_cpu_ref) on bf16-valued inputs: padded
 * sequences (lengths 37, 20, 1 and one of none), causal and not, dropout (the op's draw), the
 * backward's ORDO_ACCUMULATE, several tiles per sequence (T 150), head sizes 32, 64 and 128. The
 * same launches as flash_attention.cu's; the GPU run itself is tests/cuda/test_flash_attention.c.
 * Tolerance 1e-2: the reasons of tests/cuda/test_flash_attention.c (bf16 P, dS and outputs, D
 * from the bf16 output); a wrong index, mask or scale gives errors of order 1. */
#include "cuda_emu.h"

namespace {
__attribute__((aligned(128))) unsigned char fa_smem[EMU_SMEM_BYTES];
}
#include "cuda/philox.cuh"
#include "cuda/flash_attention_kernels.cuh"

extern "C" {
#include "check.h"
#include "ordo/ops.h"
#include "ordo/rng.h"
}

#define TOL_FLASH 1e-2

typedef __nv_bfloat16 bfv;

static std::vector<float> rand_bf16(ordo_rng *r, int64_t n, float lo, float hi) {
  std::vector<float> v((size_t)n);
  for (auto &x : v) x = bf16_to_f32(f32_to_bf16(lo + (hi - lo) * rng_uniform(r)));
  return v;
}
static std::vector<bfv> to_bf16(const std::vector<float> &v) {
  std::vector<bfv> o(v.size());
  for (size_t i = 0; i < v.size(); i++) o[i] = __float2bfloat16(v[i]);
  return o;
}
static std::vector<float> to_f32(const std::vector<bfv> &v) {
  std::vector<float> o(v.size());
  for (size_t i = 0; i < v.size(); i++) o[i] = __bfloat162float(v[i]);
  return o;
}

/* Column block `which` (0 q, 1 k, 2 v) of a (BT, 3C) array. */
static std::vector<float> block_of(const std::vector<float> &x, int which, int C) {
  std::vector<float> o;
  for (size_t i = 0; i < x.size(); i++)
    if ((int)(i % (3 * (size_t)C)) / C == which) o.push_back(x[i]);
  return o;
}

/* The fused forward and backward through the emulation (flash_attention.cu's launches); lse and
 * the gradient start as given (acc: added to). */
template <int HD>
static void emu_flash(std::vector<bfv> &out, std::vector<float> &lse, std::vector<bfv> &grad,
                      const std::vector<bfv> &qkv, const std::vector<bfv> &dout,
                      const int32_t *mask, int causal, float p, uint64_t seed, uint64_t off,
                      int acc, int B, int T, int NH) {
  const int C = NH * HD;
  const float scale = 1.0f / sqrtf((float)HD), dscale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const unsigned gx = (unsigned)((T + FA_BLOCK - 1) / FA_BLOCK), gy = (unsigned)(B * NH);
  static_assert(fa_dims<HD>::BWD_KV <= EMU_SMEM_BYTES && fa_dims<HD>::FWD <= EMU_SMEM_BYTES &&
                    fa_dims<HD>::BWD_Q <= EMU_SMEM_BYTES,
                "the emulated shared memory holds every kernel's");
  std::vector<float> delta((size_t)B * NH * T);
  emu_launch(gx, gy, FA_THREADS, fa_smem, [&] {
    flash_fwd_kernel<HD>(out.data(), lse.data(), qkv.data(), mask, causal, p, dscale, seed, off, T,
                         C, NH, scale);
  });
  const int64_t rows = (int64_t)B * NH * T;
  emu_launch(1, 1, 32, fa_smem, [&] {
    flash_delta_kernel(delta.data(), dout.data(), out.data(), T, C, NH, HD, rows);
  });
  emu_launch(gx, gy, FA_THREADS, fa_smem, [&] {
    flash_bwd_kv_kernel<HD>(grad.data(), acc, dout.data(), qkv.data(), lse.data(), delta.data(),
                            mask, causal, p, dscale, seed, off, T, C, NH, scale);
  });
  emu_launch(gx, gy, FA_THREADS, fa_smem, [&] {
    flash_bwd_q_kernel<HD>(grad.data(), acc, dout.data(), qkv.data(), lse.data(), delta.data(),
                           mask, causal, p, dscale, seed, off, T, C, NH, scale);
  });
}

/* lens[b]: sequence b's real tokens (NULL: all T). */
template <int HD>
static void emu_case(ordo_rng *r, int B, int T, int NH, int causal, float p, const int *lens,
                     int acc) {
  const int C = NH * HD;
  const int64_t nqkv = (int64_t)B * T * 3 * C, nout = (int64_t)B * T * C;
  const int64_t nrow = (int64_t)B * NH * T, natt = nrow * T;
  const uint64_t seed = 1234, off = 987654321;
  std::vector<int32_t> mask((size_t)B * T);
  int empty_rows = 0;
  for (int b = 0; b < B; b++) {
    int len = lens ? lens[b] : T;
    empty_rows += len == 0 ? NH * T : 0;
    for (int t = 0; t < T; t++) mask[(size_t)b * T + t] = t < len;
  }
  std::vector<float> qkv = rand_bf16(r, nqkv, -2, 2), dout = rand_bf16(r, nout, -1, 1);
  std::vector<float> g0 = acc ? rand_bf16(r, nqkv, -1, 1) : std::vector<float>((size_t)nqkv);

  std::vector<float> out((size_t)nout), att((size_t)natt), scr((size_t)natt), grad((size_t)nqkv);
  const ordo_ops *R = ops_cpu_ref();
  R->attention_forward(NULL, out.data(), att.data(), scr.data(), qkv.data(), mask.data(), causal,
                       NULL, p, seed, off, B, T, C, NH);
  R->attention_backward(NULL, grad.data(), ORDO_OVERWRITE, NULL, scr.data(), dout.data(),
                        qkv.data(), att.data(), mask.data(), p, seed, off, B, T, C, NH);
  for (int64_t i = 0; i < nqkv; i++) grad[i] += g0[i];

  std::vector<bfv> fout((size_t)nout, __float2bfloat16(NAN)), fgrad = to_bf16(g0);
  std::vector<float> lse((size_t)nrow, NAN);
  emu_flash<HD>(fout, lse, fgrad, to_bf16(qkv), to_bf16(dout), mask.data(), causal, p, seed, off,
                acc, B, T, NH);

  printf("B %d T %d NH %d head %d%s p %g%s:", B, T, NH, HD, causal ? " causal" : "", (double)p,
         acc ? " accumulate" : "");
  std::vector<float> fo = to_f32(fout), fg = to_f32(fgrad);
  double e = rel_err_f32(fo.data(), out.data(), nout);
  printf(" out %.3g", e);
  EXPECT(e <= TOL_FLASH, "out: rel err %.3g > %g", e, TOL_FLASH);
  const char *names[3] = {"dq", "dk", "dv"};
  for (int k = 0; k < 3; k++) {
    std::vector<float> g = block_of(fg, k, C), w = block_of(grad, k, C);
    e = rel_err_f32(g.data(), w.data(), (int64_t)g.size());
    printf(" %s %.3g", names[k], e);
    EXPECT(e <= TOL_FLASH, "%s: rel err %.3g > %g", names[k], e, TOL_FLASH);
  }
  int inf = 0, nonfinite = 0;
  for (float x : lse) inf += isinf(x) && x < 0, nonfinite += !isfinite(x);
  printf(" lse -inf rows %d of %lld\n", inf, (long long)nrow);
  EXPECT(inf == empty_rows && nonfinite == inf, "lse: %d rows -inf, %d non-finite, %d expected",
         inf, nonfinite, empty_rows);
}

int main() {
  ordo_rng r;
  rng_init(&r, 2026);
  printf("fused attention kernels, emulated on the CPU, vs the reference:\n");
  const int l3[3] = {37, 20, 1}, l2[2] = {0, 11}, l150[2] = {150, 90};
  emu_case<64>(&r, 3, 37, 2, 0, 0.0f, l3, 0);
  emu_case<64>(&r, 3, 37, 2, 1, 0.1f, l3, 0);
  emu_case<64>(&r, 2, 37, 2, 1, 0.1f, l2, 1);
  emu_case<64>(&r, 2, 150, 2, 1, 0.0f, l150, 0);
  emu_case<64>(&r, 1, 150, 2, 0, 0.1f, NULL, 1);
  emu_case<32>(&r, 2, 77, 2, 0, 0.0f, NULL, 0);
  emu_case<128>(&r, 1, 77, 2, 1, 0.1f, NULL, 1);
  return test_summary();
}
