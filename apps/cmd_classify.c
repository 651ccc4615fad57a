/* ordo classify train|eval|predict: text classification with a BERT-family encoder and its
 * sequence-classification head, fully fine-tuned or with LoRA adapters. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli_flags.h"
#include "device_flag.h"
#include "commands.h"
#include "model_files.h"
#include "train_flags.h"
#include "ordo/classify.h"
#include "ordo/files.h"
#include "ordo/metrics.h"
#include "ordo/model.h"
#include "ordo/progress.h"
#include "ordo/rng.h"
#include "ordo/tok.h"
#include "ordo/trainer.h"

#define CMD "ordo classify"

typedef struct cls_args {
  const char *train, *eval, *data, *out, *model, *init, *tokenizer, *lora_targets, *device;
  int seq, batch, threads, log_every, force, lora, lora_r;
  int vocab_size, layers, hidden, heads, intermediate;
  double epochs, lr, warmup, dropout, classifier_dropout, lora_alpha, lora_dropout;
  int64_t steps, seed;
  trainer_config tc;
  ordo_backend be; /* opened from --device */
} cls_args;

static void usage(FILE *f) {
  fprintf(f,
    "usage: ordo classify train --train FILE --out DIR [--eval FILE] [options]\n"
    "       ordo classify eval --model DIR --data FILE [--out REPORT.json]\n"
    "       ordo classify predict --model DIR --data FILE --out PREDICTIONS.csv\n\n"
    "Text classification with a BERT-family encoder (BERT, RoBERTa, ELECTRA, RoFormer) and a\n"
    "classification head on the first token's hidden state (dense, tanh, dropout, output layer).\n"
    "FILE: CSV with a header naming \"text\" and \"label\" columns, or JSON-lines objects\n"
    "{\"text\": ..., \"label\": ...}. The label set (sorted) is the training file's; it is saved\n"
    "with the model as config.json's id2label. A label at eval that the model does not know is\n"
    "an error naming the file and line.\n\n"
    "train: writes DIR/config.json, model.safetensors, tokenizer.json, metrics.csv, metrics.jsonl,\n"
    "  tb/ (TensorBoard) and checkpoint/ (resumed when present); with --lora also the adapters\n"
    "  (adapter_model.safetensors, adapter_config.json; model.safetensors has them merged). With\n"
    "  --eval FILE, the evaluation of the trained model also goes to DIR/eval.json and tb/eval/.\n"
    "  The recipe: AdamW without weight decay on biases and LayerNorm, linear decay after a\n"
    "  warmup, dropout on the pooled output (classifier_dropout, else hidden_dropout_prob).\n"
    "eval: prints accuracy, per-class precision, recall, F1 and support, macro-F1 and the\n"
    "  most frequent confusions; --out writes them (and the confusion matrix) as JSON.\n"
    "predict: writes a CSV: row (1-based), label, then one probability column per label.\n\n"
    "model (train):\n"
    "  --init DIR           start from a HF checkpoint (config.json, model.safetensors and its\n"
    "                       tokenizer); its classification head, when absent, starts random\n"
    "  --tokenizer PATH     tokenizer.json or a folder (default: --init's, else a WordPiece\n"
    "                       tokenizer trained on the --train texts, --vocab-size, default 8192)\n"
    "  --layers N --hidden N --heads N --intermediate N   a new BERT (default 2/128/2/512)\n"
    "  --dropout P          hidden and attention dropout of a new model (default 0.1)\n"
    "  --classifier-dropout P  dropout on the pooled output (default: the config's)\n"
    "  --lora               train LoRA adapters and the head only; the encoder stays frozen\n"
    "  --lora-r N --lora-alpha X --lora-dropout P   rank (8), alpha (16), dropout (0.1)\n"
    "  --lora-targets LIST  comma-separated modules: query,key,value,dense,attention.output.dense,\n"
    "                       intermediate.dense,output.dense (default query,value)\n"
    "training (train):\n"
    "  --epochs X           passes over --train (default 3); --steps N sets the steps instead\n"
    "  --batch N            rows per micro-batch (default 16); padded to the longest row\n"
    "  --seq N              tokens per row at most, [CLS]/[SEP] included (default 128)\n"
    "  --lr X               peak learning rate (default 5e-5; 5e-4 suits --lora and new models)\n"
    "  --warmup X           warmup steps, or a fraction of the steps when < 1 (default 0.1)\n"
    "  --seed N             init, row order and dropout (default 1)\n"
    "  --log-every N        a loss line every N steps (default 20)\n"
    "  --force              write into an OUT that holds files / replace --out files\n"
    "common:\n"
    "  --seq N --batch N    as above, for eval and predict too\n"
    "  --threads N          CPU threads (default: all cores)\n");
  device_flag_usage(f);
  fprintf(f, "\n");
  train_flags_usage(f);
}

