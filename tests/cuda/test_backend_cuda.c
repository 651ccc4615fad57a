/* The CUDA backend's own parts, where they promise more than a tolerance:
 *  - without a device (or a driver): ordo_backend_open("cuda") fails with a message naming
 *    "no CUDA device", ordo_cuda_available() is 0, nothing aborts; then "skipped: no CUDA
 *    device" and exit 77 (ctest: skipped, never passed);
 *  - with one: the ops whose results are integer- or order-defined, checked bit for bit against
 *    the CPU: dropout masks (Philox), bf16/fp16 rounding at the edges (ties, overflow, subnormals,
 *    NaN), block sums of squares (sequential double sums), the AdamW step (the CPU's roundings),
 *    the 8-bit AdamW step's codes and scales, the embedding and LayerNorm parameter gradients
 *    repeated bit for bit, and open/close twice. Memory ops and everything against the reference
 *    within tolerances are tests/cpu/test_backend_ops.c's job. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/core.h"
#include "ordo/ops.h"
#include "ordo/rng.h"

static ordo_backend G;    /* the CUDA backend */
static const ordo_ops *R; /* the CPU reference (host memory) */

static void *dev_of(const void *host, size_t bytes) {
  void *d = G.ops->alloc(G.ctx, bytes);
  be_upload(&G, d, host, bytes);
  return d;
}
static void *host_of(const void *dev, size_t bytes) {
  void *h = malloc(bytes);
  be_download(&G, h, dev, bytes);
  return h;
}
static float *frand(ordo_rng *r, int64_t n, float lo, float hi) {
  float *f = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) f[i] = lo + (hi - lo) * rng_uniform(r);
  return f;
}

/* Reports and checks that two arrays hold the same bits. */
static void expect_same_bits(const char *what, const void *gpu, const void *cpu, size_t bytes) {
  int same = memcmp(gpu, cpu, bytes) == 0;
  printf("  %-44s %s\n", what, same ? "bit-identical" : "DIFFERENT");
  EXPECT(same, "%s: GPU and CPU bits differ", what);
}

static void test_no_device(void) {
  ordo_backend be;
  ordo_err e = {0};
  int rc = ordo_backend_open(&be, "cuda", &e);
  printf("  ordo_backend_open(\"cuda\"): %d, \"%s\"\n", rc, e.msg);
  EXPECT(rc == -1, "opening cuda without a device returned %d", rc);
  EXPECT(strstr(e.msg, "no CUDA device") != NULL, "message \"%s\"", e.msg);
  EXPECT(be.ops == NULL && be.ctx == NULL, "a failed open left a backend behind");
  EXPECT(ordo_cuda_available() == 0, "ordo_cuda_available() says yes without a device");
}

static void test_dropout(ordo_rng *r) {
  enum { N = 10007 };
  float *x = frand(r, N, -2, 2), *cpu = malloc(N * sizeof(float));
  float *dx = dev_of(x, N * sizeof(float)), *dy = G.ops->alloc(G.ctx, N * sizeof(float));
  const uint64_t seed = 0x5eed1234abcdull, offset = (1ull << 33) + 5; /* high counter words too */
  R->dropout_forward(NULL, cpu, x, 0.3f, seed, offset, N);
  G.ops->dropout_forward(G.ctx, dy, dx, 0.3f, seed, offset, N);
  float *gpu = host_of(dy, N * sizeof(float));
  expect_same_bits("dropout forward (Philox mask)", gpu, cpu, N * sizeof(float));
  free(gpu);
  memcpy(cpu, x, N * sizeof(float)); /* backward accumulates: dinp starts as x, dout is x */
  R->dropout_backward(NULL, cpu, x, 0.3f, seed, offset, N);
  be_upload(&G, dy, x, N * sizeof(float));
  G.ops->dropout_backward(G.ctx, dy, dx, 0.3f, seed, offset, N);
  gpu = host_of(dy, N * sizeof(float));
  expect_same_bits("dropout backward", gpu, cpu, N * sizeof(float));
  G.ops->free(G.ctx, dx), G.ops->free(G.ctx, dy);
  free(x), free(cpu), free(gpu);
}

