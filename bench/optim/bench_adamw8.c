/* 8-bit vs 32-bit AdamW: optimizer state bytes per parameter and step time on a BERT-base-sized
 * parameter table, and a masked-LM run of each on real text (AI4Code notebook cells) comparing
 * the losses. Prints tables; no assertions.
 *
 * Build (after building the libraries in build-optim):
 *   gcc -O3 -march=native -fopenmp -D_GNU_SOURCE -Iinclude bench/optim/bench_adamw8.c \
 *     build-optim/libordo_train.a build-optim/libordo_model.a build-optim/libordo_io.a \
 *     build-optim/libordo_cpu.a build-optim/libordo_tok.a build-optim/libordo_core.a \
 *     -lcjson -lutf8proc -lopenblas -lm -o /tmp/bench_adamw8
 * Run:
 *   /tmp/bench_adamw8 state                      # bytes/parameter and step times
 *   /tmp/bench_adamw8 mlm DATA_DIR STEPS BITS    # one MLM run, loss per 100 steps; BITS 8, 32,
 *                                                # or -8 (8-bit with 32-bit embedding state)
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/mlm.h"
#include "ordo/model.h"
#include "ordo/optim.h"
#include "ordo/rng.h"
#include "ordo/schedule.h"
#include "ordo/tok.h"
#include "ordo/trainer.h"

static void state_table(void) {
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_BERT); /* BERT-base: 12 x 768, vocab 30522 */
  enc_model m;
  ordo_err e = {0};
  if (enc_init(&m, &cfg, ENC_HEAD_MLM, NULL, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    exit(1);
  }
  int64_t n = params_count(&m.params, 1);
  ordo_rng r;
  rng_init(&r, 1);
  for (size_t i = 0; i < m.params.total; i++) m.params.grad[i] = 1e-3f * rng_normal(&r);
  printf("BERT-base MLM parameter table: %d tensors, %.2fM trainable values\n\n", m.params.n, n / 1e6);
  printf("| optimizer state | 8-bit values | 32-bit values | state MB | bytes/parameter | step ms |\n");
  printf("|---|---|---|---|---|---|\n");
  adamw_config ac = adamw_defaults();
  {
    opt_adamw o;
    opt_adamw_init(&o, &m.params, &ac);
    opt_adamw_step(&o, &m.params, 1e-4f);
    double t0 = ordo_time();
    for (int k = 0; k < 5; k++) opt_adamw_step(&o, &m.params, 1e-4f);
    double ms = (ordo_time() - t0) / 5 * 1e3;
    printf("| opt_adamw (32-bit) | 0 | %lld | %.1f | %.4f | %.1f |\n", (long long)n,
           2.0 * o.n * 4 / 1e6, 2.0 * o.n * 4 / n, ms);
    opt_adamw_free(&o);
  }
  struct { const char *label; int bits; const char *keep; } rows[] = {
      {"adamw8, bits 32", 32, NULL},
      {"adamw8, 8-bit (min 4096)", 8, NULL},
      {"adamw8, 8-bit, embeddings 32-bit", 8, "embeddings"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    adamw8_config qc = adamw8_defaults();
    qc.bits = rows[i].bits;
    if (rows[i].keep) qc.keep32[qc.n_keep32++] = rows[i].keep;
    opt_adamw8 o;
    if (opt_adamw8_init(&o, &m.params, &ac, &qc, NULL, &e) != 0) exit(1);
    int64_t n8, n32;
    opt_adamw8_counts(&o, &m.params, &n8, &n32);
    opt_adamw8_step(&o, &m.params, 1e-4f);
    double t0 = ordo_time();
    for (int k = 0; k < 5; k++) opt_adamw8_step(&o, &m.params, 1e-4f);
    double ms = (ordo_time() - t0) / 5 * 1e3;
    size_t b = opt_adamw8_state_bytes(&o);
    printf("| %s | %lld | %lld | %.1f | %.4f | %.1f |\n", rows[i].label, (long long)n8,
           (long long)n32, b / 1e6, (double)b / n, ms);
    opt_adamw8_free(&o);
  }
  enc_free(&m);
}

/* Cell sources of the first notebooks in DIR (AI4Code json: {"source": {id: text}}). */
static int read_cells(const char *dir, int max_files, char ***texts, size_t **lens) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  char **names = NULL;
  int nn = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strstr(de->d_name, ".json")) continue;
    if (nn == cap) names = realloc(names, (cap = cap ? 2 * cap : 256) * sizeof *names);
    names[nn++] = strdup(de->d_name);
  }
  closedir(d);
  /* sorted for a reproducible corpus */
  for (int i = 1; i < nn; i++)
    for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char *t = names[j];
      names[j] = names[j - 1];
      names[j - 1] = t;
    }
  int n = 0, tcap = 0;
  *texts = NULL;
  *lens = NULL;
  for (int i = 0; i < nn && i < max_files; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    size_t len;
    char *txt = ordo_read_file(path, &len, NULL);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    const cJSON *src = root ? cJSON_GetObjectItemCaseSensitive(root, "source") : NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, src) {
      if (!cJSON_IsString(c) || !c->valuestring[0]) continue;
      if (n == tcap) {
        tcap = tcap ? 2 * tcap : 1024;
        *texts = realloc(*texts, tcap * sizeof(char *));
        *lens = realloc(*lens, tcap * sizeof(size_t));
      }
      (*texts)[n] = strdup(c->valuestring);
      (*lens)[n] = strlen(c->valuestring);
      n++;
    }
    cJSON_Delete(root);
  }
  for (int i = 0; i < nn; i++) free(names[i]);
  free(names);
  return n;
}