static int parse_args(cls_args *a, int argc, char **argv) {
  /* a new model's sizes stay 0 (dropout -1) until parsed, so that --init can refuse them */
  *a = (cls_args){.seq = 128, .batch = 16, .log_every = 20, .lora_r = 8, .epochs = 3,
                  .lr = 5e-5, .warmup = 0.1, .dropout = -1, .classifier_dropout = -1,
                  .lora_alpha = 16, .lora_dropout = 0.1, .seed = 1, .tc = trainer_defaults()};
  const cli_flag flags[] = {
      {"--train", CLI_STR, &a->train, 0, 0},       {"--eval", CLI_STR, &a->eval, 0, 0},
      {"--data", CLI_STR, &a->data, 0, 0},         {"--out", CLI_STR, &a->out, 0, 0},
      {"--model", CLI_STR, &a->model, 0, 0},       {"--init", CLI_STR, &a->init, 0, 0},
      {"--tokenizer", CLI_STR, &a->tokenizer, 0, 0}, {"--device", CLI_STR, &a->device, 0, 0},
      {"--lora-targets", CLI_STR, &a->lora_targets, 0, 0},
      {"--force", CLI_BOOL, &a->force, 0, 0},      {"--lora", CLI_BOOL, &a->lora, 0, 0},
      {"--seq", CLI_INT, &a->seq, 4, 8192},        {"--batch", CLI_INT, &a->batch, 1, 65536},
      {"--threads", CLI_INT, &a->threads, 1, 1024},
      {"--log-every", CLI_INT, &a->log_every, 1, 1e9},
      {"--lora-r", CLI_INT, &a->lora_r, 1, 4096},
      {"--vocab-size", CLI_INT, &a->vocab_size, 64, ENC_MAX_VOCAB},
      {"--layers", CLI_INT, &a->layers, 1, ENC_MAX_LAYERS},
      {"--hidden", CLI_INT, &a->hidden, 8, ENC_MAX_HIDDEN},
      {"--heads", CLI_INT, &a->heads, 1, ENC_MAX_HEADS},
      {"--intermediate", CLI_INT, &a->intermediate, 8, ENC_MAX_INTERMEDIATE},
      {"--epochs", CLI_NUM, &a->epochs, 1e-6, 1e6}, {"--steps", CLI_I64, &a->steps, 1, 1e12},
      {"--lr", CLI_NUM, &a->lr, 0, 10},            {"--warmup", CLI_NUM, &a->warmup, 0, 1e12},
      {"--dropout", CLI_NUM, &a->dropout, 0, 0.99},
      {"--classifier-dropout", CLI_NUM, &a->classifier_dropout, 0, 0.99},
      {"--lora-alpha", CLI_NUM, &a->lora_alpha, 1e-6, 1e6},
      {"--lora-dropout", CLI_NUM, &a->lora_dropout, 0, 0.99},
      {"--seed", CLI_I64, &a->seed, 0, 9e15},
  };
  for (int i = 2; i < argc; i++) {
    int r = cli_flag_parse(flags, (int)(sizeof flags / sizeof *flags), argc, argv, &i, CMD);
    if (r == 0) r = train_flags_parse(&a->tc, argc, argv, &i, CMD);
    if (r < 0) return 0;
    if (r == 0) {
      fprintf(stderr, CMD ": unknown option '%s' (see ordo classify --help)\n", argv[i]);
      return 0;
    }
  }
  if (train_flags_check(&a->tc, CMD) != 0) return 0;
  const struct { const char *flag; int given; } new_model[] = {
      {"--layers", a->layers > 0}, {"--hidden", a->hidden > 0}, {"--heads", a->heads > 0},
      {"--intermediate", a->intermediate > 0}, {"--vocab-size", a->vocab_size > 0},
      {"--dropout", a->dropout >= 0}};
  for (size_t k = 0; k < sizeof new_model / sizeof *new_model; k++)
    if (a->init && new_model[k].given) {
      fprintf(stderr, CMD ": %s describes a new model; --init %s brings its own\n", new_model[k].flag,
              a->init);
      return 0;
    }
  if (!a->layers) a->layers = 2;
  if (!a->hidden) a->hidden = 128;
  if (!a->heads) a->heads = 2;
  if (!a->intermediate) a->intermediate = 512;
  if (!a->vocab_size) a->vocab_size = 8192;
  if (a->dropout < 0) a->dropout = 0.1;
  if (a->tc.group_by_length) {
    fprintf(stderr, CMD ": --group-by-length: rows are drawn shuffled and each batch is padded "
                    "only to its longest row already\n");
    return 0;
  }
  if ((int64_t)a->batch * a->seq > (1 << 20)) {
    fprintf(stderr, CMD ": --batch %d x --seq %d is more than %d tokens per micro-batch\n",
            a->batch, a->seq, 1 << 20);
    return 0;
  }
  return 1;
}

/* ---- rows as token ids ---- */
typedef struct cls_rows {
  int64_t n;
  int64_t *off; /* (n + 1) */
  int32_t *ids;
} cls_rows;

/* Encodes every text with the special tokens, cut to seq ids the way HF truncates one sequence:
 * the text's first seq - 1 ids, then the closing special token. */
