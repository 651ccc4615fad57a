/* enc_batch.first_only (the last layer at each sequence's first position only): the heads that
 * read that position (classification head, pooler) give what a full forward gives, for BERT,
 * RoBERTa, ALBERT (shared layers, embedding projection) and RoFormer (rotary positions: the
 * last layer's full q, k, v product), rows of every length from 0 to T, on every present
 * backend.
 *
 * Tolerance 1e-5, norm-wise relative: the two paths sum the same products in another order
 * (a (1, len) score product per sequence instead of the (T, T) one, the padded keys' exact zeros
 * left out of the value product, products of B rows instead of B*T), which moves float32 results
 * by about 1e-7 relative here; a wrong key set, row or layer moves them by order 1. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/model.h"

enum { B = 6, T = 9, V = 50 };

/* Tolerance: fp32, summation-order noise of products of other shapes (measured ~1e-7); bf16 /
 * fp16 storage, the same activations rounded (2^-9 / 2^-12 relative each) from fp32 values that
 * differ by that noise, so a value on a rounding boundary moves by one 16-bit step: the project's
 * 1e-2 bound for 16-bit outputs. */
static void check_arch(ordo_arch arch, int heads, const ordo_backend *be, ordo_dtype dt) {
  enc_config cfg;
  hfconfig_defaults(&cfg, arch);
  cfg.vocab_size = V;
  cfg.hidden_size = 32;
  cfg.embedding_size = arch == ORDO_ARCH_ALBERT ? 16 : 32;
  cfg.num_hidden_layers = 3;
  cfg.num_attention_heads = 4;
  cfg.intermediate_size = 64;
  cfg.max_position_embeddings = T + cfg.pad_token_id + 1;
  cfg.num_labels = 10;
  enc_model m;
  ordo_err e = {{0}};
  EXPECT(enc_init(&m, &cfg, heads, be, &e) == 0, "%s", e.msg);
  enc_init_weights(&m, 7);
  if (dt != ORDO_DT_F32) enc_set_precision(&m, dt);
  enc_plan(&m, B, T, 0);
  /* lengths T, 1, 4, 0 (no real token), 7, 2: right-padded */
  static const int len[B] = {T, 1, 4, 0, 7, 2};
  int32_t ids[B * T], mask[B * T], tt[B * T];
  for (int i = 0; i < B; i++)
    for (int t = 0; t < T; t++) {
      int real = t < len[i];
      ids[i * T + t] = real ? 3 + (i * 7 + t * 5) % (V - 3) : cfg.pad_token_id;
      mask[i * T + t] = real;
      tt[i * T + t] = real ? i % 2 : 0;
    }
  const char *what[2] = {"classification head", "pooler"};
  float *got[2], *want[2];
  size_t n[2] = {(size_t)B * cfg.num_labels, (size_t)B * cfg.hidden_size};
  for (int k = 0; k < 2; k++) got[k] = calloc(n[k], sizeof(float)), want[k] = calloc(n[k], sizeof(float));
  /* first_only first: its outputs must not come from a full forward's leftovers in the arena */
  for (int first = 1; first >= 0; first--) {
    enc_batch b = {.B = B, .T = T, .ids = ids, .mask = mask, .tt = tt, .first_only = first};
    enc_forward(&m, &b, 0);
    float **dst = first ? got : want;
    if (heads & ENC_HEAD_CLS) enc_read(&m, dst[0], m.cls_logits, n[0] * sizeof(float));
    if (heads & ENC_HEAD_POOLER) enc_read(&m, dst[1], m.pooled, n[1] * sizeof(float));
  }
  for (int k = 0; k < 2; k++) {
    if (!(heads & (k == 0 ? ENC_HEAD_CLS : ENC_HEAD_POOLER))) {
      free(got[k]), free(want[k]);
      continue;
    }
    double err = rel_err_f32(got[k], want[k], (int64_t)n[k]);
    EXPECT(err < (dt == ORDO_DT_F32 ? 1e-5 : 1e-2), "%s (%s, %s), %s: first_only vs full forward: rel %.3g",
           cfg.model_type, be->ops->name, dtype_name(dt), what[k], err);
    free(got[k]), free(want[k]);
  }
  enc_free(&m);
}

int main(void) {
  ordo_backend backends[3] = {backend_cpu(), backend_cpu_ref()};
  int nb = 2;
  ordo_err e = {{0}};
  if (!ordo_cuda_available()) printf("cuda: skipped: no CUDA device\n");
  else if (ordo_backend_open(&backends[nb], "cuda", &e) == 0) nb++;
  else EXPECT(0, "cuda: %s", e.msg);
  static const ordo_dtype dts[3] = {ORDO_DT_F32, ORDO_DT_BF16, ORDO_DT_F16};
  for (int k = 0; k < nb; k++)
    for (int d = 0; d < 3; d++) {
      check_arch(ORDO_ARCH_BERT, ENC_HEAD_CLS | ENC_HEAD_POOLER, &backends[k], dts[d]);
      check_arch(ORDO_ARCH_ROBERTA, ENC_HEAD_CLS, &backends[k], dts[d]);
      check_arch(ORDO_ARCH_ALBERT, ENC_HEAD_POOLER, &backends[k], dts[d]);
      /* rotary: the full q, k, v product */
      check_arch(ORDO_ARCH_ROFORMER, ENC_HEAD_CLS, &backends[k], dts[d]);
    }
  if (nb == 3) ordo_backend_close(&backends[2]);
  return test_summary();
}
