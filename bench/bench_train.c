/* Training-throughput benchmark: masked-LM steps of a BERT encoder on random tokens through the
 * shared trainer (the optimizer step of `ordo train`: gradient norm, clipping at 1.0, AdamW), on
 * any backend; the same work as bench/torch_cpu_train.py and bench/gpu/torch_speed.py do in
 * PyTorch. Prints one JSON line.
 *
 *   bench_train [--layers 4] [--hidden 256] [--heads 4] [--intermediate 1024] [--vocab 8192]
 *               [--seq 128] [--batch 16] [--steps 10] [--warmup 2] [--threads N]
 *               [--dropout 0.1] [--attn-dropout P] [--head masked|full]
 *               [--device cpu|cpu-ref|cuda] [--precision f32|bf16|fp16] [--arch bert|roberta]
 *               [--min-len N] [--infer] [--all-rows]
 * --attn-dropout sets the attention-probability dropout (default: the --dropout value, as in
 * BERT's recipe where both are 0.1).
 * --head full runs the MLM head on every position (as HF does); masked (the default, what
 * ordo train does) only on the ~15% masked positions, whose logits are the only ones the
 * loss needs; its last layer then runs at those positions only too (enc_batch.head_rows_only,
 * as in ordo train) where the backend can, or at every position with --all-rows.
 * --precision: the trainer's storage precision. On every backend today bf16/fp16 are rounded
 * float32 arrays (the products and kernels are fp32): an emulation, not low-precision kernels.
 * --min-len N: each sequence gets a length drawn uniformly from [N, seq], padded to seq (mask
 * 0): tokens_per_s counts every position computed, real_tokens_per_s the real tokens only.
 * --infer: forward passes only (no dropout, no gradients), with a sequence-classification head
 * of one output (as RobertaForSequenceClassification), timed to sequences per second.
 * Timing: wall time of the steps after the warmup, each ended by a backend sync. Device memory
 * (mem_MB): what the backend holds after the timed steps (the activation arena and every
 * buffer are allocated before the first step and none inside it, so this is the run's peak);
 * null on host-memory backends. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/config.h"
#include "ordo/model.h"
#include "ordo/ops.h"
#include "ordo/progress.h"
#include "ordo/rng.h"
#include "ordo/trainer.h"

typedef struct bench_data {
  int B, T, V, min_len, full, all_rows;
  int32_t *ids, *mask, *rows, *labels, *all;
  int n_rows;
  int64_t real; /* real tokens of the batch */
  ordo_rng r;
} bench_data;

/* A fresh batch: random ids, lengths in [min_len, T], 15% of the real tokens masked. */
static void bench_draw(bench_data *d) {
  int n = 0;
  d->real = 0;
  for (int b = 0; b < d->B; b++) {
    int len = d->min_len >= d->T ? d->T : d->min_len + (int)rng_below(&d->r, (uint32_t)(d->T - d->min_len + 1));
    d->real += len;
    for (int t = 0; t < d->T; t++) {
      int i = b * d->T + t;
      d->ids[i] = t < len ? 5 + (int32_t)rng_below(&d->r, (uint32_t)(d->V - 5)) : 0;
      d->mask[i] = t < len;
      d->all[i] = -100;
      if (t < len && rng_uniform(&d->r) < 0.15f) {
        d->rows[n] = i;
        d->labels[n] = d->ids[i];
        d->all[i] = d->ids[i];
        n++;
      }
    }
  }
  d->n_rows = n;
}

static enc_batch bench_batch(const bench_data *d) {
  enc_batch b = {.B = d->B, .T = d->T, .ids = d->ids, .mask = d->mask};
  if (d->full) b.mlm_labels = d->all;
  else b.mlm_rows = d->rows, b.n_mlm_rows = d->n_rows, b.mlm_labels = d->labels;
  b.head_rows_only = !d->all_rows;
  return b;
}

static void bench_prepare(void *ctx, int64_t step, int n_micro) {
  (void)step, (void)n_micro;
  bench_draw(ctx);
}

static float bench_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)step, (void)i;
  enc_batch b = bench_batch(ctx);
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  float loss = enc_loss_mlm(m, &b, dloss, NULL);
  enc_backward(m, &b);
  return loss;
}

static int flag_int(const char *f, const char *v, int lo, int hi, int *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (*end || end == v || x < lo || x > hi) {
    fprintf(stderr, "bench_train: %s wants an integer in [%d, %d], got '%s'\n", f, lo, hi, v);
    return -1;
  }
  *out = (int)x;
  return 0;
}