static void rows_encode(cls_rows *r, const tok *tk, const cls_set *s, int seq, int threads) {
  tok_batch tb;
  tok_encode_batch(tk, (const char *const *)s->text, s->len, (int)s->n, TOK_ADD_SPECIAL, threads, &tb);
  r->n = s->n;
  r->off = ordo_malloc((size_t)(s->n + 1) * sizeof(int64_t));
  r->ids = ordo_malloc((size_t)(s->n * seq + 1) * sizeof(int32_t));
  int64_t k = 0;
  for (int64_t i = 0; i < s->n; i++) {
    const int32_t *src = tb.ids + tb.offsets[i];
    int64_t len = tb.offsets[i + 1] - tb.offsets[i];
    r->off[i] = k;
    if (len > seq) {
      memcpy(r->ids + k, src, (size_t)(seq - 1) * sizeof(int32_t));
      r->ids[k + seq - 1] = src[len - 1];
      len = seq;
    } else {
      memcpy(r->ids + k, src, (size_t)len * sizeof(int32_t));
    }
    k += len;
  }
  r->off[s->n] = k;
  tok_batch_free(&tb);
}

static void rows_free(cls_rows *r) {
  free(r->off);
  free(r->ids);
  memset(r, 0, sizeof *r);
}

/* The batch of rows idx[0..B): padded to the longest with pad, mask 1 on real tokens (and on
 * the first position always, so that attention never runs over an empty row). */
static enc_batch rows_batch(const cls_rows *r, const int64_t *idx, int B, int32_t pad,
                            int32_t *ids, int32_t *mask) {
  int T = 1;
  for (int b = 0; b < B; b++) {
    int len = (int)(r->off[idx[b] + 1] - r->off[idx[b]]);
    if (len > T) T = len;
  }
  for (int b = 0; b < B; b++) {
    int len = (int)(r->off[idx[b] + 1] - r->off[idx[b]]);
    for (int t = 0; t < T; t++) {
      ids[(size_t)b * T + t] = t < len ? r->ids[r->off[idx[b]] + t] : pad;
      mask[(size_t)b * T + t] = t < len || t == 0; /* a row no token came from: one pad seen */
    }
  }
  return (enc_batch){.B = B, .T = T, .ids = ids, .mask = mask};
}

/* Class probabilities (n, L) of every row, in inference mode. */
static void rows_predict(enc_model *m, const cls_rows *r, int B, int32_t pad, float *probs) {
  const int L = m->cfg.num_labels;
  int64_t *idx = ordo_malloc((size_t)B * sizeof(int64_t));
  int32_t *ids = ordo_malloc((size_t)B * m->maxT * sizeof(int32_t));
  int32_t *mask = ordo_malloc((size_t)B * m->maxT * sizeof(int32_t));
  float *logits = ordo_malloc((size_t)B * L * sizeof(float));
  ordo_progress pb;
  progress_init(&pb, "predict", r->n);
  for (int64_t i0 = 0; i0 < r->n; i0 += B) {
    int nb = r->n - i0 < B ? (int)(r->n - i0) : B;
    for (int b = 0; b < nb; b++) idx[b] = i0 + b;
    enc_batch eb = rows_batch(r, idx, nb, pad, ids, mask);
    enc_forward(m, &eb, 0);
    enc_read(m, logits, m->cls_logits, (size_t)nb * L * sizeof(float));
    for (int b = 0; b < nb; b++) {
      const float *z = logits + (size_t)b * L;
      float *p = probs + (size_t)(i0 + b) * L;
      float mx = z[0];
      for (int l = 1; l < L; l++) mx = z[l] > mx ? z[l] : mx;
      double sum = 0;
      for (int l = 0; l < L; l++) sum += (p[l] = expf(z[l] - mx));
      for (int l = 0; l < L; l++) p[l] = (float)(p[l] / sum);
    }
    progress_update(&pb, i0 + nb, NULL);
  }
  progress_finish(&pb, NULL);
  free(idx), free(ids), free(mask), free(logits);
}

static int32_t argmax(const float *p, int L) {
  int32_t best = 0;
  for (int l = 1; l < L; l++) best = p[l] > p[best] ? l : best;
  return best;
}

/* ---- reports ---- */
static void report_print(FILE *f, const cls_report *r, char *const *names) {
  fprintf(f, "rows: %lld\naccuracy: %.4f\nmacro_f1: %.4f\n", (long long)r->n, r->accuracy, r->macro_f1);
  fprintf(f, "%-24s %9s %9s %9s %9s\n", "label", "precision", "recall", "f1", "support");
  for (int c = 0; c < r->L; c++)
    fprintf(f, "%-24s %9.4f %9.4f %9.4f %9lld\n", names[c], r->precision[c], r->recall[c], r->f1[c],
            (long long)r->support[c]);
  /* the confusion summary: the five largest off-diagonal cells, ties in label order */
  fprintf(f, "most frequent confusions (true -> predicted: rows):\n");
  int shown = 0;
  int64_t below = INT64_MAX;
  while (shown < 5) {
    int64_t best = 0;
    for (size_t k = 0; k < (size_t)r->L * r->L; k++)
      if (k / r->L != k % r->L && r->confusion[k] > best && r->confusion[k] < below) best = r->confusion[k];
    if (best == 0) break;
    for (size_t k = 0; k < (size_t)r->L * r->L && shown < 5; k++)
      if (k / r->L != k % r->L && r->confusion[k] == best)
        fprintf(f, "  %s -> %s: %lld\n", names[k / r->L], names[k % r->L], (long long)best), shown++;
    below = best;
  }
  if (shown == 0) fprintf(f, "  none\n");
}