static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void test_round(ordo_rng *r) {
  enum { N = 4096 };
  float x[N];
  /* the edges: bf16/fp16 ties both ways, fp16's overflow threshold 65520 and just below, its
   * subnormals and their ties, the smallest normal, zeros, infinities, NaNs (quiet, signalling,
   * negative), the largest float; then random values over many exponents */
  const float edges[] = {0.0f,
                         -0.0f,
                         1.0f + 1.0f / 256,
                         1.0f + 3.0f / 256,
                         65504.0f,
                         65519.0f,
                         65519.996f,
                         65520.0f,
                         -65520.0f,
                         1e6f,
                         5.9604645e-8f,
                         2.9802322e-8f,
                         8.940697e-8f,
                         6.1035156e-5f,
                         6.1e-5f,
                         1e-10f,
                         INFINITY,
                         -INFINITY,
                         from_bits(0x7fc00000u),
                         from_bits(0x7f800001u),
                         from_bits(0xffc00123u),
                         3.4028235e38f,
                         -3.4028235e38f,
                         from_bits(0x3f808000u),
                         from_bits(0x3f818000u),
                         from_bits(0x00000001u)};
  int ne = (int)(sizeof edges / sizeof edges[0]);
  for (int i = 0; i < N; i++)
    x[i] = i < ne ? edges[i] : (rng_uniform(r) - 0.5f) * powf(2.0f, (float)(i % 80) - 40.0f);
  for (int k = 0; k < 2; k++) {
    ordo_dtype dt = k ? ORDO_DT_F16 : ORDO_DT_BF16;
    float cpu[N];
    memcpy(cpu, x, sizeof x);
    round_to_dtype_n(cpu, N, dt);
    float *d = dev_of(x, sizeof x);
    G.ops->round_dtype(G.ctx, d, N, dt);
    float *gpu = host_of(d, sizeof x);
    char what[64];
    snprintf(what, sizeof what, "round_dtype %s (edges + random)", dtype_name(dt));
    expect_same_bits(what, gpu, cpu, sizeof x);
    G.ops->free(G.ctx, d), free(gpu);
  }
}

static void test_sumsq(ordo_rng *r) {
  enum { N = 10000, BLOCK = 2048, NB = (N + BLOCK - 1) / BLOCK };
  float *x = frand(r, N, -3, 3);
  double cpu[NB];
  ops_cpu()->sumsq_blocks(NULL, cpu, x, N, BLOCK); /* the trainer's norm parts on the CPU */
  float *dx = dev_of(x, N * sizeof(float));
  double *dp = G.ops->alloc(G.ctx, sizeof cpu);
  G.ops->sumsq_blocks(G.ctx, dp, dx, N, BLOCK);
  double *gpu = host_of(dp, sizeof cpu);
  expect_same_bits("sumsq_blocks (5 blocks, the last short)", gpu, cpu, sizeof cpu);
  G.ops->free(G.ctx, dx), G.ops->free(G.ctx, dp), free(x), free(gpu);
}

static ordo_adamw_hp step_hp(int t) {
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, wd = 0.01f;
  double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
  return (ordo_adamw_hp){.b1 = b1,
                         .b2 = b2,
                         .eps = 1e-8f,
                         .bc2_sqrt = (float)sqrt(bc2),
                         .step_size = (float)(lr / bc1),
                         .wd_mul = (float)(1.0 - lr * wd)};
}

/* Steps with 32-bit moments on both sides from the same state: the CPU backend's adamw_step. */
static void test_adamw(ordo_rng *r) {
  enum { N = 5003, STEPS = 10 };
  float *w = frand(r, N, -1, 1), *m = calloc(N, sizeof(float)), *v = calloc(N, sizeof(float));
  float *dw = dev_of(w, N * sizeof(float)), *dm = dev_of(m, N * sizeof(float));
  float *dv = dev_of(v, N * sizeof(float)), *dg = G.ops->alloc(G.ctx, N * sizeof(float));
  const ordo_ops *cpu = ops_cpu();
  for (int t = 1; t <= STEPS; t++) {
    float *g = frand(r, N, -0.1f, 0.1f);
    be_upload(&G, dg, g, N * sizeof(float));
    cpu->adamw_step(NULL, w, g, m, v, N, step_hp(t));
    G.ops->adamw_step(G.ctx, dw, dg, dm, dv, N, step_hp(t));
    free(g);
  }
  float *gw = host_of(dw, N * sizeof(float)), *gm = host_of(dm, N * sizeof(float));
  expect_same_bits("adamw_step x10: weights", gw, w, N * sizeof(float));
  expect_same_bits("adamw_step x10: first moments", gm, m, N * sizeof(float));
  G.ops->free(G.ctx, dw), G.ops->free(G.ctx, dm), G.ops->free(G.ctx, dv), G.ops->free(G.ctx, dg);
  free(w), free(m), free(v), free(gw), free(gm);
}

/* A sorted 256-value map of [-1, 1] (signed) or [0, 1] with its midpoints, exact zero at code
 * `zero`: a cubic spacing, fine near 0 like the optimizer's dynamic maps (the op takes any). */
