/* enc_batch.head_rows_only (the last layer at its heads' rows only) against the full last
 * layer, in training with hidden and attention dropout: the heads' logits and the loss, and
 * every parameter's gradient, spec by spec. The MLM head at its rows and the classification
 * head (with the pooler) at each sequence's first row; BERT, RoBERTa and ALBERT (shared layers,
 * embedding projection, the pooled classification head), padded rows, a sequence with no MLM
 * row (its keys and values get no gradient from the last layer), an MLM row at a padded
 * position; recompute (layer, attention) gives the same bits as keeping the activations; the
 * path is declined (m.head_rows 0, the full layer's results) for the MLM head beside another,
 * rows out of order, rotary positions, an adapter in the last layer and a backend without the
 * rows attention.
 *
 * Tolerances, norm-wise relative per output: the logits and the loss 1e-6 (the rows path runs
 * the same multiply-add chains for each kept row, measured equal here; 1e-6 leaves room for a
 * product library whose edge tiles sum in another order), the gradients 1e-5 (their products
 * sum over the n head rows instead of all B*T rows with exact zeros between them, and the q, k, v
 * weight's gradient in two row blocks: float32 reordering noise, measured about 1e-7); a wrong
 * dropout counter, row or missing residual moves them by order 1. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/model.h"

enum { B = 4, T = 10, V = 60 };

typedef struct result {
  int taken;
  float loss, *logits, *grad;
} result;

static const int32_t k_rows[] = {1, 3, 4, 8, 12, 16, 18, 35, 36, 37, 39};
static const int32_t k_rows_unsorted[] = {3, 1, 4, 8};
static const enc_lora_config *g_lora; /* adapters for the runs (NULL: none) */

/* the logits compared: the MLM head's (nr, V), else the classification head's (B, 3) */
static size_t n_logits(int heads, int nr) {
  return heads & ENC_HEAD_MLM ? (size_t)nr * V : (size_t)B * 3;
}

static result run(ordo_arch arch, int heads, enc_recompute rc, const ordo_backend *be,
                  const int32_t *rows, int nr, int head_rows_only) {
  enc_config cfg;
  hfconfig_defaults(&cfg, arch);
  cfg.vocab_size = V, cfg.hidden_size = 32, cfg.embedding_size = arch == ORDO_ARCH_ALBERT ? 16 : 32;
  cfg.num_hidden_layers = 3, cfg.num_attention_heads = 4, cfg.intermediate_size = 64;
  cfg.max_position_embeddings = T + cfg.pad_token_id + 1, cfg.num_labels = 3;
  cfg.hidden_dropout_prob = 0.1f, cfg.attention_probs_dropout_prob = 0.1f;
  enc_model m;
  ordo_err e = {{0}};
  EXPECT(enc_init_lora(&m, &cfg, heads, g_lora, be, &e) == 0, "%s", e.msg);
  enc_init_weights(&m, 11);
  enc_set_recompute(&m, rc);
  enc_plan(&m, B, T, B * T);
  m.seed = 5, m.step = 2;
  /* lengths T, 6, T, 3: sequence 2 has no head row; row 36 (sequence 3, position 6) is padding */
  static const int len[B] = {T, 6, T, 3};
  int32_t ids[B * T], mask[B * T], labels[B * T];
  for (int i = 0; i < B; i++)
    for (int t = 0; t < T; t++) {
      int real = t < len[i];
      ids[i * T + t] = real ? 4 + (i * 11 + t * 7) % (V - 4) : cfg.pad_token_id;
      mask[i * T + t] = real;
    }
  for (int j = 0; j < nr; j++) labels[j] = 4 + (rows[j] * 13) % (V - 4);
  int32_t sop[B] = {0, 1, 1, 0};
  enc_batch b = {.B = B, .T = T, .ids = ids, .mask = mask, .mlm_rows = rows, .n_mlm_rows = nr,
                 .mlm_labels = labels, .head_rows_only = head_rows_only};
  params_zero_grad(&m.params);
  enc_forward(&m, &b, 1);
  result r = {.taken = m.head_rows};
  size_t nl = n_logits(heads, nr);
  r.logits = malloc(nl * sizeof(float));
  enc_read(&m, r.logits, heads & ENC_HEAD_MLM ? m.mlm_logits : m.cls_logits, nl * sizeof(float));
  enc_zero_output_grads(&m, &b);
  r.loss = heads & ENC_HEAD_MLM ? enc_loss_mlm(&m, &b, 1.0f, NULL) : 0.0f;
  if (heads & ENC_HEAD_CLS) r.loss += enc_loss_cls_ce(&m, &b, sop, 1.0f);
  enc_backward(&m, &b);
  size_t n = (size_t)m.params.total;
  r.grad = malloc(n * sizeof(float));
  enc_read(&m, r.grad, m.params.grad, n * sizeof(float));
  enc_free(&m);
  return r;
}

static double norm_f32(const float *x, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return sqrt(s);
}

/* got against want: the logits and loss within 1e-6, each spec's gradient within 1e-5 (or the
 * same bits with exact). */
