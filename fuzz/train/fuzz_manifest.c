/* libFuzzer target: the checkpoint manifest (manifest.json) from arbitrary bytes, read by
 * ckpt_load beside a real checkpoint of a small model (two tensors, 8-bit AdamW with one tensor
 * kept in 32 bits, a schedule and a loss scaler). A load that succeeds must leave sane progress;
 * one that fails must say why. Set ORDO_FUZZ_SEED_OUT=FILE to write the checkpoint's own
 * manifest there (the seed of the corpus). */
#include <stdint.h>

#include "../fuzz_file.h"
#include "ordo/checkpoint.h"

typedef struct fuzz_ckpt {
  ordo_params p;
  opt_adamw8 o;
  ordo_scaler_state sc;
  sched_config sched;
  ckpt_progress pr;
} fuzz_ckpt;

static fuzz_ckpt g_run;
static char g_dir[256], g_manifest[300];

static ckpt_io io_of(fuzz_ckpt *r) {
  return (ckpt_io){.params = &r->p, .adamw8 = &r->o, .scaler = &r->sc, .sched = &r->sched,
                   .progress = &r->pr};
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  ordo_log_set_level(ORDO_LOG_ERROR); /* the warnings of differing settings are expected */
  char dir[200];
  fuzz_scratch_dir(dir, sizeof dir);
  snprintf(g_dir, sizeof g_dir, "%s/checkpoint", dir);
  snprintf(g_manifest, sizeof g_manifest, "%s/manifest.json", g_dir);
  fuzz_ckpt *r = &g_run;
  params_init(&r->p);
  params_add(&r->p, "encoder.weight", 2, (int64_t[]){40, 8}, 0);
  params_add(&r->p, "encoder.bias", 1, (int64_t[]){8}, ORDO_PF_NO_DECAY);
  params_alloc(&r->p);
  for (int64_t i = 0; i < r->p.total; i++) r->p.data[i] = (float)(i % 7) - 3.0f;
  adamw_config ac = adamw_defaults();
  adamw8_config qc = adamw8_defaults();
  qc.min_8bit_numel = 64;
  ordo_err e;
  if (opt_adamw8_init(&r->o, &r->p, &ac, &qc, NULL, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    exit(2);
  }
  r->sc = scaler_state_defaults();
  r->sc.enabled = 1;
  r->sched = (sched_config){.kind = SCHED_LINEAR, .lr = 1e-3f, .warmup_steps = 2, .total_steps = 10};
  r->pr = (ckpt_progress){.step = 3, .epoch = 1, .micro_step = 6, .tokens = 300, .run_seed = 7,
                          .loss = 2.5};
  rng_init(&r->pr.rng, 7);
  ckpt_io io = io_of(r);
  if (ckpt_save(&io, g_dir, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    exit(2);
  }
  const char *seed_out = getenv("ORDO_FUZZ_SEED_OUT");
  if (seed_out) {
    size_t len;
    char *txt = ordo_read_file(g_manifest, &len, &e);
    if (!txt) exit(2);
    fuzz_put_file(seed_out, txt, len);
    free(txt);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_put_file(g_manifest, data, size);
  ckpt_io io = io_of(&g_run);
  ordo_err e;
  e.msg[0] = 0;
  if (ckpt_load(&io, g_dir, &e) != 0) {
    if (!e.msg[0]) abort();
    return 0;
  }
  if (g_run.pr.step < 0 || g_run.pr.tokens < 0) abort();
  return 0;
}