static void cubic_map(float v[256], float mid[255], int is_signed, uint8_t *zero) {
  for (int i = 0; i < 256; i++) {
    double t = is_signed ? (i - 127) / 128.0 : i / 255.0;
    v[i] = (float)(t * t * t);
  }
  for (int i = 0; i < 255; i++) mid[i] = 0.5f * (v[i] + v[i + 1]);
  *zero = is_signed ? 127 : 0;
}

/* 8-bit moments: codes and block scales after a few steps from the same start; a short last
 * block. */
static void test_adamw8(ordo_rng *r) {
  enum { N = 2 * 2048 + 777, BLOCK = 2048, NB = 3, STEPS = 5 };
  float map_m[256], mid_m[255], map_v[256], mid_v[255];
  uint8_t zero_m, zero_v;
  cubic_map(map_m, mid_m, 1, &zero_m);
  cubic_map(map_v, mid_v, 0, &zero_v);
  float *w = frand(r, N, -1, 1), sm[NB] = {0}, sv[NB] = {0};
  uint8_t *qm = malloc(N), *qv = malloc(N);
  memset(qm, zero_m, N);
  memset(qv, zero_v, N);
  float *dw = dev_of(w, N * sizeof(float)), *dsm = dev_of(sm, sizeof sm),
        *dsv = dev_of(sv, sizeof sv);
  uint8_t *dqm = dev_of(qm, N), *dqv = dev_of(qv, N);
  float *dmap_m = dev_of(map_m, sizeof map_m), *dmid_m = dev_of(mid_m, sizeof mid_m);
  float *dmap_v = dev_of(map_v, sizeof map_v), *dmid_v = dev_of(mid_v, sizeof mid_v);
  float *dg = G.ops->alloc(G.ctx, N * sizeof(float));
  const ordo_ops *cpu = ops_cpu();
  for (int t = 1; t <= STEPS; t++) {
    float *g = frand(r, N, -0.1f, 0.1f);
    be_upload(&G, dg, g, N * sizeof(float));
    cpu->adamw8_step(NULL, w, g, qm, qv, sm, sv, map_m, mid_m, map_v, mid_v, N, BLOCK, step_hp(t));
    G.ops->adamw8_step(G.ctx, dw, dg, dqm, dqv, dsm, dsv, dmap_m, dmid_m, dmap_v, dmid_v, N, BLOCK,
                       step_hp(t));
    free(g);
  }
  float *gw = host_of(dw, N * sizeof(float)), *gsm = host_of(dsm, sizeof sm);
  float *gsv = host_of(dsv, sizeof sv);
  uint8_t *gqm = host_of(dqm, N), *gqv = host_of(dqv, N);
  expect_same_bits("adamw8_step x5: weights", gw, w, N * sizeof(float));
  expect_same_bits("adamw8_step x5: m codes", gqm, qm, N);
  expect_same_bits("adamw8_step x5: v codes", gqv, qv, N);
  expect_same_bits("adamw8_step x5: m block scales", gsm, sm, sizeof sm);
  expect_same_bits("adamw8_step x5: v block scales", gsv, sv, sizeof sv);
  void *dev[] = {dw, dsm, dsv, dqm, dqv, dmap_m, dmid_m, dmap_v, dmid_v, dg};
  for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) G.ops->free(G.ctx, dev[i]);
  free(w), free(qm), free(qv), free(gw), free(gsm), free(gsv), free(gqm), free(gqv);
}

/* The parameter gradients that collide (repeated ids) or reduce over rows: embedding and
 * LayerNorm backward, run twice from the same start, must repeat bit for bit (no atomics). */
