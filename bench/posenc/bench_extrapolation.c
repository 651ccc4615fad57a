/* Length extrapolation of the position schemes: the same small encoder pretrained (masked LM)
 * at sequence length 128 with each scheme, its masked-LM loss then evaluated on held-out text
 * at 128, 256 and 512 tokens, and for RoPE also with position interpolation (positions scaled
 * by 128 / L). Prints a table; no assertions.
 *
 * Build (after `make`, from the repository root):
 *   gcc -O3 -march=native -fopenmp -D_GNU_SOURCE -Iinclude bench/posenc/bench_extrapolation.c \
 *     build/libordo_data.a build/libordo_train.a build/libordo_model.a build/libordo_io.a \
 *     build/libordo_cpu.a build/libordo_tok.a build/libordo_core.a \
 *     -lcjson -lutf8proc -lopenblas -lz -lm -o /tmp/bench_extrapolation
 *   (a build with MPI also needs $(pkg-config --libs ompi-c))
 * Run:
 *   /tmp/bench_extrapolation DATA_DIR NOTEBOOKS STEPS [SCHEMES]
 *   e.g. /tmp/bench_extrapolation ../shared/data/nb-public 800 2000 absolute,sinusoidal,rope,alibi,relative
 * The first 90% of the token stream (notebooks sorted by id, cells in their true order) trains
 * a WordPiece vocabulary of 4,096 and the models; the last 10% is the held-out set, cut into
 * sequences of each evaluation length and masked once with a fixed seed (15%, 80/10/10). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/mlm.h"
#include "ordo/mlm_task.h"
#include "ordo/model.h"
#include "ordo/notebook.h"
#include "ordo/tok.h"
#include "ordo/trainer.h"

enum { TRAIN_T = 128, B = 16, EVAL_B = 4 };

typedef struct corpus {
  int32_t *ids;
  int64_t n, n_train;
  tok *tk;
} corpus;

static int load_corpus(corpus *c, const char *dir, int max_nb, ordo_err *e) {
  nb_dataset ds;
  if (nb_dataset_load(&ds, dir, 0, 1, e) != 0) return -1;
  int nb = ds.n < max_nb ? ds.n : max_nb, n = 0;
  for (int i = 0; i < nb; i++) n += ds.nbs[i].n_cells;
  const char **texts = malloc((size_t)n * sizeof *texts);
  size_t *lens = malloc((size_t)n * sizeof *lens);
  n = 0;
  for (int i = 0; i < nb; i++) {
    const nb_notebook *b = &ds.nbs[i];
    for (int k = 0; k < b->n_cells; k++) {
      const nb_cell *cl = &b->cells[b->order ? b->order[k] : k];
      texts[n] = cl->source, lens[n] = (size_t)cl->len, n++;
    }
  }
  /* the vocabulary from the training part only */
  int n_train_texts = (int)(0.9 * n);
  tok_train_opts to = {.vocab_size = 4096, .min_frequency = 2, .lowercase = 1};
  char *json = NULL;
  if (tok_train_wordpiece_texts(texts, lens, n_train_texts, &to, &json, e) != 0 ||
      tok_load_json(&c->tk, json, strlen(json), "trained", e) != 0)
    return -1;
  free(json);
  tok_batch tb;
  tok_encode_batch(c->tk, texts, lens, n, 0, 0, &tb);
  int32_t sep = tok_special_id(c->tk, TOK_SP_SEP);
  c->ids = malloc((size_t)(tb.offsets[n] + n) * sizeof(int32_t));
  c->n = 0;
  for (int i = 0; i < n; i++) {
    if (i == n_train_texts) c->n_train = c->n;
    int64_t len = tb.offsets[i + 1] - tb.offsets[i];
    memcpy(c->ids + c->n, tb.ids + tb.offsets[i], (size_t)len * sizeof(int32_t));
    c->n += len;
    c->ids[c->n++] = sep;
  }
  tok_batch_free(&tb);
  free(texts);
  free(lens);
  nb_dataset_free(&ds);
  return 0;
}

static int data_of(mlm_data *d, const corpus *c, int64_t from, int64_t n, int T, int batch,
                   uint64_t seed, ordo_err *e) {
  int32_t *s = malloc((size_t)n * sizeof(int32_t));
  memcpy(s, c->ids + from, (size_t)n * sizeof(int32_t));
  return mlm_data_init(d, s, n, T, batch, tok_special_id(c->tk, TOK_SP_CLS),
                       tok_special_id(c->tk, TOK_SP_SEP), tok_special_id(c->tk, TOK_SP_MASK),
                       tok_special_id(c->tk, TOK_SP_PAD), tok_vocab_size(c->tk), seed, e);
}

