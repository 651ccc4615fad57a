/* Mixed precision's bits: bf16/fp16 storage (16-bit activations and weight copies converted at
 * the rounding points) gives exactly the bits of the float32-array emulation it replaced, which
 * rounded the same values in place. Every case of driver_backend_check.h in bf16 and in fp16 on
 * the plain reference (its bits do not depend on the thread count) runs three training steps
 * (forward with dropout, losses, backward, a plain gradient step on the working weights); hashed
 * per step: the loss, the hidden state, the head's output, d_add_emb and every parameter
 * gradient by name; for the causal cases also the cached decoder's logits. Two comparisons:
 *  1. with the same model in the test-only emulated storage (enc_set_precision_emulated:
 *     float32 arrays rounded in place at the same tv_end points), in this build: catches wrong
 *     sizes, offsets, views or weight extents of the 16-bit storage in any build;
 *  2. with tests/fixtures/precision_bits.txt, recorded by the emulation itself (this test's
 *     first version, built on the tree before the storage dtypes, --record FILE): catches a
 *     rounding point moved, which (1) cannot see. Its first line names the build that recorded
 *     it (ORDO_BUILD_FLAGS: build type, -march, compiler, sanitizer): the float code's bits
 *     follow them, so another build runs (1) only and says so.
 *
 * usage: model_test_precision_bits [--record FILE] */
#include <stdio.h>

#include "model/driver_backend_check.h"

enum { PB_STEPS = 3, PB_MAX_LINES = 4096 };

static uint64_t fnv(const void *p, size_t bytes) {
  const unsigned char *c = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; i++) h = (h ^ c[i]) * 1099511628211ull;
  return h;
}

/* The hashes of one storage: 16-bit (0) or emulated (1). */
static char *g_lines[2][PB_MAX_LINES];
static int g_n[2], g_emu;

static void put(int kase, const char *prec, int step, const char *what, const void *p, size_t bytes) {
  ORDO_CHECK(g_n[g_emu] < PB_MAX_LINES);
  char buf[256];
  snprintf(buf, sizeof buf, "%d %s %d %s %016llx", kase, prec, step, what,
           (unsigned long long)fnv(p, bytes));
  g_lines[g_emu][g_n[g_emu]++] = strdup(buf);
}

static void run_case(int i, ordo_dtype dt) {
  db_case k = k_db_cases[i];
  k.precision = dt;
  k.emulated = g_emu;
  const char *prec = dtype_name(dt);
  db_run r;
  db_build(&r, &k, NULL);
  enc_model *m = &r.m;
  size_t BT = (size_t)DB_B * DB_T, C = (size_t)m->cfg.hidden_size;
  for (int s = 0; s < PB_STEPS; s++) {
    db_step(&r, &k);
    put(i, prec, s, "loss", &r.loss, sizeof r.loss);
    put(i, prec, s, "hidden", r.hidden, BT * C * sizeof(float));
    put(i, prec, s, "head", r.head, r.n_head * sizeof(float));
    if (k.add_emb) put(i, prec, s, "d_add_emb", r.d_add, BT * 24 * sizeof(float));
    for (int p = 0; p < m->params.n; p++) {
      const ordo_param_spec *sp = &m->params.specs[p];
      if (sp->flags & ORDO_PF_FROZEN) continue;
      put(i, prec, s, sp->name, r.grad + sp->offset, (size_t)sp->numel * sizeof(float));
      m->be.ops->axpy(m->be.ctx, params_wd(&m->params, p), -0.1f, params_gd(&m->params, p),
                      sp->numel);
    }
    free(r.hidden), free(r.head), free(r.grad);
    r.hidden = r.head = r.grad = NULL;
    m->step++;
  }
  enc_free(m);
  int cached = k.position == ENC_POS_ROPE || k.position == ENC_POS_LEARNED; /* learned or rotary (enc_decode) */
  if (k.arch == ORDO_ARCH_GPT2 && cached && k.recompute == ENC_RECOMPUTE_NONE) {
    db_build(&r, &k, NULL);
    int32_t ids[DB_T];
    for (int t = 0; t < DB_T; t++) ids[t] = 1 + (t * 7) % 52;
    for (int T = 3; T <= DB_T; T++) {
      char what[32];
      snprintf(what, sizeof what, "decode T=%d", T);
      put(i, prec, 0, what, enc_decode(&r.m, ids, T, T == 3 ? 0 : T - 1),
          (size_t)r.m.cfg.vocab_size * sizeof(float));
    }
    enc_free(&r.m);
  }
}

int main(int argc, char **argv) {
  /* the header's backend checks: not this test's */
  (void)db_check_backend, (void)db_check_storage, (void)db_check_precision;
  const char *record = NULL;
  if (argc == 3 && strcmp(argv[1], "--record") == 0) record = argv[2];
  else if (argc != 1) {
    fprintf(stderr, "usage: %s [--record FILE]\n", argv[0]);
    return 2;
  }
  int n = (int)(sizeof k_db_cases / sizeof *k_db_cases);
  for (g_emu = 0; g_emu < 2; g_emu++)
    for (int i = 0; i < n; i++) {
      run_case(i, ORDO_DT_BF16);
      run_case(i, ORDO_DT_F16);
    }
  const int g = g_n[0];
  int differ_emu = g_n[1] == g ? 0 : g;
  for (int i = 0; i < g && g_n[1] == g; i++)
    if (strcmp(g_lines[0][i], g_lines[1][i]) != 0 && differ_emu++ < 20)
      printf("differs: emulated '%s', 16-bit '%s'\n", g_lines[1][i], g_lines[0][i]);
  printf("%d hashes (losses, hidden states, heads, every gradient, decoding) over %d cases x bf16, "
         "fp16 x %d steps: %d differ between 16-bit and emulated storage in this build\n", g, n,
         PB_STEPS, differ_emu);
  EXPECT(differ_emu == 0, "%d hashes differ between 16-bit and emulated storage", differ_emu);
  if (record) {
    FILE *f = fopen(record, "w");
    ORDO_CHECKF(f, "%s: cannot write", record);
    fprintf(f, "# build %s\n", ORDO_BUILD_FLAGS);
    for (int i = 0; i < g; i++) fprintf(f, "%s\n", g_lines[0][i]);
    fclose(f);
    printf("%d hashes written to %s\n", g, record);
    return test_summary();
  }
  const char *path = ORDO_TEST_FIXTURES "/precision_bits.txt";
  FILE *f = fopen(path, "r");
  EXPECT(f, "%s: missing (record it with --record on the emulation's tree)", path);
  if (!f) return test_summary();
  char line[256], want[256];
  snprintf(want, sizeof want, "# build %s", ORDO_BUILD_FLAGS);
  if (!fgets(line, sizeof line, f)) line[0] = 0;
  line[strcspn(line, "\n")] = 0;
  if (strcmp(line, want) != 0) {
    printf("recorded comparison skipped: %s was recorded by '%s', this build is '%s' (other "
           "float bits); the emulated comparison above ran\n", path, line + 8, ORDO_BUILD_FLAGS);
    fclose(f);
    return test_summary();
  }
  int n_file = 0, differ = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    if (n_file < g && strcmp(line, g_lines[0][n_file]) != 0 && differ++ < 20)
      printf("differs: recorded '%s', now '%s'\n", line, g_lines[0][n_file]);
    n_file++;
  }
  fclose(f);
  printf("%d hashes: %d differ from those the emulation recorded\n", g, differ);
  EXPECT(n_file == g, "%d hashes recorded, %d computed", n_file, g);
  EXPECT(differ == 0, "%d hashes differ from the emulation's", differ);
  return test_summary();
}