static void compare(const char *what, ordo_arch arch, int heads, result got, result want, int nr,
                    int exact) {
  enc_config cfg;
  hfconfig_defaults(&cfg, arch);
  cfg.vocab_size = V, cfg.hidden_size = 32, cfg.embedding_size = arch == ORDO_ARCH_ALBERT ? 16 : 32;
  cfg.num_hidden_layers = 3, cfg.num_attention_heads = 4, cfg.intermediate_size = 64;
  cfg.max_position_embeddings = T + cfg.pad_token_id + 1, cfg.num_labels = 3;
  enc_model m; /* for the parameter table only */
  ordo_err e = {{0}};
  EXPECT(enc_init_lora(&m, &cfg, heads, g_lora, NULL, &e) == 0, "%s", e.msg);
  double lerr = rel_err_f32(got.logits, want.logits, (int64_t)n_logits(heads, nr));
  EXPECT(exact ? lerr == 0.0 : lerr <= 1e-6, "%s (%s): logits rel %.3g", what, cfg.model_type, lerr);
  EXPECT(exact ? got.loss == want.loss : fabsf(got.loss - want.loss) <= 1e-6f * fabsf(want.loss),
         "%s (%s): loss %.9g vs %.9g", what, cfg.model_type, got.loss, want.loss);
  double total = norm_f32(want.grad, m.params.total), worst = 0.0;
  for (int i = 0; i < m.params.n; i++) {
    const ordo_param_spec *s = &m.params.specs[i];
    const float *g = got.grad + s->offset, *w = want.grad + s->offset;
    double d = 0.0;
    for (int64_t k = 0; k < s->numel; k++) d += ((double)g[k] - w[k]) * ((double)g[k] - w[k]);
    /* a gradient that is zero but for rounding (the key bias's: softmax ignores a constant
     * added to a row's scores) is compared against a thousandth of the whole gradient's norm */
    double scale = fmax(norm_f32(w, s->numel), 1e-3 * total), err = sqrt(d) / scale;
    worst = fmax(worst, err);
    EXPECT(exact ? d == 0.0 : err <= 1e-5, "%s (%s): gradient of %s rel %.3g", what,
           cfg.model_type, s->name, err);
  }
  if (getenv("ORDO_TEST_VERBOSE"))
    printf("%s (%s): logits %.3g, loss %.3g, worst gradient %.3g\n", what, cfg.model_type, lerr,
           fabs((double)got.loss - want.loss), worst);
  enc_free(&m);
}

static void release(result r) { free(r.logits), free(r.grad); }

static void check_arch(ordo_arch arch, int heads) {
  ordo_backend cpu = backend_cpu();
  int nr = (int)(sizeof k_rows / sizeof k_rows[0]);
  const char *what = heads & ENC_HEAD_MLM ? "MLM rows" : "first rows";
  result full = run(arch, heads, ENC_RECOMPUTE_NONE, &cpu, k_rows, nr, 0);
  result rows = run(arch, heads, ENC_RECOMPUTE_NONE, &cpu, k_rows, nr, 1);
  EXPECT(!full.taken && rows.taken, "%s: head_rows taken only when asked: %d %d", what,
         full.taken, rows.taken);
  compare(what, arch, heads, rows, full, nr, 0);
  static const enc_recompute rcs[2] = {ENC_RECOMPUTE_LAYER, ENC_RECOMPUTE_ATTENTION};
  for (int k = 0; k < 2; k++) {
    result rr = run(arch, heads, rcs[k], &cpu, k_rows, nr, 1);
    EXPECT(rr.taken, "%s: head rows under recompute %d", what, (int)rcs[k]);
    compare(k ? "recompute attention" : "recompute layer", arch, heads, rr, rows, nr, 1);
    release(rr);
  }
  release(full), release(rows);
}

/* Declined: the full layer runs, with exactly the results of not asking. */
static void check_declined(const char *what, ordo_arch arch, int heads, const ordo_backend *be,
                           const int32_t *rows, int nr) {
  result asked = run(arch, heads, ENC_RECOMPUTE_NONE, be, rows, nr, 1);
  result plain = run(arch, heads, ENC_RECOMPUTE_NONE, be, rows, nr, 0);
  EXPECT(!asked.taken, "%s: head rows taken", what);
  compare(what, arch, heads, asked, plain, nr, 1);
  release(asked), release(plain);
}

int main(void) {
  static const ordo_arch archs[3] = {ORDO_ARCH_BERT, ORDO_ARCH_ROBERTA, ORDO_ARCH_ALBERT};
  for (int a = 0; a < 3; a++) {
    check_arch(archs[a], ENC_HEAD_MLM);
    /* ALBERT's classification head holds the pooler itself */
    check_arch(archs[a], archs[a] == ORDO_ARCH_ALBERT ? ENC_HEAD_CLS : ENC_HEAD_CLS | ENC_HEAD_POOLER);
  }
  ordo_backend cpu = backend_cpu(), ref = backend_cpu_ref();
  int nr = (int)(sizeof k_rows / sizeof k_rows[0]);
  check_declined("the MLM head beside another", ORDO_ARCH_BERT, ENC_HEAD_MLM | ENC_HEAD_CLS, &cpu,
                 k_rows, nr);
  check_declined("rows out of order", ORDO_ARCH_BERT, ENC_HEAD_MLM, &cpu, k_rows_unsorted, 4);
  check_declined("rotary positions", ORDO_ARCH_ROFORMER, ENC_HEAD_MLM, &cpu, k_rows, nr);
  /* an adapter on the feed-forward alone (not q, k, v), with its own dropout */
  const enc_lora_config lora = {.r = 2, .alpha = 4.0f, .dropout = 0.1f,
                                .targets = 1 << ENC_LORA_FC};
  g_lora = &lora;
  check_declined("an adapter in the last layer", ORDO_ARCH_BERT, ENC_HEAD_MLM, &cpu, k_rows, nr);
  g_lora = NULL;
  check_declined("no rows attention (reference backend)", ORDO_ARCH_BERT, ENC_HEAD_MLM, &ref,
                 k_rows, nr);
  return test_summary();
}
