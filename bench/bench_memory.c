/* Peak training memory of a BERT-base-sized model (L12 H768 A12 I3072, vocab 30522) at
 * sequence 512: one masked-LM training step per configuration, each in its own process, with
 * the peak resident set size (getrusage) next to the planned sizes of each part.
 *
 *   bench_memory [--batch 1] [--seq 512] [--threads N] [--only TEXT]
 *   --only: only the configurations whose name contains TEXT
 *
 * Every row is measured. bf16 storage keeps the layers' activations and the weight copy as
 * 2-byte arrays (enc_layer_acts' typed buffers, w_lp) and adds the typed-call layer's fp32
 * scratch (model.tv_cap), as on the GPU. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ordo/trainer.h"

typedef struct mode {
  const char *name;
  enc_recompute rc;
  int lora;
  int bits;
  ordo_dtype precision;
} mode;

typedef struct result {
  double peak_mb, params_mb, grads_mb, opt_mb, act_mb, wcopy_mb, scratch_mb;
  float loss;
} result;

static int g_B = 1, g_T = 512; /* set once from the command line before any fork */

typedef struct task { int32_t *ids, *mask, *rows, *labels; int n; } task;

static float micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)step, (void)i;
  task *t = ctx;
  enc_batch b = {.B = g_B, .T = g_T, .ids = t->ids, .mask = t->mask, .mlm_rows = t->rows,
                 .n_mlm_rows = t->n, .mlm_labels = t->labels};
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  float loss = enc_loss_mlm(m, &b, dloss, NULL);
  enc_backward(m, &b);
  return loss;
}

static void run(const mode *md, result *r) {
  enc_config c;
  hfconfig_defaults(&c, ORDO_ARCH_BERT);
  c.vocab_size = 30522;
  c.max_position_embeddings = g_T > 512 ? g_T : 512;
  enc_lora_config lc = {.r = 8, .alpha = 16, .dropout = 0.1f,
                        .targets = (1 << ENC_LORA_Q) | (1 << ENC_LORA_V)};
  enc_model m;
  ordo_err e;
  if (enc_init_lora(&m, &c, ENC_HEAD_MLM, md->lora ? &lc : NULL, NULL, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    exit(1);
  }
  if (md->lora) /* LoRA fine-tunes an encoder: the MLM head stays frozen with the base */
    for (int i = 0; i < m.params.n; i++)
      if (!(m.params.specs[i].flags & ORDO_PF_LORA)) m.params.specs[i].flags |= ORDO_PF_FROZEN;
  enc_init_weights(&m, 1);
  trainer_config tc = trainer_defaults();
  tc.recompute = md->rc;
  tc.q8.bits = md->bits;
  tc.precision = md->precision;
  trainer tr;
  if (trainer_init(&tr, &m, &tc, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    exit(1);
  }
  enc_plan(&m, g_B, g_T, g_B * g_T);
  int BT = g_B * g_T;
  task t = {malloc(BT * 4), malloc(BT * 4), malloc(BT * 4), malloc(BT * 4), 0};
  for (int i = 0; i < BT; i++) {
    t.ids[i] = 1000 + (i * 7919) % 20000;
    t.mask[i] = 1;
    if (i % 7 == 3) t.rows[t.n] = i, t.labels[t.n++] = t.ids[i];
  }
  trainer_stats st;
  trainer_step(&tr, &t, NULL, micro, &st);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  int64_t trainable = params_count(&m.params, 1);
  r->peak_mb = ru.ru_maxrss / 1024.0;
  r->params_mb = m.params.total * 4 / 1e6;
  r->grads_mb = trainable * 4 / 1e6;
  r->opt_mb = trainer_state_bytes(&tr) / 1e6;
  r->act_mb = m.arena.cap / 1e6;
  r->wcopy_mb = m.w_lp ? m.params.total * dtype_size(m.precision) / 1e6 : 0;
  r->scratch_mb = m.tv_cap * sizeof(float) / 1e6;
  r->loss = st.loss;
}

int main(int argc, char **argv) {
  int thr = 0;
  const char *only = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--batch")) g_B = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seq")) g_T = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) thr = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  if (thr > 0) omp_set_num_threads(thr), openblas_set_num_threads(thr);
  const mode modes[] = {
      {"fp32, AdamW 32-bit", ENC_RECOMPUTE_NONE, 0, 32, ORDO_DT_F32},
      {"fp32, recompute attention", ENC_RECOMPUTE_ATTENTION, 0, 32, ORDO_DT_F32},
      {"fp32, recompute layer", ENC_RECOMPUTE_LAYER, 0, 32, ORDO_DT_F32},
      {"fp32, AdamW 8-bit", ENC_RECOMPUTE_NONE, 0, 8, ORDO_DT_F32},
      {"fp32, LoRA r8 on q,v", ENC_RECOMPUTE_NONE, 1, 32, ORDO_DT_F32},
      {"fp32, LoRA + recompute layer", ENC_RECOMPUTE_LAYER, 1, 32, ORDO_DT_F32},
      {"bf16 storage, AdamW 32-bit", ENC_RECOMPUTE_NONE, 0, 32, ORDO_DT_BF16},
      {"bf16 storage, recompute layer", ENC_RECOMPUTE_LAYER, 0, 32, ORDO_DT_BF16},
  };
  int n = sizeof modes / sizeof modes[0];
  printf("BERT-base (110M) masked-LM step, batch %d x seq %d, MB (1e6 bytes)\n\n", g_B, g_T);
  printf("| configuration | peak RSS (measured) | weights | grads (trainable) | optimizer state | "
         "activations (arena) | weight copy | typed scratch |\n");
  printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (int k = 0; k < n; k++) {
    if (only && !strstr(modes[k].name, only)) continue;
    int fd[2];
    if (pipe(fd) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      close(fd[0]);
      result r;
      run(&modes[k], &r);
      if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
      _exit(0);
    }
    close(fd[1]);
    result r;
    ssize_t got = read(fd[0], &r, sizeof r);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof r) {
      printf("| %s | failed |\n", modes[k].name);
      continue;
    }
    printf("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", modes[k].name, r.peak_mb,
           r.params_mb, r.grads_mb, r.opt_mb, r.act_mb, r.wcopy_mb, r.scratch_mb);
  }
  return 0;
}