static int report_write_json(const char *path, const cls_report *r, char *const *names, ordo_err *e) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "rows", (double)r->n);
  cJSON_AddNumberToObject(o, "accuracy", r->accuracy);
  cJSON_AddNumberToObject(o, "macro_f1", r->macro_f1);
  cJSON *per = cJSON_AddObjectToObject(o, "classes");
  for (int c = 0; c < r->L; c++) {
    cJSON *k = cJSON_AddObjectToObject(per, names[c]);
    cJSON_AddNumberToObject(k, "precision", r->precision[c]);
    cJSON_AddNumberToObject(k, "recall", r->recall[c]);
    cJSON_AddNumberToObject(k, "f1", r->f1[c]);
    cJSON_AddNumberToObject(k, "support", (double)r->support[c]);
    cJSON_AddNumberToObject(k, "predicted", (double)r->predicted[c]);
  }
  cJSON *conf = cJSON_AddArrayToObject(o, "confusion"); /* [truth][prediction], label order */
  for (int i = 0; i < r->L; i++) {
    cJSON *row = cJSON_CreateArray();
    for (int j = 0; j < r->L; j++)
      cJSON_AddItemToArray(row, cJSON_CreateNumber((double)r->confusion[(size_t)i * r->L + j]));
    cJSON_AddItemToArray(conf, row);
  }
  cJSON *lab = cJSON_AddArrayToObject(o, "labels");
  for (int i = 0; i < r->L; i++) cJSON_AddItemToArray(lab, cJSON_CreateString(names[i]));
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  size_t n = strlen(text);
  text[n] = '\n'; /* replaces the NUL: written by length */
  int rc = ordo_write_file_atomic(path, text, n + 1, e);
  cJSON_free(text);
  return rc;
}

/* Evaluates m on set s (labels indexed by names): prints the report, writes json_path when
 * given, and a record of stage "eval" into metrics when given. */
static int evaluate(enc_model *m, const tok *tk, const cls_set *s, const char *path,
                    char *const *names, const cls_args *a, const char *json_path,
                    ordo_metrics *metrics, int64_t step, ordo_err *e) {
  const int L = m->cfg.num_labels;
  int32_t *truth = ordo_malloc((size_t)s->n * sizeof(int32_t));
  if (cls_labels_index(s, path, names, L, truth, e) != 0) return free(truth), -1;
  cls_rows rows;
  rows_encode(&rows, tk, s, a->seq, a->threads);
  float *probs = ordo_malloc((size_t)s->n * L * sizeof(float));
  int32_t *pred = ordo_malloc((size_t)s->n * sizeof(int32_t));
  int32_t pad = tok_special_id(tk, TOK_SP_PAD);
  rows_predict(m, &rows, a->batch, pad >= 0 ? pad : 0, probs);
  for (int64_t i = 0; i < s->n; i++) pred[i] = argmax(probs + (size_t)i * L, L);
  cls_report r;
  cls_report_compute(&r, truth, pred, s->n, L);
  printf("evaluation of %s\n", path);
  report_print(stdout, &r, names);
  int rc = json_path ? report_write_json(json_path, &r, names, e) : 0;
  if (rc == 0 && metrics) {
    metrics_record_begin(metrics, step);
    metrics_record_add(metrics, "accuracy", r.accuracy);
    metrics_record_add(metrics, "macro_f1", r.macro_f1);
    rc = metrics_record_end(metrics, e);
  }
  cls_report_free(&r);
  rows_free(&rows);
  free(truth), free(probs), free(pred);
  return rc;
}

/* ---- a trained classifier: eval and predict ---- */
/* The families whose sequence-classification head the driver runs. */
static int check_family(const enc_config *c, const char *path, ordo_err *e) {
  if (c->arch == ORDO_ARCH_BERT || c->arch == ORDO_ARCH_ROBERTA || c->arch == ORDO_ARCH_ELECTRA ||
      c->arch == ORDO_ARCH_ROFORMER)
    return 0;
  return ordo_fail(e, "%s: model_type '%s' is not an encoder family ordo classify runs (bert, "
                      "roberta, electra, roformer)", path, c->model_type);
}

static int classifier_load(enc_model *m, tok **tk, char ***names, const cls_args *a, ordo_err *e) {
  char path[4096];
  enc_config cfg;
  snprintf(path, sizeof path, "%s/config.json", a->model);
  if (!ordo_is_dir(a->model)) return ordo_fail(e, "--model %s: no such folder", a->model);
  if (hfconfig_load(&cfg, path, e) != 0 || check_family(&cfg, path, e) != 0) return -1;
  int n;
  if (hfconfig_labels_read(path, names, &n, e) != 0) return -1;
  if (enc_check_seq(&cfg, a->seq, e) != 0) return ordo_err_prefix(e, "--seq %d with %s", a->seq, path);
  if (enc_init(m, &cfg, ENC_HEAD_CLS, &a->be, e) != 0) return ordo_err_prefix(e, "%s", path);
  int missing = 0;
  if (enc_load(m, a->model, &missing, e) != 0) return -1;
  if (missing > 0)
    return ordo_fail(e, "%s: the checkpoint has no classification head (classifier.*): train one "
                        "with `ordo classify train`", a->model);
  if (tok_load(tk, a->model, e) != 0) return -1;
  if (tok_vocab_size(*tk) > cfg.vocab_size)
    return ordo_fail(e, "%s: the tokenizer's %d ids exceed the model's vocab_size %d", a->model,
                     tok_vocab_size(*tk), cfg.vocab_size);
  enc_plan(m, a->batch, a->seq, 1);
  return 0;
}

