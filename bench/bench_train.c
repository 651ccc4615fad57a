/* CPU training-throughput benchmark: masked-LM steps of a BERT encoder on random tokens,
 * the same work as bench/torch_cpu_train.py does in PyTorch. Prints one JSON line.
 *
 *   bench_train [--layers 4] [--hidden 256] [--heads 4] [--intermediate 1024] [--vocab 8192]
 *               [--seq 128] [--batch 16] [--steps 10] [--warmup 2] [--threads N]
 *               [--dropout 0.1] [--attn-dropout P] [--head masked|full]
 * --attn-dropout sets the attention-probability dropout (default: the --dropout value, as in
 * BERT's recipe where both are 0.1).
 * --head full runs the MLM head on every position (as HF does); masked (the default, what
 * ordo train does) only on the ~15% masked positions, whose logits are the only ones the
 * loss needs. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/model.h"
#include "ordo/optim.h"
#include "ordo/progress.h"
#include "ordo/rng.h"

int main(int argc, char **argv) {
  int L = 4, H = 256, A = 4, FF = 1024, V = 8192, T = 128, B = 16, steps = 10, warm = 2, thr = 0;
  double drop = 0.1, adrop = -1; /* adrop < 0: the same as drop */
  int full = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *f = argv[i], *v = argv[i + 1];
    if (!strcmp(f, "--layers")) L = atoi(v);
    else if (!strcmp(f, "--hidden")) H = atoi(v);
    else if (!strcmp(f, "--heads")) A = atoi(v);
    else if (!strcmp(f, "--intermediate")) FF = atoi(v);
    else if (!strcmp(f, "--vocab")) V = atoi(v);
    else if (!strcmp(f, "--seq")) T = atoi(v);
    else if (!strcmp(f, "--batch")) B = atoi(v);
    else if (!strcmp(f, "--steps")) steps = atoi(v);
    else if (!strcmp(f, "--warmup")) warm = atoi(v);
    else if (!strcmp(f, "--threads")) thr = atoi(v);
    else if (!strcmp(f, "--dropout")) drop = atof(v);
    else if (!strcmp(f, "--attn-dropout")) adrop = atof(v);
    else if (!strcmp(f, "--head")) full = !strcmp(v, "full");
    else {
      fprintf(stderr, "bench_train: unknown flag %s\n", f);
      return 2;
    }
  }
  if (thr > 0) {
    omp_set_num_threads(thr);
    openblas_set_num_threads(thr);
  }
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_BERT);
  cfg.num_hidden_layers = L, cfg.hidden_size = cfg.embedding_size = H;
  cfg.num_attention_heads = A, cfg.intermediate_size = FF, cfg.vocab_size = V;
  cfg.hidden_dropout_prob = (float)drop;
  cfg.attention_probs_dropout_prob = (float)(adrop >= 0 ? adrop : drop);
  cfg.max_position_embeddings = T > 512 ? T : 512;
  enc_model m;
  ordo_err e;
  if (enc_init(&m, &cfg, ENC_HEAD_MLM, NULL, &e) != 0) {
    fprintf(stderr, "bench_train: %s\n", e.msg);
    return 1;
  }
  enc_init_weights(&m, 1);
  enc_plan(&m, B, T, B * T);
  adamw_config ac = adamw_defaults();
  opt_adamw o;
  opt_adamw_init(&o, &m.params, &ac);
  int BT = B * T;
  int32_t *ids = malloc(BT * 4), *mask = malloc(BT * 4), *rows = malloc(BT * 4),
          *labels = malloc(BT * 4), *all = malloc(BT * 4);
  ordo_rng r;
  rng_init(&r, 7);
  double t_timed = 0, loss_first = 0, loss_last = 0;
  ordo_progress pb; /* on stderr: stdout holds the JSON line */
  progress_init(&pb, "bench_train", warm + steps);
  for (int s = 0; s < warm + steps; s++) {
    int n = 0;
    for (int i = 0; i < BT; i++) {
      ids[i] = 5 + (int32_t)rng_below(&r, (uint32_t)(V - 5));
      mask[i] = 1;
      all[i] = -100;
      if (rng_uniform(&r) < 0.15f) {
        rows[n] = i;
        labels[n] = ids[i];
        all[i] = ids[i];
        n++;
      }
    }
    enc_batch b = {.B = B, .T = T, .ids = ids, .mask = mask};
    if (full) b.mlm_labels = all;
    else b.mlm_rows = rows, b.n_mlm_rows = n, b.mlm_labels = labels;
    double t0 = omp_get_wtime();
    m.step = (uint64_t)s;
    params_zero_grad(&m.params);
    enc_forward(&m, &b, 1);
    enc_zero_output_grads(&m, &b);
    float loss = enc_loss_mlm(&m, &b, 1.0f, NULL);
    enc_backward(&m, &b);
    double gn = grad_global_norm(&m.params);
    if (gn > 1.0) grad_scale(&m.params, (float)(1.0 / (gn + 1e-6)));
    opt_adamw_step(&o, &m.params, 1e-4f);
    double dt = omp_get_wtime() - t0;
    if (s >= warm) t_timed += dt;
    if (s == 0) loss_first = loss;
    loss_last = loss;
    char tail[96];
    snprintf(tail, sizeof tail, "%s loss %.4f %.0f tok/s", s < warm ? "warmup" : "timed", loss, BT / dt);
    progress_update(&pb, s + 1, tail);
  }
  progress_finish(&pb, NULL);
  printf("{\"impl\":\"ordo\",\"head\":\"%s\",\"threads\":%d,\"attn_dropout\":%g,"
         "\"tokens_per_s\":%.1f,\"step_ms\":%.2f,\"loss_first\":%.4f,\"loss_last\":%.4f}\n",
         full ? "full" : "masked", omp_get_max_threads(), (double)cfg.attention_probs_dropout_prob,
         (double)steps * BT / t_timed, 1e3 * t_timed / steps, loss_first, loss_last);
  opt_adamw_free(&o);
  enc_free(&m);
  free(ids), free(mask), free(rows), free(labels), free(all);
  return 0;
}