/* Mean masked-LM cross-entropy over every masked token of the held-out part cut at length T. */
static double eval_loss(enc_model *m, const corpus *c, int T, ordo_err *e) {
  mlm_data d;
  if (data_of(&d, c, c->n_train, c->n - c->n_train, T, EVAL_B, 12345, e) != 0) return -1;
  int32_t *ids = malloc((size_t)EVAL_B * T * 4), *mask = malloc((size_t)EVAL_B * T * 4);
  int32_t *rows = malloc((size_t)EVAL_B * T * 4), *labels = malloc((size_t)EVAL_B * T * 4);
  double sum = 0;
  long count = 0;
  for (int64_t s = 0; s < d.n_seqs / EVAL_B; s++) {
    int nm = mlm_data_batch(&d, s, EVAL_B, ids, mask, rows, labels);
    enc_batch b = {.B = EVAL_B, .T = T, .ids = ids, .mask = mask, .mlm_rows = rows,
                   .n_mlm_rows = nm, .mlm_labels = labels};
    enc_forward(m, &b, 0);
    int cnt = 0;
    float l = enc_loss_mlm(m, &b, 0.0f, &cnt);
    sum += (double)l * cnt;
    count += cnt;
  }
  free(ids), free(mask), free(rows), free(labels);
  mlm_data_free(&d);
  return count ? sum / count : -1;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench_extrapolation DATA_DIR NOTEBOOKS STEPS [SCHEMES]\n");
    return 2;
  }
  omp_set_num_threads(1);
  const char *schemes = argc > 4 ? argv[4] : "absolute,sinusoidal,rope,alibi,relative";
  long steps = atol(argv[3]);
  ordo_err e = {0};
  corpus c = {0};
  if (load_corpus(&c, argv[1], atoi(argv[2]), &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  printf("corpus: %lld tokens (%lld train, %lld held out), vocabulary %d; L2 H64 A2 I256, "
         "seq %d, batch %d, %ld steps\n", (long long)c.n, (long long)c.n_train,
         (long long)(c.n - c.n_train), tok_vocab_size(c.tk), TRAIN_T, B, steps);
  printf("| scheme | loss @128 | @256 | @512 |\n|---|---|---|---|\n");
  char list[256];
  snprintf(list, sizeof list, "%s", schemes);
  for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
    enc_config cfg;
    hfconfig_defaults(&cfg, ORDO_ARCH_BERT);
    if (enc_position_parse(name, &cfg.position) != 0) {
      fprintf(stderr, "unknown scheme %s\n", name);
      return 2;
    }
    cfg.vocab_size = tok_vocab_size(c.tk);
    cfg.pad_token_id = tok_special_id(c.tk, TOK_SP_PAD);
    cfg.hidden_size = cfg.embedding_size = 64, cfg.num_hidden_layers = 2;
    cfg.num_attention_heads = 2, cfg.intermediate_size = 256;
    cfg.max_position_embeddings = 512; /* rows past 128 of a learned table never train */
    cfg.hidden_dropout_prob = 0.1f, cfg.attention_probs_dropout_prob = 0.0f;
    enc_model m;
    if (enc_init(&m, &cfg, ENC_HEAD_MLM, NULL, &e) != 0) {
      fprintf(stderr, "%s\n", e.msg);
      return 1;
    }
    enc_init_weights(&m, 1);
    m.seed = 1;
    enc_plan(&m, B, TRAIN_T, B * TRAIN_T);
    mlm_data d;
    if (data_of(&d, &c, 0, c.n_train, TRAIN_T, B, 1, &e) != 0) {
      fprintf(stderr, "%s\n", e.msg);
      return 1;
    }
    trainer_config tc = trainer_defaults();
    tc.steps = steps, tc.seed = 1, tc.adamw.lr = 1e-3f;
    tc.sched = (sched_config){.kind = SCHED_LINEAR, .lr = 1e-3f, .warmup_steps = steps / 20,
                              .total_steps = steps, .min_lr = 0};
    trainer tr;
    if (trainer_init(&tr, &m, &tc, &e) != 0) {
      fprintf(stderr, "%s\n", e.msg);
      return 1;
    }
    mlm_task task;
    mlm_task_init(&task, &d, NULL, B, TRAIN_T, 1);
    double t0 = ordo_time();
    for (long s = 0; s < steps; s++) {
      trainer_stats st;
      trainer_step(&tr, &task, mlm_task_prepare, mlm_task_micro, &st);
    }
    double train_s = ordo_time() - t0;
    enc_plan(&m, EVAL_B, 512, EVAL_B * 512);
    double l[3];
    const int Ls[3] = {128, 256, 512};
    for (int k = 0; k < 3; k++) l[k] = eval_loss(&m, &c, Ls[k], &e);
    printf("| %s | %.4f | %.4f | %.4f |  (trained in %.0f s)\n", name, l[0], l[1], l[2], train_s);
    if (cfg.position == ENC_POS_ROPE) {
      for (int k = 1; k < 3; k++) {
        m.cfg.rope_scale = (float)TRAIN_T / (float)Ls[k];
        l[k] = eval_loss(&m, &c, Ls[k], &e);
      }
      m.cfg.rope_scale = 1.0f;
      printf("| rope + interpolation (x 128/L) | %.4f | %.4f | %.4f |\n", l[0], l[1], l[2]);
    }
    fflush(stdout);
    mlm_task_free(&task);
    trainer_free(&tr);
    mlm_data_free(&d);
    enc_free(&m);
  }
  free(c.ids);
  tok_free(c.tk);
  return 0;
}
