/* The CUDA backend's reductions (src/cuda/reduce_kernels.cuh: LayerNorm's dw/db over row chunks,
 * the block sums of squares read through shared-memory tiles) run on the CPU through
 * tests/emu/cuda_emu.h, against the plain reference (ops_cpu_ref): dw and db within 1e-5
 * relative (the chunked order against the reference's one pass: float rounding only, about
 * sqrt(rows) * 6e-8; a dropped row or chunk gives > 1e-3), the sums of squares bit for bit (the
 * same sequential double fma per block, which the trainer's norm and ZeRO rely on). Odd sizes:
 * one row, columns not a multiple of 32, chunks of a few rows (many chunks), blocks shorter than
 * the tile, a last block cut short. */
#include "cuda_emu.h"

#undef __shared__
#define __shared__ static /* the block's shared arrays: one copy that every emulated thread sees */
static inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }

#include "cuda/reduce_kernels.cuh"

extern "C" {
#include "check.h"
#include "ordo/ops.h"
#include "ordo/rng.h"
}

namespace {
__attribute__((aligned(128))) unsigned char emu_smem_bytes[EMU_SMEM_BYTES];
}

static std::vector<float> rand_vec(ordo_rng *r, int64_t n, float lo, float hi) {
  std::vector<float> v((size_t)n);
  for (auto &x : v) x = lo + (hi - lo) * rng_uniform(r);
  return v;
}

/* layernorm_backward_cuda's dw/db launches, through the emulation */
static void emu_dparams(float *dw, float *db, const float *dout, const float *inp,
                        const float *mean, const float *rstd, int N, int C, int chunk) {
  const int nchunks = (N + chunk - 1) / chunk;
  std::vector<float> pw((size_t)nchunks * C, NAN), pb((size_t)nchunks * C, NAN);
  emu_launch((unsigned)((C + LN_COLS - 1) / LN_COLS), (unsigned)nchunks, LN_THREADS, emu_smem_bytes,
             [&] { layernorm_dparams_part_kernel(pw.data(), pb.data(), dout, inp, mean, rstd, N, C, chunk); });
  emu_launch(2, 1, 64, emu_smem_bytes,
             [&] { layernorm_dparams_sum_kernel(dw, db, pw.data(), pb.data(), nchunks, C); });
}

static void t_layernorm(ordo_rng *r, int N, int C, int chunk) {
  const ordo_ops *R = ops_cpu_ref();
  std::vector<float> x = rand_vec(r, (int64_t)N * C, -2, 2), w = rand_vec(r, C, 0.5f, 1.5f);
  std::vector<float> b = rand_vec(r, C, -1, 1), d = rand_vec(r, (int64_t)N * C, -1, 1);
  std::vector<float> y((size_t)N * C), mean((size_t)N), rstd((size_t)N);
  R->layernorm_forward(NULL, y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(),
                       1e-5f, N, C);
  std::vector<float> dw0 = rand_vec(r, C, -1, 1), db0 = rand_vec(r, C, -1, 1);
  std::vector<float> rw = dw0, rb = db0, ew = dw0, eb = db0;
  R->layernorm_backward(NULL, NULL, ORDO_ACCUMULATE, rw.data(), rb.data(), d.data(), x.data(),
                        w.data(), mean.data(), rstd.data(), N, C);
  emu_dparams(ew.data(), eb.data(), d.data(), x.data(), mean.data(), rstd.data(), N, C, chunk);
  double ew_err = rel_err_f32(ew.data(), rw.data(), C), eb_err = rel_err_f32(eb.data(), rb.data(), C);
  EXPECT(ew_err <= 1e-5 && eb_err <= 1e-5, "layernorm dparams N %d C %d chunk %d: dw %.2e db %.2e",
         N, C, chunk, ew_err, eb_err);
  printf("layernorm dparams N %5d C %3d chunk %3d: dw %.2e db %.2e\n", N, C, chunk, ew_err, eb_err);
  /* db alone (dw NULL) leaves nothing else written */
  std::vector<float> eb2 = db0;
  emu_dparams(NULL, eb2.data(), d.data(), x.data(), mean.data(), rstd.data(), N, C, chunk);
  EXPECT(memcmp(eb2.data(), eb.data(), (size_t)C * sizeof(float)) == 0, "db alone: the same bits");
}

static void t_sumsq(ordo_rng *r, int64_t N, int block) {
  const ordo_ops *R = ops_cpu_ref();
  std::vector<float> x = rand_vec(r, N, -3, 3);
  const int64_t nb = (N + block - 1) / block;
  std::vector<double> ref((size_t)nb), got((size_t)nb, NAN);
  R->sumsq_blocks(NULL, ref.data(), x.data(), N, block);
  emu_launch((unsigned)((nb + SQ_THREADS - 1) / SQ_THREADS), 1, SQ_THREADS, emu_smem_bytes,
             [&] { sumsq_blocks_tiled_kernel(got.data(), x.data(), N, block, nb); });
  int64_t diff = 0;
  for (int64_t b = 0; b < nb; b++) diff += memcmp(&got[(size_t)b], &ref[(size_t)b], sizeof(double)) != 0;
  EXPECT(diff == 0, "sumsq_blocks N %lld block %d: %lld of %lld blocks not bit-identical",
         (long long)N, block, (long long)diff, (long long)nb);
  printf("sumsq_blocks N %7lld block %4d: %lld blocks, %lld differ\n", (long long)N, block,
         (long long)nb, (long long)diff);
}

int main(void) {
  ordo_rng r;
  rng_init(&r, 20261128);
  t_layernorm(&r, 1, 7, 256);
  t_layernorm(&r, 37, 33, 256);
  t_layernorm(&r, 300, 77, 7);
  t_layernorm(&r, 600, 64, 256);
  t_layernorm(&r, 90, 40, 1);
  t_sumsq(&r, 1, 2048);
  t_sumsq(&r, 3 * 2048 + 17, 2048);
  t_sumsq(&r, 130 * 5 + 3, 5);
  t_sumsq(&r, 4000, 33);
  t_sumsq(&r, 129 * 100, 100);
  test_summary();
  return t_fail ? 1 : 0;
}