int main(int argc, char **argv) {
  int L = 4, H = 256, A = 4, FF = 1024, V = 8192, T = 128, B = 16, steps = 10, warm = 2, thr = 0;
  int min_len = -1, infer = 0, all_rows = 0, bad = 0;
  double drop = 0.1, adrop = -1; /* adrop < 0: the same as drop */
  int full = 0;
  const char *device = "cpu", *prec = "f32", *arch = "bert";
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (!strcmp(f, "--infer")) {
      infer = 1;
      continue;
    }
    if (!strcmp(f, "--all-rows")) {
      all_rows = 1;
      continue;
    }
    if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
      printf("usage: bench_train [--layers N] [--hidden N] [--heads N] [--intermediate N] [--vocab N]\n"
             "  [--seq N] [--batch N] [--steps N] [--warmup N] [--threads N] [--dropout P]\n"
             "  [--attn-dropout P] [--head masked|full] [--device cpu|cpu-ref|cuda]\n"
             "  [--precision f32|bf16|fp16] [--arch bert|roberta] [--min-len N] [--infer]\n"
             "  [--all-rows]\n"
             "Times masked-LM training steps (or --infer forward passes) on random tokens and\n"
             "prints one JSON line (see the top of bench/bench_train.c).\n");
      return 0;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "bench_train: %s needs a value\n", f);
      return 2;
    }
    const char *v = argv[++i];
    if (!strcmp(f, "--layers")) bad |= flag_int(f, v, 1, 1000, &L);
    else if (!strcmp(f, "--hidden")) bad |= flag_int(f, v, 1, 1 << 16, &H);
    else if (!strcmp(f, "--heads")) bad |= flag_int(f, v, 1, 1 << 10, &A);
    else if (!strcmp(f, "--intermediate")) bad |= flag_int(f, v, 1, 1 << 18, &FF);
    else if (!strcmp(f, "--vocab")) bad |= flag_int(f, v, 6, 1 << 24, &V);
    else if (!strcmp(f, "--seq")) bad |= flag_int(f, v, 2, 1 << 16, &T);
    else if (!strcmp(f, "--batch")) bad |= flag_int(f, v, 1, 1 << 16, &B);
    else if (!strcmp(f, "--steps")) bad |= flag_int(f, v, 1, 1 << 24, &steps);
    else if (!strcmp(f, "--warmup")) bad |= flag_int(f, v, 0, 1 << 24, &warm);
    else if (!strcmp(f, "--threads")) bad |= flag_int(f, v, 0, 4096, &thr);
    else if (!strcmp(f, "--min-len")) bad |= flag_int(f, v, 1, 1 << 16, &min_len);
    else if (!strcmp(f, "--dropout")) drop = atof(v);
    else if (!strcmp(f, "--attn-dropout")) adrop = atof(v);
    else if (!strcmp(f, "--head") && (!strcmp(v, "full") || !strcmp(v, "masked"))) full = !strcmp(v, "full");
    else if (!strcmp(f, "--head")) {
      fprintf(stderr, "bench_train: --head is masked or full, not '%s'\n", v);
      return 2;
    }
    else if (!strcmp(f, "--device")) device = v;
    else if (!strcmp(f, "--precision")) prec = v;
    else if (!strcmp(f, "--arch")) arch = v;
    else {
      fprintf(stderr, "bench_train: unknown flag %s\n", f);
      return 2;
    }
  }
  if (bad) return 2;
  if (min_len > T) {
    fprintf(stderr, "bench_train: --min-len %d is longer than --seq %d\n", min_len, T);
    return 2;
  }
  ordo_dtype dt;
  if (!strcmp(prec, "f32")) dt = ORDO_DT_F32;
  else if (!strcmp(prec, "bf16")) dt = ORDO_DT_BF16;
  else if (!strcmp(prec, "fp16")) dt = ORDO_DT_F16;
  else {
    fprintf(stderr, "bench_train: --precision is f32, bf16 or fp16, not '%s'\n", prec);
    return 2;
  }
  ordo_arch ar;
  if (!strcmp(arch, "bert")) ar = ORDO_ARCH_BERT;
  else if (!strcmp(arch, "roberta")) ar = ORDO_ARCH_ROBERTA;
  else {
    fprintf(stderr, "bench_train: --arch is bert or roberta, not '%s'\n", arch);
    return 2;
  }
  if (thr > 0) ordo_set_threads(thr);
  ordo_err e;
  ordo_backend be;
  if (ordo_backend_open(&be, device, &e) != 0) {
    fprintf(stderr, "bench_train: --device: %s\n", e.msg);
    return 1;
  }
  enc_config cfg;
  hfconfig_defaults(&cfg, ar);
  cfg.num_hidden_layers = L, cfg.hidden_size = cfg.embedding_size = H;
  cfg.num_attention_heads = A, cfg.intermediate_size = FF, cfg.vocab_size = V;
  cfg.hidden_dropout_prob = (float)drop;
  cfg.attention_probs_dropout_prob = (float)(adrop >= 0 ? adrop : drop);
  cfg.max_position_embeddings = (T > 512 ? T : 512) + (ar == ORDO_ARCH_ROBERTA ? cfg.pad_token_id + 1 : 0);
  cfg.num_labels = 1;
  int heads = infer ? ENC_HEAD_CLS : ENC_HEAD_MLM;
  enc_model m;
  if (enc_check_config(&cfg, heads, NULL, &e) != 0 || enc_init(&m, &cfg, heads, &be, &e) != 0) {
    fprintf(stderr, "bench_train: %s\n", e.msg);
    ordo_backend_close(&be);
    return 1;
  }
  enc_init_weights(&m, 1);
  trainer_config tc = trainer_defaults();
  tc.steps = warm + steps;
  tc.precision = dt;
  tc.sched = (sched_config){.kind = SCHED_CONSTANT, .lr = 1e-4f, .total_steps = tc.steps};
  tc.adamw.lr = 1e-4f;
  trainer tr;
  if (!infer && trainer_init(&tr, &m, &tc, &e) != 0) {
    fprintf(stderr, "bench_train: %s\n", e.msg);
    enc_free(&m);
    ordo_backend_close(&be);
    return 1;
  }
  if (infer) enc_set_precision(&m, dt);
  enc_plan(&m, B, T, B * T);
  bench_data d = {.B = B, .T = T, .V = V, .min_len = min_len > 0 ? min_len : T, .full = full,
                  .all_rows = all_rows};
  size_t BT = (size_t)B * T;
  d.ids = malloc(BT * 4), d.mask = malloc(BT * 4), d.rows = malloc(BT * 4);
  d.labels = malloc(BT * 4), d.all = malloc(BT * 4);
  rng_init(&d.r, 7);
  double t_timed = 0, loss_first = NAN, loss_last = NAN;
  int64_t real_timed = 0;
  ordo_progress pb; /* on stderr: stdout holds the JSON line */
  progress_init(&pb, "bench_train", warm + steps);
  for (int s = 0; s < warm + steps; s++) {
    double t0 = ordo_time();
    float loss = NAN;
    if (infer) {
      bench_draw(&d);
      enc_batch b = bench_batch(&d);
      enc_forward(&m, &b, 0);
      be.ops->sync(be.ctx);
    } else {
      trainer_stats st;
      trainer_step(&tr, &d, bench_prepare, bench_micro, &st); /* reads the norm: a sync */
      be.ops->sync(be.ctx);
      loss = st.loss;
    }
    double dt_s = ordo_time() - t0;
    if (s >= warm) t_timed += dt_s, real_timed += d.real;
    if (isnan(loss_first)) loss_first = loss;
    loss_last = loss;
    char tail[96];
    snprintf(tail, sizeof tail, "%s loss %.4f %.0f tok/s", s < warm ? "warmup" : "timed", loss, BT / dt_s);
    progress_update(&pb, s + 1, tail);
  }
  progress_finish(&pb, NULL);
  char mem[32] = "null";
  if (be.ops->mem_in_use) snprintf(mem, sizeof mem, "%.1f", be.ops->mem_in_use(be.ctx) / 1048576.0);
  printf("{\"impl\":\"ordo\",\"device\":\"%s\",\"precision\":\"%s\",\"mode\":\"%s\",\"arch\":\"%s\","
         "\"L\":%d,\"H\":%d,\"V\":%d,\"seq\":%d,\"batch\":%d,\"min_len\":%d,\"head\":\"%s\","
         "\"last_layer_at_head_rows\":%s,"
         "\"threads\":%d,\"attn_dropout\":%g,\"params\":%lld,\"tokens_per_s\":%.1f,"
         "\"real_tokens_per_s\":%.1f,\"seq_per_s\":%.1f,\"step_ms\":%.2f,\"arena_MB\":%.1f,\"mem_MB\":%s,"
         "\"loss_first\":%.4f,\"loss_last\":%.4f}\n",
         be.ops->name, prec, infer ? "infer" : "train", arch, L, H, V, T, B, d.min_len,
         infer ? "cls" : full ? "full" : "masked", m.head_rows ? "true" : "false", omp_get_max_threads(),
         (double)cfg.attention_probs_dropout_prob, (long long)params_count(&m.params, 0),
         (double)steps * BT / t_timed, real_timed / t_timed, (double)steps * B / t_timed,
         1e3 * t_timed / steps, m.arena.cap / 1048576.0, mem, infer ? 0.0 : loss_first, infer ? 0.0 : loss_last);
  if (!infer) trainer_free(&tr);
  enc_free(&m);
  ordo_backend_close(&be);
  free(d.ids), free(d.mask), free(d.rows), free(d.labels), free(d.all);
  return 0;
}