static int write_predictions(const char *path, const float *probs, int64_t n, int L,
                             char *const *names, ordo_err *e) {
  ordo_atomic at;
  if (ordo_atomic_begin(&at, path, e) != 0) return -1;
  ordo_buf b = {0};
  char num[64];
  ordo_buf_str(&b, "row,label");
  for (int l = 0; l < L; l++) ordo_buf_str(&b, ","), ordo_buf_csv_field(&b, "p_", names[l]);
  ordo_buf_str(&b, "\n");
  int rc = 0;
  for (int64_t i = 0; i < n && rc == 0; i++) {
    const float *p = probs + (size_t)i * L;
    snprintf(num, sizeof num, "%lld", (long long)i + 1);
    ordo_buf_str(&b, num);
    ordo_buf_str(&b, ","), ordo_buf_csv_field(&b, "", names[argmax(p, L)]);
    for (int l = 0; l < L; l++) {
      snprintf(num, sizeof num, ",%.6g", (double)p[l]);
      ordo_buf_str(&b, num);
    }
    ordo_buf_str(&b, "\n");
    if (b.n > (1 << 20) || i + 1 == n) {
      rc = ordo_atomic_write(&at, b.p, b.n, e);
      b.n = 0;
    }
  }
  free(b.p);
  if (rc != 0) return ordo_atomic_abort(&at), -1;
  return ordo_atomic_commit(&at, e);
}

static int run_eval_predict(const cls_args *a, int predict) {
  ordo_err e = {0};
  enc_model m;
  int have_model = 0, rc = 1, L = 0;
  tok *tk = NULL;
  char **names = NULL;
  cls_set s = {0};
  float *probs = NULL;
  cls_rows rows = {0};
  if (!a->model || !a->data || (predict && !a->out)) {
    fprintf(stderr, CMD ": %s needs --model DIR --data FILE%s (see ordo classify --help)\n",
            predict ? "predict" : "eval", predict ? " --out FILE" : "");
    return 2;
  }
  if (a->out && !a->force && ordo_is_file(a->out)) {
    ordo_fail(&e, "--out %s exists (use --force to replace it)", a->out);
    goto done;
  }
  if (a->out && ordo_check_output_file(a->out, &e) != 0) goto done;
  if (classifier_load(&m, &tk, &names, a, &e) != 0) goto done;
  have_model = 1;
  L = m.cfg.num_labels;
  if (cls_set_read(&s, a->data, !predict, &e) != 0) goto done;
  if (!predict) {
    if (evaluate(&m, tk, &s, a->data, names, a, a->out, NULL, 0, &e) != 0) goto done;
  } else {
    rows_encode(&rows, tk, &s, a->seq, a->threads);
    probs = ordo_malloc((size_t)s.n * L * sizeof(float));
    int32_t pad = tok_special_id(tk, TOK_SP_PAD);
    rows_predict(&m, &rows, a->batch, pad >= 0 ? pad : 0, probs);
    if (write_predictions(a->out, probs, s.n, L, names, &e) != 0) goto done;
    printf("wrote %lld predictions to %s\n", (long long)s.n, a->out);
  }
  rc = 0;
done:
  if (rc) fprintf(stderr, CMD ": %s\n", e.msg);
  if (have_model) enc_free(&m);
  cls_labels_free(names, L);
  tok_free(tk);
  cls_set_free(&s);
  rows_free(&rows);
  free(probs);
  return rc;
}

/* ---- training ---- */
typedef struct cls_task {
  const cls_rows *rows;
  const int32_t *labels; /* (n) class of each row */
  int B, n_micro;
  int32_t pad;
  uint64_t seed;
  int64_t *idx;      /* (B * accum) the step's rows */
  int64_t *perm;     /* (n) the order of epoch perm_epoch */
  int64_t perm_epoch;
  int32_t *ids, *mask, *targets;
} cls_task;

/* Row k of the whole run: epoch k / n visits the rows in a shuffle keyed by (seed, epoch). */
static int64_t task_row(cls_task *t, int64_t k) {
  int64_t n = t->rows->n, ep = k / n;
  if (ep != t->perm_epoch) {
    ordo_rng r;
    rng_init(&r, t->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(ep + 1)));
    for (int64_t i = 0; i < n; i++) t->perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
      int64_t j = (int64_t)(rng_u64(&r) % (uint64_t)(i + 1)), x = t->perm[i];
      t->perm[i] = t->perm[j], t->perm[j] = x;
    }
    t->perm_epoch = ep;
  }
  return t->perm[k % n];
}