/* bits: 8, 32, or -8 for 8-bit state with the embeddings kept in 32 bits (bitsandbytes' advice
 * for embedding layers). */
/* One masked-LM batch per step: the trainer's micro-batch callback. */
typedef struct mlm_step_ctx {
  mlm_data *data;
  int B, T;
  int32_t *ids, *mask, *rows, *labels;
} mlm_step_ctx;

static float mlm_micro(void *p, enc_model *m, int64_t step, int i, float dloss) {
  (void)i;
  mlm_step_ctx *c = p;
  int nm = mlm_data_batch(c->data, step, c->B, c->ids, c->mask, c->rows, c->labels);
  enc_batch b = {.B = c->B, .T = c->T, .ids = c->ids, .mask = c->mask, .mlm_rows = c->rows,
                 .n_mlm_rows = nm, .mlm_labels = c->labels};
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  float loss = enc_loss_mlm(m, &b, dloss, NULL);
  enc_backward(m, &b);
  return loss;
}

static int mlm_run(const char *dir, int64_t steps, int bits) {
  const int keep_emb = bits < 0;
  if (bits < 0) bits = -bits;
  char **texts;
  size_t *lens;
  int n = read_cells(dir, 400, &texts, &lens);
  if (n == 0) {
    fprintf(stderr, "no notebook cells under %s\n", dir);
    return 1;
  }
  ordo_err e = {0};
  tok_train_opts to = {.vocab_size = 2048, .min_frequency = 2, .lowercase = 1};
  char *json = NULL;
  tok *tk = NULL;
  if (tok_train_wordpiece_texts((const char *const *)texts, lens, n, &to, &json, &e) != 0 ||
      tok_load_json(&tk, json, strlen(json), "trained", &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  free(json);
  tok_batch tb;
  tok_encode_batch(tk, (const char *const *)texts, lens, n, 0, 0, &tb);
  int32_t sep = tok_special_id(tk, TOK_SP_SEP);
  int64_t total = tb.offsets[n] + n, k = 0;
  int32_t *stream = malloc(total * sizeof(int32_t));
  for (int i = 0; i < n; i++) {
    int64_t len = tb.offsets[i + 1] - tb.offsets[i];
    memcpy(stream + k, tb.ids + tb.offsets[i], len * sizeof(int32_t));
    k += len;
    stream[k++] = sep;
  }
  tok_batch_free(&tb);
  const int B = 16, T = 64;
  mlm_data data;
  if (mlm_data_init(&data, stream, k, T, B, tok_special_id(tk, TOK_SP_CLS), sep,
                    tok_special_id(tk, TOK_SP_MASK), tok_special_id(tk, TOK_SP_PAD),
                    tok_vocab_size(tk), 1, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  enc_config cfg;
  hfconfig_defaults(&cfg, ORDO_ARCH_BERT);
  cfg.vocab_size = tok_vocab_size(tk);
  cfg.hidden_size = cfg.embedding_size = 64;
  cfg.num_hidden_layers = 2;
  cfg.num_attention_heads = 2;
  cfg.intermediate_size = 256;
  cfg.max_position_embeddings = 128;
  cfg.hidden_dropout_prob = 0.1f;
  cfg.attention_probs_dropout_prob = 0.0f;
  cfg.pad_token_id = tok_special_id(tk, TOK_SP_PAD);
  enc_model m;
  if (enc_init(&m, &cfg, ENC_HEAD_MLM, NULL, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  enc_init_weights(&m, 1);
  enc_plan(&m, B, T, B * T);
  m.seed = 1;
  /* the shared trainer: torch-default AdamW, clip 1.0, linear schedule with 5% warmup */
  trainer_config tc = trainer_defaults();
  tc.steps = steps;
  tc.seed = 1;
  tc.q8.bits = bits;
  if (keep_emb) tc.q8.keep32[tc.q8.n_keep32++] = "embeddings";
  tc.adamw.lr = 1e-3f;
  tc.sched = (sched_config){.kind = SCHED_LINEAR, .lr = 1e-3f, .warmup_steps = steps / 20,
                            .total_steps = steps, .min_lr = 0};
  trainer tr;
  if (trainer_init(&tr, &m, &tc, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  opt_adamw8 *o = &tr.opt;
  int64_t n8, n32;
  opt_adamw8_counts(o, &m.params, &n8, &n32);
  printf("corpus %d cells, %lld tokens, %lld sequences; model %.3fM values (%lld with 8-bit state)\n", n,
         (long long)k, (long long)data.n_seqs, params_count(&m.params, 1) / 1e6, (long long)n8);
  mlm_step_ctx ctx = {.data = &data, .B = B, .T = T};
  ctx.ids = malloc(B * T * 4), ctx.mask = malloc(B * T * 4), ctx.rows = malloc(B * T * 4);
  ctx.labels = malloc(B * T * 4);
  double window = 0, t0 = ordo_time();
  int wn = 0;
  for (int64_t step = 0; step < steps; step++) {
    trainer_stats st;
    trainer_step(&tr, &ctx, NULL, mlm_micro, &st);
    float loss = st.loss;
    window += loss;
    wn++;
    if ((step + 1) % 100 == 0) {
      printf("bits %d%s step %lld mean loss (last 100) %.5f  %.1f s\n", bits, keep_emb ? "e" : "", (long long)step + 1,
             window / wn, ordo_time() - t0);
      fflush(stdout);
      window = 0;
      wn = 0;
    }
  }
  /* values whose second moment reads 0 while the first does not: their update is m / eps */
  for (int i = 0; i < m.params.n; i++) {
    if (o->spec[i].bits != 8) continue;
    int64_t ne = m.params.specs[i].numel, bad = 0;
    float *mm = malloc(ne * 4), *vv = malloc(ne * 4);
    opt_adamw8_moments(o, &m.params, i, mm, vv);
    for (int64_t j = 0; j < ne; j++) bad += vv[j] == 0.0f && mm[j] != 0.0f;
    if (bad) printf("%s: %lld of %lld values have v = 0 and m != 0\n", m.params.specs[i].name, (long long)bad, (long long)ne);
    free(mm), free(vv);
  }
  free(ctx.ids), free(ctx.mask), free(ctx.rows), free(ctx.labels);
  trainer_free(&tr);
  enc_free(&m);
  mlm_data_free(&data);
  tok_free(tk);
  for (int i = 0; i < n; i++) free(texts[i]);
  free(texts);
  free(lens);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "state") == 0) {
    state_table();
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "mlm") == 0) return mlm_run(argv[2], atoll(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: bench_adamw8 state | mlm DATA_DIR STEPS BITS\n");
  return 2;
}