static void test_repeatable(ordo_rng *r) {
  enum { BT = 777, C = 72, V = 13, P = 50 };
  int32_t ids[BT], pos[BT], tt[BT];
  for (int i = 0; i < BT; i++)
    ids[i] = (int32_t)rng_below(r, V), pos[i] = i % P, tt[i] = (int32_t)rng_below(r, 2);
  float *dout = frand(r, BT * C, -1, 1), *inp = frand(r, BT * C, -2, 2), *lw = frand(r, C, 0, 2);
  float *ddout = dev_of(dout, sizeof(float) * BT * C), *dinp = dev_of(inp, sizeof(float) * BT * C);
  float *dlw = dev_of(lw, C * sizeof(float));
  int32_t *dids = dev_of(ids, sizeof ids), *dpos = dev_of(pos, sizeof pos);
  int32_t *dtt = dev_of(tt, sizeof tt);
  float *mean = G.ops->alloc(G.ctx, BT * sizeof(float)),
        *rstd = G.ops->alloc(G.ctx, BT * sizeof(float));
  float *out = G.ops->alloc(G.ctx, sizeof(float) * BT * C);
  G.ops->layernorm_forward(G.ctx, out, mean, rstd, dinp, dlw, NULL, 1e-5f, BT, C);
  float *run[2][5];
  for (int k = 0; k < 2; k++) {
    float *g[5] = {G.ops->alloc(G.ctx, sizeof(float) * V * C),
                   G.ops->alloc(G.ctx, sizeof(float) * P * C),
                   G.ops->alloc(G.ctx, sizeof(float) * 2 * C),
                   G.ops->alloc(G.ctx, sizeof(float) * C), G.ops->alloc(G.ctx, sizeof(float) * C)};
    G.ops->embed_backward(G.ctx, g[0], g[1], g[2], ddout, dids, dpos, dtt, BT, C);
    G.ops->layernorm_backward(G.ctx, NULL, ORDO_ACCUMULATE, g[3], g[4], ddout, dinp, dlw, mean, rstd, BT, C);
    size_t n[5] = {V * C, P * C, 2 * C, C, C};
    for (int j = 0; j < 5; j++)
      run[k][j] = host_of(g[j], n[j] * sizeof(float)), G.ops->free(G.ctx, g[j]);
  }
  const char *names[5] = {"embed dwte", "embed dwpe", "embed dwtt", "layernorm dw", "layernorm db"};
  size_t n[5] = {V * C, P * C, 2 * C, C, C};
  for (int j = 0; j < 5; j++) {
    int same = memcmp(run[0][j], run[1][j], n[j] * sizeof(float)) == 0;
    printf("  %-44s %s\n", names[j], same ? "repeats bit for bit" : "DIFFERS between runs");
    EXPECT(same, "%s differs between two runs", names[j]);
    free(run[0][j]), free(run[1][j]);
  }
  void *dev[] = {ddout, dinp, dlw, dids, dpos, dtt, mean, rstd, out};
  for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) G.ops->free(G.ctx, dev[i]);
  free(dout), free(inp), free(lw);
}

/* mem_in_use: grows by an allocation's size and falls back when it is freed; the CPU backends
 * have none (their memory is the host's). */
static void test_mem_in_use(void) {
  const size_t bytes = (size_t)64 << 20;
  EXPECT(G.ops->mem_in_use != NULL, "the CUDA table has no mem_in_use");
  EXPECT(ops_cpu()->mem_in_use == NULL && ops_cpu_ref()->mem_in_use == NULL,
         "a CPU backend reports device memory");
  if (!G.ops->mem_in_use) return;
  size_t before = G.ops->mem_in_use(G.ctx);
  void *p = G.ops->alloc(G.ctx, bytes);
  G.ops->sync(G.ctx);
  size_t held = G.ops->mem_in_use(G.ctx);
  G.ops->free(G.ctx, p);
  size_t after = G.ops->mem_in_use(G.ctx);
  printf("  mem_in_use: %.1f MiB, %.1f with 64 MiB more, %.1f after its free\n", before / 1048576.0,
         held / 1048576.0, after / 1048576.0);
  EXPECT(before > 0, "mem_in_use %zu: the workspace and scratch are not counted", before);
  EXPECT(held >= before + bytes, "mem_in_use %zu after 64 MiB on %zu", held, before);
  EXPECT(after + bytes <= held, "mem_in_use %zu after the free of 64 MiB from %zu", after, held);
}

int main(void) {
  ordo_err e = {0};
  if (!ordo_cuda_available()) {
    printf("no CUDA device: the failure path\n");
    test_no_device();
    if (t_fail) return test_summary();
    printf("skipped: no CUDA device\n");
    return 77;
  }
  if (ordo_backend_open(&G, "cuda", &e) != 0) {
    fprintf(stderr, "a CUDA device is present but does not open: %s\n", e.msg);
    return 1;
  }
  R = ops_cpu_ref();
  ordo_rng r;
  rng_init(&r, 77);
  printf("CUDA backend (%s, host_memory %d):\n", G.ops->name, G.ops->host_memory);
  EXPECT(strcmp(G.ops->name, "cuda") == 0 && G.ops->host_memory == 0, "table %s", G.ops->name);
  test_dropout(&r);
  test_round(&r);
  test_sumsq(&r);
  test_adamw(&r);
  test_adamw8(&r);
  test_repeatable(&r);
  test_mem_in_use();
  ordo_backend_close(&G);
  EXPECT(G.ops == NULL && G.ctx == NULL, "close left the backend set");
  /* a second open and close: nothing left behind by the first */
  EXPECT(ordo_backend_open(&G, "cuda", &e) == 0, "second open: %s", e.msg);
  ordo_backend_close(&G);
  return test_summary();
}