static void task_prepare(void *ctx, int64_t step, int n_micro) {
  cls_task *t = ctx;
  t->n_micro = n_micro;
  int64_t G = (int64_t)t->B * n_micro;
  for (int64_t j = 0; j < G; j++) t->idx[j] = task_row(t, step * G + j);
}

static float task_micro(void *ctx, enc_model *m, int64_t step, int i, float dloss) {
  (void)step;
  cls_task *t = ctx;
  const int64_t *idx = t->idx + (size_t)i * t->B;
  enc_batch b = rows_batch(t->rows, idx, t->B, t->pad, t->ids, t->mask);
  b.head_rows_only = 1; /* the classification head reads the first rows alone */
  for (int k = 0; k < t->B; k++) t->targets[k] = t->labels[idx[k]];
  enc_forward(m, &b, 1);
  enc_zero_output_grads(m, &b);
  float share = 1.0f / (float)t->n_micro; /* every row counts: micro-batches weigh the same */
  float loss = enc_loss_cls_ce(m, &b, t->targets, dloss * share);
  enc_backward(m, &b);
  return loss * share;
}

typedef struct cls_files {
  enc_model *m;
  char *const *names;
} cls_files;

/* config.json with the label names, beside every checkpoint */
static int write_model_config(void *ctx, const char *dir, ordo_err *e) {
  cls_files *f = ctx;
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (hfconfig_save(&f->m->cfg, path, e) != 0) return -1;
  return hfconfig_labels_write(path, f->names, f->m->cfg.num_labels, e);
}

static const metrics_column k_csv_cols[] = {
    {"step", "%lld"}, {"loss", "%.6f"}, {"lr", "%.6e"}, {"grad_norm", "%.6f"}, {"rows_per_s", "%.1f"}};

/* The model's configuration from --init or the flags, checked before anything is written; the
 * vocabulary is the tokenizer's business (model_vocab, once it is loaded). */
static int model_config(enc_config *cfg, const cls_args *a, int L, ordo_err *e) {
  char path[4096];
  if (a->init) {
    snprintf(path, sizeof path, "%s/config.json", a->init);
    if (hfconfig_load(cfg, path, e) != 0 || check_family(cfg, path, e) != 0) return -1;
  } else {
    hfconfig_defaults(cfg, ORDO_ARCH_BERT);
    cfg->num_hidden_layers = a->layers;
    cfg->hidden_size = cfg->embedding_size = a->hidden;
    cfg->num_attention_heads = a->heads;
    cfg->intermediate_size = a->intermediate;
    cfg->hidden_dropout_prob = cfg->attention_probs_dropout_prob = (float)a->dropout;
    cfg->max_position_embeddings = a->seq > 512 ? a->seq : 512;
  }
  cfg->num_labels = L;
  if (a->classifier_dropout >= 0) cfg->classifier_dropout = (float)a->classifier_dropout;
  if (enc_check_seq(cfg, a->seq, e) != 0)
    return ordo_err_prefix(e, "--seq %d with %s", a->seq, a->init ? path : "the new model");
  return 0;
}

/* A new model takes the tokenizer's vocabulary and pad id; a checkpoint must hold its ids. */
static int model_vocab(enc_config *cfg, const cls_args *a, const tok *tk, ordo_err *e) {
  if (a->init) {
    if (cfg->vocab_size < tok_vocab_size(tk))
      return ordo_fail(e, "%s/config.json: vocab_size %d is smaller than the tokenizer's %d",
                       a->init, cfg->vocab_size, tok_vocab_size(tk));
    return 0;
  }
  cfg->vocab_size = tok_vocab_size(tk);
  int32_t pad = tok_special_id(tk, TOK_SP_PAD);
  cfg->pad_token_id = pad >= 0 ? pad : 0;
  return 0;
}

static int lora_config(enc_lora_config *lc, const cls_args *a, ordo_arch arch, ordo_err *e) {
  memset(lc, 0, sizeof *lc);
  if (!a->lora) {
    if (a->lora_targets) return ordo_fail(e, "--lora-targets needs --lora");
    return 0;
  }
  *lc = (enc_lora_config){.r = a->lora_r, .alpha = (float)a->lora_alpha,
                          .dropout = (float)a->lora_dropout, .train_heads = 1};
  char buf[512];
  snprintf(buf, sizeof buf, "%s", a->lora_targets ? a->lora_targets : "query,value");
  const char *names[16];
  int n = 0;
  for (char *p = strtok(buf, ","); p && n < 16; p = strtok(NULL, ",")) names[n++] = p;
  if (enc_lora_parse_targets(arch, names, n, &lc->targets, e) != 0)
    return ordo_err_prefix(e, "--lora-targets");
  return 0;
}

static int run_train(cls_args *a) {
  ordo_err e = {0};
  int rc = 1, L = 0, have_model = 0, have_trainer = 0, have_metrics = 0;
  cls_set tr_set = {0}, ev_set = {0};
  char **names = NULL;
  int32_t *labels = NULL;
  tok *tk = NULL;
  enc_model m;
  trainer tr;
  ordo_metrics metrics;
  cls_rows rows = {0};
  cls_task task = {0};
  char ckpt_dir[4096], path[4096], *tok_json = NULL;
  if (!a->train || !a->out) {
    fprintf(stderr, CMD ": train needs --train FILE --out DIR (see ordo classify --help)\n");
    return 2;
  }
  if (a->data || a->model) {
    fprintf(stderr, CMD ": train reads --train (and --eval); --data and --model are eval's and "
                    "predict's\n");
    return 2;
  }
  if (a->init && !ordo_is_dir(a->init)) {
    fprintf(stderr, CMD ": --init %s: no such folder\n", a->init);
    return 2;
  }
  snprintf(ckpt_dir, sizeof ckpt_dir, "%s/checkpoint", a->out);
  if (ordo_out_dir_check(a->out, a->force || ckpt_exists(ckpt_dir), &e) != 0) goto done;
  if (ckpt_check_dir(ckpt_dir, &e) != 0) goto done;
  enc_lora_config lc;
  if (cls_set_read(&tr_set, a->train, 1, &e) != 0) goto done;
  if (cls_labels_collect(&tr_set, a->train, &names, &L, &e) != 0) goto done;
  labels = ordo_malloc((size_t)tr_set.n * sizeof(int32_t));
  if (cls_labels_index(&tr_set, a->train, names, L, labels, &e) != 0) goto done;
  if (a->eval) {
    if (cls_set_read(&ev_set, a->eval, 1, &e) != 0) goto done;
    int32_t *chk = ordo_malloc((size_t)ev_set.n * sizeof(int32_t)); /* unknown labels: now */
    int ci = cls_labels_index(&ev_set, a->eval, names, L, chk, &e);
    free(chk);
    if (ci != 0) goto done;
  }
  log_info("%s: %lld rows, %d labels", a->train, (long long)tr_set.n, L);
  enc_config cfg;
  if (model_config(&cfg, a, L, &e) != 0) goto done;
  if (lora_config(&lc, a, cfg.arch, &e) != 0) goto done;

  /* tokenizer: given, --init's, or trained on the texts */
  const char *tok_from = a->tokenizer ? a->tokenizer : a->init;
  if (tok_from ? tok_load(&tk, tok_from, &e)
               : tokenizer_train(&tk, (const char *const *)tr_set.text, tr_set.len, (int)tr_set.n,
                                 a->vocab_size, 0, &tok_json, &e))
    goto done;
  if (model_vocab(&cfg, a, tk, &e) != 0) goto done;
  if (enc_init_lora(&m, &cfg, ENC_HEAD_CLS, &lc, &a->be, &e) != 0) goto done;
  have_model = 1;
  enc_init_weights(&m, (uint64_t)a->seed);
  if (a->init) {
    int missing = 0;
    if (enc_load(&m, a->init, &missing, &e) != 0) goto done;
    if (missing) log_info("%s: %d tensors (classification head%s) start random", a->init, missing,
                          lc.r ? ", LoRA adapters" : "");
  }
  /* everything checked: the output folder and the tokenizer kept with the model */
  if (ordo_dir_ensure(a->out, &e) != 0) goto done;
  snprintf(path, sizeof path, "%s/tokenizer.json", a->out);
  if (tokenizer_keep(tok_from, tok_json, path, &e) != 0) goto done;
  int64_t G = (int64_t)a->batch * a->tc.accum_steps;
  int64_t steps = a->steps ? a->steps : (int64_t)ceil(a->epochs * (double)tr_set.n / (double)G);
  if (steps < 1) steps = 1;
  trainer_config tc = a->tc;
  tc.steps = steps;
  tc.sched = (sched_config){.kind = a->tc.sched.kind, .lr = (float)a->lr, .total_steps = steps,
                            .warmup_steps = a->warmup < 1 ? (int64_t)(a->warmup * steps) : (int64_t)a->warmup};
  tc.adamw.lr = (float)a->lr;
  tc.seed = (uint64_t)a->seed;
  tc.ckpt_dir = ckpt_dir;
  if (trainer_init(&tr, &m, &tc, &e) != 0) goto done;
  have_trainer = 1;
  enc_plan(&m, a->batch, a->seq, 1);
  cls_files files = {&m, names};
  tr.write_extra = write_model_config;
  tr.extra_ctx = &files;
  int resumed = trainer_resume(&tr, &e);
  if (resumed < 0) goto done;
  if (resumed) log_info("resumed from %s at step %lld", ckpt_dir, (long long)tr.prog.step);
  const int64_t n_train = params_count(&m.params, 1), n_all = params_count(&m.params, 0);
  printf("model: %s L%d H%d A%d, %d labels, %.2fM parameters, %.3fM trainable (%.2f%%)%s; "
         "%lld steps of %lld rows (%.2f epochs of %lld rows)\n",
         cfg.model_type, cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, L,
         n_all / 1e6, n_train / 1e6, 100.0 * n_train / n_all, lc.r ? " with LoRA" : "",
         (long long)steps, (long long)G, (double)steps * G / tr_set.n, (long long)tr_set.n);

  rows_encode(&rows, tk, &tr_set, a->seq, a->threads);
  int32_t pad = tok_special_id(tk, TOK_SP_PAD);
  task = (cls_task){.rows = &rows, .labels = labels, .B = a->batch, .pad = pad >= 0 ? pad : 0,
                    .seed = (uint64_t)a->seed, .perm_epoch = -1};
  task.idx = ordo_malloc((size_t)G * sizeof(int64_t));
  task.perm = ordo_malloc((size_t)tr_set.n * sizeof(int64_t));
  task.ids = ordo_malloc((size_t)a->batch * a->seq * sizeof(int32_t));
  task.mask = ordo_malloc((size_t)a->batch * a->seq * sizeof(int32_t));
  task.targets = ordo_malloc((size_t)a->batch * sizeof(int32_t));

  if (metrics_open(&metrics, a->out, &e) != 0) goto done;
  have_metrics = 1;
  if (metrics_stage_begin(&metrics, "train", tr.prog.step, "metrics.csv", k_csv_cols,
                          (int)(sizeof k_csv_cols / sizeof *k_csv_cols), &e) != 0)
    goto done;
  ordo_progress pb;
  progress_init(&pb, "train", steps);
  pb.start = pb.done = tr.prog.step;
  double t0 = ordo_time();
  int64_t first = tr.prog.step;
  while (tr.prog.step < steps) {
    double ts = ordo_time();
    int64_t step = tr.prog.step;
    trainer_stats st;
    trainer_step(&tr, &task, task_prepare, task_micro, &st);
    double rps = (double)G / (ordo_time() - ts);
    metrics_record_begin(&metrics, step + 1);
    trainer_metrics_add(&metrics, &st);
    metrics_record_add(&metrics, "rows_per_s", rps);
    if (metrics_record_end(&metrics, &e) != 0) goto done;
    if ((step + 1) % a->log_every == 0 || step == first || step + 1 == steps) {
      progress_clear(&pb);
      printf("step %lld/%lld loss %.6f lr %.3e grad_norm %.4f rows/s %.1f\n", (long long)step + 1,
             (long long)steps, st.loss, st.lr, st.grad_norm, rps);
    }
    char tail[96];
    snprintf(tail, sizeof tail, "loss %.4f %.1f rows/s", st.loss, rps);
    progress_update(&pb, tr.prog.step, tail);
    if (tc.save_every > 0 && tr.prog.step % tc.save_every == 0 && tr.prog.step < steps &&
        trainer_save(&tr, &e) != 0)
      goto done;
  }
  progress_finish(&pb, NULL);
  if (steps > first)
    printf("done: %lld steps in %.1f s, %.1f rows/s\n", (long long)(steps - first),
           ordo_time() - t0, (double)(steps - first) * G / (ordo_time() - t0));
  if (trainer_save(&tr, &e) != 0) goto done;
  if (lc.r > 0) {
    if (enc_lora_save_adapters(&m, a->out, &e) != 0) goto done;
    enc_lora_merge(&m);
  }
  if (enc_save(&m, a->out, &e) != 0) goto done;
  snprintf(path, sizeof path, "%s/config.json", a->out);
  if (hfconfig_labels_write(path, names, L, &e) != 0) goto done;
  printf("saved %s (config.json with the labels, model.safetensors, tokenizer.json%s, metrics)\n",
         a->out, lc.r ? ", adapter_model.safetensors" : "");
  if (a->eval) {
    snprintf(path, sizeof path, "%s/eval.json", a->out);
    if (metrics_stage_begin(&metrics, "eval", 0, NULL, NULL, 0, &e) != 0) goto done;
    enc_plan(&m, a->batch, a->seq, 1);
    if (evaluate(&m, tk, &ev_set, a->eval, names, a, path, &metrics, steps, &e) != 0) goto done;
  }
  rc = 0;
done:
  if (rc) fprintf(stderr, CMD ": %s\n", e.msg);
  if (have_metrics) metrics_close(&metrics);
  if (have_trainer) trainer_free(&tr);
  if (have_model) enc_free(&m);
  free(task.idx), free(task.perm), free(task.ids), free(task.mask), free(task.targets);
  rows_free(&rows);
  tok_free(tk);
  free(tok_json);
  free(labels);
  cls_labels_free(names, L);
  cls_set_free(&tr_set);
  cls_set_free(&ev_set);
  return rc;
}

int cmd_classify(int argc, char **argv) {
  if (argc < 2 || cli_wants_help(argc, argv)) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *mode = argv[1];
  int which = strcmp(mode, "train") == 0 ? 0 : strcmp(mode, "eval") == 0 ? 1
              : strcmp(mode, "predict") == 0 ? 2 : -1;
  if (which < 0) {
    fprintf(stderr, CMD ": unknown mode '%s': train, eval or predict\n", mode);
    return 2;
  }
  cls_args a;
  if (!parse_args(&a, argc, argv)) return 2;
  ordo_set_threads(a.threads);
  ordo_err e = {0};
  if (device_open(&a.be, a.device, &e) != 0) {
    fprintf(stderr, CMD ": %s\n", e.msg);
    return 1;
  }
  int rc = which == 0 ? run_train(&a) : run_eval_predict(&a, which == 2);
  ordo_backend_close(&a.be);
  return rc;
}
